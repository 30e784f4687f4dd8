"""Meta-learning algorithms, one a file: MAML (first and second order), Reptile, and the prototype start that
Prototypical networks and Proto-MAML share; and `ALGORITHMS`, the one table of which name runs which class and what
each supports. The config's checks (`coqui_meta.config.MetaLearningConfig`) and the algorithm a model builds
(`build_algorithm`) read it: adding an algorithm is a class here and a row in the table.

    ALGORITHMS["proto_maml"].second_order   # True (unless meta.first_order)
    ALGORITHMS["reptile"].algorithm         # the class: Reptile
"""

from __future__ import annotations

from dataclasses import dataclass

from coqui_meta.algorithms.base import GradientMetaAlgorithm, TaskResult
from coqui_meta.algorithms.maml import MAML
from coqui_meta.algorithms.protonet import PrototypeStart
from coqui_meta.algorithms.reptile import Reptile
from coqui_meta.algorithms.task import Task
from coqui_meta.config_rules import BACKENDS


@dataclass(frozen=True)
class Algorithm:
    """One row of `ALGORITHMS`: an algorithm's class and what it supports."""

    algorithm: type[GradientMetaAlgorithm]  # built with (model, meta) by `build_algorithm`
    second_order: bool  # differentiates through its inner steps (unless ``meta.first_order``)
    learned_rates: bool  # ``meta.inner_lr_mode`` other than fixed, and ``meta.multi_step_loss``
    prototypes: bool  # a task starts from the prototype of its support clips (a d-vector model's input)
    backends: tuple[str, ...] = BACKENDS  # learn2learn adapts parameters only, not a task's inputs


#: ``meta.algorithm`` -> what it is and supports; the config checks and the algorithm built for a model read it.
ALGORITHMS = {
    "maml": Algorithm(MAML, second_order=True, learned_rates=True, prototypes=False),
    "fomaml": Algorithm(MAML, second_order=False, learned_rates=True, prototypes=False),
    "reptile": Algorithm(Reptile, second_order=False, learned_rates=False, prototypes=False),
    "protonet": Algorithm(PrototypeStart, second_order=False, learned_rates=False, prototypes=True,
                          backends=("torch",)),
    "proto_maml": Algorithm(PrototypeStart, second_order=True, learned_rates=True, prototypes=True,
                            backends=("torch",)),
}


def build_algorithm(model, meta) -> GradientMetaAlgorithm:
    """The algorithm named by ``meta.algorithm`` for ``model`` (a MetaVits or MetaTacotron2)."""
    if meta.algorithm not in ALGORITHMS:
        raise ValueError(f"meta.algorithm: unknown algorithm {meta.algorithm!r}; use one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[meta.algorithm].algorithm(model, meta)


__all__ = ["ALGORITHMS", "MAML", "Algorithm", "GradientMetaAlgorithm", "PrototypeStart", "Reptile", "Task",
           "TaskResult", "build_algorithm"]
