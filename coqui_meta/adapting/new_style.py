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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coqui_meta.adapting.from_clips import AdaptationResult, LearnFromClips
from coqui_meta.adapting.settings import AdaptationSettings
from coqui_meta.adapting.voice_folder import d_vector_state, stock_config_with, voice_state
from coqui_meta.errors import RequestError
from coqui_meta.formats.clips import load_clips
from coqui_meta.seeds import draw

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
            raise RequestError(f"{data}: {len(voices)} voices speak {style!r} ({', '.join(voices[:6])}); choose whose "
                               "with `speaker`")
        speaker = voices[0]
    clips = [clip for clip in clips if clip["speaker_name"] == speaker]
    if len(clips) < shots:
        raise RequestError(f"`shots` {shots} but {data} has {len(clips)} clip(s) of {speaker!r} in the style {style!r}")
    ordered = sorted(clips, key=lambda s: s["audio_file"])
    return sorted(draw(seed, "clips", style).sample(ordered, shots), key=lambda s: s["audio_file"]), speaker


def _known_style(config_path: str, style: str) -> bool:
    """Whether the checkpoint is itself a folder written by ``adapt --style`` for ``style``."""
    written = Path(config_path).parent / "adapt.json"
    return written.is_file() and json.loads(written.read_text()).get("style") == style


def _token_weights(weights) -> dict[str, float]:
    """GST token weights as stock Coqui's ``gst_style_input_weights`` holds them."""
    return {str(k): float(w) for k, w in enumerate(weights.cpu())}


def _gst_style(loaded, task):
    """A GST model's style: the base with the adapted tensors, and a stock config whose ``gst`` holds the token
    weights (``gst_style_input_weights``: what stock Coqui's ``style_wav`` takes as a dict)."""
    state = d_vector_state(loaded.checkpoint["model"], task)
    stock = loaded.config.to_stock() if "meta" in loaded.config else loaded.config
    stock.gst.gst_style_input_weights = _token_weights(task.style_weights())
    return state, stock


@dataclass(kw_only=True)
class StyleAdaptation(AdaptationResult):
    """``adapt.json`` of a new style: the style's own fields, then what every kind records."""

    style: str
    speaker: str  # the folder's new voice (VITS: VOICE_STYLE) or the style's name (GST)
    voice: str  # the voice that speaks the clips
    voice_start: str
    style_weights: dict[str, float] | None  # GST: the token weights, as stock Coqui's gst_style_input_weights


class NewStyle(LearnFromClips):
    """A new style: a voice's row moved into the style, or a GST model's token weights (`LearnFromClips`)."""

    task_key = STYLE_KEY
    Result = StyleAdaptation

    def __init__(self, *args, style: str, speaker: str | None = None, save_delta: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.style, self.speaker, self.save_delta = style, speaker, save_delta
        self.old_speakers: list[str] = []

    @property
    def gst(self) -> bool:
        return self.model.meta_style_uses_gst

    @property
    def label(self) -> str:
        """The folder's new voice (VITS: ``VOICE_STYLE``) or style (GST)."""
        return self.style if self.gst else f"{self.speaker}_{self.style}"

    def load(self):
        try:
            return super().load()
        except ValueError as error:  # a model whose tasks cannot be styles: say which request asked for one
            if STYLE_KEY not in str(error):
                raise
            raise RequestError(f"`style` {self.style!r}: {self.config_path}: {error}") from None

    def check(self) -> None:
        model = self.model
        if not self.gst and (model.meta_voice_is_d_vector or model.speaker_manager is None):
            raise RequestError(f"`style` {self.style!r}: {self.config_path} has no speaker table to hold the voice in "
                               "the new style")
        manager = model.speaker_manager
        self.old_speakers = list(manager.name_to_id) if manager is not None and model.num_speakers > 1 else []
        if self.gst and self.save_delta:
            raise RequestError("`save_delta` keeps a new speaker row; a GST model's style is its token weights in the "
                               "written config.json with the adapted token bank: leave `save_delta` out")

    def clips(self) -> list[dict[str, Any]]:
        chosen, self.speaker = style_clips(self.data, self.style, self.speaker, self.shots, self.settings.seed)
        if self.old_speakers and self.speaker not in self.old_speakers:
            raise RequestError(f"`speaker` {self.speaker!r} is not a voice of {self.config_path} (a style is learned "
                               f"in a voice the model has: {', '.join(self.old_speakers[:6])}, ...)")
        if self.label in self.old_speakers or _known_style(self.config_path, self.style):
            raise RequestError(f"`style` {self.style!r}: {self.config_path} has a voice {self.label!r} already; choose "
                               "another style name")
        return chosen

    def stock_model(self, task, batch: dict):
        if self.gst:  # the style is the config's token weights: no new row
            return _gst_style(self.loaded, task)
        key, row = self.model.meta_speaker_embedding, self.old_speakers.index(self.speaker)
        state = voice_state(self.loaded.checkpoint["model"], task, key, row)
        return state, stock_config_with(self.loaded.config, self.old_speakers + [self.label])

    def record(self, task, chosen: list[dict[str, Any]]) -> dict[str, Any]:
        weights = task.style_weights()
        return {"style": self.style, "speaker": self.label, "voice": self.speaker,
                "voice_start": "the tokens' mean" if self.gst else f"{self.speaker}'s row",
                "style_weights": _token_weights(weights) if self.gst else None}

    def unchanged(self, task) -> dict[str, bool]:
        return {"old_speakers_unchanged": self.steps == 0 or task.adapted == [self.model.meta_speaker_embedding]}

    def write_more(self, folder: Path, task, state: dict, info: StyleAdaptation) -> None:
        if self.save_delta:
            from coqui_meta.adapting.delta import save_delta as write_delta

            write_delta(folder / "voice.safetensors", state, self.loaded.checkpoint["model"], self.label,
                        self.model.meta_speaker_embedding, info.to_dict())


def adapt_style(model_path: str, config_path: str, data: str, style: str, speaker: str | None, shots: int,
                steps: int, out_path: str, settings: AdaptationSettings | None = None, save_delta: bool = False,
                progress: bool = True) -> StyleAdaptation:
    """Learn ``style`` from ``shots`` clips of ``speaker`` in ``data`` in ``steps`` steps; write ``out_path``."""
    return NewStyle(model_path, config_path, data, shots, steps, out_path, settings, progress, style=style,
                    speaker=speaker, save_delta=save_delta).run()
