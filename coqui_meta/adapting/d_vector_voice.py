"""A new voice of a model whose voices are d-vectors: where it starts, and the voices it is written beside.

A prototype model's voice starts as the prototype of its clips (its own encoder). A d-vector model's (YourTTS's
shape: ``use_d_vector_file`` and no prototype encoder) starts, in this order, from the speaker encoder ``--encoder``
names, else the one its config names (``speaker_encoder_model_path`` / ``speaker_encoder_config_path``, through Coqui's
``SpeakerManager``), else the mean of its d-vector file; then the adaptation steps move it. The encoder is checked
against ``d_vector_dim`` before any step. The new voice is written beside the voices of the config's d-vector file (and
of ``--d_vectors``), so stock Coqui's ``--speaker_idx`` finds every one.

Example::

    start, source = start_d_vector(model, config, "config.json", ["a.wav", "b.wav"], encoder="resemblyzer")
"""

from __future__ import annotations

from typing import Any

import torch

from coqui_meta.errors import RequestError
from coqui_meta.formats.d_vector_file import check_entries, d_vector_dim, d_vector_paths, read_d_vector_files

#: where a d-vector model's new voice can start (``coqui-meta adapt --encoder``)
STARTS = ("coqui", "resemblyzer", "mean")


def names_an_encoder(config) -> bool:
    """Whether the config names Coqui speaker encoder files (VITS keeps them in ``model_args``)."""
    from TTS.config import get_from_config_or_model_args

    return bool(get_from_config_or_model_args(config, "speaker_encoder_model_path"))


def start_kind(model, config, encoder: str | None) -> str | None:
    """Which start a new voice of ``model`` takes: ``encoder``, else the config's Coqui encoder, else the mean; None
    for a prototype model (its own encoder) or a speaker-table model."""
    if model.meta_uses_prototypes or not model.meta_voice_is_d_vector:
        if encoder:
            raise RequestError(f"`encoder` {encoder}: it starts a d-vector model's voice (use_d_vector_file without a "
                             "prototype encoder); this model makes its voices otherwise")
        return None
    if encoder and encoder not in STARTS:
        raise RequestError(f"`encoder` must be one of {', '.join(STARTS)} (got {encoder!r})")
    return encoder or ("coqui" if names_an_encoder(config) else "mean")


def start_d_vector(model, config, config_path: str, files: list[str], encoder: str | None = None,
                   progress: bool = False) -> tuple[torch.Tensor | None, str | None]:
    """The d-vector a new voice starts from (the mean of its clips' embeddings, or the file's mean) and its source;
    ``(None, None)`` when the model starts its voices itself. An encoder whose dimension is not ``d_vector_dim`` is a
    `ValueError` that names both and the config."""
    kind = start_kind(model, config, encoder)
    if kind is None:
        return None, None
    if kind == "mean":
        return model.meta_mean_d_vector(), "mean of the d-vector file"
    from coqui_meta.adapting.encoders import make_encoder, require_dim

    clip_encoder = make_encoder(kind, config=config)
    require_dim(clip_encoder, d_vector_dim(config), str(config_path))
    vectors = clip_encoder.embed_files(list(files), progress=progress)
    return vectors.mean(0).to(next(model.parameters()).device), f"{kind} speaker encoder"


def other_voices(model, config, d_vector_files: list[str], shots: int, speaker: str) -> dict[str, dict[str, Any]]:
    """The voices a new d-vector voice is written beside: those of the base config's ``d_vector_file`` and of
    ``d_vector_files``; for a prototype model with none, the prototypes of the training speakers (``shots`` clips
    each, from the config's datasets). Stock Coqui takes a d-vector file of a single voice for a single-speaker model
    and ignores the voice."""
    dim = d_vector_dim(config)
    # Coqui's SpeakerManager read the config's own files when the model was made: check those, do not read them again
    loaded = model.speaker_manager.embeddings if model.speaker_manager is not None else {}
    entries = {**check_entries(loaded, dim, ", ".join(d_vector_paths(config))),
               **read_d_vector_files(d_vector_files, dim)}
    reason = ""
    if not entries and model.meta_uses_prototypes:
        try:
            entries = _training_prototypes(model, config, shots)
        except Exception as error:  # the training corpus is not on this machine, or not readable
            reason = f" (the training corpus could not be read: {error})"
    names = {entry["name"] for entry in entries.values()}
    if speaker in names:
        raise RequestError(f"`speaker` {speaker!r} is already a voice of the d-vector file(s); choose a new name")
    if not names:
        raise RequestError(
            "stock Coqui takes a d-vector file of a single voice for a single-speaker model and ignores the voice: "
            f"give `d_vectors` FILE with other voices (coqui-meta embed writes one from a corpus){reason}"
        )
    return entries


def _training_prototypes(model, config, shots: int) -> dict[str, dict[str, Any]]:
    from TTS.tts.datasets import load_tts_samples

    from coqui_meta.adapting.embed import embed_samples, speaker_means

    trained = set(config.get("speakers") or [])
    samples, _ = load_tts_samples(config, eval_split=False)
    by_speaker: dict[str, list] = {}
    for sample in sorted(samples, key=lambda s: s["audio_file"]):
        if sample["speaker_name"] in trained and len(by_speaker.setdefault(sample["speaker_name"], [])) < shots:
            by_speaker[sample["speaker_name"]].append(sample)
    return speaker_means(embed_samples(model, [s for clips in by_speaker.values() for s in clips])[1])
