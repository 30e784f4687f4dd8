"""Meta-learning algorithms, one a file: MAML (first and second order), Reptile, and the prototype start that
Prototypical networks and Proto-MAML share. Which name runs which class, and what each supports, is
`coqui_meta.algorithm_table.ALGORITHMS`, the one table."""

import importlib

from coqui_meta.algorithm_table import ALGORITHMS
from coqui_meta.algorithms.base import GradientMetaAlgorithm, TaskResult
from coqui_meta.algorithms.maml import MAML
from coqui_meta.algorithms.protonet import PrototypeStart
from coqui_meta.algorithms.reptile import Reptile
from coqui_meta.algorithms.task import Task


def build_algorithm(model, meta) -> GradientMetaAlgorithm:
    """The algorithm named by ``meta.algorithm`` for ``model`` (a MetaVits or MetaTacotron2)."""
    if meta.algorithm not in ALGORITHMS:
        raise ValueError(f"meta.algorithm: unknown algorithm {meta.algorithm!r}; use one of {', '.join(ALGORITHMS)}")
    module, name = ALGORITHMS[meta.algorithm].implementation.split(":")
    return getattr(importlib.import_module(f"coqui_meta.algorithms.{module}"), name)(model, meta)


__all__ = ["MAML", "GradientMetaAlgorithm", "PrototypeStart", "Reptile", "Task", "TaskResult", "build_algorithm"]
