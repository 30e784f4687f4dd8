"""Everything coqui-meta needs from Coqui's Trainer beyond its public hooks, in one place.

coqui-tts-trainer 0.4.0 has no public way to add entries to its checkpoints, to make its writes atomic, to hand a
model the checkpoint it restored, to set the run's position, or to say that an optimizer stepped in an epoch. Each
of these is done here and nowhere else, and each has a test (tests/test_trainer_bridge.py), so that an upgrade of the
Trainer that changes one of them fails there, loudly, not silently in a run:

- `install()` wraps ``trainer.io.save_fsspec`` (atomic local writes: a temporary file, then a rename), ``save_model``
  (the model's ``meta_checkpoint_extras()`` beside the stock state dict) and the ``load_fsspec`` that
  ``Trainer.restore_model`` calls (it keeps the restored checkpoint's extras for `restored_extras`, so nothing reads
  the file a second time). Idempotent; run by ``import coqui_meta``.
- `restored_extras(trainer)`: the extras of the checkpoint the Trainer restored, or None.
- `set_position(trainer, steps, epochs)`: the Trainer's step and epoch counters.
- `mark_stepped(trainer, indices)`: the optimizers whose per-epoch schedulers the Trainer steps at the epoch's end.
"""

from __future__ import annotations

from typing import Any

from coqui_meta.files import write_atomic

#: the key under which a checkpoint carries the model's extras (saved by `install`'s save_model)
EXTRAS_KEY = "meta_tasks"
_restored: dict[str, Any] = {}


def install() -> None:
    import torch
    import trainer.io
    import trainer.trainer

    if getattr(trainer.io.save_fsspec, "coqui_meta", False):
        return
    save_fsspec, save_model, load_fsspec = trainer.io.save_fsspec, trainer.io.save_model, trainer.trainer.load_fsspec

    def atomic_save_fsspec(state, path, **kwargs):
        if "://" in str(path):  # remote storage: fsspec's own semantics
            return save_fsspec(state, path, **kwargs)
        write_atomic(path, lambda temporary: torch.save(state, temporary, **kwargs))

    def save_model_with_extras(config, model, output_path, **kwargs):
        extras = getattr(model, "meta_checkpoint_extras", None)
        return save_model(config, model, output_path, **{**(extras() if extras else {}), **kwargs})

    def load_fsspec_keeping_extras(path, *args, **kwargs):
        checkpoint = load_fsspec(path, *args, **kwargs)
        if isinstance(checkpoint, dict):
            _restored[str(path)] = checkpoint.get(EXTRAS_KEY)
        return checkpoint

    for wrapper in (atomic_save_fsspec, save_model_with_extras, load_fsspec_keeping_extras):
        wrapper.coqui_meta = True
    trainer.io.save_fsspec, trainer.io.save_model = atomic_save_fsspec, save_model_with_extras
    trainer.trainer.load_fsspec = load_fsspec_keeping_extras


def restored_extras(trainer) -> dict | None:
    """The extras of the checkpoint the Trainer restored (``--continue_path``/``--restore_path``), or None."""
    path = trainer.args.restore_path
    return _restored.get(str(path)) if path else None


def set_position(trainer, steps: int, epochs: int) -> None:
    """Continue the run at global step ``steps`` in epoch ``epochs`` (the Trainer's own counters)."""
    trainer.total_steps_done = steps
    trainer.epochs_done = epochs


def mark_stepped(trainer, indices) -> None:
    """The Trainer steps the per-epoch schedulers of the optimizers that stepped in the epoch; an ``optimize()``
    hook steps them itself, so it says which did."""
    trainer._stepped_optimizers.update(indices)
