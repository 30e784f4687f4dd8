"""What coqui-meta relies on in Coqui's Trainer beyond its public hooks (`coqui_meta.trainer_bridge`), one test
a behaviour: an upgrade of coqui-tts-trainer that changes one of them fails here."""

import pickle
from pathlib import Path

import pytest
import torch

from coqui_meta.models.run_state import RunState


def meta_trainer(model, output: Path, **args):
    """A Coqui Trainer of a meta model, as a user's script or `coqui-meta train` makes one."""
    from trainer import Trainer, TrainerArgs

    model.config.output_path = str(output)
    return Trainer(TrainerArgs(**args), model.config, str(output), model=model, train_samples=[],
                   parse_command_line_args=False)


def test_a_meta_runs_trainer_writes_checkpoints_whole_with_the_task_counts_beside_stock_weights(tmp_path, tiny_vits,
                                                                                                  monkeypatch):
    """A meta model's Trainer writes atomically (a save that fails leaves the last good file as it was and no stray
    file) and stores the meta-training counters outside the model's state dict."""
    from TTS.tts.models.vits import Vits

    from coqui_meta.formats.checkpoints import load_model

    folder, speakers = tiny_vits
    model = load_model(folder / "model.pth", folder / "meta_config.json").model
    model.meta_run = RunState(seen=40, skipped=3, skipped_steps=1, batches=9, epochs=2)
    trainer = meta_trainer(model, tmp_path)
    trainer.total_steps_done = 7
    trainer.save_checkpoint()
    run = Path(trainer.output_path)
    path = run / "checkpoint_7.pth"
    saved = torch.load(path, weights_only=True)
    assert saved["meta_tasks"] == {"seen": 40, "skipped": 3, "skipped_steps": 1, "batches": 9, "epochs": 2}
    assert set(saved["model"]) == set(Vits(model.config.to_stock()).state_dict())

    before, files = path.read_bytes(), sorted(p.name for p in run.iterdir())
    monkeypatch.setattr(model, "meta_checkpoint_extras", lambda: {"unpicklable": lambda: None})
    with pytest.raises((pickle.PicklingError, AttributeError), match="pickle"):
        trainer.save_checkpoint()
    assert path.read_bytes() == before
    assert sorted(p.name for p in run.iterdir()) == files


def test_a_continued_trainer_hands_the_model_its_checkpoints_run_state_without_reading_it_again(tmp_path, tiny_vits,
                                                                                                  monkeypatch):
    from coqui_meta import trainer_bridge
    from coqui_meta.formats.checkpoints import load_model

    folder, _ = tiny_vits
    model = load_model(folder / "model.pth", folder / "meta_config.json").model
    model.meta_run = RunState(seen=12, skipped=2, skipped_steps=1, batches=6, epochs=1)
    first = meta_trainer(model, tmp_path)
    first.total_steps_done, first.epochs_done = 5, 1
    first.save_checkpoint()
    fresh = load_model(folder / "model.pth", folder / "meta_config.json").model
    loads = []
    original = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a[0]) or original(*a, **k))
    trainer = meta_trainer(fresh, tmp_path, continue_path=first.output_path)
    assert trainer_bridge.restored_extras(trainer) == model.meta_run.to_dict()
    assert fresh.meta_run == model.meta_run
    assert (trainer.total_steps_done, trainer.epochs_done) == (5, 1), "the Trainer's counters are the run's position"
    assert len(loads) == 1, f"the checkpoint is read once, by the Trainer: {loads}"

    trainer_bridge.mark_stepped(trainer, [0])
    assert 0 in trainer._stepped_optimizers, "the Trainer steps the per-epoch schedulers of these optimizers"


# A stock VITS trained by Coqui's Trainer, in a fresh process; with "meta", after ``import coqui_meta`` and after a
# meta model's Trainer saved a checkpoint in the same process.
STOCK_RUN = """
import json, sys
import torch
mode, config_path, samples_path, meta_folder, out = sys.argv[1:]
torch.set_num_threads(1)
from trainer import Trainer, TrainerArgs
from TTS.config import load_config
from TTS.tts.models import setup_model
samples = json.load(open(samples_path))
if mode == "meta":
    import coqui_meta
    from coqui_meta.formats.checkpoints import load_model
    meta = load_model(meta_folder + "/model.pth", meta_folder + "/meta_config.json").model
    meta.config.output_path = out + "-meta"
    run = Trainer(TrainerArgs(), meta.config, out + "-meta", model=meta, train_samples=[],
                  parse_command_line_args=False)
    run.save_checkpoint()
    assert "meta_tasks" in torch.load(f"{run.output_path}/checkpoint_0.pth", weights_only=True), "a meta run's extras"
    import trainer.io, trainer.trainer
    coqui = (trainer.io.save_fsspec, trainer.io.save_model, trainer.trainer.load_fsspec)
    assert all(f.__module__ == "trainer.io" for f in coqui), "Coqui's checkpoint functions are its own again"
torch.manual_seed(0)
config = load_config(config_path)
Trainer(TrainerArgs(), config, out, model=setup_model(config), train_samples=samples, eval_samples=samples,
        parse_command_line_args=False).fit()
"""


def test_a_stock_model_trained_after_import_coqui_meta_writes_the_same_checkpoints_as_without_it(
        tmp_path, tiny_vits, corpus_samples):
    """Registering the meta models changes nothing of Coqui's: a stock run in a process that imported coqui_meta
    and ran a meta model's Trainer writes the files, keys and weights a process without coqui_meta writes."""
    import json
    import subprocess
    import sys

    from conftest import pick

    folder, speakers = tiny_vits
    samples = pick(corpus_samples, speakers=2, clips=2, max_seconds=3.0, seed=5)
    config = json.loads((folder / "stock_config.json").read_text())
    config.update(epochs=1, batch_size=2, eval_batch_size=2, run_eval=True, test_delay_epochs=10, print_step=1,
                  speakers=sorted({s["speaker_name"] for s in samples}), num_loader_workers=0,
                  num_eval_loader_workers=0)
    config["model_args"]["num_speakers"] = 2
    (tmp_path / "stock.json").write_text(json.dumps(config))
    (tmp_path / "samples.json").write_text(json.dumps([{k: v for k, v in s.items()} for s in samples]))
    runs = {}
    for mode in ("stock", "meta"):
        out = tmp_path / mode
        done = subprocess.run([sys.executable, "-c", STOCK_RUN, mode, str(tmp_path / "stock.json"),
                               str(tmp_path / "samples.json"), str(folder), str(out)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        (run,) = out.iterdir()
        runs[mode] = {p.name: p for p in run.glob("*.pth")}
    assert sorted(runs["meta"]) == sorted(runs["stock"]) and runs["stock"], runs
    for name, path in runs["stock"].items():
        stock, after = (torch.load(p, map_location="cpu", weights_only=False) for p in (path, runs["meta"][name]))
        assert sorted(after) == sorted(stock), f"{name}: keys {sorted(after)} != {sorted(stock)}"
        for key, tensor in stock.get("model", {}).items():
            assert torch.equal(after["model"][key], tensor), f"{name}: {key}"
        if "model" not in stock:  # speakers.pth: the speaker table
            assert after == stock, name
