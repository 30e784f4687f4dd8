"""Does a model speak at its voices' pitch? The style judge and the speaker judge both need it, and a small VITS decoder
can render every voice on a buzz at its own frame rate (sample rate / hop length) instead.

`pitch` reads F0 with pYIN as the style judge does; `frame_rate_share` is the share of a clip's energy on the frame
rate's harmonics (a buzz); `rendition_pitch` renders training voices with their own rows and sums up how far their
pitch is from the real clips'. `coqui_meta_lab.base_training.pitch_check` records it while a base trains, and
``benchmarks/rendition_pitch.py`` prints it clip by clip.

Example::

    pitch(wav, 16000)                      # {"f0_hz": 196.3, "range_semitones": 5.7, "voiced": 0.61}
    rendition_pitch(model, samples)["summary"]["pitch_error_semitones"]
"""

from __future__ import annotations

from typing import Callable

import numpy as np

ON_PITCH_SEMITONES = 2.0  # a rendition within this of its voice's real F0 median counts as on pitch


F0_SEARCH_HZ = (60.0, 500.0)  # pYIN's search range for any voice


def voiced_f0(wav: np.ndarray, sample_rate: int, bounds: tuple[float, float] = F0_SEARCH_HZ) -> tuple[np.ndarray, int]:
    """pYIN with the settings both judges use: the F0 (Hz) of the voiced frames, and the number of frames. ``bounds``:
    the search range in Hz (narrower for a known voice, where an octave jump would otherwise be found)."""
    import librosa

    # pYIN at its own resolution: a coarser one (4x faster) found no voiced frame in some fast clips
    f0, voiced, _ = librosa.pyin(np.asarray(wav, dtype=np.float32), fmin=bounds[0], fmax=bounds[1], sr=sample_rate,
                                 frame_length=1024, hop_length=256)
    return f0[voiced & np.isfinite(f0)], len(f0)


def compile_pitch_tracker() -> None:
    """pYIN run once on half a second of a tone, so that librosa's numba functions are compiled and in numba's disk
    cache: call it before starting processes that judge in parallel. Two processes compiling them at once on a fresh
    environment write the cache at the same time, and one crashed in the compiled code that way."""
    rate = 16000
    voiced_f0(np.sin(2 * np.pi * 150 * np.arange(rate // 2) / rate).astype(np.float32), rate)


def pitch(wav: np.ndarray, sample_rate: int) -> dict[str, float]:
    """pYIN as the style judge runs it: F0 median (Hz), 10-90 % range (semitones), share of voiced frames."""
    kept, frames = voiced_f0(wav, sample_rate)
    if kept.size < 3:
        return {"f0_hz": float("nan"), "range_semitones": float("nan"), "voiced": float(kept.size / frames)}
    semitones = 12 * np.log2(kept / 100.0)
    return {"f0_hz": float(np.median(kept)), "voiced": float(kept.size / frames),
            "range_semitones": float(np.percentile(semitones, 90) - np.percentile(semitones, 10))}


def comb(frame_rate: float, sample_rate: int) -> list[float]:
    """The frame rate and its harmonics below the Nyquist frequency."""
    return [frame_rate * k for k in range(1, int((sample_rate / 2 - 50) // frame_rate) + 1)]


def frame_rate_share(wav: np.ndarray, frame_rate: float, sample_rate: int) -> float:
    """The share of the clip's spectral energy within 3 Hz of the frame rate's harmonics."""
    power = np.abs(np.fft.rfft(wav * np.hanning(len(wav)))) ** 2
    freqs = np.fft.rfftfreq(len(wav), 1 / sample_rate)
    near = np.zeros_like(freqs, dtype=bool)
    for frequency in comb(frame_rate, sample_rate):
        near |= np.abs(freqs - frequency) <= 3
    return float(power[near].sum() / power.sum())


def pitch_error(rendition: dict, real: dict) -> float:
    """Semitones between a rendition's F0 median and the real clip's; infinite when either has none."""
    if not (np.isfinite(rendition["f0_hz"]) and np.isfinite(real["f0_hz"])):
        return float("inf")
    return float(abs(12 * np.log2(rendition["f0_hz"] / real["f0_hz"])))


def rendition_pitch(model, samples: list[dict], voices: int = 6, clips: int = 2, seed: int = 0,
                    more: Callable[[str, np.ndarray, np.ndarray], dict] | None = None) -> dict:
    """``voices`` of the model's voices (drawn by ``seed``), ``clips`` of their clips each rendered with the voice's
    own row: per clip the real and rendered pitch and buzz (and ``more(voice, rendition, real clip)``), and a summary:
    the median pitch error (semitones), the share of renditions on pitch (within `ON_PITCH_SEMITONES`), their mean F0
    range and buzz share."""
    from coqui_meta.adapting.from_clips import support_batch
    from coqui_meta.algorithms.task import Task
    from coqui_meta.seeds import draw

    audio = model.config.audio
    rate, frame_rate = audio.sample_rate, audio.sample_rate / audio.hop_length
    known = set(model.speaker_manager.name_to_id)
    samples = [s for s in samples if s["speaker_name"] in known]
    names = sorted(draw(seed, "voices").sample(sorted({s["speaker_name"] for s in samples}), voices))
    rows, own_voices = {}, Task.known(model)
    for name in names:
        mine = sorted((s for s in samples if s["speaker_name"] == name), key=lambda s: s["audio_file"])
        for index, clip in enumerate(draw(seed, "clips", name).sample(mine, clips)):
            wav, _ = own_voices.render(support_batch(model, [clip]), 0, seed=index)
            real = model.ap.load_wav(clip["audio_file"])
            rows.setdefault(name, []).append({
                "audio_file": clip["audio_file"],
                "real": {**pitch(real, rate), "frame_rate_share": frame_rate_share(real, frame_rate, rate)},
                "rendition": {**pitch(wav, rate), "frame_rate_share": frame_rate_share(wav, frame_rate, rate)},
                **(more(name, wav, real) if more is not None else {})})
    every = [clip for clips_of in rows.values() for clip in clips_of]
    errors = [pitch_error(clip["rendition"], clip["real"]) for clip in every]
    ranges = [clip["rendition"]["range_semitones"] for clip in every]
    summary = {"pitch_error_semitones": float(np.median(errors)),
               "on_pitch": float(np.mean([error <= ON_PITCH_SEMITONES for error in errors])),
               "rendition_range_semitones": float(np.nanmean(ranges)) if np.isfinite(ranges).any() else 0.0,
               "buzz_share": float(np.mean([clip["rendition"]["frame_rate_share"] for clip in every]))}
    return {"frame_rate_hz": frame_rate, "voices": rows, "summary": summary}
