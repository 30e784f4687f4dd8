"""First-order MAML: MAML without the second-order terms.

The inner steps are taken as in MAML, but their gradients are treated as constants, so the meta-gradient is the query
gradient at the adapted point. Cheaper in time and memory; usually nearly as good.

Example::

    from coqui_meta.algorithms import FOMAML
    FOMAML(model, config.meta).outer_backward(batch["tasks"])
"""

from __future__ import annotations

from coqui_meta.algorithms.maml import MAML


class FOMAML(MAML):
    name = "fomaml"

    def __init__(self, model, meta) -> None:
        super().__init__(model, meta)
        self.second_order = False
