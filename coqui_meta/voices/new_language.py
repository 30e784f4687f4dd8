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

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from coqui_meta.files import require_new_folder, staged_folder
from coqui_meta.voices.adaptation import AdaptationSettings, VoiceAdaptation, load_for_adaptation
from coqui_meta.voices.language_table import add_language, check_language_model
from coqui_meta.voices.new_voice import choose_clips, prepare_clips, run_record, support_batch, train_voice
from coqui_meta.voices.voice_folder import stock_config_with, voice_state, write_voice


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


def adapt_language(model_path: str, config_path: str, data: str, language: str, shots: int, steps: int,
                   out_path: str, settings: AdaptationSettings | None = None, progress: bool = True) -> dict[str, Any]:
    """Learn ``language`` from ``shots`` clips of ``data`` in ``steps`` steps; write the folder ``out_path``."""
    started, settings = time.perf_counter(), settings or AdaptationSettings()
    if shots < 1 or steps < 0:
        raise ValueError(f"--shots must be >= 1 and --steps >= 0 (got {shots}, {steps})")
    require_new_folder(out_path)
    loaded = load_for_adaptation(model_path, config_path, settings, settings.torch_device(), task_key="language")
    model = loaded.model
    languages = check_language_model(model, config_path, language)
    chosen = [{**clip, "language": language} for clip in choose_clips(data, shots, settings.seed)]
    row = add_language(model, language)
    with tempfile.TemporaryDirectory() as work:
        batch = support_batch(model, prepare_clips(chosen, model, Path(work)))
        voice = VoiceAdaptation(model, settings, support=batch)
        losses = train_voice(voice, batch, steps, language, progress)
        final_loss = voice.score(batch)
        sample, rate = voice.synthesize(batch, 0)
    state = voice_state(loaded.checkpoint["model"], voice, model.meta_language_embedding, row)
    stock = language_config(loaded, [*languages, language], language, data)
    adapted = list(voice.task.adapted)
    info = {
        "language": language, "languages": stock.languages, "base_model": str(model_path),
        "base_config": str(config_path), "model": stock.model, "algorithm": loaded.algorithm, "shots": shots,
        "clips": [c["audio_file"] for c in chosen], "speakers": sorted({c["speaker_name"] for c in chosen}),
        "speaker_idx": _known_speaker(model, chosen),
        "steps": steps, **voice.rates(), "adapt_modules": adapted,
        "old_languages_unchanged": steps == 0 or adapted == [model.meta_language_embedding],
        **run_record(losses, final_loss, started, settings),
    }
    with staged_folder(out_path) as folder:
        write_voice(folder, state, stock, language, info)
        soundfile.write(str(folder / "sample.wav"), np.clip(sample, -1.0, 1.0), rate)
    return info


def _known_speaker(model, clips: list[dict[str, Any]]) -> str | None:
    """A speaker that stock Coqui's ``--speaker_idx`` knows: the first clip's, else the model's first."""
    known = list(model.speaker_manager.name_to_id) if model.speaker_manager is not None else []
    return next((c["speaker_name"] for c in clips if c["speaker_name"] in known), known[0] if known else None)
