"""Prototypical networks (Snell et al., 2017) and Proto-MAML (Triantafillou et al., 2020), the metric side of
coqui-meta: a task's voice starts as the prototype of its support clips (the mean of their ``prototype_encoder``
embeddings, fed as Coqui's d-vector), then takes MAML's inner steps: none for ``protonet`` (a new voice needs no
gradient step: ``coqui-meta adapt --steps 0``), ``inner_steps`` for ``proto_maml`` (on the d-vector and the adapted
modules; second order unless ``first_order``).

The outer loss is the mean query reconstruction loss plus ``meta.prototype_loss_weight`` times the prototypical
classification loss over the meta-batch (softmax over negative distances of each query embedding to every task's
prototype). The reconstruction loss reaches the encoder through the prototypes only with
``meta.prototype_reconstruction_grad``.

Example::

    config = MetaVitsConfig.from_config(vits_config, meta=MetaLearningConfig(algorithm="protonet"))
    model = MetaVits.init_from_config(config)    # d-vector input of d_vector_dim, plus model.prototype_encoder
    PrototypeStart(model, config.meta).outer_backward(batch["tasks"])   # .grad of the TTS model and the encoder
"""

from __future__ import annotations

from typing import Callable

import torch

from coqui_meta.algorithms.base import GradientMetaAlgorithm, TaskResult
from coqui_meta.algorithms.maml import MAML
from coqui_meta.algorithms.prototypes import accuracy, prototypes, prototypical_loss
from coqui_meta.seeds import TaskSeeds


class PrototypeStart(GradientMetaAlgorithm):
    """Each task starts from its prototype; ``steps`` (MAML's task step, composed) then adapt it. ``protonet`` is
    this with no inner step, ``proto_maml`` with ``meta.inner_steps``."""

    def __init__(self, model, meta) -> None:
        steps = 0 if meta.algorithm == "protonet" else meta.inner_steps
        super().__init__(model, meta, inner_steps=steps)
        self.name = meta.algorithm
        self.steps = MAML(model, meta, inner_steps=steps)
        self.step_logs: dict[str, float] = {}

    def task_voice(self, support: dict) -> torch.Tensor:
        return self.model.meta_prototype(support)

    def outer_backward(
        self, tasks: list[tuple[dict, dict]], scale: Callable = lambda loss: loss, seeds: list[int] | None = None
    ) -> list[TaskResult]:
        """Accumulate the meta-gradient into ``.grad``: the TTS model's and, through the prototypes, the encoder's.

        Each task is backpropagated on its own from a copy of its prototype (a leaf), so memory holds one task's TTS
        graph at a time; the encoder graph of the whole meta-batch (small) is backpropagated once at the end, with the
        prototypes' gradients and the classification loss.
        """
        support_embeddings = [self.model.meta_embed(support) for support, _ in tasks]
        query_embeddings = [self.model.meta_embed(query) for _, query in tasks]
        voices = [embeddings.mean(0) for embeddings in support_embeddings]
        leaves = [voice.detach().requires_grad_(True) for voice in voices]
        results = []
        for index, ((support, query), leaf) in enumerate(zip(tasks, leaves)):
            task_seeds = TaskSeeds(None if seeds is None else seeds[index])
            results.append(self.steps.task_backward(support, query, 1.0 / len(tasks), scale, task_seeds, voice=leaf))
        terms = []
        if self.meta.prototype_reconstruction_grad:
            terms = [(voice * leaf.grad).sum() for voice, leaf, result in zip(voices, leaves, results)
                     if leaf.grad is not None and not result.skipped]
        classification = self.classification_loss(tasks, support_embeddings, query_embeddings)
        if classification is not None and self.meta.prototype_loss_weight > 0 and torch.isfinite(classification):
            terms.append(scale(classification * self.meta.prototype_loss_weight))
        if terms:
            torch.stack(terms).sum().backward()
        return results

    def classification_loss(self, tasks, support_embeddings, query_embeddings) -> torch.Tensor | None:
        """The prototypical loss of every query clip against the prototypes of the meta-batch's task values (tasks of
        one speaker share a class). None with fewer than two classes."""
        keys = [self._task_value(support, index) for index, (support, _) in enumerate(tasks)]
        classes = {key: label for label, key in enumerate(dict.fromkeys(keys))}
        if len(classes) < 2:
            self.step_logs = {}
            return None
        labels = [classes[key] for key in keys]
        device = support_embeddings[0].device
        support_labels = torch.tensor(
            [labels[i] for i, e in enumerate(support_embeddings) for _ in range(len(e))], device=device
        )
        query_labels = torch.tensor(
            [labels[i] for i, e in enumerate(query_embeddings) for _ in range(len(e))], device=device
        )
        protos = prototypes(torch.cat(support_embeddings), support_labels, len(classes))
        queries = torch.cat(query_embeddings)
        distance = self.meta.prototype_distance
        loss = prototypical_loss(queries, protos, query_labels, distance)
        self.step_logs = {
            "prototype_loss": float(loss.detach()),
            "prototype_accuracy": accuracy(queries, protos, query_labels, distance),
        }
        return loss

    def _task_value(self, support: dict, index: int):
        if self.meta.task_key == "speaker_name" and support.get("speaker_names"):
            return support["speaker_names"][0]
        return index  # no name in the batch: every task its own class
