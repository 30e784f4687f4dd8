"""Proto-MAML (Triantafillou et al., 2020): start each task from its prototype, then take MAML's inner steps.

A task's voice starts as the prototype of its support clips (the mean of their ``prototype_encoder`` embeddings, fed
as Coqui's d-vector); ``inner_steps`` SGD steps on the support clips then adapt that d-vector and the adapted modules
(``meta.adapt_modules``; default: the d-vector plus the decoder side). The query loss at the adapted point is
backpropagated through the inner steps (second order unless ``meta.first_order``) into the TTS model and, through
the prototype, into the encoder; the prototypical classification loss is added as in `ProtoNet`.

Example::

    config = MetaTacotron2Config.from_config(tacotron2_config, meta=MetaLearningConfig(algorithm="proto_maml"))
    model = MetaTacotron2.init_from_config(config)
    ProtoMAML(model, config.meta).outer_backward(batch["tasks"])
"""

from __future__ import annotations

from coqui_meta.algorithms.protonet import ProtoNet


class ProtoMAML(ProtoNet):
    name = "proto_maml"

    def __init__(self, model, meta) -> None:
        super().__init__(model, meta)
        self.second_order = meta.second_order

    @property
    def inner_steps(self) -> int:
        return self.meta.inner_steps
