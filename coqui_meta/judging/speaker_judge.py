"""An independent judge of voices: Resemblyzer speaker embeddings, cosine similarity, equal error rate, and MCD.

Resemblyzer's encoder (a GE2E d-vector LSTM trained on thousands of speakers) ships its weights inside its wheel,
so it works offline. It is an optional extra; `SpeakerJudge.load()` returns None, with the reason in
`SpeakerJudge.unavailable`, when it is not installed.

Example::

    judge = SpeakerJudge.load()
    a, b = judge.embed(wav_a, 22050), judge.embed(wav_b, 16000)
    float(a @ b)                                   # cosine similarity (embeddings are unit length)
    equal_error_rate([0.9, 0.8, 0.3], [True, True, False])
"""

from __future__ import annotations

import math
from typing import ClassVar, Sequence

import numpy as np

JUDGE_SAMPLE_RATE = 16000


class SpeakerJudge:
    """Resemblyzer's voice encoder on the CPU (or a given device)."""

    unavailable: ClassVar[str] = ""

    def __init__(self, encoder) -> None:
        self.encoder = encoder

    @classmethod
    def load(cls, device: str = "cpu") -> SpeakerJudge | None:
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as error:
            cls.unavailable = (
                f"resemblyzer is not installed ({error}); scripts/setup.sh installs it "
                "(pip install webrtcvad-wheels 'setuptools<81' && pip install --no-deps resemblyzer==0.1.4)"
            )
            return None
        return cls(VoiceEncoder(device, verbose=False))

    def embed(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Unit-length 256-d embedding of a mono waveform at any sample rate."""
        import librosa
        from resemblyzer.audio import normalize_volume, trim_long_silences

        wav = np.asarray(wav, dtype=np.float32).reshape(-1)
        if not np.isfinite(wav).all():
            wav = np.nan_to_num(wav)
        if sample_rate != JUDGE_SAMPLE_RATE:
            wav = librosa.resample(wav, orig_sr=sample_rate, target_sr=JUDGE_SAMPLE_RATE)
        wav = normalize_volume(wav, -30, increase_only=True)
        trimmed = trim_long_silences(wav)
        # a model early in training may say almost nothing: judge what it said rather than an empty clip
        if len(trimmed) >= 0.3 * JUDGE_SAMPLE_RATE:
            wav = trimmed
        if len(wav) < 0.3 * JUDGE_SAMPLE_RATE:
            wav = np.pad(wav, (0, int(0.3 * JUDGE_SAMPLE_RATE) - len(wav)))
        return self.encoder.embed_utterance(wav)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def equal_error_rate(scores: Sequence[float], is_target: Sequence[bool]) -> float | None:
    """The rate at which false acceptances equal false rejections, sweeping the threshold over the scores
    (linear interpolation between the two closest operating points). None without both kinds of trials."""
    scores = np.asarray(scores, dtype=np.float64)
    target = np.asarray(is_target, dtype=bool)
    n_target, n_impostor = int(target.sum()), int((~target).sum())
    if n_target == 0 or n_impostor == 0:
        return None
    # accept when score >= threshold; thresholds at -inf, each distinct score, +inf (sorted: one pass, no N^2)
    thresholds = np.unique(scores)
    order = np.sort(scores[~target]), np.sort(scores[target])
    below_impostor = np.searchsorted(order[0], thresholds, side="left")  # impostors scoring < threshold
    below_target = np.searchsorted(order[1], thresholds, side="left")
    far = np.concatenate([[1.0], 1.0 - below_impostor / n_impostor, [0.0]])
    frr = np.concatenate([[0.0], below_target / n_target, [1.0]])
    diff = far - frr  # decreasing from 1 to -1
    crossing = int(np.argmax(diff <= 0))
    if diff[crossing] == 0 or crossing == 0:
        return float(far[crossing])
    before, after = crossing - 1, crossing
    weight = diff[before] / (diff[before] - diff[after])
    return float(far[before] + weight * (far[after] - far[before]))


def mel_cepstral_distortion(reference: np.ndarray, synthesized: np.ndarray, sample_rate: int, order: int = 24) -> float:
    """MCD in dB between two waveforms, frames aligned by DTW, c0 (energy) left out."""
    import librosa
    from scipy.fft import dct

    def cepstra(wav):
        # the real cepstrum of a mel-warped log-amplitude spectrum (DCT-II / 2M), as mel-cepstral analysis scales it
        power = librosa.feature.melspectrogram(
            y=np.asarray(wav, dtype=np.float32).reshape(-1), sr=sample_rate, n_fft=1024, hop_length=256, n_mels=40
        )
        log_amplitude = 0.5 * np.log(np.maximum(power, 1e-10))
        return dct(log_amplitude, type=2, axis=0, norm=None)[1 : order + 1] / (2 * log_amplitude.shape[0])

    ref, syn = cepstra(reference), cepstra(synthesized)
    _, path = librosa.sequence.dtw(X=ref, Y=syn, metric="euclidean")
    diff = ref[:, path[:, 0]] - syn[:, path[:, 1]]
    return float(10.0 / math.log(10.0) * math.sqrt(2.0) * np.mean(np.sqrt((diff**2).sum(axis=0))))
