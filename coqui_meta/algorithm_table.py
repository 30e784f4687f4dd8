"""The one table of the meta-learning algorithms: each name, where its code is and what it supports.

The config's checks (`coqui_meta.config.MetaLearningConfig`), the algorithm a model builds
(`coqui_meta.algorithms.build_algorithm`) read it; adding an algorithm is a row here and a class in
`coqui_meta.algorithms`.

    ALGORITHMS["proto_maml"].second_order   # True (unless meta.first_order)
"""

from __future__ import annotations

from dataclasses import dataclass

BACKENDS = ("torch", "learn2learn")


@dataclass(frozen=True)
class Algorithm:
    """One row of `ALGORITHMS`: where an algorithm's code is and what it supports."""

    implementation: str  # ``module:Class`` in `coqui_meta.algorithms` (`coqui_meta.algorithms.build_algorithm`)
    second_order: bool  # differentiates through its inner steps (unless ``meta.first_order``)
    learned_rates: bool  # ``meta.inner_lr_mode`` other than fixed, and ``meta.multi_step_loss``
    prototypes: bool  # a task starts from the prototype of its support clips (a d-vector model's input)
    backends: tuple[str, ...] = BACKENDS  # learn2learn adapts parameters only, not a task's inputs


#: ``meta.algorithm`` -> what it is and supports; the config checks and the algorithm built for a model read it.
ALGORITHMS = {
    "maml": Algorithm("maml:MAML", second_order=True, learned_rates=True, prototypes=False),
    "fomaml": Algorithm("maml:MAML", second_order=False, learned_rates=True, prototypes=False),
    "reptile": Algorithm("reptile:Reptile", second_order=False, learned_rates=False, prototypes=False),
    "protonet": Algorithm("protonet:PrototypeStart", second_order=False, learned_rates=False, prototypes=True,
                          backends=("torch",)),
    "proto_maml": Algorithm("protonet:PrototypeStart", second_order=True, learned_rates=True, prototypes=True,
                            backends=("torch",)),
}
