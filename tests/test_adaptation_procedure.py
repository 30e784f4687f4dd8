"""One adaptation procedure: meta-validation measures what `coqui-meta evaluate` measures, and a diverging
adaptation stops with a clear error instead of writing a broken voice."""

import pytest
from conftest import run_cli

from coqui_meta.adapting.settings import AdaptationSettings
from coqui_meta.formats.checkpoints import load_model
from coqui_meta.formats.clips import load_clips
from coqui_meta.judging.evaluation import SpeakerClips, draw_clips, evaluate


def test_meta_validation_and_evaluate_give_the_same_losses_for_the_same_speaker_and_clips(tiny_vits, corpus):
    folder, _ = tiny_vits
    model_path, config_path = str(folder / "model.pth"), str(folder / "meta_config.json")
    report = evaluate(model_path, config_path, str(corpus), speakers=1, shots=2, queries=2, steps=[0, 2],
                      out_path=None, settings=AdaptationSettings(device="cpu"), similarity=False,
                      progress=False)
    name = report.speakers[0]

    model = load_model(model_path, config_path).model  # meta.seed 0: its first eval task's seed is evaluate's seed 0
    model.config.meta.eval_inner_steps = 2
    dataset = model.meta_stock_dataset(load_clips(corpus))
    indices = [i for i, sample in enumerate(dataset.samples) if sample["speaker_name"] == name]
    clips = SpeakerClips(model, dataset, draw_clips(indices, name, 4, seed=0), shots=2)
    assert clips.support_files == report.clips[name]["support"]
    model.eval()  # as the Trainer runs meta-validation
    _, logs = model.eval_step({"tasks": [(clips.support, clips.query)]}, None, model.meta_optimizer_index)
    curve = report.per_speaker[name]["query_loss"]
    assert logs["query_loss_before_adaptation"] == curve[0]
    assert logs["query_loss_after_adaptation"] == curve[2]
    assert curve[2] != curve[0]


def test_evaluate_stops_a_diverging_adaptation_with_a_clear_error_and_writes_no_report(tiny_vits, corpus, tmp_path):
    folder, _ = tiny_vits
    result = run_cli("evaluate", "--model_path", str(folder / "model.pth"), "--config_path",
                     str(folder / "stock_config.json"), "--data", str(corpus), "--speakers", "1", "--shots", "2",
                     "--queries", "1", "--steps", "0,2", "--lr", "1e8", "--out_path", str(tmp_path / "eval"),
                     "--device", "cpu")
    assert result.returncode != 0 and "the adaptation diverged" in result.stderr, result.stderr[-2000:]
    assert "lower --lr" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "eval" / "report.json").exists()


@pytest.fixture()
def new_speaker_clips(corpus_samples, tiny_vits, tmp_path):
    """A wav + txt folder of 3 short clips of a speaker the tiny model does not know."""
    import shutil

    _, known = tiny_vits
    clips = [s for s in corpus_samples if s["speaker_name"] not in known and s["seconds"] < 4.0]
    name = clips[0]["speaker_name"]
    folder = tmp_path / "clips"
    folder.mkdir()
    for index, sample in enumerate([s for s in clips if s["speaker_name"] == name][:3]):
        shutil.copy(sample["audio_file"], folder / f"clip{index}.flac")
        (folder / f"clip{index}.txt").write_text(sample["text"])
    return folder


def test_adapt_refuses_to_write_a_voice_whose_loss_diverged(tiny_vits, new_speaker_clips, tmp_path):
    folder, _ = tiny_vits
    out = tmp_path / "voice"
    result = run_cli(
        "adapt",
        "--model_path",
        str(folder / "model.pth"),
        "--config_path",
        str(folder / "stock_config.json"),
        "--data",
        str(new_speaker_clips),
        "--speaker",
        "nova",
        "--shots",
        "2",
        "--steps",
        "2",
        "--lr",
        "1e8",
        "--out_path",
        str(out),
        "--device",
        "cpu",
    )
    assert result.returncode != 0, result.stdout[-2000:]
    assert "the adaptation diverged" in result.stderr and "lower --lr" in result.stderr, result.stderr[-2000:]
    assert not out.exists() and not list(tmp_path.glob(".voice.partial-*"))


def test_a_task_whose_inner_steps_diverge_is_skipped_in_training(corpus_samples):
    import torch
    from conftest import build_meta_model, first_meta_batch, pick

    from coqui_meta import MetaLearningConfig

    samples = pick(corpus_samples, speakers=2, clips=3, max_seconds=2.6, seed=1)
    meta = MetaLearningConfig(algorithm="fomaml", inner_steps=2, inner_lr=1e8, n_way=2, k_shot=2, q_query=1,
                              meta_batch_size=2)
    model = build_meta_model("vits", meta, sorted({s["speaker_name"] for s in samples}), max_audio_seconds=3.0)
    tasks = first_meta_batch(model, samples, is_eval=False)["tasks"]
    results = model.meta_algorithm.outer_backward(tasks, seeds=[0, 1])
    assert all(result.skipped for result in results)
    assert all(p.grad is None or not torch.any(p.grad) for p in model.parameters()), "a skipped task adds no gradient"


@pytest.fixture()
def sdp_vits(corpus_samples, tmp_path):
    """A small random-init VITS with Coqui's stochastic duration predictor (its spline is where a blown-up step
    failed) and learned inner rates, saved with its meta config: the folder."""
    import torch
    from conftest import build_meta_model, save_checkpoint

    from coqui_meta import MetaLearningConfig, MetaVits

    known = sorted({s["speaker_name"] for s in corpus_samples})[:6]
    config = build_meta_model("vits", MetaLearningConfig(inner_lr=0.01, inner_lr_mode="per_tensor"), known,
                              output_path=str(tmp_path)).config
    config.model_args.use_sdp = True
    torch.manual_seed(0)
    save_checkpoint(tmp_path, MetaVits(config), stock_name=None)
    return tmp_path


def test_adapt_says_diverged_where_coqui_fails_on_what_a_step_made(sdp_vits, new_speaker_clips, tmp_path):
    """--lr 1e8 with the default procedure (Adam on everything speaker-conditioned, learned rates) blows the weights up
    in one step, and Coqui's duration-predictor spline then fails ("min(): Expected reduction dim ..."): the user gets
    the divergence message, naming that failure, and nothing is written. --lr 1e39 leaves the weights infinite: the
    check after the step says so before Coqui's forward sees them."""
    from conftest import run_cli

    for lr, cause in (("1e8", "Coqui's forward failed on what the steps made (RuntimeError"),
                      ("1e39", "step 1 left the adapted tensors not finite")):
        out = tmp_path / f"voice_{lr}"
        result = run_cli("adapt", "--model_path", sdp_vits / "model.pth", "--config_path",
                             sdp_vits / "meta_config.json", "--data", new_speaker_clips, "--speaker", "nova",
                             "--shots", "2", "--steps", "3", "--lr", lr, "--out_path", out, "--device", "cpu")
        assert result.returncode == 1, result.stdout[-2000:]
        assert "the adaptation diverged after 1 step(s)" in result.stderr and cause in result.stderr, result.stderr
        assert "lower --lr or --lr_scale" in result.stderr and "Traceback" not in result.stderr
        assert not out.exists() and not list(tmp_path.glob(f".voice_{lr}.partial-*"))


def test_a_forward_that_fails_before_any_step_is_not_called_a_divergence():
    """Only a failure on tensors the steps moved is a divergence; before any step it is the model's own error."""
    from types import SimpleNamespace

    from coqui_meta.algorithms.inner_loop import failed_forward

    error = RuntimeError("min(): Expected reduction dim to be specified")
    assert not failed_forward(SimpleNamespace(moved=False), error)
    assert failed_forward(SimpleNamespace(moved=True), error)


def test_a_training_task_whose_steps_break_coqui_s_forward_is_skipped(corpus_samples):
    """Meta-training's view of the same failure: a task whose inner step blew the weights up past what Coqui's
    stochastic duration predictor can take is skipped (no gradient), not a crash of the run."""
    import torch
    from conftest import build_meta_model, first_meta_batch, pick

    from coqui_meta import MetaLearningConfig, MetaVits

    samples = pick(corpus_samples, speakers=2, clips=3, max_seconds=2.6, seed=1)
    meta = MetaLearningConfig(algorithm="fomaml", inner_steps=2, inner_lr=1e8, n_way=2, k_shot=2, q_query=1,
                              meta_batch_size=2)
    config = build_meta_model("vits", meta, sorted({s["speaker_name"] for s in samples}), max_audio_seconds=3.0).config
    config.model_args.use_sdp = True
    torch.manual_seed(0)
    model = MetaVits(config)
    tasks = first_meta_batch(model, samples, is_eval=False)["tasks"]
    results = model.meta_algorithm.outer_backward(tasks, seeds=[0, 1])
    assert all(result.skipped for result in results)
    assert all(p.grad is None or not torch.any(p.grad) for p in model.parameters()), "a skipped task adds no gradient"
