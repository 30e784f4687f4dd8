"""The style judge: is a rendition spoken in the style it should be? A speaker encoder cannot say (a style keeps the
voice), so the judge measures prosody: F0 level and range over voiced frames, speaking rate and loudness range.

Each clip becomes `FEATURES`: the median F0 and its 10th-90th percentile range (semitones, pYIN on voiced frames),
syllables per second (vowel groups of the text over the trimmed duration) and the loudness range (10th-90th
percentile of frame RMS in dB, within 40 dB of the loudest frame). A voice's features are taken relative to its own
clips in a reference style (``neutral``), so a style is a change of prosody, whoever speaks. The style distance is the
Euclidean distance between a clip's relative features and a style's centroid, each feature in units of its pooled
within-style spread; the style EER is the equal error rate over target trials (distance to the clip's own style) and
impostor trials (distance to every other style), as the speaker EER is over voices. A rendition's F0 is searched within
its voice's own pitch (`StyleJudge.f0_bounds`): pYIN over any voice's range hears a low voice through Griffin-Lim at a
harmonic, two octaves and more above it.

Example::

    judge = StyleJudge.fit(real)                     # real: [(voice, style, features)] of real clips
    features = judge.features(voice, wav, 22050, text)  # a rendition of ``voice``
    judge.distance(voice, features, "slow")          # lower is closer
    judge.eer([(voice, "slow", features), ...])      # renditions meant to be in those styles
    judge.calibration()                              # the EER on the real clips themselves, each left out in turn
    judge = fit_on_samples(samples, 16000)            # from a corpus's Coqui samples (emotion_name: the style)
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from coqui_meta.judging.pitch import F0_SEARCH_HZ, voiced_f0
from coqui_meta.judging.speaker_judge import equal_error_rate

FEATURES = ("f0_median_semitones", "f0_range_semitones", "syllables_per_second", "loudness_range_db")
REFERENCE_STYLE = "neutral"
# a rendition's F0 is searched within its voice's real pitch (every style's 10-90 % span) widened by this: pYIN on
# Griffin-Lim audio of a low voice can lock onto a harmonic two octaves up, which is no pitch the voice ever has
F0_MARGIN_SEMITONES = 3.0


def syllables(text: str) -> int:
    """Vowel groups of each word less a silent final ``e`` (not ``-le``, ``-ee``), at least one a word: a syllable
    count good enough for a speaking rate."""
    count = 0
    for word in re.findall(r"[a-z']+", text.lower()):
        groups = len(re.findall(r"[aeiouy]+", word))
        if word.endswith("e") and not word.endswith(("le", "ee")) and groups > 1:
            groups -= 1
        count += max(1, groups)
    return count


def prosody_features(wav: np.ndarray, sample_rate: int, text: str,
                     f0_bounds: tuple[float, float] = F0_SEARCH_HZ) -> np.ndarray:
    """`FEATURES` of one clip (``wav`` mono float; F0 searched within ``f0_bounds`` Hz). A clip without voiced frames
    has no F0: a ValueError."""
    import librosa

    wav, _ = librosa.effects.trim(np.asarray(wav, dtype=np.float32), top_db=40)
    f0, _ = voiced_f0(wav, sample_rate, f0_bounds)
    if f0.size < 3:
        raise ValueError("no voiced frames: the clip has no pitch to judge")
    semitones = 12 * np.log2(f0 / 100.0)
    rms = librosa.feature.rms(y=wav, frame_length=1024, hop_length=256)[0]
    decibels = 20 * np.log10(rms + 1e-6)
    decibels = decibels[decibels > decibels.max() - 40]
    seconds = max(len(wav) / sample_rate, 1e-3)
    return np.array([np.median(semitones), np.percentile(semitones, 90) - np.percentile(semitones, 10),
                     syllables(text) / seconds, np.percentile(decibels, 90) - np.percentile(decibels, 10)])


def clip_features(path: str, text: str, sample_rate: int = 16000) -> np.ndarray:
    import librosa

    wav, _ = librosa.load(path, sr=sample_rate)
    return prosody_features(wav, sample_rate, text)


@dataclass
class StyleJudge:
    """Style centroids and feature scales fitted on real clips (see the module's docstring)."""

    references: dict[str, np.ndarray]  # voice -> mean features of its reference-style clips
    centroids: dict[str, np.ndarray]  # style -> mean relative features
    scale: np.ndarray  # pooled within-style standard deviation of each relative feature
    real: list[tuple[str, str, np.ndarray]]

    @classmethod
    def fit(cls, real: list[tuple[str, str, np.ndarray]], reference_style: str = REFERENCE_STYLE) -> StyleJudge:
        """From ``real`` (voice, style, features) triples; every voice needs clips in ``reference_style``."""
        by_voice = defaultdict(list)
        for voice, style, features in real:
            if style == reference_style:
                by_voice[voice].append(features)
        missing = sorted({voice for voice, _, _ in real} - set(by_voice))
        if missing:
            raise ValueError(f"the style judge needs each voice's {reference_style!r} clips; none for "
                             f"{', '.join(missing)}")
        references = {voice: np.mean(rows, axis=0) for voice, rows in by_voice.items()}
        relative = defaultdict(list)
        for voice, style, features in real:
            relative[style].append(features - references[voice])
        centroids = {style: np.mean(rows, axis=0) for style, rows in relative.items()}
        spread = np.concatenate([np.asarray(rows) - centroids[style] for style, rows in relative.items()])
        scale = np.maximum(spread.std(axis=0), 1e-6)
        return cls(references, centroids, scale, list(real))

    def f0_bounds(self, voice: str) -> tuple[float, float]:
        """The F0 search range (Hz) for a rendition of ``voice``: the span of its real clips' pitch in every style (each
        clip's median -/+ its 10-90 % range), widened by `F0_MARGIN_SEMITONES`, within `F0_SEARCH_HZ`."""
        own = np.array([features[:2] for name, _, features in self.real if name == voice])
        if not own.size:
            raise KeyError(f"the style judge has no real clips of the voice {voice!r}")
        low = (own[:, 0] - own[:, 1]).min() - F0_MARGIN_SEMITONES
        high = (own[:, 0] + own[:, 1]).max() + F0_MARGIN_SEMITONES
        hertz = 100.0 * 2.0 ** (np.array([low, high]) / 12)
        return float(max(hertz[0], F0_SEARCH_HZ[0])), float(min(hertz[1], F0_SEARCH_HZ[1]))

    def features(self, voice: str, wav: np.ndarray, sample_rate: int, text: str) -> np.ndarray:
        """`FEATURES` of a rendition of ``voice`` (``text`` spoken), its F0 searched within `f0_bounds`."""
        return prosody_features(wav, sample_rate, text, self.f0_bounds(voice))

    def distance(self, voice: str, features: np.ndarray, style: str) -> float:
        """How far a clip of ``voice`` is from ``style`` (in within-style spreads)."""
        if voice not in self.references:
            raise KeyError(f"the style judge has no reference clips of the voice {voice!r}")
        if style not in self.centroids:
            raise KeyError(f"the style judge has no real clips of the style {style!r}")
        return float(np.linalg.norm(self.gap(voice, features, style)))

    def gap(self, voice: str, features: np.ndarray, style: str) -> np.ndarray:
        """Each feature's signed gap from ``style``'s centroid (in within-style spreads): ``distance`` is its norm."""
        relative = features - self.references[voice]
        return (relative - self.centroids[style]) / self.scale

    def eer(self, clips: list[tuple[str, str, np.ndarray]]) -> float | None:
        """The style EER of ``clips`` (voice, intended style, features) against every style the judge knows."""
        scores, is_target = [], []
        for voice, style, features in clips:
            for candidate in self.centroids:
                scores.append(-self.distance(voice, features, candidate))
                is_target.append(candidate == style)
        return equal_error_rate(scores, is_target)

    def calibration(self) -> float | None:
        """The style EER of the real clips, each judged by a judge fitted without it."""
        scores, is_target = [], []
        for index, (voice, style, features) in enumerate(self.real):
            judge = StyleJudge.fit(self.real[:index] + self.real[index + 1:])
            for candidate in judge.centroids:
                scores.append(-judge.distance(voice, features, candidate))
                is_target.append(candidate == style)
        return equal_error_rate(scores, is_target)


def fit_on_samples(samples: list[dict], sample_rate: int, per_pair: int = 4, progress: bool = False) -> StyleJudge:
    """A judge fitted on up to ``per_pair`` real clips (the first by file name) of each voice in each style of
    ``samples`` (Coqui samples: ``speaker_name``, ``emotion_name``, ``text``, ``audio_file``)."""
    from tqdm.auto import tqdm

    by_pair = defaultdict(list)
    for sample in sorted(samples, key=lambda s: s["audio_file"]):
        by_pair[(sample["speaker_name"], sample["emotion_name"])].append(sample)
    chosen = [sample for pair in sorted(by_pair) for sample in by_pair[pair][:per_pair]]
    real = []
    for sample in tqdm(chosen, desc="style judge", unit="clip", disable=not progress):
        try:
            features = clip_features(sample["audio_file"], sample["text"], sample_rate)
        except ValueError as error:
            raise ValueError(f"{sample['audio_file']}: {error}") from None
        real.append((sample["speaker_name"], sample["emotion_name"], features))
    return StyleJudge.fit(real)
