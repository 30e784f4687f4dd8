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

from collections import defaultdict
from typing import Any

import numpy as np

from coqui_meta.algorithms.task import Task
from coqui_meta.judging.speaker_judge import SpeakerJudge, cosine, equal_error_rate
from coqui_meta.seeds import TaskSeeds, derive, draw


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
    chosen = sorted(draw(seed, "speakers").sample(eligible, min(speakers, len(eligible))))
    known_voices = Task.known(model)
    collate = model.meta_episode_collate(dataset, clips, clips)
    renditions, references = [], []
    for name in chosen:
        indices = draw(seed, "clips", name).sample(by_speaker[name], 2 * clips)
        rendered, _ = collate([dataset[i] for i in indices])["tasks"][0]
        batch = model.meta_prepare(rendered)
        for index in range(clips):
            wav, rate = known_voices.render(batch, index, seed=derive(seed, "render", name, index))
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


def own_row_ceiling(loaded, data: str, names: list[str], shots: int, queries: int, seed: int = 0,
                    judge: SpeakerJudge | None = None) -> dict[str, Any]:
    """How like its speaker a voice the model knows can sound: each of ``names`` (speakers of the model's table)
    rendered with its own trained row, on the query clips `coqui-meta evaluate` draws for it with ``seed``, judged as
    evaluate judges (cosine to the real query clip; EER against the support clips of every speaker). The ceiling of
    an adaptation that starts from the mean voice and learns the row back."""
    from coqui_meta.judging.evaluation import SpeakerClips, corpus_of, draw_clips
    from coqui_meta.judging.judgement import Judgement

    model = loaded.model
    judge = judge or SpeakerJudge.load(str(next(model.parameters()).device))
    if judge is None:
        raise RuntimeError(f"the ceiling needs the speaker judge: {SpeakerJudge.unavailable}")
    dataset, by_speaker, known = corpus_of(loaded, data, "speaker_name")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not in the model's speaker table, so it has no own row to render")
    judgement, similarity = Judgement(judge, False), {}
    own_rows = Task.known(model, TaskSeeds.of_voice(seed))
    for name in names:
        clips = SpeakerClips(model, dataset, draw_clips(by_speaker[name], name, shots + queries, seed), shots)
        judgement.references += [(name, judge.embed(model.ap.load_wav(p), model.ap.sample_rate))
                                 for p in clips.support_files]
        values = []
        for index, path in enumerate(clips.query_files):
            wav, rate = own_rows.render(clips.query, index)
            embedding = judge.embed(wav, rate)
            judgement.renditions[0].append((name, embedding))
            values.append(cosine(embedding, judge.embed(model.ap.load_wav(path), model.ap.sample_rate)))
        similarity[name] = float(np.mean(values))
    return {"speaker_similarity": float(np.mean(list(similarity.values()))), "eer": judgement.eer([0])[0],
            "per_speaker": similarity}
