"""`coqui-meta adapt --style NAME --speaker VOICE`: a speaking style from a few clips, written as a model that stock
Coqui speaks in that style.

VITS has no style input, so a style is learned as a voice is: the clips of ``VOICE`` speaking in ``NAME`` (a known
voice; the ``emotion_name`` column of a coqui-format folder says each clip's style) move a copy of that voice's row
and the style modules (``meta_style_adapt_modules``: the speaker-conditioned ones) by the inner loop's steps, from the
voice as the model speaks it (the start meta-training with ``task_key="emotion_name"`` takes). The folder gets the
base weights with the adapted tensors, the speaker table grown by one row ``VOICE_NAME`` (the old rows as they were;
the adapted modules carry the style for the other voices too), a stock config, ``speakers.json``, ``sample.wav`` and
``adapt.json`` (``--save_delta``: ``voice.safetensors`` too). Tacotron2 with global style tokens learns a style in
them instead: its token weights (from the tokens' mean) with the token bank and the decoder's output side; the
folder's stock config holds the weights as ``gst.gst_style_input_weights``, which stock Coqui takes as its style
input (``Synthesizer.tts(..., style_wav=weights)``). Every check runs before any step, nothing written.

Example::

    coqui-meta adapt --style whisper --speaker espeak_en_us_m1 --data styles/ --shots 10 --steps 20 \\
        --model_path ... --config_path ... --out_path voices/m1_whisper
    tts --model_path voices/m1_whisper/model.pth --config_path voices/m1_whisper/config.json \\
        --speaker_idx espeak_en_us_m1_whisper --text "Hello there."
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from coqui_meta.files import require_new_folder, staged_folder
from coqui_meta.seeds import draw
from coqui_meta.voices.adaptation import AdaptationSettings, VoiceAdaptation, load_for_adaptation
from coqui_meta.voices.data import load_clips
from coqui_meta.voices.new_voice import prepare_clips, run_record, support_batch, train_voice
from coqui_meta.voices.voice_folder import stock_config_with, voice_state, write_voice

STYLE_KEY = "emotion_name"


def style_clips(data: str, style: str, speaker: str | None, shots: int, seed: int) -> tuple[list[dict], str]:
    """``shots`` clips of ``data`` in ``style`` (of ``speaker``, or of the one voice that speaks it), drawn by
    ``seed``, and whose voice they are; an error naming what is missing."""
    clips = load_clips(data, task_key=STYLE_KEY) if (Path(data) / "metadata.csv").is_file() else [
        {**clip, STYLE_KEY: style} for clip in load_clips(data, speaker=speaker)]  # a wav + txt folder: one style
    styles = sorted({clip.get(STYLE_KEY, "") for clip in clips})
    clips = [clip for clip in clips if clip.get(STYLE_KEY) == style]
    if not clips:
        raise ValueError(f"{data} has no clip in the style {style!r} (its {STYLE_KEY} values: {', '.join(styles)})")
    voices = sorted({clip["speaker_name"] for clip in clips})
    if speaker is None:
        if len(voices) > 1:
            raise ValueError(f"{data}: {len(voices)} voices speak {style!r} ({', '.join(voices[:6])}); choose whose "
                             "with --speaker")
        speaker = voices[0]
    clips = [clip for clip in clips if clip["speaker_name"] == speaker]
    if len(clips) < shots:
        raise ValueError(f"--shots {shots} but {data} has {len(clips)} clip(s) of {speaker!r} in the style {style!r}")
    ordered = sorted(clips, key=lambda s: s["audio_file"])
    return sorted(draw(seed, "clips", style).sample(ordered, shots), key=lambda s: s["audio_file"]), speaker


def _style_model(model_path: str, config_path: str, settings: AdaptationSettings, style: str):
    """The checkpoint loaded for a style task; an error naming --style when the model cannot take one."""
    try:
        loaded = load_for_adaptation(model_path, config_path, settings, settings.torch_device(), task_key=STYLE_KEY)
    except ValueError as error:
        if "emotion_name" not in str(error):
            raise
        raise ValueError(f"--style {style!r}: {config_path}: {error}") from None
    model = loaded.model
    if not model.meta_style_uses_gst and (model.meta_voice_is_d_vector or model.speaker_manager is None):
        raise ValueError(f"--style {style!r}: {config_path} has no speaker table to hold the voice in the new style")
    return loaded


def _known_style(config_path: str, style: str) -> bool:
    """Whether the checkpoint is itself a folder written by ``adapt --style`` for ``style``."""
    written = Path(config_path).parent / "adapt.json"
    return written.is_file() and json.loads(written.read_text()).get("style") == style


def _gst_style(loaded, voice, style: str):
    """A GST model's style: the base with the adapted tensors, and a stock config whose ``gst`` holds the token
    weights (``gst_style_input_weights``: what stock Coqui's ``style_wav`` takes as a dict)."""
    from coqui_meta.voices.voice_folder import d_vector_state

    state = d_vector_state(loaded.checkpoint["model"], voice)
    stock = loaded.config.to_stock() if "meta" in loaded.config else loaded.config
    stock.gst.gst_style_input_weights = {str(k): float(w) for k, w in enumerate(voice.style_weights().cpu())}
    return state, stock


def adapt_style(model_path: str, config_path: str, data: str, style: str, speaker: str | None, shots: int,
                steps: int, out_path: str, settings: AdaptationSettings | None = None, save_delta: bool = False,
                progress: bool = True) -> dict[str, Any]:
    """Learn ``style`` from ``shots`` clips of ``speaker`` in ``data`` in ``steps`` steps; write ``out_path``."""
    started, settings = time.perf_counter(), settings or AdaptationSettings()
    if shots < 1 or steps < 0:
        raise ValueError(f"--shots must be >= 1 and --steps >= 0 (got {shots}, {steps})")
    require_new_folder(out_path)
    loaded = _style_model(model_path, config_path, settings, style)
    model = loaded.model
    manager, gst = model.speaker_manager, model.meta_style_uses_gst
    old_speakers = list(manager.name_to_id) if manager is not None and model.num_speakers > 1 else []
    if gst and save_delta:
        raise ValueError("--save_delta keeps a new speaker row; a GST model's style is its token weights in the "
                         "written config.json with the adapted token bank: leave --save_delta out")
    chosen, speaker = style_clips(data, style, speaker, shots, settings.seed)
    name = style if gst else f"{speaker}_{style}"
    if old_speakers and speaker not in old_speakers:
        raise ValueError(f"--speaker {speaker!r} is not a voice of {config_path} (a style is learned in a voice the "
                         f"model has: {', '.join(old_speakers[:6])}, ...)")
    if name in old_speakers or _known_style(config_path, style):
        raise ValueError(f"--style {style!r}: {config_path} has a voice {name!r} already; choose another style name")
    with tempfile.TemporaryDirectory() as work:
        batch = support_batch(model, prepare_clips(chosen, model, Path(work)))
        voice = VoiceAdaptation(model, settings, support=batch)
        losses = train_voice(voice, batch, steps, f"{speaker} {style}", progress)
        final_loss = voice.score(batch)
        sample, rate = voice.synthesize(batch, 0)
    speaker_key = model.meta_speaker_embedding
    if gst:  # the style is the config's token weights: no new row
        state, stock = _gst_style(loaded, voice, style)
    else:
        state = voice_state(loaded.checkpoint["model"], voice, speaker_key, old_speakers.index(speaker))
        stock = stock_config_with(loaded.config, old_speakers + [name])
    stock.phoneme_cache_path = loaded.phoneme_cache_path
    adapted = list(voice.task.adapted)
    info = {
        "style": style, "speaker": name, "voice": speaker, "base_model": str(model_path),
        "base_config": str(config_path), "model": stock.model, "algorithm": loaded.algorithm, "shots": shots,
        "clips": [c["audio_file"] for c in chosen], "steps": steps, **voice.rates(), "adapt_modules": adapted,
        "old_speakers_unchanged": steps == 0 or adapted == [speaker_key],
        "voice_start": "the tokens' mean" if gst else f"{speaker}'s row",
        "style_weights": stock.gst.gst_style_input_weights if gst else None,
        **run_record(losses, final_loss, started, settings),
    }
    with staged_folder(out_path) as folder:
        write_voice(folder, state, stock, name, info)
        soundfile.write(str(folder / "sample.wav"), np.clip(sample, -1.0, 1.0), rate)
        if save_delta:
            from coqui_meta.voices.delta import save_delta as write_delta

            write_delta(folder / "voice.safetensors", state, loaded.checkpoint["model"], name, speaker_key, info)
    return info
