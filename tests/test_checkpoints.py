"""Checkpoints are read with weights_only=True; one that needs pickled code is refused with a clear message."""

import collections
import pickle

import pytest
import torch

from coqui_meta.checkpoints import load_checkpoint


class Custom:  # a pickled object, as old or hand-made checkpoints carry
    pass


def test_a_checkpoint_with_pickled_objects_needs_trust(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"model": collections.OrderedDict(w=torch.ones(2)), "extra": Custom()}, path)
    with pytest.raises(ValueError, match=r"model\.pth .*weights_only=True.*--trust_checkpoint"):
        load_checkpoint(path)
    assert torch.equal(load_checkpoint(path, trust=True)["model"]["w"], torch.ones(2))


def test_plain_checkpoints_load_and_bad_files_are_named(tmp_path):
    torch.save({"model": {"w": torch.zeros(1)}, "step": 3}, tmp_path / "ok.pth")
    assert load_checkpoint(tmp_path / "ok.pth")["step"] == 3
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pth"):
        load_checkpoint(tmp_path / "junk.pth")
    torch.save({"weights": 1}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="other.pth is not a Coqui checkpoint"):
        load_checkpoint(tmp_path / "other.pth")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_checkpoint(tmp_path / "nope.pth")


def test_the_trainer_writes_checkpoints_whole_with_the_task_counts_beside_stock_weights(tmp_path, tiny_vits):
    """After ``import coqui_meta`` Coqui's own save_checkpoint writes atomically (a save that fails leaves the last
    good file as it was and no stray file) and stores the meta-training counters outside the model's state dict."""
    from trainer.io import save_checkpoint
    from TTS.tts.models.vits import Vits

    from coqui_meta.checkpoints import load_model

    folder, speakers = tiny_vits
    model = load_model(folder / "model.pth", folder / "meta_config.json").model
    model._meta_seen, model._meta_skipped, model._meta_skipped_steps = 40, 3, 1
    model._meta_batches, model._meta_epochs = 9, 2
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
