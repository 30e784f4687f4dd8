"""Crash safety: a meta-training run killed with SIGKILL and resumed with --continue_path takes the same steps, with
the same losses, as a run that was never interrupted."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import corpus_subset, metadata_of, pick, run_cli
from helpers import write_config


def step_losses(output: str) -> dict[int, float]:
    """Global step -> meta-training loss, from the Trainer's console log (print_step 1)."""
    losses = {}
    for block in re.split(r"(?=--> TIME)", output):
        step = re.search(r"GLOBAL_STEP: (\d+)", block)
        loss = re.search(r"\| > loss: (\S+)", block)
        if step and loss:
            losses[int(step.group(1))] = float(loss.group(1))
    return losses


@pytest.fixture(scope="module")
def straight(corpus, corpus_samples, tmp_path_factory):
    """Two epochs of 4 meta-batches, a checkpoint every 2, meta-validation at each epoch's end (its loss picks the
    best model), never interrupted: what the interrupted runs below must reproduce. (data, speakers, losses, run)"""
    os.environ.setdefault("TENSORBOARD_LOGGING", "0")
    folder = tmp_path_factory.mktemp("straight")
    speakers = sorted({s["speaker_name"] for s in pick(corpus_samples, 5, 5, 4.0, seed=11)})
    data = corpus_subset(corpus, speakers, folder / "data")
    result = run_cli("train", "--config_path", str(resumable_config(data, speakers, folder, epochs=2)), cwd=folder)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    losses = step_losses(result.stdout + result.stderr)
    assert sorted(losses) == list(range(8))
    return data, speakers, losses, next((folder / "run").glob("*/"))


def resumable_config(data: Path, speakers, folder: Path, epochs: int) -> Path:
    return write_config(data, speakers, folder, folder / "run", episodes=4, epochs=epochs, save_step=2, run_eval=True)


@pytest.mark.slow
def test_a_killed_run_resumes_with_the_same_losses(straight, tmp_out):
    data, speakers, expected, _ = straight
    config = resumable_config(data, speakers, tmp_out, epochs=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "coqui_meta.cli", "train", "--config_path", str(config)],
                               cwd=tmp_out, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not list((tmp_out / "run").glob("*/checkpoint_2.pth")):  # written whole (atomically) or not at all
        assert process.poll() is None and time.time() < deadline, "the run ended before its checkpoint at step 2"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # in the middle of step 3, the first epoch's last
    process.wait()
    run_dir = next((tmp_out / "run").glob("*/"))
    assert not list(run_dir.glob("best_model*.pth")), "killed before the epoch's end"
    resumed = run_cli("train", "--continue_path", str(run_dir), cwd=tmp_out)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    after = step_losses(resumed.stdout + resumed.stderr)
    assert sorted(after) == list(range(3, 8)), "it resumed at the step after its last checkpoint, epochs as before"
    for step in after:
        assert after[step] == pytest.approx(expected[step], rel=1e-6), f"step {step}: {after[step]} != {expected[step]}"


@pytest.mark.slow
def test_a_run_continued_from_its_epoch_end_best_model_takes_the_next_steps(straight, tmp_out):
    """Coqui's Trainer continues from best_model_N when it is the newest file, but restores step N + 1 and the
    finished epoch; the run must still go on with meta-batch N in the next epoch, as if never stopped."""
    data, speakers, expected, straight_run = straight
    stopped = run_cli("train", "--config_path", str(resumable_config(data, speakers, tmp_out, epochs=1)), cwd=tmp_out)
    assert stopped.returncode == 0, stopped.stdout[-3000:] + stopped.stderr[-3000:]
    run_dir = next((tmp_out / "run").glob("*/"))
    assert sorted(p.name for p in run_dir.glob("*_[0-9]*.pth")) == ["best_model_4.pth", "checkpoint_2.pth"]

    resumed = run_cli("train", "--continue_path", str(run_dir), "--coqpit.epochs", "2", cwd=tmp_out)
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0 and "Continuing from best_model_4.pth" in output, output[-3000:]
    after = step_losses(output)
    assert sorted(after) == list(range(4, 8)), "the second epoch, from meta-batch 4"
    for step in after:
        assert after[step] == pytest.approx(expected[step], rel=1e-6), f"step {step}: {after[step]} != {expected[step]}"
    straight_state, continued = (torch.load(run / "checkpoint_6.pth", weights_only=True)
                                 for run in (straight_run, run_dir))
    assert continued["meta_tasks"] == straight_state["meta_tasks"] == {"seen": 14, "skipped": 0, "skipped_steps": 0,
                                                                        "batches": 7, "epochs": 1}
    for key in straight_state["model"]:
        torch.testing.assert_close(continued["model"][key], straight_state["model"][key], rtol=1e-6, atol=1e-7,
                                   msg=key)


def nan_corpus(corpus, speakers, poisoned, folder: Path) -> Path:
    """``speakers``' clips, those of ``poisoned`` rewritten as float WAVs of NaN samples (readable: they pass the
    data screen and make every loss of their tasks NaN)."""
    import numpy as np
    import soundfile

    keep = metadata_of(corpus, speakers)
    rows = [keep[0]]
    for line in keep[1:]:
        name, speaker = line.split("|")[0], line.rsplit("|", 1)[-1]
        source, target = corpus / name, folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if speaker in poisoned:  # FLAC holds no floats
            audio, rate = soundfile.read(source, dtype="float32")
            target = target.with_suffix(".wav")
            soundfile.write(target, np.full_like(audio, np.nan), rate, subtype="FLOAT")
            line = line.replace(name, str(target.relative_to(folder)), 1)
        else:
            target.symlink_to(source)
        rows.append(line)
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    return folder


def skip_counts(output: str) -> list[int]:
    """The running total of skipped tasks after each meta-batch that had one, from the warnings."""
    return [int(n) for n in re.findall(r"non-finite or diverged loss \((\d+) so far\)", output)]


@pytest.mark.slow
def test_skipped_tasks_are_counted_across_a_restart(corpus, corpus_samples, tmp_out):
    """Clips of NaN samples make their tasks skip (whole meta-batches when every task has one); a run continued
    from a checkpoint takes the same steps as an uninterrupted one and keeps counting skips from the checkpoint, so
    meta.max_skipped_share judges the whole run."""
    speakers = sorted({s["speaker_name"] for s in pick(corpus_samples, 5, 5, 4.0, seed=3)})
    poisoned = speakers[:2]
    runs = {}
    for name, epochs in (("straight", 2), ("stopped", 1)):
        data = nan_corpus(corpus, speakers, poisoned, tmp_out / name / "data")
        # the stopped run keeps a checkpoint of every step (a meta-batch of skipped tasks takes no Trainer step) and
        # the latest is all it needs; the straight run's losses are all this test reads of it: no checkpoints (180 MB
        # each, with Adam's moments: seconds of writing per step)
        config = write_config(data, speakers, tmp_out / name, tmp_out / name / "run", episodes=6, epochs=epochs,
                              save_step=1 if name == "stopped" else 1000, keep=2, max_skipped_share=1.0)
        result = run_cli("train", "--config_path", str(config), cwd=tmp_out)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        runs[name] = result.stdout + result.stderr
    straight = runs["straight"]
    assert "Every task of meta-batch" in straight and straight.count("Skipped 1 of 2 tasks") > 0, (
        "the run has meta-batches with one and with every task skipped")
    expected = step_losses(straight)

    run_dir = next((tmp_out / "stopped" / "run").glob("*/"))
    last = max(run_dir.glob("checkpoint_*.pth"), key=lambda p: int(p.stem.split("_")[1]))
    counts = torch.load(last, weights_only=True)["meta_tasks"]
    assert counts["seen"] == 12 and counts["skipped"] == skip_counts(runs["stopped"])[-1] > 0
    assert counts["skipped_steps"] == runs["stopped"].count("Every task of meta-batch") > 0
    shutil.copytree(run_dir, tmp_out / "judged")

    resumed = run_cli("train", "--continue_path", str(run_dir), "--coqpit.epochs", "2", cwd=tmp_out)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    after = step_losses(resumed.stdout + resumed.stderr)
    assert after and set(after) <= set(expected)
    for step in after:
        assert after[step] == pytest.approx(expected[step], rel=1e-6), f"step {step}: {after[step]} != {expected[step]}"
    assert skip_counts(resumed.stdout + resumed.stderr) == skip_counts(straight)[len(skip_counts(runs["stopped"])):]

    # the same continuation with no skip allowed stops after its first meta-batch: counting the first epoch's skips,
    # the run's share is already above 0
    stopped = run_cli("train", "--continue_path", str(tmp_out / "judged"), "--coqpit.epochs", "2",
                      "--coqpit.meta.max_skipped_share", "0", cwd=tmp_out)
    assert stopped.returncode != 0
    message = re.search(
        r"(\d+) of (\d+) tasks had a non-finite or diverging support or query loss", stopped.stdout + stopped.stderr
    )
    assert message, stopped.stdout[-3000:] + stopped.stderr[-3000:]
    assert int(message.group(1)) >= counts["skipped"] and int(message.group(2)) > counts["seen"]
