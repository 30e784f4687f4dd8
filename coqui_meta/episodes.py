"""Episodes: which clips form the tasks of an outer step, and how they become Coqui batches.

A *task* is one value of ``task_key`` (a speaker by default) with ``k_shot`` support and ``q_query`` query clips. An
*episode* is ``n_way`` tasks of different values. Episodes are drawn from a seeded generator, so the same seed gives the
same episodes; with ``num_replicas`` ranks, every rank draws the same episode and keeps its share of the tasks, so
distributed workers split one meta-batch between them.

Example::

    samples = load_tts_samples(dataset_config)[0]
    sampler = SpeakerEpisodeSampler(samples, n_way=4, k_shot=5, q_query=5, seed=0, episodes=10)
    for episode in sampler:
        for support, query in episode:   # lists of indices into `samples`
            ...
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from coqui_meta.seeds import draw

logger = logging.getLogger(__name__)

Task = tuple[list[int], list[int]]


class SpeakerEpisodeSampler:
    """Seeded, rank-aware episodes of ``n_way`` tasks drawn from Coqui samples.

    Args:
        samples: the list of dicts that Coqui's ``load_tts_samples`` returns (or a dataset's ``samples``).
        n_way, k_shot, q_query: tasks per episode, support clips and query clips per task.
        task_key: the sample field that defines a task.
        seed: seed of the episode stream.
        num_replicas, rank: distributed training; rank ``r`` keeps tasks ``r, r + R, ...`` of each episode.
        episodes: episodes per pass (``len(sampler)``).
        fixed: if True, every pass yields the same episodes (meta-validation); otherwise pass ``e`` uses
            ``(seed, e)``, so epochs differ but stay reproducible.
    """

    def __init__(
        self,
        samples: Sequence[dict[str, Any]],
        n_way: int,
        k_shot: int,
        q_query: int,
        task_key: str = "speaker_name",
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        episodes: int = 100,
        fixed: bool = False,
    ) -> None:
        for name, value in (("n_way", n_way), ("k_shot", k_shot), ("q_query", q_query), ("episodes", episodes)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas); got rank={rank}, num_replicas={num_replicas}")
        if n_way % num_replicas:
            raise ValueError(f"n_way ({n_way}) must be divisible by the number of ranks ({num_replicas})")
        self.n_way, self.k_shot, self.q_query = n_way, k_shot, q_query
        self.task_key, self.seed, self.episodes, self.fixed = task_key, seed, episodes, fixed
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch = 0

        by_task: dict[str, list[int]] = defaultdict(list)
        for index, sample in enumerate(samples):
            if task_key not in sample:
                raise KeyError(
                    f"task_key {task_key!r} is not a field of the samples (sample {index} has {sorted(sample)})"
                )
            by_task[str(sample[task_key])].append(index)
        needed = k_shot + q_query
        too_few = sorted(name for name, indices in by_task.items() if len(indices) < needed)
        if too_few:
            logger.warning(
                "Leaving out %d %s value(s) with fewer than k_shot + q_query = %d samples: %s",
                len(too_few),
                task_key,
                needed,
                ", ".join(f"{name} ({len(by_task[name])})" for name in too_few),
            )
        self.tasks = {name: indices for name, indices in sorted(by_task.items()) if len(indices) >= needed}
        if len(self.tasks) < n_way:
            raise ValueError(
                f"n_way = {n_way} but only {len(self.tasks)} {task_key} value(s) have at least "
                f"k_shot + q_query = {needed} samples; lower meta.n_way, meta.k_shot or meta.q_query, or add data"
            )
        self.task_names = list(self.tasks)

    def __len__(self) -> int:
        return self.episodes

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def episode_stream(self, epoch: int) -> Iterator[list[tuple[str, list[int], list[int]]]]:
        """All ``n_way`` tasks of each episode of a pass, as ``(task name, support, query)``, before rank sharding."""
        yield from self._draw(draw(self.seed, "epoch", 0 if self.fixed else epoch), self.episodes)

    def _draw(self, rng: random.Random, count: int) -> Iterator[list[tuple[str, list[int], list[int]]]]:
        for _ in range(count):
            names = rng.sample(self.task_names, self.n_way)
            episode = []
            for name in names:
                chosen = rng.sample(self.tasks[name], self.k_shot + self.q_query)
                episode.append((name, chosen[: self.k_shot], chosen[self.k_shot :]))
            yield episode

    def episodes_at(self, key: str, count: int) -> list[list[Task]]:
        """``count`` episodes (this rank's tasks of each) that depend only on ``(seed, key)``: the meta-batch of a
        given training step is the same whether or not the run was interrupted before it."""
        rng = draw(self.seed, key)
        return [[(s, q) for _, s, q in episode[self.rank :: self.num_replicas]] for episode in self._draw(rng, count)]

    def __iter__(self) -> Iterator[list[Task]]:
        epoch = self.epoch
        self.epoch += 1
        for episode in self.episode_stream(epoch):
            yield [(support, query) for _, support, query in episode[self.rank :: self.num_replicas]]


class MetaBatchSampler:
    """DataLoader batch sampler: one batch per outer step, ``tasks_per_step`` tasks.

    Each batch is the flat list ``support(task 0) + query(task 0) + support(task 1) + ...``; `EpisodeCollate` cuts it
    back into tasks, so the DataLoader's workers load the audio as they do for stock Coqui batches. Meta-batch ``t``
    of the run is drawn from ``(seed, t)`` alone, and a pass covers the meta-batches of one epoch, so a run resumed
    from a checkpoint at any step sees the batches an uninterrupted run would (see `set_position`). Meta-validation
    samplers (``fixed``) yield the same batches every pass.
    """

    def __init__(self, episodes: SpeakerEpisodeSampler, tasks_per_step: int, steps: int) -> None:
        self.episodes, self.tasks_per_step, self.steps = episodes, tasks_per_step, steps
        self.first_step, self.length = 0, steps
        per_episode = max(1, episodes.n_way // episodes.num_replicas)
        self.episodes_per_step = -(-tasks_per_step // per_episode)

    def set_position(self, step: int, epoch: int) -> None:
        """The next pass is epoch ``epoch`` from meta-batch ``step`` of the run: it yields the rest of that epoch."""
        self.first_step = step
        self.length = max(0, min(self.steps, (epoch + 1) * self.steps - step))

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[list[int]]:
        first, length = self.first_step, self.length
        self.first_step, self.length = first + length, self.steps
        for step in range(length) if self.episodes.fixed else range(first, first + length):
            key = f"eval{step}" if self.episodes.fixed else f"step{step}"
            tasks = [task for episode in self.episodes.episodes_at(key, self.episodes_per_step) for task in episode]
            yield [index for support, query in tasks[: self.tasks_per_step] for index in support + query]


def task_position(local: int, rank: int, replicas: int, n_way: int) -> int:
    """Where task ``local`` of ``rank``'s share stands in the meta-batch that one process would draw: the ranks split
    every episode's ``n_way`` tasks as ``r, r + R, ...`` (`SpeakerEpisodeSampler.episodes_at`).

    >>> [task_position(i, rank=1, replicas=2, n_way=4) for i in range(3)]
    [1, 3, 5]
    """
    episode, within = divmod(local, n_way // replicas)
    return episode * n_way + rank + within * replicas


class EpisodeCollate:
    """Cuts a flat list of dataset items into tasks and collates each half with the model's own ``collate_fn``.

    Every task is a new voice to the model (it starts from the mean speaker embedding), so a clip of a speaker the
    model has no embedding row for (an eval speaker) is labelled with a known speaker for Coqui's id lookup.
    """

    def __init__(self, collate_fn, k_shot: int, q_query: int, known_speakers: Sequence[str] = ()) -> None:
        self.collate_fn, self.k_shot, self.q_query = collate_fn, k_shot, q_query
        self.known_speakers = set(known_speakers)
        self.stand_in = next(iter(sorted(self.known_speakers)), None)

    def collate_task(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        if self.stand_in is not None:
            items = [
                item if item["speaker_name"] in self.known_speakers else {**item, "speaker_name": self.stand_in}
                for item in items
            ]
        return self.collate_fn(items)

    def __call__(self, items: list[Any]) -> dict[str, Any]:
        size = self.k_shot + self.q_query
        if len(items) % size:
            raise ValueError(f"an episode batch of {len(items)} items is not a multiple of k_shot + q_query = {size}")
        tasks = []
        for start in range(0, len(items), size):
            task = items[start : start + size]
            tasks.append((self.collate_task(task[: self.k_shot]), self.collate_task(task[self.k_shot :])))
        return {"tasks": tasks}


def tasks_with(samples: Sequence[dict[str, Any]], task_key: str, needed: int = 1) -> list[str]:
    """The task values (as strings, sorted) that have at least ``needed`` samples."""
    counts = Counter(str(sample[task_key]) for sample in samples)
    return sorted(value for value, count in counts.items() if count >= needed)


def held_out_tasks(samples: Sequence[dict[str, Any]], task_key: str, count: int, seed: int = 0,
                   needed: int = 1) -> list[str]:
    """The one rule of holding out whole tasks: ``count`` task values drawn by ``seed`` among those with ``needed``
    samples (``k_shot + q_query`` for tasks that meta-validation can form), sorted; an error when as many would
    leave none to train on."""
    values = tasks_with(samples, task_key, needed)
    if count >= len(values):
        enough = f" with {needed} samples each" if needed > 1 else ""
        raise ValueError(f"cannot hold out {count} {task_key} values for meta-validation: the data has "
                         f"{len(values)}{enough}")
    return sorted(draw(seed, "held-out tasks").sample(values, count))


def split_by_task(
    samples: Sequence[dict[str, Any]], task_key: str, eval_tasks: Sequence[str] = (), count: int = 1, seed: int = 0,
    needed: int = 1,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train and eval samples with no task value in common: ``eval_tasks`` if given, else ``count`` values by seed
    among those with ``needed`` samples (`held_out_tasks`)."""
    if eval_tasks:
        missing = sorted(set(eval_tasks) - {str(sample[task_key]) for sample in samples})
        if missing:
            raise ValueError(f"meta.eval_tasks: {', '.join(missing)} not found as {task_key} in the data")
        held = set(eval_tasks)
    else:
        held = set(held_out_tasks(samples, task_key, count, seed, needed))
    train = [s for s in samples if str(s[task_key]) not in held]
    evaluation = [s for s in samples if str(s[task_key]) in held]
    return train, evaluation
