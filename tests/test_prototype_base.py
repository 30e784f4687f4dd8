"""The prototype bases of issue 40 (`coqui_meta_lab.prototype_base`, ``scripts/prototype_base.py``): a d-vector VITS
and a protonet VITS trained by the speaker-table base's machinery, resumed from their Trainer checkpoints, with the
seen-speaker EER and the held-out zero-step EER at every check, written as an asset of their kind."""

import json
from pathlib import Path

import pytest
from conftest import pick, run_script

from coqui_meta_lab.base_asset import NotABase, read_asset
from coqui_meta_lab.prototype_base import (
    asset_base,
    asset_kind_start,
    d_vector_sidecar,
    export_prototype_base,
    train_prototype_base,
)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prototype_base.py"


@pytest.fixture()
def tiny(corpus, corpus_samples):
    """4 training voices of 6 short clips (a protonet episode is 4 voices of 4 + 2) and 2 held-out voices."""
    train = pick(corpus_samples, speakers=4, clips=6, max_seconds=3.0, seed=4)
    voices = {s["speaker_name"] for s in train}
    held = sorted({s["speaker_name"] for s in pick(corpus_samples, speakers=2, clips=3, max_seconds=2.6, seed=5,
                                                     exclude=voices)})
    return corpus, train, held


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["d_vector", "protonet"])
def test_a_prototype_base_goes_on_from_its_checkpoint_and_records_both_eers_at_every_check(tiny, kind, tmp_path):
    corpus, train, held = tiny
    common = dict(seen=2, shots=2, queries=1, progress=False, check_minutes=0.03)
    first = train_prototype_base(kind, corpus, train, held, tmp_path, minutes=0.03, **common)
    assert len(first.history) == 1 and first.steps > 0
    longer = train_prototype_base(kind, corpus, train, held, tmp_path, minutes=first.minutes + 0.03, **common)
    assert longer.folder == first.folder and len(longer.history) == 2 and longer.steps > first.steps
    assert longer.history[0] == first.history[0], "the record goes on"
    checkpoints = sorted(int(p.stem.split("_")[1]) for p in (first.folder / "trainer").glob("*/checkpoint_*.pth"))
    assert max(checkpoints) > first.steps, "the Trainer went on counting from its checkpoint"
    for row in longer.history:
        for key in ("seen_speaker_eer", "zero_step_eer"):
            assert 0.0 <= row[key] <= 1.0, (key, row)
        assert -1.0 <= row["zero_step_similarity"] <= 1.0 and row["zero_step_voices"] == 2
    assert json.loads((first.folder / "progress.json").read_text())["steps"] == longer.steps
    config = json.loads((first.folder / "config.json").read_text())
    assert config["model"] == ("vits" if kind == "d_vector" else "meta_vits")
    assert config["model_args"]["use_d_vector_file"] and not config["model_args"]["use_speaker_embedding"]
    if kind == "d_vector":  # Resemblyzer d-vectors of the training clips alone, cached in the run folder
        (d_vectors,) = config["model_args"]["d_vector_file"]
        names = {entry["name"] for entry in json.loads(Path(d_vectors).read_text()).values()}
        assert Path(d_vectors).parent.parent == (tmp_path / kind).resolve()
        assert names == {s["speaker_name"] for s in train}

    voices = sorted({s["speaker_name"] for s in train})
    asset = export_prototype_base(longer, kind, tmp_path / "base.safetensors", len(voices))
    _, metadata = read_asset(asset, weights=False)
    assert metadata["progress"]["kind"] == kind and metadata["progress"]["steps"] == longer.steps
    assert metadata["speakers"] == voices
    asset_kind_start(asset, kind, voices)
    other = "protonet" if kind == "d_vector" else "d_vector"
    with pytest.raises(NotABase, match=f"not a {other} prototype base"):
        asset_kind_start(asset, other, voices)
    with pytest.raises(NotABase, match=f"not a {other} prototype base"):
        asset_base(asset, other, corpus, tmp_path / "other")
    study_sides_from_the_asset(kind, asset, longer, corpus, train, held, tmp_path / "study",
                               checked_on=tmp_path / kind / "check_corpus")


def study_sides_from_the_asset(kind, asset, trained, corpus, train, held, out, checked_on):
    """The study's prototype side (`benchmarks/adaptation_speed.py --algorithm d_vector|protonet|proto_maml`) from the
    exported asset: its step 0 is the zero-step voice the base's own check measured (the same clips and seed; the
    asset is in half precision), and proto-MAML's plain side gets the same clip-gradients."""
    from TTS.tts.models import setup_model

    from coqui_meta import MetaLearningConfig
    from coqui_meta_lab.base_training import Base, save_checkpoint
    from coqui_meta_lab.evaluation_grid import evaluate_sides
    from coqui_meta_lab.prototype_sides import prototype_asset, prototype_branches
    from coqui_meta_lab.study import clip_gradients_per_meta_step
    from coqui_meta_lab.voice_corpus import voices_config

    voices = sorted({s["speaker_name"] for s in train})
    table = voices_config(corpus, speakers=voices)  # the plain side: a speaker-table VITS of the same voices
    plain_base = Base(out / "table", save_checkpoint(setup_model(table), table, out / "table", 0), 0, 0.0)
    if kind == "d_vector":
        d_vectors = json.loads(d_vector_sidecar(asset).read_text())
        assert sorted(entry["name"] for entry in d_vectors.values()) == voices, "a mean d-vector per training voice"
        alone = out / "alone.safetensors"  # the weights without their d-vector file: refused before they are read
        out.mkdir(parents=True, exist_ok=True)
        alone.write_bytes(Path(asset).read_bytes())
        with pytest.raises(NotABase, match="its d-vector file .*alone.d_vectors.json is missing"):
            prototype_asset("d_vector", alone)
        branches, encoders = prototype_branches("d_vector", asset, plain_base, train, corpus, out)
        assert branches.plain_files == plain_base.files and branches.clip_gradients == 0, "both sides as shipped"
        assert encoders == {"meta": "resemblyzer"}
        sides = [("plain", branches.plain_files, None), ("meta", branches.meta_files, None)]
        plain, meta = evaluate_sides(sides, [0.001], str(checked_on), held, shots=2, queries=1, steps=[0, 1], seed=0,
                                     out=out / "reports", optimizer="adam", encoders=encoders)
        assert meta.report.voice_start == "resemblyzer" and plain.report.voice_start is None
        zero = trained.history[-1]
        assert meta.report.speaker_similarity[0] == pytest.approx(zero["zero_step_similarity"], abs=0.02)
        assert meta.report.query_loss[0] == pytest.approx(zero["zero_step_query_loss"], rel=0.02)
        return
    protonet = MetaLearningConfig(algorithm="protonet", n_way=2, k_shot=2, q_query=1, meta_batch_size=2)
    assert clip_gradients_per_meta_step(protonet) == 2 * (2 + 1), "the support clips' pass through the encoder counts"
    meta = MetaLearningConfig(algorithm="proto_maml", n_way=2, k_shot=2, q_query=1, meta_batch_size=1, inner_steps=1,
                              prototype_distance="cosine")
    branches, encoders = prototype_branches("proto_maml", asset, plain_base, train, corpus, out, meta, meta_steps=1)
    assert branches.meta_steps == 1 and branches.clip_gradients == clip_gradients_per_meta_step(meta) == 3
    assert branches.plain_steps == round(3 / table.batch_size) and encoders == {}
    written = json.loads(Path(branches.meta_files[1]).read_text())["meta"]
    assert written["algorithm"] == "proto_maml" and written["inner_steps"] == 1
    assert written["prototype_distance"] == "euclidean", "the base's encoder settings, not the study's defaults"


def test_held_out_voices_never_train_and_the_script_never_writes_the_shipped_base(tiny, tmp_path):
    from coqui_meta_lab.base_asset import VOICES_BASE

    corpus, train, held = tiny
    with pytest.raises(ValueError, match="held-out voices among the training clips"):
        train_prototype_base("protonet", corpus, train, held + [train[0]["speaker_name"]], tmp_path, minutes=0.01)
    result = run_script(SCRIPT, "--kind", "protonet", "--out", tmp_path / "out", "--asset", VOICES_BASE)
    assert result.returncode == 2 and "the shipped speaker-table base" in result.stderr
    result = run_script(SCRIPT, "--kind", "d_vector", "--out", tmp_path / "out", "--decoder-channels", "4")
    assert result.returncode == 2 and "--decoder-channels 4" in result.stderr and "at least 8" in result.stderr
    assert not (tmp_path / "out").exists(), "nothing built"


@pytest.mark.slow
def test_a_d_vector_base_starts_from_the_speaker_table_base_with_only_its_speaker_conditioning_fresh(tiny, tmp_path):
    import torch

    from coqui_meta_lab.base_asset import VOICES_BASE

    corpus, train, held = tiny
    base = train_prototype_base("d_vector", corpus, train, held, tmp_path, minutes=0.01, seen=2, shots=2, queries=1,
                                progress=False, check_minutes=0.01, start_from=VOICES_BASE)
    assert len(base.history) == 1, "a record of its own, not the speaker-table base's"
    shipped, _ = read_asset(VOICES_BASE)
    state = torch.load(base.files[0], map_location="cpu", weights_only=True)["model"]
    taken = [key for key in state if key in shipped and shipped[key].shape == state[key].shape]
    fresh = sorted(key for key in state if key not in taken)
    assert fresh and all("cond" in key for key in fresh), fresh  # the layers that read a 256-dim d-vector
    assert len(taken) > 10 * len(fresh)
    moved = max((state[key].float() - shipped[key]).abs().max().item() for key in taken if "decoder" in key)
    assert moved < 0.05, "a few steps from the shipped weights, not from scratch"


@pytest.mark.slow
def test_a_wider_decoder_makes_another_base_that_keeps_its_width_when_gone_on_from_or_read_by_the_study(tiny, tmp_path):
    import torch

    from coqui_meta_lab.base_asset import VOICES_BASE
    from coqui_meta_lab.prototype_base import asset_decoder_width

    corpus, train, held = tiny
    common = dict(seen=2, shots=2, queries=1, progress=False, check_minutes=0.01)
    wide = train_prototype_base("d_vector", corpus, train, held, tmp_path / "run", minutes=0.01, decoder_channels=16,
                                start_from=VOICES_BASE, **common)
    state = torch.load(wide.files[0], map_location="cpu", weights_only=True)["model"]
    shipped, _ = read_asset(VOICES_BASE)
    fresh = sorted(key for key in state if key not in shipped or shipped[key].shape != state[key].shape)
    assert state["waveform_decoder.conv_pre.weight"].shape[0] == 16
    assert any(key.startswith("waveform_decoder.") for key in fresh)
    assert all(key.startswith("waveform_decoder.") or "cond" in key for key in fresh), fresh

    voices = sorted({s["speaker_name"] for s in train})
    asset = export_prototype_base(wide, "d_vector", tmp_path / "wide.safetensors", len(voices))
    assert asset_decoder_width(asset) == 16
    with pytest.raises(NotABase, match=r"wide\.safetensors has a 16-channel waveform decoder, not 64"):
        train_prototype_base("d_vector", corpus, train, held, tmp_path / "other", minutes=wide.minutes,
                             decoder_channels=64, asset=asset, **common)
    again = train_prototype_base("d_vector", corpus, train, held, tmp_path / "machine2", minutes=wide.minutes,
                                 asset=asset, **common)  # a new machine: the width comes from the asset
    gone_on = torch.load(again.files[0], map_location="cpu", weights_only=True)["model"]
    decoder = gone_on["waveform_decoder.conv_pre.weight"]
    assert torch.allclose(decoder, state["waveform_decoder.conv_pre.weight"].half().float(), atol=1e-3)
    study = asset_base(asset, "d_vector", corpus, tmp_path / "study")
    read = torch.load(study.files[0], map_location="cpu", weights_only=True)["model"]
    assert read["waveform_decoder.conv_pre.weight"].shape[0] == 16 and study.steps == wide.steps
