"""What `evaluate` hears: the judges of an evaluation and every rendition they judged, step by step. The speaker
judge's embeddings give the speaker EER over target and impostor trials; for a style task the style judge's prosody
features give the style distance and the style EER (`coqui_meta.judging.style_judge`)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from coqui_meta.judging.speaker_judge import cosine, equal_error_rate


class Judgement:
    """The judges' side of an evaluation: renditions of every step, and the real clips they are judged by."""

    def __init__(self, judge, mcd: bool, style=None) -> None:
        self.judge, self.mcd, self.style = judge, mcd, style  # style: a StyleJudge, for style tasks
        self.renditions: dict[int, list[tuple[str, np.ndarray]]] = defaultdict(list)  # step -> (speaker, embedding)
        self.references: list[tuple[str, np.ndarray]] = []
        # step -> (voice, intended style, prosody features) of each rendition the style judge could measure
        self.style_renditions: dict[int, list[tuple[str, str, np.ndarray]]] = defaultdict(list)
        self.style_heard: dict[int, int] = defaultdict(int)  # step -> renditions given to the style judge

    @property
    def active(self) -> bool:
        return self.judge is not None or self.mcd or self.style is not None

    def style_distance(self, step: int, sample: dict, style: str, wav: np.ndarray, rate: int) -> float | None:
        """The style distance of one rendition of ``sample``'s text meant in ``style`` (None: no voiced frame)."""
        self.style_heard[step] += 1
        try:
            features = self.style.features(sample["speaker_name"], wav, rate, sample["text"])
        except ValueError:
            return None
        self.style_renditions[step].append((sample["speaker_name"], style, features))
        return self.style.distance(sample["speaker_name"], features, style)

    def style_eer(self, steps: list[int]) -> dict[int, float | None]:
        return {step: self.style.eer(self.style_renditions[step]) if self.style_renditions[step] else None
                for step in steps}

    def style_judged(self, steps: list[int]) -> dict[int, float | None]:
        """The share of each step's renditions the style judge could measure (the rest have no voiced frame within
        their voice's pitch)."""
        return {step: len(self.style_renditions[step]) / self.style_heard[step] if self.style_heard[step] else None
                for step in steps}

    def style_feature_gaps(self, steps: list[int]) -> dict[int, dict[str, float] | None]:
        """How far the renditions are from their target style in each prosody feature (mean absolute gap, in
        within-style spreads): which part of a style a model gets, and which the judge cannot hear."""
        from coqui_meta.judging.style_judge import FEATURES

        gaps = {}
        for step in steps:
            rows = [np.abs(self.style.gap(voice, features, style)) for voice, style, features in
                    self.style_renditions[step]]
            gaps[step] = dict(zip(FEATURES, np.mean(rows, axis=0).round(4).tolist())) if rows else None
        return gaps

    def embed(self, wav: np.ndarray, rate: int) -> np.ndarray:
        return self.judge.embed(wav, rate)

    def eer(self, steps: list[int]) -> dict[int, float | None]:
        if self.judge is None:
            return {step: None for step in steps}
        eers = {}
        for step in steps:
            trials = [(cosine(emb, ref), spk == ref_spk) for spk, emb in self.renditions[step]
                      for ref_spk, ref in self.references]
            eers[step] = equal_error_rate([s for s, _ in trials], [t for _, t in trials])
        return eers


def style_judge(samples: list[dict], model):
    """The style judge of a style task, fitted on the corpus's real clips (`fit_on_samples`)."""
    from coqui_meta.judging.style_judge import fit_on_samples

    return fit_on_samples(samples, model.config.audio.sample_rate)
