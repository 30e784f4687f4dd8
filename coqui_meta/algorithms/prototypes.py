"""The arithmetic of prototypical networks (Snell et al., 2017): a class is the mean of its support embeddings (its
prototype), and a query belongs to the nearest prototype. Used by the `protonet` and `proto_maml` algorithms, and to
train or score the prototype encoder alone.

Example::

    protos = prototypes(support_embeddings, support_labels, n_way=N)       # [N, D]
    loss = prototypical_loss(query_embeddings, protos, query_labels)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from coqui_meta.config_rules import DISTANCES
from coqui_meta.seeds import draw


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
    rng, was_training = draw(seed, "identification episodes"), encoder.training
    encoder.eval()
    with torch.no_grad():
        scores = [episode_loss(encoder, sample_episode(by_speaker, n_way, k_shot, q_query, rng), n_way, distance)[1]
                  for _ in range(episodes)]
    encoder.train(was_training)
    return sum(scores) / len(scores)


def train_encoder(encoder, by_speaker, episodes: int, n_way: int, k_shot: int, q_query: int, lr: float = 1e-3,
                  seed: int = 0, distance: str = "euclidean") -> list[float]:
    """Episodic training of the encoder alone with the prototypical loss; returns the loss of each episode."""
    rng, optimizer, losses = draw(seed, "encoder episodes"), torch.optim.Adam(encoder.parameters(), lr=lr), []
    encoder.train()
    for _ in range(episodes):
        loss, _ = episode_loss(encoder, sample_episode(by_speaker, n_way, k_shot, q_query, rng), n_way, distance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
