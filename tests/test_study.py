"""The base-first study: a base trained over several runs from its Trainer checkpoints, branches compute-matched
from it, and the seen-speaker EER that says whether a base is speaker-specific."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import pick, run_script

from coqui_meta import MetaLearningConfig
from coqui_meta_lab.base_asset import VOICES_BASE
from coqui_meta_lab.base_training import train_base
from coqui_meta_lab.presets import small_vits_config, speechocean_dataset
from coqui_meta_lab.prototype_base import PROTOTYPE_BASES
from coqui_meta_lab.study import clip_gradients_per_meta_step, plain_branch, train_branches


@pytest.fixture()
def base_setup(corpus, corpus_samples, tmp_path):
    train = pick(corpus_samples, speakers=3, clips=4, max_seconds=2.6, seed=4)
    config = small_vits_config(speechocean_dataset(str(corpus)), max_audio_seconds=2.7,
                               speakers=sorted({s["speaker_name"] for s in train}))
    config.run_eval, config.print_step = False, 10**9
    return config, train, tmp_path


@pytest.mark.slow
def test_a_base_goes_on_from_its_checkpoint_when_asked_for_more_minutes_and_is_reused_otherwise(base_setup):
    config, train, out = base_setup
    checks = []

    def check(files):
        checks.append(files)
        return {"seen": len(checks)}

    # a check every 3.6 s: at 3.6 s and at the end (5.4 s); going on to 9 s, one more at its end
    first = train_base(config, train, out, minutes=0.09, check=check, check_minutes=0.06, progress=False)
    assert len(first.history) == 2 and first.steps > 0 and [r["seen"] for r in first.history] == [1, 2]
    assert json.loads((first.folder / "progress.json").read_text())["steps"] == first.steps
    longer = train_base(config, train, out, minutes=0.15, check=check, check_minutes=0.06, progress=False)
    assert longer.folder == first.folder and longer.steps > first.steps and len(longer.history) == 3
    checkpoints = sorted(int(p.stem.split("_")[1]) for p in (first.folder / "trainer").glob("*/checkpoint_*.pth"))
    assert max(checkpoints) > first.steps, "the Trainer went on counting from its checkpoint"
    again = train_base(config, train, out, minutes=0.12, check=check, progress=False)
    assert again.steps == longer.steps and len(checks) == 3, "a base with the minutes asked for is reused as it is"
    other = train_base(config, train, out, minutes=0.02, seed=1, progress=False)
    assert other.folder != first.folder, "other settings, another base"


@pytest.mark.slow
def test_a_base_with_a_wider_decoder_starts_from_another_base_and_only_its_decoder_is_new(base_setup, capsys):
    """scripts/voices_base.py --decoder-channels: a base whose config widens the waveform decoder is warm-started from
    a base of the preset's width; every other tensor comes from it, the decoder starts fresh at the new width."""
    config, train, out = base_setup
    narrow = train_base(config, train, out, minutes=0.02, progress=False)
    start = torch.load(narrow.files[0], weights_only=True)["model"]
    wide_config = small_vits_config(speechocean_dataset(config.datasets[0].path), max_audio_seconds=2.7,
                                    speakers=list(config.speakers))
    wide_config.run_eval, wide_config.print_step = False, 10**9
    wide_config.model_args.upsample_initial_channel_decoder = 2 * config.model_args.upsample_initial_channel_decoder
    wide_config.lr_gen = wide_config.lr_disc = 1e-12  # the warm start, not the steps, is under test
    wide = train_base(wide_config, train, out, minutes=narrow.minutes + 0.01, progress=False,
                      warm_start=lambda: (start, {"steps": narrow.steps, "minutes": narrow.minutes, "history": []}))
    assert "new: waveform_decoder" in capsys.readouterr().out and wide.folder != narrow.folder
    assert wide.steps > narrow.steps, "the record goes on from the base it started from"
    after = torch.load(wide.files[0], weights_only=True)["model"]
    decoder = "waveform_decoder.conv_pre.weight"
    assert after[decoder].shape[0] == 2 * start[decoder].shape[0]
    for name in ("emb_g.weight", "text_encoder.emb.weight", "flow.flows.0.pre.weight", "disc.nets.0.convs.0.bias"):
        assert torch.allclose(after[name], start[name], atol=1e-6), name
    same = train_base(wide_config, train, out / "again", minutes=0.01, progress=False,
                      warm_start=lambda: (start, {"steps": narrow.steps, "minutes": narrow.minutes, "history": []}))
    assert same.steps == narrow.steps and Path(same.files[0]).is_file(), "started with the minutes asked: written"
    with pytest.raises(ValueError, match="lacks: no_such.weight"):
        train_base(wide_config, train, out / "other", minutes=0.01, progress=False,
                   warm_start=lambda: ({**start, "no_such.weight": torch.zeros(1)}, {"steps": 0, "minutes": 0.0,
                                                                                     "history": []}))


def test_a_base_with_a_wider_decoder_is_shipped_and_read_back_at_its_width(base_setup):
    """A base written by ``voices_base.py --decoder-channels --asset`` is what every study's ``--base-asset`` reads:
    the preset's config is fitted to its decoder, and the checkpoint written loads in stock Coqui."""
    from TTS.tts.models import setup_model

    from coqui_meta.formats.checkpoints import load_model
    from coqui_meta_lab.base_asset import export_base, shipped_base
    from coqui_meta_lab.base_training import save_checkpoint

    config, _, out = base_setup
    wide = small_vits_config(speakers=list(config.speakers))
    wide.model_args.upsample_initial_channel_decoder = 128
    torch.manual_seed(0)
    model = setup_model(wide)
    asset = export_base(save_checkpoint(model, wide, out / "wide", step=7), out / "wide.safetensors", note="wide")
    base = shipped_base(small_vits_config(speakers=list(config.speakers)), out / "read", path=asset)
    loaded = load_model(*base.files).model
    assert loaded.config.model_args.upsample_initial_channel_decoder == 128
    for name, tensor in model.state_dict().items():
        assert torch.allclose(loaded.state_dict()[name], tensor.half().float()), name  # shipped in half precision


def test_a_base_asset_of_other_voices_or_without_a_record_is_refused_by_name_before_it_is_read(base_setup):
    """Every base that goes on from an asset (scripts/voices_base.py, scripts/gst_base.py, the style study, the
    shipped base of the studies) checks it first: its voices in its speaker table's order, a record to go on with, a
    file of the right kind; the weights come back at half precision with the record."""
    from TTS.tts.models import setup_model

    from coqui_meta_lab.base_asset import NotABase, asset_start, export_base, shipped_base
    from coqui_meta_lab.base_training import save_checkpoint

    config, _, out = base_setup
    voices = list(config.speakers)
    torch.manual_seed(0)
    model = setup_model(config)
    files = save_checkpoint(model, config, out / "base", step=3)
    record = {"steps": 3, "minutes": 0.5, "history": [{"steps": 3, "minutes": 0.5}]}
    asset = export_base(files, out / "a.safetensors", note="test", progress=record)
    bare = export_base(files, out / "bare.safetensors", note="no record")
    (out / "notes.safetensors").write_text("not a base")

    weights, kept = asset_start(asset, voices)()
    assert kept == record
    for name, tensor in model.state_dict().items():
        assert torch.equal(weights[name], tensor.half().float()), name
    assert asset_start(bare, voices, record=False)()[1] == {"steps": 0, "minutes": 0.0, "history": []}
    with pytest.raises(NotABase, match=r"a.safetensors is not a base of these voices: .* in another order"):
        asset_start(asset, voices[::-1])
    with pytest.raises(NotABase, match=r"a.safetensors is not a GST base: it was trained on 3 voices .*, not on 1"):
        asset_start(asset, voices[:1], "a GST base")
    with pytest.raises(NotABase, match="bare.safetensors is not a base of these voices: it keeps no training record"):
        asset_start(bare, voices)
    with pytest.raises(NotABase, match="notes.safetensors is not a base asset"):
        asset_start(out / "notes.safetensors", voices)
    other = small_vits_config(speakers=voices[1:])
    with pytest.raises(NotABase, match="a.safetensors is not a base of this corpus's voices"):
        shipped_base(other, out / "other", path=asset)
    assert not (out / "other").exists(), "nothing written"


def test_the_base_script_never_writes_a_wider_decoder_over_the_shipped_base(tmp_path):
    """scripts/voices_base.py --decoder-channels is another base: without an --asset of its own it stops before
    anything is built or written."""
    from coqui_meta_lab.base_asset import VOICES_BASE

    script = Path(__file__).resolve().parents[1] / "scripts" / "voices_base.py"
    for extra in ([], ["--asset", str(VOICES_BASE)]):
        result = run_script(script, "--decoder-channels", "256", "--out", tmp_path, *extra)
        assert result.returncode == 2 and "name its own --asset" in result.stderr
    assert not any(tmp_path.iterdir()), "nothing built"


def test_the_grid_adapts_the_modules_asked_for_on_every_side(tiny_vits, corpus):
    """A study's ``adapt_modules`` (e.g. only the style tokens) are what a run adapts, for a fixed rate and for
    learned rates alike; without them each model adapts its own default tensors."""
    from coqui_meta_lab import evaluation_grid as grid

    folder, _ = tiny_vits
    files = (str(folder / "model.pth"), str(folder / "meta_config.json"))
    kwargs = dict(data=str(corpus), speakers=1, shots=2, queries=1, steps=[0, 1])
    own = grid._evaluate_point(files, grid.grid_settings(0.003, 0), None, False, kwargs)
    asked = grid._evaluate_point(files, grid.grid_settings(0.003, 0, adapt_modules=["emb_g"]), None, False, kwargs)
    assert asked.adapt_modules == ["emb_g.weight"]
    assert len(own.adapt_modules) > 1 and "emb_g.weight" in own.adapt_modules
    assert asked.query_loss[1] != pytest.approx(own.query_loss[1], rel=1e-6), "fewer tensors, another curve"
    learned = grid.grid_settings(0.003, 0, inner_lr=0.001, adapt_modules=["emb_g"])
    assert learned.adapt_modules == ["emb_g"] and learned.lr_scale == pytest.approx(3.0)


@pytest.mark.parametrize("script,arguments,message", [
    ("benchmarks/judge_calibration.py", ["--griffin-lim"], "use it with --corpus styles"),
    ("benchmarks/judge_calibration.py", ["--corpus", "styles", "--screen"], "use it with --corpus voices"),
    ("scripts/gst_base.py", ["--minutes", "0"], "--minutes and --check-minutes must be above 0"),
    ("benchmarks/style_adaptation.py", ["--model", "tacotron2", "--base-asset", "no_such.safetensors"],
     "argument --base-asset: no_such.safetensors: no such file"),
    ("benchmarks/style_adaptation.py", ["--choose-at", "7"], "--choose-at 7: not one of --steps"),
    ("benchmarks/style_adaptation.py", ["--algorithm", "reptile", "--inner-lr-mode", "per_tensor"],
     "meta.inner_lr_mode: learned rates are for"),
    ("benchmarks/style_adaptation.py", ["--model", "tacotron2", "--adapt-modules", "gst_layer,no_such_module"],
     "meta.adapt_modules: pattern 'no_such_module' matches no trainable parameter of MetaTacotron2"),
    ("benchmarks/style_adaptation.py", ["--adapt-modules", "gst_layer"],
     "meta.adapt_modules: pattern 'gst_layer' matches no trainable parameter of MetaVits"),
    ("benchmarks/adaptation_speed.py", ["--algorithm", "d_vector"],
     "--algorithm d_vector: use it with --corpus voices"),
    ("benchmarks/adaptation_speed.py", ["--prototype-base", str(VOICES_BASE)], "--prototype-base: use it with --algo"),
    ("benchmarks/adaptation_speed.py", ["--corpus", "voices", "--algorithm", "proto_maml"],
     f"starts from a protonet prototype base and none is shipped ({PROTOTYPE_BASES['protonet']})"),
    ("benchmarks/adaptation_speed.py", ["--corpus", "voices", "--algorithm", "d_vector", "--prototype-base",
                                        str(VOICES_BASE)],
     "is not a d_vector prototype base (its record says no kind)"),
    ("benchmarks/adaptation_speed.py", ["--corpus", "voices", "--algorithm", "d_vector", "--budget-minutes", "5"],
     "--budget-minutes would be ignored (the d-vector base is compared as shipped: no branch trains)"),
])
def test_a_study_refuses_flags_it_would_ignore_before_building_anything(tmp_path, script, arguments, message):
    path = Path(__file__).resolve().parents[1] / script
    result = run_script(path, *arguments, "--out", tmp_path / "out")
    assert result.returncode == 2 and message in result.stderr
    assert not any(tmp_path.iterdir()), "nothing built"


@pytest.mark.slow
def test_the_branches_start_from_the_base_and_use_the_same_clip_gradients(base_setup):
    config, train, out = base_setup
    base = train_base(config, train, out, minutes=0.05, progress=False)
    meta = MetaLearningConfig(algorithm="fomaml", inner_steps=1, inner_lr_mode="per_tensor", n_way=2, k_shot=2,
                              q_query=1, meta_batch_size=2, multi_step_loss=True)
    branches = train_branches(base, train, meta, out, meta_steps=2, progress=False)
    assert branches.meta_steps == 2 and clip_gradients_per_meta_step(meta) == 2 * (1 * 2 + 2 * 1)
    assert branches.plain_steps == round(2 * clip_gradients_per_meta_step(meta) / config.batch_size)
    plain = torch.load(branches.plain_files[0], weights_only=True)
    meta_state = torch.load(branches.meta_files[0], weights_only=True)
    assert plain["step"] == base.steps + branches.plain_steps and meta_state["step"] == base.steps + 2
    assert "meta_inner_lrs.log_lr" in meta_state["model"] and "meta_inner_lrs.log_lr" not in plain["model"]
    again = train_branches(base, train, meta, out, meta_steps=2, progress=False)
    assert again.meta_files == branches.meta_files and again.seconds == branches.seconds, "trained once, then reused"
    elsewhere = out / "moved"  # the study's branches moved to another folder are reused, and read, from there
    elsewhere.mkdir()
    shutil.move(out / "branches", elsewhere / "branches")
    moved = train_branches(base, train, meta, elsewhere, meta_steps=2, progress=False)
    assert moved.seconds == branches.seconds and moved.folder == elsewhere / "branches" / branches.folder.name
    assert all(Path(path).is_file() and Path(path).is_relative_to(elsewhere)
               for path in moved.meta_files + moved.plain_files)


@pytest.mark.slow
def test_a_plain_branch_follows_its_seed(base_setup):
    """The branches' spread on one base (``--branch-seed``) is measured only if another seed trains another branch:
    Coqui's Trainer reseeds torch when it is made, so the seed has to reach it."""
    config, train, out = base_setup
    base = train_base(config, train, out, minutes=0.05, progress=False)
    weights = [torch.load(plain_branch(base, train, 2, out, seed=seed, progress=False)["files"][0],
                          weights_only=True)["model"] for seed in (0, 1)]
    assert weights[0].keys() == weights[1].keys()
    assert any(not torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_the_seen_speaker_eer_judges_renditions_of_training_speakers_against_their_real_clips(tiny_vits,
                                                                                            corpus_samples):
    from coqui_meta.formats.checkpoints import load_model
    from coqui_meta.judging.identity import seen_speaker_eer

    folder, known = tiny_vits
    model = load_model(folder / "model.pth", folder / "meta_config.json").model
    samples = [s for s in corpus_samples if s["speaker_name"] in known and s["seconds"] < 4.0]
    result = seen_speaker_eer(model, samples, speakers=3, clips=1)
    assert len(result["speakers"]) == 3 and set(result["speakers"]) <= set(known)
    assert 0.0 <= result["eer"] <= 1.0
    assert -1.0 <= result["other_speaker_cosine"] <= 1.0 and -1.0 <= result["same_speaker_cosine"] <= 1.0
    with pytest.raises(ValueError, match="needs 2 speakers"):
        seen_speaker_eer(model, samples[:1], speakers=3, clips=1)


def test_the_seen_speaker_eer_labels_its_trials_by_speaker(tiny_vits, corpus_samples, monkeypatch):
    """Renditions that are real clips of their own speaker give a lower EER (and a same-speaker cosine above the
    other-speaker one) than renditions that are real clips of another speaker: targets and impostors are told apart
    by speaker, not by position."""
    import numpy as np

    from coqui_meta.algorithms.task import Task
    from coqui_meta.formats.checkpoints import load_model
    from coqui_meta.judging import identity

    folder, known = tiny_vits
    model = load_model(folder / "model.pth", folder / "meta_config.json").model
    samples = [s for s in corpus_samples if s["speaker_name"] in known and s["seconds"] < 4.0]
    own = {}  # a real clip of each speaker that is neither rendered nor a reference (their longest)
    for sample in sorted(samples, key=lambda s: s["seconds"]):
        own[sample["speaker_name"]] = sample["audio_file"]
    names = sorted(own)

    def real_clip_of(shift):
        def fake_render(task, batch, index, seed=None):  # the known voices' Task speaks a real clip instead
            speaker = batch["speaker_names"][index]
            other = names[(names.index(speaker) + shift) % len(names)]
            return model.ap.load_wav(own[other]), model.ap.sample_rate
        return fake_render

    results = {}
    for shift in (0, 1):
        monkeypatch.setattr(Task, "render", real_clip_of(shift))
        results[shift] = identity.seen_speaker_eer(model, samples, speakers=4, clips=2)
    truthful, swapped = results[0], results[1]
    assert truthful["same_speaker_cosine"] > truthful["other_speaker_cosine"]
    assert swapped["same_speaker_cosine"] < swapped["other_speaker_cosine"] + 0.02
    assert truthful["eer"] < swapped["eer"] and truthful["eer"] <= 0.35 and np.isfinite(swapped["eer"])


def test_the_grid_keeps_finished_runs_and_knows_a_rewritten_model(tmp_path, monkeypatch):
    """A crash loses only the runs under way; a model written again (a base trained on) is evaluated again."""
    from coqui_meta_lab import evaluation_grid as study

    files = (str(tmp_path / "model.pth"), str(tmp_path / "config.json"))
    (tmp_path / "model.pth").write_bytes(b"weights")
    kwargs = dict(data="corpus", speakers=["a"], shots=5, queries=3, steps=[0, 1])
    calls = [(files, study.grid_settings(value, 0), None, False, kwargs) for value in (0.01, 0.03)]
    ran = []

    def crash_on_the_second(files, settings, out_path, similarity, kwargs, report_steps):
        ran.append(settings.lr)
        if len(ran) == 2:
            raise RuntimeError("killed")
        return study.GridPoint({0: 2.0, 1: settings.lr})

    monkeypatch.setattr(study, "_evaluate_point", crash_on_the_second)
    with pytest.raises(RuntimeError, match="killed"):
        study._run_all(calls, jobs=1)
    kept = json.loads((tmp_path / "evaluations.json").read_text())
    assert list(kept.values()) == [{"query_loss": {"0": 2.0, "1": 0.01}}]
    ran.clear()

    def finish(files, settings, out_path, similarity, kwargs, report_steps):
        ran.append(settings.lr)
        return study.GridPoint({0: 2.0, 1: settings.lr})

    monkeypatch.setattr(study, "_evaluate_point", finish)
    results = study._run_all(calls, jobs=1)
    assert [r.query_loss[1] for r in results] == [0.01, 0.03] and ran == [0.03], "the finished run is not redone"
    assert len(json.loads((tmp_path / "evaluations.json").read_text())) == 2
    ran.clear()
    (tmp_path / "model.pth").write_bytes(b"weights trained on")  # a base trained on: another model in the same file
    study._run_all(calls, jobs=1)
    assert ran == [0.01, 0.03], "a model written again is evaluated again"


def test_the_grid_chooses_each_sides_rate_by_the_query_loss_at_the_step_asked_for(tmp_path, monkeypatch):
    """A rate that falls fastest early wins at an early step and loses at the last; the judged run is at the rate
    chosen, the same rule for both sides, and a step the grid did not measure is refused before anything runs."""
    from coqui_meta_lab import evaluation_grid as grid

    curves = {0.01: {0: 1.0, 10: 0.9, 100: 0.5}, 0.03: {0: 1.0, 10: 0.7, 100: 0.8}}  # slow but low, fast then up
    judged = []

    def point(files, settings, out_path, similarity, kwargs, report_steps):
        if similarity:
            judged.append((files[0], settings.lr))
        return grid.GridPoint(curves[settings.lr])

    monkeypatch.setattr(grid, "_evaluate_point", point)
    sides = []
    for label in ("plain", "meta"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "model.pth").write_bytes(label.encode())
        sides.append((label, (str(tmp_path / label / "model.pth"), "config.json"), None))
    arguments = ([0.01, 0.03], "corpus", ["a"], 5, 3, [0, 10, 100], 0, tmp_path / "reports")
    assert [side.lr for side in grid.evaluate_sides(sides, *arguments)] == [0.01, 0.01]
    judged.clear()
    assert [side.lr for side in grid.evaluate_sides(sides, *arguments, choose_at=10)] == [0.03, 0.03]
    assert sorted(judged) == [(sides[1][1][0], 0.03), (sides[0][1][0], 0.03)]
    with pytest.raises(ValueError, match="choose_at: step 20 is not among the evaluated steps"):
        grid.evaluate_sides(sides, *arguments, choose_at=20)

    modules = []
    monkeypatch.setattr(grid, "_evaluate_point", lambda files, settings, *rest: modules.append(
        settings.adapt_modules) or grid.GridPoint(curves[settings.lr]))
    grid.evaluate_sides(sides, *arguments, adapt_modules=["gst_weights", "gst_layer"])
    # every grid run and judged run of both sides: none taken from the runs above, which adapted other tensors
    assert modules == [["gst_weights", "gst_layer"]] * 6


def test_the_grid_in_worker_processes_reports_every_step_and_adapts_as_one_process_does(tiny_vits, corpus):
    """A study's evaluations run in worker processes: each reports its steps to the study's one bar as it goes (not
    only when it ends), and its query-loss curve is the one the same run gives in the study's own process."""
    from coqui_meta_lab import evaluation_grid as grid

    folder, _ = tiny_vits
    files = (str(folder / "model.pth"), str(folder / "meta_config.json"))
    kwargs = dict(data=str(corpus), speakers=1, shots=2, queries=1, steps=[0, 2])
    calls = [(files, grid.grid_settings(value, 0), None, False, kwargs) for value in (0.003, 0.01)]
    here = []
    alone = grid._evaluate_point(*calls[0], here.append)
    assert sum(here) == grid._steps_of(kwargs) == 1 * (2 + 2) and len(here) == 4, "each step reported on its own"

    reports, kept = [], {}
    grid._in_workers(calls, [0, 1], 2, keep=kept.__setitem__, advance=lambda index, steps: reports.append(index))
    assert sorted(reports) == [0] * 4 + [1] * 4, "every step of both runs heard from the workers"
    for step, loss in alone.query_loss.items():
        assert kept[0].query_loss[step] == pytest.approx(loss, rel=1e-4), step
    assert kept[1].query_loss[2] != pytest.approx(kept[0].query_loss[2], rel=1e-4), "two rates, two curves"
