"""`coqui-meta adapt --language NEW`: a new language from a few clips, written as a model that stock Coqui speaks.

The model must be a multilingual VITS (``use_language_embedding``); with phonemes, its config phonemises each
dataset's language with espeak-ng (``phonemizer="multi_phonemizer"``), so a new language shares the symbol set. Every
check runs before any step, with nothing written: espeak-ng must know the language, the model must not have it
already, the clips must be readable. The language starts from the mean row of the language embedding (what
meta-training with ``task_key="language"`` starts every task from); the inner loop's steps move that row and the
adapted modules (default: the language embedding, the text encoder and the duration predictor). The clips keep their
speakers (a speaker the table lacks stands in as a known one).

The folder gets the base weights with the adapted tensors and the language table grown by one row, a stock config
whose ``languages`` end with the new one (and a dataset entry that tells Coqui's phonemizer the language), a
``sample.wav`` and ``adapt.json``; it is staged and renamed into place, so it appears whole or not at all.

Example::

    coqui-meta adapt --language it --data corpus/it --shots 10 --steps 20 --model_path ... --config_path ... \\
        --out_path voices/it
    tts --model_path voices/it/model.pth --config_path voices/it/config.json --language_idx it \\
        --speaker_idx espeak_m3 --text "Buongiorno a tutti."
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coqui_meta.adapting.from_clips import AdaptationResult, LearnFromClips
from coqui_meta.adapting.settings import AdaptationSettings
from coqui_meta.adapting.voice_folder import stock_config_with, voice_state
from coqui_meta.formats.language_table import add_language, check_language_model


def language_config(loaded, languages: list[str], language: str, data: str):
    """The stock config with ``languages`` in table order and a dataset entry for the new one, from which Coqui's
    multi-phonemizer learns how to phonemise it."""
    from TTS.config.shared_configs import BaseDatasetConfig

    stock = stock_config_with(loaded.config, list(loaded.config.get("speakers") or []))
    stock.languages = list(languages)
    stock.model_args.language_ids_file = None  # the languages list is the table's order
    stock.datasets = [*stock.datasets, BaseDatasetConfig(formatter="coqui", path=str(Path(data).resolve()),
                                                         meta_file_train="metadata.csv", language=language,
                                                         phonemizer="espeak", dataset_name=language)]
    stock.phoneme_cache_path = loaded.phoneme_cache_path
    return stock


@dataclass(kw_only=True)
class LanguageAdaptation(AdaptationResult):
    """``adapt.json`` of a new language: the language's own fields, then what every kind records."""

    language: str
    languages: list[str]  # the folder's language table, the new one last
    speakers: list[str]  # the voices of the clips
    speaker_idx: str | None  # a voice the model has, to speak the language with


class NewLanguage(LearnFromClips):
    """A new language: a row of the language table (`LearnFromClips`)."""

    task_key = "language"
    Result = LanguageAdaptation

    def __init__(self, *args, language: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.language = language
        self.languages: list[str] = []
        self.row = 0

    @property
    def label(self) -> str:
        return self.language

    def check(self) -> None:
        self.languages = check_language_model(self.model, self.config_path, self.language)

    def clips(self) -> list[dict[str, Any]]:
        chosen = [{**clip, "language": self.language} for clip in super().clips()]
        self.row = add_language(self.model, self.language)
        return chosen

    def stock_model(self, task, batch: dict):
        state = voice_state(self.loaded.checkpoint["model"], task, self.model.meta_language_embedding, self.row)
        return state, language_config(self.loaded, [*self.languages, self.language], self.language, self.data)

    def record(self, task, chosen: list[dict[str, Any]]) -> dict[str, Any]:
        return {"language": self.language, "languages": [*self.languages, self.language],
                "speakers": sorted({c["speaker_name"] for c in chosen}),
                "speaker_idx": _known_speaker(self.model, chosen)}

    def unchanged(self, task) -> dict[str, bool]:
        return {"old_languages_unchanged": self.steps == 0 or task.adapted == [self.model.meta_language_embedding]}


def adapt_language(model_path: str, config_path: str, data: str, language: str, shots: int, steps: int,
                   out_path: str, settings: AdaptationSettings | None = None,
                   progress: bool = True) -> LanguageAdaptation:
    """Learn ``language`` from ``shots`` clips of ``data`` in ``steps`` steps; write the folder ``out_path``."""
    return NewLanguage(model_path, config_path, data, shots, steps, out_path, settings, progress,
                       language=language).run()


def _known_speaker(model, clips: list[dict[str, Any]]) -> str | None:
    """A speaker that stock Coqui's ``--speaker_idx`` knows: the first clip's, else the model's first."""
    known = list(model.speaker_manager.name_to_id) if model.speaker_manager is not None else []
    return next((c["speaker_name"] for c in clips if c["speaker_name"] in known), known[0] if known else None)
