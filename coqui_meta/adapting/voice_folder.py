"""What a voice folder holds for stock Coqui, and how it is written: the base's stock state dict with the adapted
tensors (and the speaker table grown by the new voice's row, or for a prototype model a d-vector file with the new
voice beside the others), a stock config that lists the voices, ``speakers.json`` and ``adapt.json``. Shared by
``coqui-meta adapt`` (`coqui_meta.adapting.new_voice`) and ``coqui-meta apply-delta`` (`coqui_meta.adapting.delta`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from coqui_meta.algorithms.inner_loop import TASK_INPUTS
from coqui_meta.algorithms.task import Task
from coqui_meta.config import speaker_holders
from coqui_meta.formats.checkpoints import stock_state_dict


def voice_state(
    base: dict[str, torch.Tensor], voice: Task, speaker_key: str, row: int
) -> dict[str, torch.Tensor]:
    """The base's stock state dict with the adapted tensors, and the speaker table grown by the new voice's row."""
    state = stock_state_dict(base)
    for name, tensor in voice.tensors().items():
        if name != speaker_key:
            state[name] = tensor.detach().cpu().to(base[name].dtype).clone()
    # a style's row starts from a voice's own and may be left as it is (``adapt_modules`` without the table)
    table = voice.current(speaker_key)
    table = base[speaker_key] if table is None else table
    new_row = table[row].detach().cpu().to(base[speaker_key].dtype)
    state[speaker_key] = torch.cat([base[speaker_key], new_row[None]], dim=0)
    return state


def stock_config_with(config, speakers: list[str] | None):
    """The stock config of ``config`` whose speaker table is ``speakers`` (no speakers file to go stale); None: a
    one-speaker model's, as it is."""
    stock = config.to_stock() if "meta" in config else config
    if speakers is None:
        return stock
    stock.speakers = list(speakers)
    for holder in speaker_holders(stock):
        for key in ("speakers_file", "speaker_file"):
            if key in holder:
                setattr(holder, key, None)
        if "num_speakers" in holder:
            holder.num_speakers = len(speakers)
    return stock


def d_vector_state(base: dict[str, torch.Tensor], voice: Task) -> dict[str, torch.Tensor]:
    """The base state dict with the adapted tensors but not the task's inputs (a d-vector, style weights), without the
    encoder (and the learned rates) that stock Coqui lacks: a prototype model's voice, a GST model's style."""
    state = stock_state_dict(base)
    for name, tensor in voice.tensors().items():
        if name not in TASK_INPUTS:
            state[name] = tensor.detach().cpu().to(base[name].dtype).clone()
    return state


def d_vector_config(config, d_vector_file: Path):
    """The stock config of a prototype model, reading its voices from ``d_vector_file``."""
    stock = config.to_stock() if "meta" in config else config
    for holder in speaker_holders(stock):
        if "d_vector_file" in holder:
            holder.d_vector_file = str(d_vector_file)
    return stock


def write_d_vectors(path: Path, speaker: str, voice: torch.Tensor, others: dict[str, dict[str, Any]]) -> None:
    """Coqui's d-vector file, ``{key: {"name": speaker, "embedding": [...]}}``: the other voices and the new one."""
    data = {**others, speaker: {"name": speaker, "embedding": [float(x) for x in voice.detach().cpu().reshape(-1)]}}
    path.write_text(json.dumps(data) + "\n")


def write_voice(folder: Path, state: dict, stock_config, speaker: str, info: dict[str, Any]) -> None:
    torch.save({"model": state, "step": info.get("steps", 0), "epoch": 0}, folder / "model.pth")
    stock_config.save_json(str(folder / "config.json"))
    one_speaker = not stock_config.get("use_speaker_embedding") and not stock_config.get("speakers")
    if not stock_config.get("use_d_vector_file") and not one_speaker:  # a one-speaker model has no table to list
        speakers = list(stock_config.speakers)
        (folder / "speakers.json").write_text(json.dumps({name: i for i, name in enumerate(speakers)}, indent=2) + "\n")
    (folder / "adapt.json").write_text(json.dumps(info, indent=2) + "\n")
