"""A voice as a delta: only the tensors adaptation changed plus the new speaker-embedding row, in safetensors.

One voice then costs kilobytes to megabytes instead of a whole checkpoint; ``coqui-meta apply-delta`` puts it back on
the base checkpoint it was made from (checked by a fingerprint of the base tensors it replaces) and writes the same
stock-loadable folder as ``coqui-meta adapt``.

Example::

    coqui-meta adapt ... --out_path voices/anna --save_delta          # voices/anna/voice.safetensors
    coqui-meta apply-delta --model_path base.pth --config_path base.json \\
        --delta voices/anna/voice.safetensors --out_path voices/anna_full
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

FORMAT = "coqui-meta-voice-delta/1"
ROW = "__new_speaker_row__"


def fingerprint(state: dict[str, torch.Tensor], names: list[str]) -> str:
    """sha256 of the named tensors' shapes and values: which base a delta belongs to."""
    digest = hashlib.sha256()
    for name in sorted(names):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_delta(path: Path, state: dict, base: dict, speaker: str, speaker_key: str, info: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    names = [name for name in info["adapt_modules"] if name != speaker_key]
    tensors = {name: state[name].contiguous() for name in names}
    tensors[ROW] = state[speaker_key][-1:].contiguous()
    metadata = {
        "format": FORMAT,
        "speaker": speaker,
        "speaker_key": speaker_key,
        "base_fingerprint": fingerprint(base, names + [speaker_key]),
        "adapt": json.dumps(info),
    }
    save_file(tensors, str(path), metadata=metadata)


def read_delta(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"delta not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # safetensors raises its own SafetensorError
        raise ValueError(f"{path} is not a safetensors file: {error}") from None
    if metadata.get("format") != FORMAT or ROW not in tensors:
        raise ValueError(f"{path} is not a coqui-meta voice delta (format {metadata.get('format')!r})")
    return tensors, metadata


def apply_delta(
    model_path: str, config_path: str, delta_path: str, out_path: str, trust: bool = False
) -> dict[str, Any]:
    """Write the voice folder of ``delta_path`` applied to the base checkpoint, as `coqui-meta adapt` writes it."""
    from coqui_meta.adapting.voice_folder import stock_config_with, write_voice
    from coqui_meta.files import require_new_folder, staged_folder
    from coqui_meta.formats.checkpoints import load_model

    tensors, metadata = read_delta(delta_path)
    require_new_folder(out_path)
    loaded = load_model(model_path, config_path, trust=trust)
    base = loaded.checkpoint["model"]
    speaker, speaker_key = metadata["speaker"], metadata["speaker_key"]
    names = [name for name in tensors if name != ROW]
    missing = [name for name in names + [speaker_key] if name not in base]
    if missing:
        raise ValueError(f"{delta_path} does not fit {model_path}: it has no {', '.join(missing[:5])}")
    if fingerprint(base, names + [speaker_key]) != metadata["base_fingerprint"]:
        raise ValueError(f"{delta_path} was made from another base checkpoint than {model_path}")
    old_speakers = list(loaded.model.speaker_manager.name_to_id)
    if speaker in old_speakers:
        raise ValueError(f"{model_path} already has a speaker {speaker!r}")
    state = dict(base)
    for name in names:
        state[name] = tensors[name]
    state[speaker_key] = torch.cat([base[speaker_key], tensors[ROW].to(base[speaker_key].dtype)], dim=0)
    info = {**json.loads(metadata["adapt"]), "applied_from": str(delta_path), "base_model": str(model_path)}
    with staged_folder(out_path) as folder:
        write_voice(folder, state, stock_config_with(loaded.config, old_speakers + [speaker]), speaker, info)
    return info
