"""Meta-training with Coqui's own Trainer and with `coqui-meta train`, on real speech."""

import glob
import json
from pathlib import Path

import pytest
import torch
from conftest import build_meta_model, corpus_subset, first_meta_batch, pick, run_cli
from trainer import Trainer, TrainerArgs
from TTS.tts.models.vits import Vits

from coqui_meta import MetaLearningConfig

ROOT = Path(__file__).resolve().parents[1]


def meta_validation_loss(model, batch) -> float:
    model.eval()
    _, loss_dict = model.eval_step(batch, None, model.meta_optimizer_index)
    return loss_dict["query_loss_after_adaptation"]


@pytest.mark.slow
def test_meta_training_lowers_the_adapted_query_loss_on_unseen_speakers(corpus_samples, tmp_out):
    train = pick(corpus_samples, speakers=6, clips=8, max_seconds=4.0, seed=2)
    seen = {s["speaker_name"] for s in train}
    held_out = pick(corpus_samples, speakers=2, clips=6, max_seconds=4.0, seed=3, exclude=seen)
    meta = MetaLearningConfig(
        algorithm="fomaml", inner_steps=1, inner_lr=1e-3, n_way=2, k_shot=2, q_query=2, meta_batch_size=2,
        episodes_per_epoch=12, eval_episodes=1,
    )
    # one epoch of 12 meta-steps (three were 36): the loss falls to about 0.6 of its start in one, well past 0.9
    model = build_meta_model("vits", meta, sorted(seen), output_path=str(tmp_out), epochs=1, lr_gen=1e-3)
    eval_batch = first_meta_batch(model, held_out, is_eval=True)
    before = meta_validation_loss(model, eval_batch)

    trainer = Trainer(
        TrainerArgs(), model.config, str(tmp_out), model=model, train_samples=train, eval_samples=held_out,
        parse_command_line_args=False,
    )
    trainer.fit()
    after = meta_validation_loss(model, eval_batch)
    assert after < 0.9 * before, f"meta-validation query loss after adaptation: {before:.2f} -> {after:.2f}"
    # the Trainer logged meta-validation like any Coqui eval loss
    logged = trainer.keep_avg_eval.avg_values
    assert {"avg_loss_1", "avg_query_loss_before_adaptation", "avg_query_loss_after_adaptation"} <= logged.keys()
    assert glob.glob(str(tmp_out / "*" / "events.out.tfevents.*"))

    # the checkpoint the Trainer wrote loads into a STOCK Vits, strictly, with Coqui's own loader
    checkpoint = sorted(
        glob.glob(str(tmp_out / "*" / "checkpoint_*.pth")) + glob.glob(str(tmp_out / "*" / "best_model*.pth"))
    )[-1]
    stock = Vits(model.config.to_stock())
    stock.load_checkpoint(model.config.to_stock(), checkpoint, strict=True)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    for name, tensor in stock.state_dict().items():
        assert torch.equal(tensor, state["model"][name])


@pytest.mark.slow
def test_cli_train_with_overrides_and_restore_from_a_stock_checkpoint(corpus, corpus_samples, tmp_out):
    from coqui_meta import MetaVitsConfig
    from coqui_meta_lab.presets import small_vits_config, speechocean_dataset

    speakers = sorted({s["speaker_name"] for s in pick(corpus_samples, 5, 6, 4.0, seed=4)})
    stock_config = small_vits_config(speechocean_dataset(str(corpus)), output_path=str(tmp_out / "run"))
    stock_config.max_audio_len = 4 * 16000
    # a stock Coqui checkpoint to start from, as a user would have one
    train_speakers = speakers[:3]
    stock_config.speakers = train_speakers
    stock = Vits(stock_config)
    from trainer.io import save_model

    save_model(stock_config, stock, str(tmp_out / "stock.pth"), current_step=1000, epoch=10)

    config = MetaVitsConfig.from_config(
        stock_config,
        meta=MetaLearningConfig(
            n_way=2, k_shot=2, q_query=1, meta_batch_size=2, eval_tasks=speakers[3:], episodes_per_epoch=50
        ),
    )
    config.datasets[0].meta_file_train = "metadata.csv"
    config.datasets[0].path = str(corpus_subset(corpus, speakers, tmp_out / "data"))
    config.save_json(str(tmp_out / "config.json"))

    result = run_cli(
        "train", "--config_path", str(tmp_out / "config.json"), "--restore_path", str(tmp_out / "stock.pth"),
        "--coqpit.epochs", "1", "--coqpit.meta.episodes_per_epoch", "2", "--coqpit.lr_gen", "0",
        "--coqpit.lr_disc", "0", "--coqpit.meta.inner_steps", "2", cwd=tmp_out,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = Path(glob.glob(str(tmp_out / "run" / "*" / "best_model.pth"))[0]).parent  # not a cache beside it
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["meta"]["inner_steps"] == 2 and saved["meta"]["episodes_per_epoch"] == 2
    assert "Meta-validation on held-out speaker_name values: " + ", ".join(speakers[3:]) in result.stdout
    checkpoint = run_dir / "best_model.pth"
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    # learning rates 0: the restored stock weights come out unchanged
    for name, tensor in stock.state_dict().items():
        assert torch.equal(state[name], tensor), name

    # --continue_path picks the run up where it stopped, with its own config
    result = run_cli(
        "train", "--continue_path", str(run_dir), "--coqpit.epochs", "2", "--coqpit.save_step", "1", cwd=tmp_out
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Continuing from" in result.stdout + result.stderr
    steps = [
        torch.load(p, map_location="cpu", weights_only=True)["step"]
        for p in run_dir.glob("*.pth")
        if "speakers" not in p.name
    ]
    assert max(steps) >= 3


def test_cli_names_a_missing_config_and_a_stock_config(tmp_out):
    result = run_cli("train", "--config_path", str(tmp_out / "nope.json"))
    assert result.returncode != 0 and "nope.json" in result.stderr
    from coqui_meta_lab.presets import small_vits_config

    small_vits_config().save_json(str(tmp_out / "stock.json"))
    result = run_cli("train", "--config_path", str(tmp_out / "stock.json"))
    assert result.returncode != 0 and "no 'meta' block" in result.stderr


def test_an_outer_step_logs_the_adaptation_gain_of_its_tasks(corpus_samples, tmp_out):
    """The query loss at a task's start, measured without a graph, is the multi-step loss's first term, and the
    logged gain is that minus the query loss after the inner steps."""
    from coqui_meta.seeds import TaskSeeds

    samples = pick(corpus_samples, speakers=2, clips=4, max_seconds=3.0, seed=5)
    speakers = sorted({s["speaker_name"] for s in samples})
    results = {}
    for multi in (False, True):
        meta = MetaLearningConfig(algorithm="fomaml", inner_steps=1, inner_lr=0.01, n_way=2, k_shot=2, q_query=2,
                                  meta_batch_size=2, multi_step_loss=multi)
        torch.manual_seed(0)
        model = build_meta_model("vits", meta, speakers, output_path=str(tmp_out))
        support, query = first_meta_batch(model, samples)["tasks"][0]
        model.train()
        results[multi] = model.meta_algorithm.task_backward(support, query, 1.0, lambda x: x, TaskSeeds(7))
    plain, multi = results[False], results[True]
    assert plain.query_loss_before == pytest.approx(multi.query_loss_before, rel=1e-5)
    assert plain.query_loss_before != pytest.approx(plain.query_loss)  # the step moved the voice
    logs = model._meta_step_logs([multi])
    assert logs["adaptation_gain"] == pytest.approx(multi.query_loss_before - multi.query_loss)

    meta.log_adaptation_gain = False
    quiet = build_meta_model("vits", meta, speakers, output_path=str(tmp_out))
    meta.multi_step_loss = False
    quiet.config.meta.multi_step_loss = False
    result = quiet.meta_algorithm.task_backward(support, query, 1.0, lambda x: x, TaskSeeds(7))
    assert result.query_loss_before is None and "adaptation_gain" not in quiet._meta_step_logs([result])
