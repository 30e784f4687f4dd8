"""Every seed of a run, derived one way, in one place: from a base seed and the names of what it is for.

A draw's seed depends on its base seed and its keys alone (not on what was drawn before, the rank or the process), so
a task gives the same numbers in meta-training, meta-validation and `coqui-meta evaluate`, on any number of ranks,
and after a resume. Keys are short strings and integers. `TaskSeeds` holds one task's: a seed for each inner step,
the query loss and each rendition.

Example::

    seeds = TaskSeeds(training_task(meta.seed, meta_batch=12, position=3))
    with seeded(seeds.support(0)):        # VITS's segments, noise and dropout of the task's first inner step
        ...
    clips = draw(seed, "clips", speaker).sample(indices, 10)

(The corpora the project builds keep their own seeds: they are data, and the shipped base was trained on them.)
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from dataclasses import dataclass

import torch


def derive(seed: int, *keys: str | int) -> int:
    """The seed of what ``keys`` name, from ``seed``: the same in every process and Python version, and below 2**32
    (which torch, `random`, numpy and Coqui's Trainer all take)."""
    text = "/".join(str(part) for part in (int(seed), *keys))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def draw(seed: int, *keys: str | int) -> random.Random:
    """The generator of one named draw (speakers, clips, held-out tasks, episodes): ``derive(seed, *keys)``."""
    return random.Random(derive(seed, *keys))


def training_task(seed: int, meta_batch: int, position: int) -> int:
    """The seed of meta-training's task at ``position`` of meta-batch ``meta_batch`` (the position one process would
    give it: `coqui_meta.episodes.task_position`)."""
    return derive(seed, "training task", meta_batch, position)


def validation_task(seed: int, position: int) -> int:
    """The seed of meta-validation's task at ``position`` of its meta-batch. `coqui-meta evaluate` and `adapt` seed
    a voice with `TaskSeeds.of_voice`, as task 0: with ``--seed S`` a voice gets the draws of the first task of a
    meta-validation under ``meta.seed`` S, so the two measure the same thing."""
    return derive(seed, "validation task", position)


@dataclass(frozen=True)
class TaskSeeds:
    """The seeds of one task's random draws: one for each inner step, one for the query loss and one for each
    rendition. None: unseeded."""

    seed: int | None = None

    @classmethod
    def of_voice(cls, seed: int) -> TaskSeeds:
        """A voice adapted by `coqui-meta evaluate` or `adapt` with ``seed`` (see `validation_task`)."""
        return cls(validation_task(seed, 0))

    def support(self, step: int) -> int | None:
        return None if self.seed is None else derive(self.seed, "support", step)

    def query(self) -> int | None:
        return None if self.seed is None else derive(self.seed, "query")

    def render(self, index: int) -> int | None:
        return None if self.seed is None else derive(self.seed, "render", index)


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device | None = None):
    """Every torch random draw inside comes from ``seed`` (no change when None); the global state is kept."""
    if seed is None:
        yield
        return
    devices = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
