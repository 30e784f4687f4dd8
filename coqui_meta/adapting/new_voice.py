"""`coqui-meta adapt`: a new voice from K clips, written as a model that stock Coqui loads.

The clips are checked and prepared first (resampled to the model's rate, down-mixed, silence trimmed as the config
says); any problem stops the command before training, naming the file. The voice is learned by the one
skeleton of `coqui_meta.adapting.from_clips` (the procedure `evaluate` measures). The output folder gets the base
weights with the adapted tensors, the speaker embedding table with one new row (the old rows as they were), a stock
config (``vits`` / ``tacotron2``) listing the speakers, ``speakers.json``, ``sample.wav`` and ``adapt.json``. It is
staged beside the target and renamed into place, so it appears whole or not at all.

Example::

    coqui-meta adapt --model_path runs/maml/best_model.pth --config_path runs/maml/config.json \\
        --data my_clips/ --speaker anna --shots 10 --steps 20 --out_path voices/anna
    tts --model_path voices/anna/model.pth --config_path voices/anna/config.json --speaker_idx anna --text "Hello."

A one-speaker model (no speaker input: LJSpeech's VITS, Tacotron2-DDC) is fine-tuned to the new voice, as Coqui
users fine-tune LJSpeech to their own: its voice-bearing modules (the model's default ``adapt_modules`` without the
speaker table: VITS's duration predictor, flow and waveform decoder; Tacotron2's decoder output side and postnet) take
the steps, with the same procedure and divergence checks. The result stays one-speaker: stock ``tts`` speaks it with
no ``--speaker_idx``, and ``--speaker`` only names it in ``adapt.json``. (Meta-training such a model on speaker tasks
needs a speaker input it lacks; `coqui_meta.models.task_start.TaskStartMixin.meta_check_trainable` says so.)

A d-vector model has no speaker table: its voice is a d-vector, moved by the steps if any. A prototype model's
(``protonet``, ``proto_maml``) starts as the prototype of the clips (``--steps 0``: no gradient step); a YourTTS-style
model's (``use_d_vector_file``) from a speaker encoder or the file's mean (`coqui_meta.adapting.d_vector_voice`). The
folder then holds ``d_vectors.json`` in Coqui's d-vector format and a config with ``use_d_vector_file`` pointing at it
(an absolute path: Coqui resolves it from the working directory), and ``model.pth`` without the prototype encoder,
which stock Coqui does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coqui_meta.adapting.d_vector_voice import other_voices, start_d_vector, start_kind
from coqui_meta.adapting.from_clips import AdaptationResult, LearnFromClips, choose_clips
from coqui_meta.adapting.settings import AdaptationSettings
from coqui_meta.adapting.voice_folder import (
    d_vector_config,
    d_vector_state,
    stock_config_with,
    voice_state,
    write_d_vectors,
)
from coqui_meta.algorithms.inner_loop import D_VECTOR
from coqui_meta.errors import RequestError


@dataclass(kw_only=True)
class VoiceAdaptation(AdaptationResult):
    """``adapt.json`` of a new voice: the voice's own fields, then what every kind records."""

    speaker: str
    single_speaker: bool  # a one-speaker model fine-tuned: no --speaker_idx
    language: str | None  # a multilingual model's language of the clips
    d_vectors: str | None  # a d-vector model's file of the voices, in the folder
    voice_start: str
    other_voices: list[str]  # a d-vector model's voices kept beside the new one


class NewVoice(LearnFromClips):
    """A new speaker: a row of the speaker table, or for a d-vector model a d-vector (`LearnFromClips`)."""

    Result = VoiceAdaptation

    def __init__(self, *args, speaker: str, save_delta: bool = False, d_vectors: list[str] | None = None,
                 language: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.speaker, self.save_delta, self.d_vectors, self.language = speaker, save_delta, d_vectors, language
        self.old_speakers: list[str] = []
        self.others: dict = {}
        self.start_source: str | None = None

    @property
    def label(self) -> str:
        return self.speaker

    def check(self) -> None:
        self.old_speakers = _check_voice_model(self.model, self.config_path, self.speaker, self.save_delta)
        start_kind(self.model, self.loaded.config, self.settings.encoder)  # a wrong encoder stops here

    def clips(self) -> list[dict[str, Any]]:
        chosen = choose_clips(self.data, self.shots, self.settings.seed, self.speaker)
        chosen = clips_language(self.model, self.config_path, chosen, self.language)
        if self.model.meta_voice_is_d_vector:
            self.others = other_voices(self.model, self.loaded.config, list(self.d_vectors or []), self.shots,
                                       self.speaker)
        return chosen

    def start_voice(self, prepared: list[dict[str, Any]]):
        start, self.start_source = start_d_vector(self.model, self.loaded.config, self.config_path,
                                                  [clip["audio_file"] for clip in prepared], self.settings.encoder)
        return start

    def stock_model(self, task, batch: dict):
        config = self.loaded.config
        if self.model.meta_single_voice:  # the one voice, fine-tuned: the model stays one-speaker
            return d_vector_state(self.loaded.checkpoint["model"], task), stock_config_with(config, None)
        if self.model.meta_voice_is_d_vector:
            state = d_vector_state(self.loaded.checkpoint["model"], task)
            return state, d_vector_config(config, Path(self.out_path).resolve() / "d_vectors.json")
        state = voice_state(self.loaded.checkpoint["model"], task, self.speaker_key, int(batch["speaker_ids"][0]))
        return state, stock_config_with(config, self.old_speakers + [self.speaker])

    @property
    def speaker_key(self) -> str:
        """The name of the tensor that holds the voices."""
        return D_VECTOR if self.model.meta_voice_is_d_vector else self.model.meta_speaker_embedding

    def record(self, task, chosen: list[dict[str, Any]]) -> dict[str, Any]:
        d_vector_voice, prototypes = self.model.meta_voice_is_d_vector, self.model.meta_uses_prototypes
        own = "the model's one voice" if self.model.meta_single_voice else "mean row"
        return {
            "speaker": self.speaker, "single_speaker": self.model.meta_single_voice,
            "language": chosen[0].get("language") or None,
            "d_vectors": "d_vectors.json" if d_vector_voice else None,
            "voice_start": self.start_source or ("prototype of the clips" if prototypes else own),
            "other_voices": sorted({entry["name"] for entry in self.others.values()}),
        }

    def unchanged(self, task) -> dict[str, bool]:
        if self.model.meta_single_voice:  # its one voice is the one the steps move
            return {"old_voice_unchanged": self.steps == 0}
        return {"old_speakers_unchanged": self.steps == 0 or task.adapted == [self.speaker_key]}

    def write_more(self, folder: Path, task, state: dict, info: VoiceAdaptation) -> None:
        if self.model.meta_voice_is_d_vector:  # the voice: where it started, moved by the steps if it is adapted
            write_d_vectors(folder / "d_vectors.json", self.speaker, task.d_vector(), self.others)
        if self.save_delta:
            from coqui_meta.adapting.delta import save_delta as write_delta

            write_delta(folder / "voice.safetensors", state, self.loaded.checkpoint["model"], self.speaker,
                        self.speaker_key, info.to_dict())


def adapt(model_path: str, config_path: str, data: str, speaker: str, shots: int, steps: int, out_path: str,
          settings: AdaptationSettings | None = None, save_delta: bool = False, progress: bool = True,
          d_vectors: list[str] | None = None, language: str | None = None) -> VoiceAdaptation:
    """Learn ``speaker`` from ``shots`` clips of ``data`` in ``steps`` steps; write the voice folder ``out_path``.
    For a d-vector model, ``d_vectors`` names d-vector files whose voices are kept beside the new one; for a
    multilingual model, ``language`` is that of clips that do not say theirs."""
    return NewVoice(model_path, config_path, data, shots, steps, out_path, settings, progress, speaker=speaker,
                    save_delta=save_delta, d_vectors=d_vectors, language=language).run()


def _check_voice_model(model, config_path: str, speaker: str, save_delta: bool) -> list[str]:
    """The model's speakers (none for a d-vector model); an error if it cannot take a new voice named ``speaker``."""
    if model.meta_voice_is_d_vector:
        if save_delta:
            raise RequestError("`save_delta` is for speaker-table models; a d-vector model's voice is its "
                             "d_vectors.json")
        return []
    if model.meta_single_voice:  # a one-speaker model: its voice becomes the new one (no table, no names)
        if save_delta:
            raise RequestError(f"`save_delta` is for speaker-table models; {config_path} is a one-speaker model, "
                               "whose new voice is the whole model.pth")
        return []
    if model.speaker_manager is None or model.meta_speaker_embedding not in dict(model.named_parameters()):
        raise ValueError(
            f"{config_path}: adapt needs a multi-speaker model with a speaker embedding (use_speaker_embedding) or a "
            "prototype model (meta.algorithm protonet or proto_maml)"
        )
    old_speakers = list(model.speaker_manager.name_to_id)
    if speaker in old_speakers:
        raise RequestError(f"`speaker` {speaker!r} exists already in {config_path}; choose a new name")
    return old_speakers


def clips_language(model, config_path: str, clips: list[dict[str, Any]], language: str | None) -> list[dict]:
    """The clips with their language: for a multilingual model, each clip's own or ``language``, one the model has;
    an error naming the argument when a clip has none or the model lacks it."""
    manager = getattr(model, "language_manager", None)
    if model.meta_language_embedding not in dict(model.named_parameters()) or manager is None:
        return clips
    known = list(manager.name_to_id)
    clips = [{**clip, "language": clip.get("language") or language or ""} for clip in clips]
    unknown = sorted({clip["language"] for clip in clips} - set(known))
    if unknown:
        what = f"the clips' language {unknown[0]!r} is not one of them" if unknown[0] else "the clips do not say theirs"
        raise RequestError(f"{config_path} is multilingual ({', '.join(known)}): {what}; give `language`, the clips' "
                           "language (one the model has; `language` alone, without `speaker`, adds a new one)")
    return clips
