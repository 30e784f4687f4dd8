"""Meta-learning algorithms, one a file: MAML, first-order MAML, Reptile, Prototypical networks, Proto-MAML."""

from coqui_meta.algorithms.base import GradientMetaAlgorithm, TaskResult
from coqui_meta.algorithms.fomaml import FOMAML
from coqui_meta.algorithms.maml import MAML
from coqui_meta.algorithms.proto_maml import ProtoMAML
from coqui_meta.algorithms.protonet import ProtoNet
from coqui_meta.algorithms.reptile import Reptile

ALGORITHM_CLASSES = {"maml": MAML, "fomaml": FOMAML, "reptile": Reptile, "protonet": ProtoNet, "proto_maml": ProtoMAML}


def build_algorithm(model, meta) -> GradientMetaAlgorithm:
    """The algorithm named by ``meta.algorithm`` for ``model`` (a MetaVits or MetaTacotron2)."""
    try:
        cls = ALGORITHM_CLASSES[meta.algorithm]
    except KeyError:
        raise ValueError(f"meta.algorithm: unknown algorithm {meta.algorithm!r}; use one of {sorted(ALGORITHM_CLASSES)}")
    return cls(model, meta)


__all__ = ["FOMAML", "MAML", "GradientMetaAlgorithm", "ProtoMAML", "ProtoNet", "Reptile", "TaskResult", "build_algorithm"]
