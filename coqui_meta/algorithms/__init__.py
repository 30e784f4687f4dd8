"""Meta-learning algorithms, one a file: MAML (first and second order), Reptile, and the prototype start that
Prototypical networks and Proto-MAML share. `ALGORITHMS` is the one table of their names."""

from coqui_meta.algorithms.base import GradientMetaAlgorithm, TaskResult
from coqui_meta.algorithms.maml import MAML
from coqui_meta.algorithms.protonet import PrototypeStart
from coqui_meta.algorithms.reptile import Reptile

#: algorithm name -> class; ``fomaml`` is MAML in first order (`MetaLearningConfig.second_order`)
ALGORITHMS = {"maml": MAML, "fomaml": MAML, "reptile": Reptile, "protonet": PrototypeStart,
              "proto_maml": PrototypeStart}


def build_algorithm(model, meta) -> GradientMetaAlgorithm:
    """The algorithm named by ``meta.algorithm`` for ``model`` (a MetaVits or MetaTacotron2)."""
    try:
        cls = ALGORITHMS[meta.algorithm]
    except KeyError:
        raise ValueError(f"meta.algorithm: unknown algorithm {meta.algorithm!r}; use one of {sorted(ALGORITHMS)}")
    return cls(model, meta)


__all__ = ["ALGORITHMS", "MAML", "GradientMetaAlgorithm", "PrototypeStart", "Reptile", "TaskResult", "build_algorithm"]
