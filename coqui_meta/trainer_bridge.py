"""Everything coqui-meta needs from Coqui's Trainer beyond its public hooks, in one place, and only for meta runs.

coqui-tts-trainer has no public way to add entries to its checkpoints, to make its writes atomic, to hand a model
the checkpoint it restored, to set the run's position, or to say that an optimizer stepped in an epoch. Each of these
is done here and nowhere else, and each has a test (tests/test_trainer_bridge.py), so that an upgrade of the Trainer
that changes one of them fails there, loudly, not silently in a run.

Nothing here changes Coqui on import. `install(trainer)`, called by a meta model's ``on_init_start`` hook, wraps
three methods of that one Trainer instance (``save_checkpoint``, ``save_best_model``, ``restore_model``); while one
of them runs, ``trainer.io.save_fsspec`` writes atomically (a temporary file, then a rename), ``save_model`` stores
the model's ``meta_checkpoint_extras()`` beside the stock state dict, and the ``load_fsspec`` the restore calls keeps
the checkpoint's extras for `restored_extras` (so nothing reads the file a second time). Coqui's functions are put
back when the call returns, so a stock model's Trainer in the same process runs Coqui's code untouched.

- `restored_extras(trainer)`: the extras of the checkpoint the Trainer restored, or None.
- `set_position(trainer, steps, epochs)`: the Trainer's step and epoch counters.
- `mark_stepped(trainer, indices)`: the optimizers whose per-epoch schedulers the Trainer steps at the epoch's end.
"""

from __future__ import annotations

import contextlib
import functools

from coqui_meta.files import write_atomic

#: the key under which a checkpoint carries the model's extras (saved by the scoped save_model)
EXTRAS_KEY = "meta_tasks"
#: the attribute of a Trainer that `install` wrapped, holding the restored checkpoint's extras
_RESTORED = "_coqui_meta_restored_extras"
_WRAPPED = ("save_checkpoint", "save_best_model", "restore_model")


def install(run) -> None:
    """Give this Trainer (a meta model's run) atomic checkpoints that carry the model's extras, and keep the extras
    of the checkpoint it restores. Idempotent; affects no other Trainer."""
    if hasattr(run, _RESTORED):
        return
    setattr(run, _RESTORED, None)
    for name in _WRAPPED:
        setattr(run, name, _within_meta_io(run, getattr(run, name)))


def _within_meta_io(run, method):
    @functools.wraps(method)
    def wrapped(*args, **kwargs):
        with meta_io(run):
            return method(*args, **kwargs)

    return wrapped


@contextlib.contextmanager
def meta_io(run):
    """Within: Coqui's checkpoint functions are the meta run's (atomic, with extras; a restore keeps its extras on
    ``run``). Coqui's own are put back on the way out, whatever happened."""
    import torch
    import trainer.io as trainer_io
    import trainer.trainer as trainer_module

    save_fsspec, save_model, load_fsspec = trainer_io.save_fsspec, trainer_io.save_model, trainer_module.load_fsspec

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
            setattr(run, _RESTORED, checkpoint.get(EXTRAS_KEY))
        return checkpoint

    trainer_io.save_fsspec, trainer_io.save_model = atomic_save_fsspec, save_model_with_extras
    trainer_module.load_fsspec = load_fsspec_keeping_extras
    try:
        yield
    finally:
        trainer_io.save_fsspec, trainer_io.save_model, trainer_module.load_fsspec = save_fsspec, save_model, load_fsspec


def restored_extras(run) -> dict | None:
    """The extras of the checkpoint the Trainer restored (``--continue_path``/``--restore_path``), or None."""
    return getattr(run, _RESTORED, None)


def set_position(run, steps: int, epochs: int) -> None:
    """Continue the run at global step ``steps`` in epoch ``epochs`` (the Trainer's own counters)."""
    run.total_steps_done = steps
    run.epochs_done = epochs


def mark_stepped(run, indices) -> None:
    """The Trainer steps the per-epoch schedulers of the optimizers that stepped in the epoch; an ``optimize()``
    hook steps them itself, so it says which did."""
    run._stepped_optimizers.update(indices)
