"""learn2learn is the oracle: both backends give the same meta-gradient on real clips and real Coqui models."""

import learn2learn  # noqa: E402,F401  (the oracle must be there: scripts/setup.sh builds it)
import pytest
import torch
from conftest import build_meta_model, first_meta_batch, pick
from helpers import meta_gradient, relative_difference

from coqui_meta import MetaLearningConfig

CASES = [
    # kind, algorithm, adapt_modules, inner_steps
    ("vits", "maml", [], 2),
    ("vits", "fomaml", [], 2),
    ("vits", "reptile", [], 2),
    # second order through the speaker embedding differentiates every decoder step twice: minutes on a CPU
    ("tacotron2", "maml", ["decoder.linear_projection", "postnet.convolutions.4"], 1),
    ("tacotron2", "fomaml", [], 1),
]


@pytest.mark.parametrize(("kind", "algorithm", "adapt_modules", "inner_steps"), CASES)
def test_torch_backend_matches_learn2learn(corpus_samples, kind, algorithm, adapt_modules, inner_steps):
    samples = pick(corpus_samples, speakers=3, clips=4, max_seconds=2.6, seed=1)
    meta = MetaLearningConfig(
        # SGD for second-order MAML; Adam (the first-order default) moves every element by about its rate
        algorithm=algorithm, inner_steps=inner_steps, inner_lr=0.05 if algorithm == "maml" else 0.003,
        adapt_modules=adapt_modules,
        n_way=2, k_shot=1, q_query=1, meta_batch_size=2, eval_episodes=1,
    )
    speakers = sorted({s["speaker_name"] for s in samples})
    # Tacotron2 at r = 6 (the preset's 2): a third of the decoder steps; the backends' agreement does not hang on it
    model = build_meta_model(kind, meta, speakers, max_audio_seconds=3.0, **({"r": 6} if kind == "tacotron2" else {}))
    tasks = first_meta_batch(model, samples)["tasks"]

    ours = meta_gradient(model, tasks, "torch")
    oracle = meta_gradient(model, tasks, "learn2learn")
    assert ours, "every task was skipped (its inner steps diverged): nothing to compare"
    assert relative_difference(ours, oracle) < 1e-5

    adapted = set(model.meta_adapted_names())
    assert any(n in adapted and g.abs().sum() > 0 for n, g in ours.items()), "adapted tensors get a meta-gradient"
    assert any(n not in adapted and g.abs().sum() > 0 for n, g in ours.items()), "so do the others"
    assert ours[model.meta_speaker_embedding].abs().sum() > 0, "the initial voice is meta-learned too"

    if algorithm == "maml":  # the second-order terms are really there
        model.meta_algorithm.second_order = False
        first_order = meta_gradient(model, tasks, "torch")
        assert relative_difference(first_order, ours) > 1e-4


@pytest.mark.parametrize(("algorithm", "inner_lr_mode"), [("maml", "fixed"), ("proto_maml", "fixed"),
                                                       ("maml", "per_tensor_step")])
def test_gradient_checkpointing_gives_the_same_meta_gradient(corpus_samples, algorithm, inner_lr_mode):
    """Second order: each inner step is recomputed by the outer backward instead of kept (first-order steps keep no
    graph, so there is nothing to checkpoint). proto_maml: the gradient also reaches the encoder through the voice."""
    samples = pick(corpus_samples, speakers=3, clips=4, max_seconds=2.6, seed=1)
    speakers = [] if algorithm == "proto_maml" else sorted({s["speaker_name"] for s in samples})
    grads = {}
    for checkpointing in (False, True):
        meta = MetaLearningConfig(algorithm=algorithm, inner_steps=3, inner_lr=0.05, n_way=2, k_shot=1, q_query=1,
                                  meta_batch_size=2, gradient_checkpointing=checkpointing, inner_lr_mode=inner_lr_mode,
                                  prototype_reconstruction_grad=True)
        torch.manual_seed(0)
        model = build_meta_model("vits", meta, speakers, max_audio_seconds=3.0)
        grads[checkpointing] = meta_gradient(model, first_meta_batch(model, samples)["tasks"], "torch")
    assert relative_difference(grads[True], grads[False]) < 1e-6
    if inner_lr_mode != "fixed":  # the learned rates' meta-gradient goes through the recomputed steps too
        assert grads[True]["meta_inner_lrs.log_lr"].abs().sum() > 0
    if algorithm == "proto_maml":
        assert any(name.startswith("prototype_encoder.") for name in grads[True])
