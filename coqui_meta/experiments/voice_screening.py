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

from coqui_meta.voices.judge import SpeakerJudge, equal_error_rate


def embed_corpus(folder, judge: SpeakerJudge | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """voice -> (clips, 256) unit-length judge embeddings of its clips in ``folder`` (a ``coqui``-format corpus)."""
    import soundfile
    from tqdm.auto import tqdm

    from coqui_meta.voices.data import load_clips

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
    scores, targets = _trials(embeddings, [a, b])
    return float(equal_error_rate(scores, targets))


def screen_voices(embeddings: dict[str, np.ndarray], order: list[str], held_out: list[str] | None = None,
                  max_pair_eer: float = 0.1) -> dict[str, Any]:
    """Drops voices (of ``order``, the candidates in their fixed order) until no pair's EER exceeds ``max_pair_eer``;
    the EER of what is kept, over all of it and over the ``held_out`` voices among it."""
    names = [name for name in order if name in embeddings]
    confused = {(a, b): e for a, b in itertools.combinations(names, 2)
                if (e := pair_eer(embeddings, a, b)) > max_pair_eer}
    kept, dropped = list(names), {}
    while True:
        live = [(a, b) for a, b in confused if a in kept and b in kept]
        if not live:
            break
        count = defaultdict(int)
        for a, b in live:
            count[a] += 1
            count[b] += 1
        worst = max(kept, key=lambda name: (count[name], names.index(name)))
        dropped[worst] = max((b if a == worst else a for a, b in live if worst in (a, b)),
                             key=lambda other: confused.get((worst, other), confused.get((other, worst), 0)))
        kept.remove(worst)
    scores, targets = _trials(embeddings, kept)
    held = [name for name in (held_out or []) if name in kept]
    held_scores, held_targets = _trials(embeddings, held) if len(held) >= 2 else ([], [])
    same = [s for s, t in zip(scores, targets) if t]
    other = [s for s, t in zip(scores, targets) if not t]
    return {"kept": kept, "dropped": dropped,
            "confused_pairs": {f"{a} / {b}": round(e, 3) for (a, b), e in sorted(confused.items())},
            "eer": equal_error_rate(scores, targets), "same_voice_cosine": float(np.mean(same)),
            "other_voice_cosine": float(np.mean(other)),
            "held_out_eer": equal_error_rate(held_scores, held_targets) if held_scores else None}


def write_embeddings(embeddings: dict[str, np.ndarray], path) -> None:
    np.savez(Path(path), **embeddings)


def read_embeddings(path) -> dict[str, np.ndarray]:
    with np.load(Path(path)) as data:
        return {name: data[name] for name in data.files}
