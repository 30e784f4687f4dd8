"""What a meta model gives the algorithms (`coqui_meta.algorithms.meta_model.MetaModel`): both models keep the
contract, the algorithms call nothing of a model outside it, and speaking a clip leaves the model as it was."""

import re
from pathlib import Path

import pytest
from conftest import build_meta_model, first_meta_batch, pick

from coqui_meta import MetaLearningConfig
from coqui_meta.algorithms import ALGORITHMS, MAML, PrototypeStart, Reptile, build_algorithm
from coqui_meta.algorithms.meta_model import MetaModel
from coqui_meta.algorithms.task import Task

ALGORITHMS_FOLDER = Path(__file__).resolve().parents[1] / "coqui_meta" / "algorithms"


def test_every_meta_hook_the_algorithms_call_is_in_the_protocol():
    called = set()
    for path in ALGORITHMS_FOLDER.glob("*.py"):
        if path.name != "meta_model.py":
            called |= set(re.findall(r"\b(?:model|module)\.(meta_\w+)", path.read_text(encoding="utf-8")))
    declared = {name for name in dir(MetaModel) if name.startswith("meta_")} | set(MetaModel.__annotations__)
    assert called, "the scan found the algorithms' calls"
    assert called <= declared, f"called but not in MetaModel: {sorted(called - declared)}"


@pytest.mark.parametrize("kind", ["vits", "tacotron2"])
def test_both_models_keep_the_contract(kind):
    model = build_meta_model(kind, MetaLearningConfig(), ["a", "b", "c"])
    assert isinstance(model, MetaModel)
    assert not isinstance(object(), MetaModel)


def test_the_algorithm_table_holds_the_classes_each_name_builds():
    expected = {"maml": MAML, "fomaml": MAML, "reptile": Reptile, "protonet": PrototypeStart,
                "proto_maml": PrototypeStart}
    assert {name: row.algorithm for name, row in ALGORITHMS.items()} == expected
    model = build_meta_model("vits", MetaLearningConfig(algorithm="reptile"), ["a", "b", "c"])
    assert type(build_algorithm(model, model.config.meta)) is Reptile


def test_speaking_a_clip_leaves_the_model_in_the_mode_it_was_in(corpus_samples):
    samples = pick(corpus_samples, speakers=2, clips=2, max_seconds=2.5, seed=3)
    meta = MetaLearningConfig(n_way=2, k_shot=1, q_query=1, meta_batch_size=1)
    model = build_meta_model("vits", meta, sorted({s["speaker_name"] for s in samples}), max_audio_seconds=3.0)
    support, query = first_meta_batch(model, samples)["tasks"][0]
    for training in (True, False):
        model.train(training)
        wav, rate = Task.start(model, support).render(query, index=0, seed=0)
        assert model.training is training and len(wav) > 0 and rate == model.config.audio.sample_rate

