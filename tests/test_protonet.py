"""Prototypical networks: the episode arithmetic by hand, and episodic training of the prototype encoder on real
speech raising held-out speaker identification well above chance and above the untrained encoder."""

import math
import random

import pytest
import soundfile
import torch

from coqui_meta.algorithms.prototypes import (
    accuracy,
    identification_accuracy,
    logits,
    prototypes,
    prototypical_loss,
    train_encoder,
)
from coqui_meta.models.prototype_encoder import PrototypeEncoder, log_mel


def test_the_prototype_is_exactly_the_mean_of_the_support_embeddings():
    embeddings = torch.tensor([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    labels = torch.tensor([0, 0, 1, 1, 2])
    assert torch.equal(prototypes(embeddings, labels, 3), torch.tensor([[2.0, 3.0], [5.0, 0.0], [5.0, 5.0]]))
    with pytest.raises(ValueError, match="every class"):
        prototypes(embeddings, labels, 4)


def test_the_classification_loss_matches_a_hand_computation():
    protos = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    query = torch.tensor([[0.5, 0.0]])
    # squared distances 0.25 and 0.25 + 1 = 1.25; softmax over (-0.25, -1.25): loss of class 0 = log(1 + e^-1)
    assert torch.allclose(logits(query, protos), torch.tensor([[-0.25, -1.25]]))
    assert prototypical_loss(query, protos, torch.tensor([0])).item() == pytest.approx(
        math.log(1 + math.exp(-1)), rel=1e-6
    )
    assert prototypical_loss(query, protos, torch.tensor([1])).item() == pytest.approx(
        math.log(1 + math.exp(1)), rel=1e-6
    )
    # cosine: 10 * cos; (0, 1) is orthogonal to (1, 0) and at cos 0.8 to (3, 4)
    cosine = logits(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0], [3.0, 4.0]]), "cosine")
    assert torch.allclose(cosine, torch.tensor([[0.0, 8.0]]))
    assert accuracy(query, protos, torch.tensor([0])) == 1.0 and accuracy(query, protos, torch.tensor([1])) == 0.0


def test_the_encoder_masks_padding():
    torch.manual_seed(0)
    encoder = PrototypeEncoder(num_mels=8, channels=16, dim=4).eval()
    mel = torch.randn(1, 30, 8)
    padded = torch.cat([mel, torch.randn(1, 20, 8) * 100], dim=1)
    with torch.no_grad():
        alone, with_padding = encoder(mel, torch.tensor([30])), encoder(padded, torch.tensor([30]))
    # the convolutions see 2 padded frames at the edge (kernel 5): close, not equal; far from the garbage's effect
    assert torch.allclose(alone, with_padding, atol=0.5)


@pytest.mark.slow
def test_episodic_training_raises_held_out_identification_well_above_chance(corpus_samples):
    by_speaker = {}
    for sample in corpus_samples:
        wav, rate = soundfile.read(sample["audio_file"], dtype="float32")
        by_speaker.setdefault(sample["speaker_name"], []).append(log_mel(wav, rate, 64, max_seconds=3.0))
    names = sorted(by_speaker)
    random.Random(0).shuffle(names)
    held_out = {name: by_speaker[name] for name in names[:16]}  # speakers the encoder never sees
    training = {name: by_speaker[name] for name in names[16:]}
    torch.manual_seed(0)
    encoder = PrototypeEncoder(num_mels=64)
    untrained = identification_accuracy(encoder, held_out, n_way=8, k_shot=5, q_query=5, episodes=20)
    losses = train_encoder(encoder, training, episodes=40, n_way=8, k_shot=5, q_query=5, seed=1)
    trained = identification_accuracy(encoder, held_out, n_way=8, k_shot=5, q_query=5, episodes=20)
    chance = 1 / 8
    assert trained > 5 * chance and trained > untrained, (untrained, trained)
    assert sum(losses[-20:]) < sum(losses[:20])
