"""Zero-step voices: a protonet VITS's prototype voice (no gradient step) against a stock Coqui VITS adapted by
fine-tuning, on speakers neither saw; and the encoder's speaker identification against its untrained self and chance.

From the training speakers of a corpus (``--held-out`` speakers are kept apart by name, by seed):
  1. a stock multi-speaker VITS is trained with Coqui's Trainer for ``--minutes``;
  2. a protonet MetaVits (same preset, d-vector input instead of the speaker table) is meta-trained with Coqui's
     Trainer for the same ``--minutes``, from the same seed;
  3. N-way K-shot identification on the held-out speakers by the prototypes of the trained encoder, of the same
     encoder as initialised (untrained), and chance;
  4. `coqui-meta evaluate`'s code on the held-out speakers, identical clips and seeds: protonet at step 0 (its
     prototype) and after steps; stock at step 0 (the mean speaker embedding) and after steps.

    python benchmarks/protonet_step0.py --data ../shared/data/speechocean762 --minutes 10
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from coqui_meta_lab.quiet import quiet

ROOT = Path(__file__).resolve().parents[1]


def identification(by_speaker: dict[str, list[torch.Tensor]], n_way: int, k_shot: int, q_query: int, episodes: int,
                   seed: int) -> float:
    """Mean N-way accuracy of prototypes over fixed episodes of precomputed clip embeddings."""
    from coqui_meta.algorithms.prototypes import accuracy, prototypes, sample_episode

    rng, scores = random.Random(seed), []
    for _ in range(episodes):
        support, support_labels, query, query_labels = sample_episode(by_speaker, n_way, k_shot, q_query, rng)
        protos = prototypes(torch.stack(support), support_labels, n_way)
        scores.append(accuracy(torch.stack(query), protos, query_labels))
    return sum(scores) / len(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "speechocean762"))
    parser.add_argument("--minutes", type=float, default=10.0, help="training time of each model")
    parser.add_argument("--stock-steps", type=int, default=None, help="train the stock model this many steps instead")
    parser.add_argument(
        "--protonet-steps", type=int, default=None, help="train the protonet this many meta-steps instead"
    )
    parser.add_argument("--reconstruction-grad", action="store_true", help="meta.prototype_reconstruction_grad")
    parser.add_argument("--prototype-loss-weight", type=float, default=1.0)
    parser.add_argument("--held-out", type=int, default=8, help="speakers kept apart for evaluation")
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--steps", default="0,5,20", help="evaluation steps (step 0: no gradient step)")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate of the adaptation steps, both models")
    parser.add_argument("--max-seconds", type=float, default=4.0, help="longest clip used in training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/protonet_step0"))
    args = parser.parse_args()
    quiet(args.threads)

    from TTS.tts.models import setup_model

    from coqui_meta import MetaLearningConfig, MetaVits, MetaVitsConfig
    from coqui_meta.adapting.embed import embed_samples
    from coqui_meta.formats.clips import load_clips
    from coqui_meta.judging.evaluation import evaluate
    from coqui_meta_lab.base_training import make_trainer, save_checkpoint, train_steps
    from coqui_meta_lab.presets import small_vits_config, speechocean_dataset

    started = time.perf_counter()
    steps = [int(s) for s in args.steps.split(",")]
    clips = load_clips(args.data)
    short: dict[str, int] = {}
    for clip in clips:
        short[clip["speaker_name"]] = short.get(clip["speaker_name"], 0) + (clip["seconds"] <= args.max_seconds)
    # held out among the speakers with 10 clips the models' length filter keeps (identification takes 5 + 5)
    eligible = sorted(name for name, count in short.items() if count >= max(10, args.shots + args.queries))
    held_out = sorted(random.Random(args.seed).sample(eligible, args.held_out))
    train = [c for c in clips if c["speaker_name"] not in held_out and c["seconds"] <= args.max_seconds]
    train_speakers = sorted({c["speaker_name"] for c in train})

    stock_config = small_vits_config(speechocean_dataset(args.data), output_path=str(args.out / "stock"),
                                     max_audio_seconds=args.max_seconds, speakers=train_speakers)
    torch.manual_seed(args.seed)
    stock = setup_model(stock_config)
    stock_steps, stock_seconds = train_steps(make_trainer(stock_config, stock, train, args.out / "stock"), train,
                                             "stock VITS", steps=args.stock_steps,
                                             seconds=None if args.stock_steps else args.minutes * 60)
    stock_files = save_checkpoint(stock, stock_config, args.out / "stock_model", stock_steps)

    meta = MetaLearningConfig(algorithm="protonet", n_way=4, k_shot=4, q_query=2, meta_batch_size=4, seed=args.seed,
                              inner_lr=args.lr, prototype_reconstruction_grad=args.reconstruction_grad,
                              prototype_loss_weight=args.prototype_loss_weight)
    proto_config = MetaVitsConfig.from_config(stock_config, meta=meta)
    proto_config.output_path = str(args.out / "protonet")
    proto_config.speakers = train_speakers  # recorded: evaluate keeps to speakers the encoder never saw
    torch.manual_seed(args.seed)
    proto = MetaVits(proto_config)
    untrained = MetaVits(proto_config)
    untrained.load_state_dict(proto.state_dict())
    proto_steps, proto_seconds = train_steps(make_trainer(proto_config, proto, train, args.out / "protonet"), train,
                                             "protonet VITS", steps=args.protonet_steps,
                                             seconds=None if args.protonet_steps else args.minutes * 60)
    proto_files = save_checkpoint(proto, proto_config, args.out / "protonet_model", proto_steps)

    held_clips = [c for c in clips if c["speaker_name"] in held_out and c["seconds"] <= args.max_seconds]
    accuracy = {}
    for label, model in (("untrained encoder", untrained), ("trained encoder", proto)):
        _, by_speaker, _ = embed_samples(model, held_clips)
        enough = {name: vectors for name, vectors in by_speaker.items() if len(vectors) >= 10}
        accuracy[label] = identification(enough, n_way=min(8, len(enough)), k_shot=5, q_query=5, episodes=100,
                                         seed=args.seed + 7)
    ways = min(8, len(held_out))

    from coqui_meta.adapting.settings import AdaptationSettings

    common = dict(speakers=held_out, shots=args.shots, queries=args.queries, steps=steps, progress=False,
                  settings=AdaptationSettings(lr=args.lr, seed=args.seed))
    reports = {
        "protonet": evaluate(*proto_files, args.data, out_path=str(args.out / "eval_protonet"), **common),
        "stock": evaluate(*stock_files, args.data, out_path=str(args.out / "eval_stock"), **common),
    }
    minutes = (time.perf_counter() - started) / 60
    print(
        f"\nprotonet_step0.py: {len(train_speakers)} training / {len(held_out)} held-out speakers; stock {stock_steps} "
        f"steps in {stock_seconds / 60:.1f} min, protonet {proto_steps} meta-steps in {proto_seconds / 60:.1f} min "
        f"(reconstruction grad into the encoder: {args.reconstruction_grad}, prototype loss weight "
        f"{args.prototype_loss_weight}); SGD lr {args.lr}, {args.shots} shots, {args.queries} queries; "
        f"{minutes:.1f} min in all"
    )
    print(f"\n| prototypes from | held-out {ways}-way 5-shot accuracy (100 episodes) |\n|---|---|")
    print(f"| chance | {1 / ways:.3f} |")
    for label, value in accuracy.items():
        print(f"| {label} | {value:.3f} |")

    def cell(report, key, step):
        value = report.curve(key).get(step)
        return "n/a" if value is None else f"{value:.3f}"

    print("\n| model | step | query loss | speaker similarity | EER |\n|---|---|---|---|---|")
    for name, report in reports.items():
        for step in steps:
            print(
                f"| {name} | {step} | {cell(report, 'query_loss', step)} | {cell(report, 'speaker_similarity', step)} "
                f"| {cell(report, 'eer', step)} |"
            )
    summary = {
        "accuracy": accuracy,
        "ways": ways,
        "stock_steps": stock_steps,
        "protonet_steps": proto_steps,
        "args": {k: str(v) for k, v in vars(args).items()},
        "reports": {
            name: {k: r[k] for k in ("query_loss", "speaker_similarity", "eer")} for name, r in reports.items()
        },
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
