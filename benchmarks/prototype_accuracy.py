"""N-way K-shot speaker identification by prototypes on speakers the encoder never saw: the untrained encoder against
the same encoder after episodic training with the prototypical loss, and chance.

    python benchmarks/prototype_accuracy.py --data ../shared/data/speechocean762 --episodes 300
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import soundfile
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "speechocean762"))
    parser.add_argument("--held-out", type=int, default=16, help="speakers kept apart, by seed")
    parser.add_argument("--episodes", type=int, default=300, help="training episodes")
    parser.add_argument("--n-way", type=int, default=8)
    parser.add_argument("--k-shot", type=int, default=5)
    parser.add_argument("--q-query", type=int, default=5)
    parser.add_argument("--distance", choices=["euclidean", "cosine"], default="euclidean")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from coqui_meta.algorithms.prototypes import identification_accuracy, train_encoder
    from coqui_meta.formats.clips import load_clips
    from coqui_meta.models.prototype_encoder import PrototypeEncoder, log_mel

    started = time.perf_counter()
    by_speaker: dict[str, list[torch.Tensor]] = {}
    for sample in load_clips(args.data):
        wav, rate = soundfile.read(sample["audio_file"], dtype="float32")
        by_speaker.setdefault(sample["speaker_name"], []).append(log_mel(wav, rate, 64, max_seconds=3.0))
    names = sorted(by_speaker)
    random.Random(args.seed).shuffle(names)
    held_out = {name: by_speaker[name] for name in names[: args.held_out]}
    training = {name: by_speaker[name] for name in names[args.held_out :]}
    shape = dict(n_way=args.n_way, k_shot=args.k_shot, q_query=args.q_query, distance=args.distance)
    torch.manual_seed(args.seed)
    encoder = PrototypeEncoder(num_mels=64)
    untrained = identification_accuracy(encoder, held_out, episodes=50, seed=args.seed + 7, **shape)
    losses = train_encoder(encoder, training, episodes=args.episodes, seed=args.seed + 1, **shape)
    trained = identification_accuracy(encoder, held_out, episodes=50, seed=args.seed + 7, **shape)
    print(f"\nprototype_accuracy.py: {args.n_way}-way {args.k_shot}-shot, {args.q_query} queries, {args.distance}, "
          f"{len(training)} training / {len(held_out)} held-out speakers, {args.episodes} episodes, "
          f"{(time.perf_counter() - started) / 60:.1f} min")
    print("| prototypes from | held-out accuracy (50 episodes) |\n|---|---|")
    print(f"| chance | {1 / args.n_way:.3f} |")
    print(f"| untrained encoder | {untrained:.3f} |")
    print(f"| trained encoder | {trained:.3f} |")
    print(
        f"\nprototypical loss, first and last 20 episodes: {sum(losses[:20]) / 20:.3f} -> {sum(losses[-20:]) / 20:.3f}"
    )


if __name__ == "__main__":
    main()
