"""`coqui-meta adapt`: a new voice from K clips, written as a model that stock Coqui loads.

The clips are checked and prepared first (resampled to the model's rate, down-mixed, silence trimmed as the config
says); any problem stops the command before training, naming the file. The voice is learned with
`coqui_meta.voices.adaptation.VoiceAdaptation` (the procedure `evaluate` measures). The output folder gets the base
weights with the adapted tensors, the speaker embedding table with one new row (the old rows as they were), a stock
config (``vits`` / ``tacotron2``) listing the speakers, ``speakers.json``, ``sample.wav`` and ``adapt.json``. It is
staged beside the target and renamed into place, so it appears whole or not at all.

Example::

    coqui-meta adapt --model_path runs/maml/best_model.pth --config_path runs/maml/config.json \\
        --data my_clips/ --speaker anna --shots 10 --steps 20 --out_path voices/anna
    tts --model_path voices/anna/model.pth --config_path voices/anna/config.json --speaker_idx anna --text "Hello."

A d-vector model has no speaker table: its voice is a d-vector, moved by the steps if any. A prototype model's
(``protonet``, ``proto_maml``) starts as the prototype of the clips (``--steps 0``: no gradient step); a YourTTS-style
model's (``use_d_vector_file``) from a speaker encoder or the file's mean (`coqui_meta.voices.d_vector_voice`). The
folder then holds ``d_vectors.json`` in Coqui's d-vector format and a config with ``use_d_vector_file`` pointing at it
(an absolute path: Coqui resolves it from the working directory), and ``model.pth`` without the prototype encoder,
which stock Coqui does not know.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from tqdm.auto import tqdm

from coqui_meta.algorithms.inner_loop import D_VECTOR
from coqui_meta.files import require_new_folder, staged_folder
from coqui_meta.seeds import draw
from coqui_meta.voices.adaptation import AdaptationSettings, VoiceAdaptation, load_for_adaptation
from coqui_meta.voices.d_vector_voice import other_voices, start_d_vector, start_kind
from coqui_meta.voices.data import load_clips, unknown_characters
from coqui_meta.voices.voice_folder import (
    d_vector_config,
    d_vector_state,
    stock_config_with,
    voice_state,
    write_d_vectors,
    write_voice,
)


def prepare_clips(samples: list[dict[str, Any]], model, folder: Path) -> list[dict[str, Any]]:
    """Each clip as a mono wav at the model's sample rate, trimmed as the config says; text and length checked."""
    import librosa

    audio = model.config.audio
    prepared = []
    for index, sample in enumerate(samples):
        path = sample["audio_file"]
        unknown = sorted(unknown_characters(sample["text"], model))
        if unknown:
            raise ValueError(f"{path}: transcript has characters the model cannot read: {''.join(unknown)!r}")
        wav, rate = soundfile.read(path, dtype="float32", always_2d=True)
        wav = wav.mean(axis=1)
        if rate != audio.sample_rate:
            wav = librosa.resample(wav, orig_sr=rate, target_sr=audio.sample_rate)
        if audio.do_trim_silence:
            wav, _ = librosa.effects.trim(wav, top_db=audio.trim_db)
        seconds = len(wav) / audio.sample_rate
        if len(wav) < model.config.min_audio_len or len(wav) > model.config.max_audio_len:
            raise ValueError(
                f"{path}: {seconds:.2f} s after trimming; the config takes clips of "
                f"{model.config.min_audio_len / audio.sample_rate:.2f} to "
                f"{model.config.max_audio_len / audio.sample_rate:.2f} s"
            )
        target = folder / f"{index:04d}.wav"
        soundfile.write(str(target), wav, audio.sample_rate, subtype="PCM_16")
        prepared.append({**sample, "audio_file": str(target), "source_file": path, "seconds": seconds})
    return prepared


def support_batch(model, samples: list[dict[str, Any]]) -> dict:
    """All support clips as one batch of the model's own dataset and collate."""
    dataset = model.meta_stock_dataset(samples)
    if len(dataset.samples) != len(samples):
        raise ValueError("some clips were dropped by the model's dataset filters (text length); check the transcripts")
    collate = model.meta_episode_collate(dataset, len(samples), 0)
    return model.meta_prepare(collate.collate_task([dataset[i] for i in range(len(samples))]))


def adapt(model_path: str, config_path: str, data: str, speaker: str, shots: int, steps: int, out_path: str,
          settings: AdaptationSettings | None = None, save_delta: bool = False, progress: bool = True,
          d_vectors: list[str] | None = None, language: str | None = None) -> dict[str, Any]:
    """Learn ``speaker`` from ``shots`` clips of ``data`` in ``steps`` steps; write the voice folder ``out_path``.
    For a d-vector model, ``d_vectors`` names d-vector files whose voices are kept beside the new one; for a
    multilingual model, ``language`` is that of clips that do not say theirs."""
    started = time.perf_counter()
    settings = settings or AdaptationSettings()
    if shots < 1 or steps < 0:
        raise ValueError(f"--shots must be >= 1 and --steps >= 0 (got {shots}, {steps})")
    require_new_folder(out_path)  # before any work, and again when the folder is put in place
    loaded = load_for_adaptation(model_path, config_path, settings, settings.torch_device())
    model, config = loaded.model, loaded.config
    d_vector_voice = model.meta_voice_is_d_vector
    old_speakers = _check_voice_model(model, config_path, speaker, save_delta)
    start_kind(model, config, settings.encoder)  # a wrong --encoder stops here, before the clips are read
    chosen = clips_language(model, config_path, choose_clips(data, shots, settings.seed, speaker), language)
    others = other_voices(model, config, list(d_vectors or []), shots, speaker) if d_vector_voice else {}
    with tempfile.TemporaryDirectory() as work:
        prepared = prepare_clips(chosen, model, Path(work))
        start, start_source = start_d_vector(model, config, config_path, [c["audio_file"] for c in prepared],
                                             settings.encoder)
        batch = support_batch(model, prepared)
        voice = VoiceAdaptation(model, settings, support=batch, start_voice=start)
        losses = train_voice(voice, batch, steps, speaker, progress)
        final_loss = voice.score(batch)
        sample, rate = voice.synthesize(batch, 0)
    state, stock_config, speaker_key = _stock_voice(loaded, voice, config, old_speakers, speaker, batch, out_path)
    stock_config.phoneme_cache_path = loaded.phoneme_cache_path
    adapted = list(voice.task.adapted)
    info = {
        "speaker": speaker, "language": chosen[0].get("language") or None, "base_model": str(model_path),
        "base_config": str(config_path), "model": stock_config.model, "algorithm": loaded.algorithm, "shots": shots,
        "clips": [c["source_file"] for c in prepared], "steps": steps,
        **voice.rates(),  # optimizer, lr (null for learned rates), lr_scale, inner_lr_mode, grad_clip, rates
        "adapt_modules": adapted, "old_speakers_unchanged": steps == 0 or adapted == [speaker_key],
        "d_vectors": "d_vectors.json" if d_vector_voice else None,
        "voice_start": start_source or ("prototype of the clips" if model.meta_uses_prototypes else "mean row"),
        "other_voices": sorted({entry["name"] for entry in others.values()}),
        **run_record(losses, final_loss, started, settings),
    }
    with staged_folder(out_path) as folder:
        write_voice(folder, state, stock_config, speaker, info)
        if d_vector_voice:  # the voice: where it started, moved by the steps if the d-vector is adapted
            write_d_vectors(folder / "d_vectors.json", speaker, voice.d_vector(), others)
        soundfile.write(str(folder / "sample.wav"), np.clip(sample, -1.0, 1.0), rate)
        if save_delta:
            from coqui_meta.voices.delta import save_delta as write_delta

            write_delta(folder / "voice.safetensors", state, loaded.checkpoint["model"], speaker, speaker_key, info)
    return info


def run_record(losses: list[float], final_loss: float, started: float, settings: AdaptationSettings) -> dict:
    """The part of ``adapt.json`` every kind of adaptation shares: its losses, time, seed, device and date."""
    return {"support_loss": losses, "final_support_loss": final_loss,
            "seconds": round(time.perf_counter() - started, 2), "seed": settings.seed,
            "device": str(settings.torch_device()), "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def train_voice(voice: VoiceAdaptation, batch: dict, steps: int, speaker: str, progress: bool) -> list[float]:
    """The support loss of each of ``steps`` steps, shown on a progress bar."""
    losses = []
    bar = tqdm(range(steps), desc=f"adapt {speaker}", unit="step", disable=not progress)
    for _ in bar:
        losses.append(voice.step(batch))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return losses


def _stock_voice(loaded, voice, config, old_speakers: list[str], speaker: str, batch: dict, out_path: str):
    """The stock state dict and config of the adapted voice, and the key of the tensor that holds voices."""
    if voice.model.meta_voice_is_d_vector:
        state = d_vector_state(loaded.checkpoint["model"], voice)
        return state, d_vector_config(config, Path(out_path).resolve() / "d_vectors.json"), D_VECTOR
    speaker_key = voice.model.meta_speaker_embedding
    state = voice_state(loaded.checkpoint["model"], voice, speaker_key, int(batch["speaker_ids"][0]))
    return state, stock_config_with(config, old_speakers + [speaker]), speaker_key


def _check_voice_model(model, config_path: str, speaker: str, save_delta: bool) -> list[str]:
    """The model's speakers (none for a d-vector model); an error if it cannot take a new voice named ``speaker``."""
    if model.meta_voice_is_d_vector:
        if save_delta:
            raise ValueError("--save_delta is for speaker-table models; a d-vector model's voice is its "
                             "d_vectors.json")
        return []
    if model.speaker_manager is None or model.meta_speaker_embedding not in dict(model.named_parameters()):
        raise ValueError(
            f"{config_path}: adapt needs a multi-speaker model with a speaker embedding (use_speaker_embedding) or a "
            "prototype model (meta.algorithm protonet or proto_maml)"
        )
    old_speakers = list(model.speaker_manager.name_to_id)
    if speaker in old_speakers:
        raise ValueError(f"--speaker {speaker!r} exists already in {config_path}; choose a new name")
    return old_speakers


def clips_language(model, config_path: str, clips: list[dict[str, Any]], language: str | None) -> list[dict]:
    """The clips with their language: for a multilingual model, each clip's own or ``language``, one the model has;
    an error naming the flag when a clip has none or the model lacks it."""
    manager = getattr(model, "language_manager", None)
    if model.meta_language_embedding not in dict(model.named_parameters()) or manager is None:
        return clips
    known = list(manager.name_to_id)
    clips = [{**clip, "language": clip.get("language") or language or ""} for clip in clips]
    unknown = sorted({clip["language"] for clip in clips} - set(known))
    if unknown:
        what = f"the clips' language {unknown[0]!r} is not one of them" if unknown[0] else "the clips do not say theirs"
        raise ValueError(f"{config_path} is multilingual ({', '.join(known)}): {what}; give --language, the clips' "
                         "language (one the model has; --language alone, without --speaker, adds a new one)")
    return clips


def choose_clips(data: str, shots: int, seed: int, speaker: str | None = None) -> list[dict[str, Any]]:
    """``shots`` clips of ``data`` (``speaker``'s only, when given), drawn by ``seed``; an error if there are fewer."""
    clips = load_clips(data, speaker=speaker)
    if len(clips) < shots:
        whose = f" of {speaker!r}" if speaker is not None else ""
        raise ValueError(f"--shots {shots} but {data} has {len(clips)} clip(s){whose}")
    ordered = sorted(clips, key=lambda s: s["audio_file"])
    return sorted(draw(seed, "clips", speaker or "").sample(ordered, shots), key=lambda s: s["audio_file"])
