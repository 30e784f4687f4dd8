"""Writing outputs so that a crash never leaves a half-written file: a temporary file, then an atomic rename."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def write_atomic(path: str | os.PathLike, write: Callable[[Path], Any]) -> None:
    """Call ``write(temporary_path)`` and move the result onto ``path`` in one rename."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Strict JSON (no NaN or Infinity: they become null), written atomically."""
    text = json.dumps(_finite(value), indent=2, allow_nan=False) + "\n"
    write_atomic(path, lambda p: p.write_text(text))


def write_text(path: str | os.PathLike, text: str) -> None:
    write_atomic(path, lambda p: p.write_text(text))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def trainer_checkpoints() -> None:
    """Make the Coqui Trainer write local checkpoints atomically (temporary file, then rename), so a crash while it
    saves never leaves a truncated ``checkpoint_N.pth`` for ``--continue_path`` to pick, and store beside the state
    dict what the model returns from ``meta_checkpoint_extras()`` (its meta-training counters, which are not weights
    and so stay out of the stock state dict). Idempotent; run by ``import coqui_meta``."""
    import torch
    import trainer.io

    if getattr(trainer.io.save_fsspec, "atomic", False):
        return
    original_save_fsspec, original_save_model = trainer.io.save_fsspec, trainer.io.save_model

    def save_fsspec(state, path, **kwargs):
        if "://" in str(path):  # remote storage: fsspec's own semantics
            return original_save_fsspec(state, path, **kwargs)
        write_atomic(path, lambda temporary: torch.save(state, temporary, **kwargs))

    def save_model(config, model, output_path, **kwargs):
        extras = getattr(model, "meta_checkpoint_extras", None)
        return original_save_model(config, model, output_path, **{**(extras() if extras else {}), **kwargs})

    save_fsspec.atomic = True
    trainer.io.save_fsspec, trainer.io.save_model = save_fsspec, save_model
