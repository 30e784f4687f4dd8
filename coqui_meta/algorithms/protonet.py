"""Prototypical networks (Snell et al., 2017), the metric side of coqui-meta: a new voice is the mean of its support
embeddings (its prototype), and a clip belongs to the nearest prototype.

`ProtoNet` trains the model's ``prototype_encoder`` together with the TTS model. For each task of a meta-batch the
prototype of its support clips is the d-vector (Coqui's ``d_vectors`` input) with which the model renders the query
clips; the outer loss is the mean query reconstruction loss plus ``meta.prototype_loss_weight`` times the prototypical
classification loss over the meta-batch (softmax over negative distances of each query embedding to every task's
prototype). The reconstruction loss reaches the encoder through the prototypes only with
``meta.prototype_reconstruction_grad``. No inner step: a new voice needs none (``coqui-meta adapt --steps 0``).

The rest of the module is the episode arithmetic, also used to train or score the encoder alone.

Example::

    config = MetaVitsConfig.from_config(vits_config, meta=MetaLearningConfig(algorithm="protonet"))
    model = MetaVits.init_from_config(config)    # d-vector input of d_vector_dim, plus model.prototype_encoder
    ProtoNet(model, config.meta).outer_backward(batch["tasks"])   # .grad of the TTS model and the encoder

    protos = prototypes(support_embeddings, support_labels, n_way=N)       # [N, D]
    loss = prototypical_loss(query_embeddings, protos, query_labels)
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from coqui_meta.algorithms.base import TaskResult
from coqui_meta.algorithms.inner_rules import TaskSeeds
from coqui_meta.algorithms.maml import MAML

DISTANCES = ("euclidean", "cosine")


class ProtoNet(MAML):
    """Prototype-conditioned reconstruction plus the prototypical loss; MAML's task step with no inner step."""

    name = "protonet"

    def __init__(self, model, meta) -> None:
        super().__init__(model, meta)
        self.second_order = False
        self.step_logs: dict[str, float] = {}

    @property
    def inner_steps(self) -> int:
        return 0

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
            results.append(self.task_backward(support, query, 1.0 / len(tasks), scale, task_seeds, voice=leaf))
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
        support_labels = torch.tensor([labels[i] for i, e in enumerate(support_embeddings) for _ in range(len(e))], device=device)
        query_labels = torch.tensor([labels[i] for i, e in enumerate(query_embeddings) for _ in range(len(e))], device=device)
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


def prototypes(embeddings: torch.Tensor, labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """The mean embedding of each class ``0 .. n_way - 1``: ``[n_way, dim]``."""
    counts = torch.bincount(labels, minlength=n_way).to(embeddings.dtype)
    if (counts == 0).any():
        raise ValueError(f"every class 0..{n_way - 1} needs a support embedding; counts {counts.tolist()}")
    sums = torch.zeros(n_way, embeddings.shape[1], dtype=embeddings.dtype, device=embeddings.device)
    sums.index_add_(0, labels, embeddings)
    return sums / counts[:, None]


def logits(queries: torch.Tensor, protos: torch.Tensor, distance: str = "euclidean") -> torch.Tensor:
    """Negative distances of each query to each prototype: ``[queries, n_way]``. Squared Euclidean, or cosine
    similarity scaled by 10 so the softmax is not flat."""
    if distance == "euclidean":
        return -torch.cdist(queries, protos).pow(2)
    if distance == "cosine":
        return 10.0 * F.normalize(queries, dim=-1) @ F.normalize(protos, dim=-1).T
    raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, got {distance!r}")


def prototypical_loss(queries: torch.Tensor, protos: torch.Tensor, labels: torch.Tensor, distance: str = "euclidean"):
    """Cross-entropy of the softmax over negative distances to the episode's prototypes."""
    return F.cross_entropy(logits(queries, protos, distance), labels)


@torch.no_grad()
def accuracy(queries: torch.Tensor, protos: torch.Tensor, labels: torch.Tensor, distance: str = "euclidean") -> float:
    """Share of queries whose nearest prototype is their own class."""
    return float((logits(queries, protos, distance).argmax(dim=1) == labels).float().mean())


def pad(mels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """A list of ``[T_i, M]`` mels as one zero-padded ``[B, T, M]`` batch and its lengths."""
    lengths = torch.tensor([len(mel) for mel in mels])
    batch = torch.zeros(len(mels), int(lengths.max()), mels[0].shape[1])
    for index, mel in enumerate(mels):
        batch[index, : len(mel)] = mel
    return batch, lengths


def sample_episode(by_speaker: dict[str, list[torch.Tensor]], n_way: int, k_shot: int, q_query: int, rng):
    """``n_way`` speakers, ``k_shot`` support and ``q_query`` query mels each: (support, labels, query, labels)."""
    support, support_labels, query, query_labels = [], [], [], []
    for label, name in enumerate(rng.sample(sorted(by_speaker), n_way)):
        clips = rng.sample(by_speaker[name], k_shot + q_query)
        support += clips[:k_shot]
        query += clips[k_shot:]
        support_labels += [label] * k_shot
        query_labels += [label] * q_query
    return support, torch.tensor(support_labels), query, torch.tensor(query_labels)


def episode_loss(encoder, episode, n_way: int, distance: str = "euclidean") -> tuple[torch.Tensor, float]:
    support, support_labels, query, query_labels = episode
    protos = prototypes(encoder(*pad(support)), support_labels, n_way)
    queries = encoder(*pad(query))
    return prototypical_loss(queries, protos, query_labels, distance), accuracy(queries, protos, query_labels, distance)


def identification_accuracy(encoder, by_speaker, n_way: int, k_shot: int, q_query: int, episodes: int = 30,
                            seed: int = 0, distance: str = "euclidean") -> float:
    """Mean N-way K-shot speaker identification accuracy of ``encoder``'s prototypes over fixed episodes."""
    import random

    rng, was_training = random.Random(seed), encoder.training
    encoder.eval()
    with torch.no_grad():
        scores = [episode_loss(encoder, sample_episode(by_speaker, n_way, k_shot, q_query, rng), n_way, distance)[1]
                  for _ in range(episodes)]
    encoder.train(was_training)
    return sum(scores) / len(scores)


def train_encoder(encoder, by_speaker, episodes: int, n_way: int, k_shot: int, q_query: int, lr: float = 1e-3,
                  seed: int = 0, distance: str = "euclidean") -> list[float]:
    """Episodic training of the encoder alone with the prototypical loss; returns the loss of each episode."""
    import random

    rng, optimizer, losses = random.Random(seed), torch.optim.Adam(encoder.parameters(), lr=lr), []
    encoder.train()
    for _ in range(episodes):
        loss, _ = episode_loss(encoder, sample_episode(by_speaker, n_way, k_shot, q_query, rng), n_way, distance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
