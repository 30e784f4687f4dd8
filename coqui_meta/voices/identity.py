"""Is a model speaker-specific on the voices it trained on? The speaker judge on its renditions of seen speakers.

A model that does not render its own training speakers recognisably cannot be expected to render a new speaker after a
few steps, so the study measures this first. For each of ``speakers`` training speakers, ``clips`` of their clips
are rendered from their text with the speaker's own row of the speaker table (no adaptation), and ``clips`` other clips
of theirs are the real references. Every rendition is a trial against every reference: a target trial for its own
speaker, an impostor trial for the others; the equal error rate over these trials is ``seen_speaker_eer``.

Example::

    result = seen_speaker_eer(model, train_samples, speakers=12, clips=3)
    result["eer"], result["same_speaker_cosine"], result["other_speaker_cosine"]
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import numpy as np

from coqui_meta.voices.adaptation import render
from coqui_meta.voices.judge import SpeakerJudge, cosine, equal_error_rate


def seen_speaker_eer(model, samples: list[dict], speakers: int = 12, clips: int = 3, seed: int = 0,
                     judge: SpeakerJudge | None = None) -> dict[str, Any]:
    """The judge's EER of ``model``'s renditions of its training speakers against their real clips.

    ``samples`` are Coqui samples of speakers in the model's speaker table; speakers with ``2 * clips`` clips (after
    the model's own length filters) are eligible and ``speakers`` of them are drawn by ``seed``.
    """
    judge = judge or SpeakerJudge.load(str(next(model.parameters()).device))
    if judge is None:
        raise RuntimeError(f"seen_speaker_eer needs the speaker judge: {SpeakerJudge.unavailable}")
    known = set(model.speaker_manager.name_to_id) if model.speaker_manager is not None else set()
    dataset = model.meta_stock_dataset([s for s in samples if s["speaker_name"] in known])
    by_speaker: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(dataset.samples):
        by_speaker[sample["speaker_name"]].append(index)
    eligible = sorted(name for name, indices in by_speaker.items() if len(indices) >= 2 * clips)
    if len(eligible) < 2:
        raise ValueError(
            f"seen_speaker_eer needs 2 speakers of the model with {2 * clips} clips; the data has {len(eligible)}"
        )
    chosen = sorted(random.Random(seed).sample(eligible, min(speakers, len(eligible))))
    collate = model.meta_episode_collate(dataset, clips, clips)
    renditions, references = [], []
    for name in chosen:
        indices = random.Random(f"{seed}/{name}").sample(by_speaker[name], 2 * clips)
        rendered, _ = collate([dataset[i] for i in indices])["tasks"][0]
        batch = model.meta_prepare(rendered)
        for index in range(clips):
            wav, rate = render(model, batch, index, seed=seed + index)
            renditions.append((name, judge.embed(wav, rate)))
        for i in indices[clips:]:
            references.append(
                (name, judge.embed(model.ap.load_wav(dataset.samples[i]["audio_file"]), model.ap.sample_rate))
            )
    trials = [(cosine(emb, ref), spk == ref_spk) for spk, emb in renditions for ref_spk, ref in references]
    same = [score for score, target in trials if target]
    other = [score for score, target in trials if not target]
    return {
        "eer": equal_error_rate([s for s, _ in trials], [t for _, t in trials]),
        "same_speaker_cosine": float(np.mean(same)),
        "other_speaker_cosine": float(np.mean(other)),
        "speakers": chosen,
        "clips": clips,
    }
