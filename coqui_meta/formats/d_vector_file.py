"""Coqui d-vector files (``use_d_vector_file``): ``{key: {"name": speaker, "embedding": [...]}}``, one entry per clip
keyed as Coqui keys a dataset's clips (``audio_unique_name``), often with one entry per speaker. Read and checked here
before any work: an entry of another dimension, or a training clip the file lacks, is an error that names the file.

Example::

    entries = read_d_vector_files(["d_vectors.json"], dim=256)
    check_covers(config, samples)      # every training clip has its d-vector, of d_vector_dim
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coqui_meta.config import speaker_holders


def d_vector_paths(config) -> list[str]:
    """The d-vector file(s) a config names (``d_vector_file`` is a path or a list of them; VITS's in model_args)."""
    for holder in speaker_holders(config):
        value = holder.get("d_vector_file")
        if value:
            return [value] if isinstance(value, str) else list(value)
    return []


def d_vector_dim(config) -> int | None:
    from TTS.config import get_from_config_or_model_args

    dim = get_from_config_or_model_args(config, "d_vector_dim")
    return int(dim) if dim else None


def read_d_vector_files(paths: list[str], dim: int | None) -> dict[str, dict[str, Any]]:
    """Every entry of ``paths``; `FileNotFoundError` or `ValueError` naming the file of a missing file or an entry
    that is not a ``dim``-dimensional d-vector."""
    from TTS.tts.utils.managers import load_file

    entries: dict[str, dict[str, Any]] = {}
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"d-vector file not found: {path}")
        entries.update(check_entries(load_file(path), dim, path))
    return entries


def check_entries(entries: dict[str, Any], dim: int | None, source: str) -> dict[str, dict[str, Any]]:
    """``entries`` when each is a ``dim``-dimensional Coqui d-vector; else `ValueError` naming ``source``."""
    for key, entry in entries.items():
        if not isinstance(entry, dict) or "name" not in entry or "embedding" not in entry:
            raise ValueError(f"{source}: entry {key!r} is not a Coqui d-vector ({{name, embedding}})")
        if dim is not None and len(entry["embedding"]) != dim:
            raise ValueError(
                f"{source}: entry {key!r} has {len(entry['embedding'])} dimensions but the config's d_vector_dim "
                f"is {dim}"
            )
    return entries


def check_covers(config, samples: list[dict[str, Any]]) -> None:
    """For a model that reads its voices from a d-vector file: every clip of ``samples`` has an entry, and every
    entry has ``d_vector_dim`` dimensions. Nothing to check for other models."""
    from TTS.config import get_from_config_or_model_args

    if not get_from_config_or_model_args(config, "use_d_vector_file") or config.meta.uses_prototypes:
        return
    paths = d_vector_paths(config)
    if not paths:
        raise ValueError("use_d_vector_file is set but d_vector_file names no file; coqui-meta embed writes one")
    entries = read_d_vector_files(paths, d_vector_dim(config))
    missing = [sample for sample in samples if sample["audio_unique_name"] not in entries]
    if missing:
        raise ValueError(
            f"{', '.join(paths)}: no d-vector for {len(missing)} of {len(samples)} training clips, e.g. "
            f"{missing[0]['audio_file']} (key {missing[0]['audio_unique_name']!r}); coqui-meta embed --data ... "
            "--dataset_name <the dataset's dataset_name> writes a file for the whole corpus"
        )
