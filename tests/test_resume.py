"""Crash safety: a meta-training run killed with SIGKILL and resumed with --continue_path takes the same steps, with
the same losses, as a run that was never interrupted."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import corpus_subset, pick, run_cli

from coqui_meta import MetaLearningConfig, MetaVitsConfig
from coqui_meta.presets import small_vits_config, speechocean_dataset


def step_losses(output: str) -> dict[int, float]:
    """Global step -> meta-training loss, from the Trainer's console log (print_step 1)."""
    losses = {}
    for block in re.split(r"(?=--> TIME)", output):
        step = re.search(r"GLOBAL_STEP: (\d+)", block)
        loss = re.search(r"\| > loss: (\S+)", block)
        if step and loss:
            losses[int(step.group(1))] = float(loss.group(1))
    return losses


def write_config(corpus, speakers, folder: Path, output: Path) -> Path:
    stock = small_vits_config(speechocean_dataset(str(corpus_subset(corpus, speakers, folder / "data"))),
                              output_path=str(output), max_audio_seconds=4.0)
    config = MetaVitsConfig.from_config(stock, meta=MetaLearningConfig(
        n_way=2, k_shot=2, q_query=1, meta_batch_size=2, episodes_per_epoch=5, eval_tasks=speakers[3:]))
    config.epochs, config.save_step, config.print_step, config.save_n_checkpoints = 2, 3, 1, 10
    config.run_eval, config.lr_gen, config.lr_disc = False, 1e-3, 1e-3
    config.save_json(str(folder / "config.json"))
    return folder / "config.json"


@pytest.mark.slow
def test_a_killed_run_resumes_with_the_same_losses(corpus, corpus_samples, tmp_out):
    speakers = sorted({s["speaker_name"] for s in pick(corpus_samples, 4, 5, 4.0, seed=11)})
    (tmp_out / "a").mkdir()
    (tmp_out / "b").mkdir()
    straight = run_cli("train", "--config_path", str(write_config(corpus, speakers, tmp_out / "a", tmp_out / "a" / "run")),
                       cwd=tmp_out)
    assert straight.returncode == 0, straight.stdout[-3000:] + straight.stderr[-3000:]
    expected = step_losses(straight.stdout + straight.stderr)
    assert sorted(expected) == list(range(10))

    config = write_config(corpus, speakers, tmp_out / "b", tmp_out / "b" / "run")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "coqui_meta.cli", "train", "--config_path", str(config)],
                               cwd=tmp_out, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not list((tmp_out / "b" / "run").glob("*/checkpoint_3.pth")):
        assert process.poll() is None and time.time() < deadline, "the run ended before its checkpoint at step 3"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # in the middle of step 4
    process.wait()
    run_dir = next((tmp_out / "b" / "run").glob("*/"))
    resumed = run_cli("train", "--continue_path", str(run_dir), cwd=tmp_out)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    after = step_losses(resumed.stdout + resumed.stderr)
    assert sorted(after) == list(range(4, 10)), "it resumed at the step after its last checkpoint, epochs as before"
    for step in after:
        assert after[step] == pytest.approx(expected[step], rel=1e-6), f"step {step}: {after[step]} != {expected[step]}"
