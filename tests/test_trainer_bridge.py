"""What coqui-meta relies on in Coqui's Trainer beyond its public hooks (`coqui_meta.trainer_bridge`), one test
a behaviour: an upgrade of coqui-tts-trainer that changes one of them fails here."""

import pickle

import pytest
import torch

from coqui_meta.models.run_state import RunState


def test_the_trainer_writes_checkpoints_whole_with_the_task_counts_beside_stock_weights(tmp_path, tiny_vits):
    """After ``import coqui_meta`` Coqui's own save_checkpoint writes atomically (a save that fails leaves the last
    good file as it was and no stray file) and stores the meta-training counters outside the model's state dict."""
    from trainer.io import save_checkpoint
    from TTS.tts.models.vits import Vits

    from coqui_meta.voices.checkpoints import load_model

    folder, speakers = tiny_vits
    model = load_model(folder / "model.pth", folder / "meta_config.json").model
    model.meta_run = RunState(seen=40, skipped=3, skipped_steps=1, batches=9, epochs=2)
    save_checkpoint(model.config, model, tmp_path, current_step=7, epoch=0)
    path = tmp_path / "checkpoint_7.pth"
    saved = torch.load(path, weights_only=True)
    assert saved["meta_tasks"] == {"seen": 40, "skipped": 3, "skipped_steps": 1, "batches": 9, "epochs": 2}
    assert set(saved["model"]) == set(Vits(model.config.to_stock()).state_dict())

    before = path.read_bytes()
    with pytest.raises((pickle.PicklingError, AttributeError), match="pickle"):
        save_checkpoint(model.config, model, tmp_path, current_step=7, epoch=0, unpicklable=lambda: None)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_7.pth"]


def test_a_continued_trainer_hands_the_model_its_checkpoints_run_state_without_reading_it_again(tmp_path, tiny_vits,
                                                                                                  monkeypatch):
    from trainer import Trainer, TrainerArgs
    from trainer.io import save_checkpoint

    from coqui_meta import trainer_bridge
    from coqui_meta.voices.checkpoints import load_model

    folder, _ = tiny_vits
    model = load_model(folder / "model.pth", folder / "meta_config.json").model
    model.meta_run = RunState(seen=12, skipped=2, skipped_steps=1, batches=6, epochs=1)
    run = tmp_path / "run"
    run.mkdir()
    model.config.output_path = str(tmp_path)
    model.config.save_json(str(run / "config.json"))
    save_checkpoint(model.config, model, run, current_step=5, epoch=1, optimizer=model.get_optimizer())
    fresh = load_model(folder / "model.pth", folder / "meta_config.json").model
    loads = []
    original = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a[0]) or original(*a, **k))
    trainer = Trainer(TrainerArgs(continue_path=str(run)), fresh.config, str(tmp_path), model=fresh, train_samples=[],
                      parse_command_line_args=False)
    assert trainer_bridge.restored_extras(trainer) == model.meta_run.to_dict()
    assert fresh.meta_run == model.meta_run
    assert (trainer.total_steps_done, trainer.epochs_done) == (5, 1), "the Trainer's counters are the run's position"
    assert len(loads) == 1, f"the checkpoint is read once, by the Trainer: {loads}"

    trainer_bridge.mark_stepped(trainer, [0])
    assert 0 in trainer._stepped_optimizers, "the Trainer steps the per-epoch schedulers of these optimizers"
