"""Which voices can the speaker judge tell apart? Screening a corpus's voices on their real clips.

Every clip is embedded by the judge (Resemblyzer). For each pair of voices, the pair's EER is taken over its trials:
two clips of one voice (target) against one clip of each (impostor). A pair whose EER is above ``max_pair_eer`` is
one the judge confuses; voices are dropped greedily (the one in most confused pairs first, ties to the later voice)
until no confused pair is left. The EER over all kept voices' trials says how well the judge hears the corpus.

Example::

    result = screen_voices("runs/voices/screen", max_pair_eer=0.1)
    result["dropped"]          # {voice: the kept voice it is confused with}
    result["eer"], result["held_out_eer"]
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from coqui_meta.judging.speaker_judge import SpeakerJudge, equal_error_rate


def embed_corpus(folder, judge: SpeakerJudge | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """voice -> (clips, 256) unit-length judge embeddings of its clips in ``folder`` (a ``coqui``-format corpus)."""
    import soundfile
    from tqdm.auto import tqdm

    from coqui_meta.formats.clips import load_clips

    judge = judge or SpeakerJudge.load()
    if judge is None:
        raise RuntimeError(f"screening needs the speaker judge: {SpeakerJudge.unavailable}")
    by_voice: dict[str, list] = defaultdict(list)
    for sample in tqdm(load_clips(folder), desc="judge embeddings", unit="clip", disable=not progress):
        wav, rate = soundfile.read(sample["audio_file"], dtype="float32")
        by_voice[sample["speaker_name"]].append(judge.embed(wav, rate))
    return {name: np.stack(embeddings) for name, embeddings in by_voice.items()}


def _trials(embeddings: dict[str, np.ndarray], names: list[str]) -> tuple[list[float], list[bool]]:
    scores, targets = [], []
    for a, b in itertools.combinations_with_replacement(names, 2):
        sims = embeddings[a] @ embeddings[b].T
        values = sims[np.triu_indices(len(sims), k=1)] if a == b else sims.reshape(-1)
        scores.extend(values.tolist())
        targets.extend([a == b] * len(values))
    return scores, targets


def pair_eer(embeddings: dict[str, np.ndarray], a: str, b: str) -> float:
    within = [embeddings[n] @ embeddings[n].T for n in (a, b)]
    if min(len(w) for w in within) >= 2:  # every target above every impostor: EER 0, the usual case (hundreds of
        lowest = min(float(w[np.triu_indices(len(w), k=1)].min()) for w in within)  # voices make 1e5 pairs)
        if float((embeddings[a] @ embeddings[b].T).max()) < lowest:
            return 0.0
    scores, targets = _trials(embeddings, [a, b])
    return float(equal_error_rate(scores, targets))


def screen_voices(embeddings: dict[str, np.ndarray], order: list[str], held_out: list[str] | None = None,
                  max_pair_eer: float = 0.1, fixed: list[str] | tuple = ()) -> dict[str, Any]:
    """Drops voices (of ``order``, the candidates in their fixed order) until no pair's EER exceeds ``max_pair_eer``;
    the EER of what is kept, over all of it and over the ``held_out`` voices among it. Voices of ``fixed`` are never
    dropped (a corpus's voices, when variants are screened against them): a candidate confused with one goes, and
    two of them confused with each other stay."""
    names = [name for name in order if name in embeddings]
    fixed = set(fixed)
    confused = {(a, b): e for a, b in itertools.combinations(names, 2)
                if not (a in fixed and b in fixed) and (e := pair_eer(embeddings, a, b)) > max_pair_eer}
    kept, dropped, alive = list(names), {}, set(names)
    while True:
        live = [(a, b) for a, b in confused if a in alive and b in alive]
        if not live:
            break
        count = defaultdict(int)
        for a, b in live:
            count[a] += 1
            count[b] += 1
        worst = max((name for name in kept if name not in fixed), key=lambda name: (count[name], names.index(name)))
        dropped[worst] = max((b if a == worst else a for a, b in live if worst in (a, b)),
                             key=lambda other: confused.get((worst, other), confused.get((other, worst), 0)))
        kept.remove(worst)
        alive.discard(worst)
    eer, same, other = _corpus_eer(embeddings, kept)
    held = [name for name in (held_out or []) if name in kept]
    held_scores, held_targets = _trials(embeddings, held) if len(held) >= 2 else ([], [])
    centroids = {name: embeddings[name].mean(axis=0) / np.linalg.norm(embeddings[name].mean(axis=0))
                 for name in kept}
    closest = max(itertools.combinations(kept, 2), key=lambda p: float(centroids[p[0]] @ centroids[p[1]]),
                  default=None)
    return {"kept": kept, "dropped": dropped,
            "confused_pairs": {f"{a} / {b}": round(e, 3) for (a, b), e in sorted(confused.items())},
            "eer": eer, "same_voice_cosine": same, "other_voice_cosine": other,
            "closest_pair": None if closest is None else {  # the two kept voices whose mean clips are nearest
                "voices": list(closest), "centroid_cosine": float(centroids[closest[0]] @ centroids[closest[1]]),
                "mean_cosine": float((embeddings[closest[0]] @ embeddings[closest[1]].T).mean()),
                "pair_eer": pair_eer(embeddings, *closest)},
            "held_out_eer": equal_error_rate(held_scores, held_targets) if held_scores else None}


def _corpus_eer(embeddings: dict[str, np.ndarray], names: list[str], exact_trials: int = 4_000_000,
                bins: int = 400_000) -> tuple[float, float, float]:
    """EER and mean target / impostor cosine over every trial of ``names`` (`_trials`). Hundreds of voices make
    1e8 impostor trials, too many to hold: past ``exact_trials`` the scores are counted in ``bins`` bins over
    [-1, 1] instead (EER to within 1e-5 of the exact one)."""
    clips = sum(len(embeddings[name]) for name in names)
    if clips * clips // 2 <= exact_trials:
        scores, targets = _trials(embeddings, names)
        same = [s for s, t in zip(scores, targets) if t]
        other = [s for s, t in zip(scores, targets) if not t]
        return equal_error_rate(scores, targets), float(np.mean(same)), float(np.mean(other))
    counts = {True: np.zeros(bins, np.int64), False: np.zeros(bins, np.int64)}
    sums = {True: 0.0, False: 0.0}
    for position, a in enumerate(names):
        sims = embeddings[a] @ embeddings[a].T
        blocks = [(True, sims[np.triu_indices(len(sims), k=1)])]
        if position + 1 < len(names):
            rest = np.concatenate([embeddings[b] for b in names[position + 1:]])
            blocks.append((False, (embeddings[a] @ rest.T).reshape(-1)))
        for target, values in blocks:
            index = np.clip(((values + 1) / 2 * bins).astype(np.int64), 0, bins - 1)
            counts[target] += np.bincount(index, minlength=bins)
            sums[target] += float(values.sum())
    centres = (np.arange(bins) + 0.5) / bins * 2 - 1
    present = (counts[True] + counts[False]) > 0
    scores = np.repeat(centres[present], 2)
    weights = np.stack([counts[True][present], counts[False][present]], axis=1).reshape(-1)
    eer = _weighted_eer(scores, np.tile([True, False], int(present.sum())), weights)
    return eer, float(sums[True] / counts[True].sum()), float(sums[False] / counts[False].sum())


def _weighted_eer(scores: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> float:
    """`equal_error_rate` of ``scores`` each counted ``weights`` times (scores sorted, as the bins give them)."""
    n_target, n_impostor = weights[targets].sum(), weights[~targets].sum()
    thresholds = np.unique(scores)
    below_impostor = np.concatenate([[0], np.cumsum(np.where(~targets, weights, 0))])
    below_target = np.concatenate([[0], np.cumsum(np.where(targets, weights, 0))])
    first = np.searchsorted(scores, thresholds, side="left")
    far = np.concatenate([[1.0], 1.0 - below_impostor[first] / n_impostor, [0.0]])
    frr = np.concatenate([[0.0], below_target[first] / n_target, [1.0]])
    diff = far - frr
    crossing = int(np.argmax(diff <= 0))
    if diff[crossing] == 0 or crossing == 0:
        return float(far[crossing])
    weight = diff[crossing - 1] / (diff[crossing - 1] - diff[crossing])
    return float(far[crossing - 1] + weight * (far[crossing] - far[crossing - 1]))


def write_embeddings(embeddings: dict[str, np.ndarray], path) -> None:
    np.savez(Path(path), **embeddings)


def read_embeddings(path) -> dict[str, np.ndarray]:
    with np.load(Path(path)) as data:
        return {name: data[name] for name in data.files}
