"""Writing outputs so that a crash never leaves a half-written file: a temporary file, then an atomic rename."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from coqui_meta.errors import FolderExistsError


def write_atomic(path: str | os.PathLike, write: Callable[[Path], Any]) -> None:
    """Call ``write(temporary_path)`` and move the result onto ``path`` in one rename, with the mode an ordinary
    ``open()`` would give it (mkstemp's 0600 would make it private)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


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


def require_new_folder(out_path: str | os.PathLike) -> Path:
    """``out_path`` as a Path; `FileExistsError` if something is there (an output folder is never overwritten)."""
    out = Path(out_path)
    if out.exists():
        raise FolderExistsError(f"`out_path` {out} exists already; give a new folder (nothing is overwritten)")
    return out


@contextlib.contextmanager
def staged_folder(out_path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``out_path`` that becomes ``out_path`` in one rename when the block succeeds."""
    out = require_new_folder(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        yield staging
        umask = _umask()
        for path in [staging, *staging.rglob("*")]:  # mkdtemp's 0700 would make the folder private
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)
        os.rename(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
