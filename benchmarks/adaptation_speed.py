"""Does meta-learning make adaptation to an unseen voice faster than plain Coqui training? Measured side by side.

From the training speakers of a corpus (``--held-out`` speakers are kept apart by name):
  1. a stock multi-speaker VITS is trained with Coqui's Trainer for ``--pretrain-share`` of the budget (shared start);
  2. meta branch: a MetaVits from that checkpoint is meta-trained for half of the rest of the budget;
     plain branch: the stock model goes on with plain Coqui steps until it has used as many clip-gradient
     evaluations as the meta branch (an inner or outer gradient on c clips counts c);
  3. both are evaluated on the held-out speakers by `coqui-meta evaluate`'s code with identical settings (SGD, the
     same clips and seeds); the plain model gets the best of a learning-rate grid (chosen on its final query loss),
     the meta model its own inner learning rate, which is chosen before meta-training on training speakers.

Prints steps-to-target ratios (query loss and speaker similarity) and the similarity gap at 0, 5, 10 and 100 steps.

    python benchmarks/adaptation_speed.py --data ../shared/data/speechocean762 --budget-minutes 30
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "speechocean762"))
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="training time of both models together")
    parser.add_argument("--pretrain-share", type=float, default=0.5, help="share of the budget for the shared start")
    parser.add_argument("--held-out", type=int, default=6, help="speakers kept apart for evaluation")
    parser.add_argument("--algorithm", choices=["fomaml", "maml", "reptile"], default="fomaml")
    parser.add_argument("--inner-steps", type=int, default=2)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--steps", default="0,1,2,5,10,20,50,100")
    parser.add_argument("--lr-grid", default="0.001,0.003,0.01,0.03", help="SGD learning rates to choose from")
    parser.add_argument("--max-seconds", type=float, default=4.0, help="longest clip used")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/adaptation_speed"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)

    from coqui_meta import MetaLearningConfig
    from coqui_meta.compare import compare
    from coqui_meta.data import load_clips
    from coqui_meta.evaluation import evaluate
    from coqui_meta.presets import small_vits_config, speechocean_dataset
    from coqui_meta.study import compute_matched, probe_inner_lr

    started = time.perf_counter()
    steps = [int(s) for s in args.steps.split(",")]
    grid = [float(v) for v in args.lr_grid.split(",")]
    samples = [s for s in load_clips(args.data) if s["seconds"] <= args.max_seconds]
    counts: dict[str, int] = {}
    for sample in samples:
        counts[sample["speaker_name"]] = counts.get(sample["speaker_name"], 0) + 1
    enough = sorted(name for name, count in counts.items() if count >= args.shots + args.queries)
    held_out = sorted(random.Random(args.seed).sample(enough, args.held_out))
    train_samples = [s for s in samples if s["speaker_name"] not in held_out]
    train_speakers = sorted({s["speaker_name"] for s in train_samples})
    print(f"{len(train_speakers)} training speakers ({len(train_samples)} clips); held out: {', '.join(held_out)}")

    budget = args.budget_minutes * 60
    stock_config = small_vits_config(speechocean_dataset(args.data), max_audio_seconds=args.max_seconds + 0.1,
                                     speakers=train_speakers)
    stock_config.run_eval = False
    stock_config.print_step = 10**9
    meta = MetaLearningConfig(algorithm=args.algorithm, inner_steps=args.inner_steps, n_way=4, k_shot=args.shots,
                              q_query=args.queries, meta_batch_size=4, episodes_per_epoch=50, seed=args.seed)
    candidates = [name for name in enough if name not in held_out]
    probe_speakers = sorted(random.Random(args.seed + 1).sample(candidates, min(4, len(candidates))))
    probe = {}

    def choose_inner_lr(start_files):
        lr, losses = probe_inner_lr(start_files, args.data, probe_speakers, args.shots, args.queries, args.inner_steps,
                                    grid, args.seed + 1)
        probe.update(losses)
        return lr

    runs = compute_matched(stock_config, train_samples, meta, args.out, start_seconds=budget * args.pretrain_share,
                           meta_seconds=budget * (1 - args.pretrain_share) / 2, choose_inner_lr=choose_inner_lr)
    inner_lr = meta.inner_lr
    print("inner lr probe on training speakers (query loss after inner steps):", probe, "->", inner_lr)
    print(f"shared start: {runs.start_steps} plain steps ({runs.seconds['start']:.0f} s); meta: {runs.meta_steps} "
          f"meta-steps ({runs.clip_gradients} clip-gradients, {runs.seconds['meta']:.0f} s); plain: {runs.plain_steps} "
          f"steps of {stock_config.batch_size} clips ({runs.seconds['plain']:.0f} s)")
    meta_files, plain_files = runs.meta_files, runs.plain_files

    # 3. identical evaluation on the held-out speakers
    common = dict(speakers=held_out, shots=args.shots, queries=args.queries, steps=steps, seed=args.seed)
    meta_report = evaluate(*meta_files, args.data, out_path=str(args.out / "eval_meta"), lr=inner_lr, **common)
    plain_reports = {lr: evaluate(*plain_files, args.data, out_path=str(args.out / f"eval_plain_lr{lr:g}"), lr=lr,
                                  **common) for lr in grid}
    best_lr = min(plain_reports, key=lambda lr: plain_reports[lr]["query_loss"][steps[-1]])
    baseline = plain_reports[best_lr]
    baseline["_path"], meta_report["_path"] = f"plain (lr {best_lr:g})", f"{args.algorithm} (lr {inner_lr:g})"
    result = compare([baseline, meta_report])

    print(f"\nadaptation_speed.py: VITS (small), {args.held_out} held-out speakers, {args.shots}-shot, "
          f"{args.queries} queries, budget {args.budget_minutes:g} min, {torch.get_num_threads()} thread(s)")
    print("| metric | plain steps to its final value | meta steps to it | speed-up |\n|---|---|---|---|")
    for metric in ("query_loss", "speaker_similarity"):
        row = result["rows"][1][metric]
        if row:
            speedup = row["speedup"]
            shown = "inf (met at step 0)" if speedup == float("inf") else ("not reached" if speedup is None else f"{speedup:.2f}")
            print(f"| {metric} | {row['baseline_steps_to_target']} | {row['steps_to_target']} | {shown} |")
    print("\n| step | plain query loss | meta query loss | plain similarity | meta similarity | similarity gap |")
    print("|---|---|---|---|---|---|")
    for step in [s for s in (0, 5, 10, 100) if s in steps]:
        ps, ms = baseline["speaker_similarity"][step], meta_report["speaker_similarity"][step]
        gap = f"{ms - ps:+.4f}" if ps is not None and ms is not None else "n/a"
        print(f"| {step} | {baseline['query_loss'][step]:.4f} | {meta_report['query_loss'][step]:.4f} | "
              f"{ps if ps is None else round(ps, 4)} | {ms if ms is None else round(ms, 4)} | {gap} |")
    summary = {"held_out": held_out, "inner_lr": inner_lr, "inner_lr_probe": probe, "best_plain_lr": best_lr,
               "plain_final_loss_by_lr": {lr: r["query_loss"][steps[-1]] for lr, r in plain_reports.items()},
               "pretrain_steps": runs.start_steps, "meta_steps": runs.meta_steps, "plain_steps": runs.plain_steps,
               "clip_gradients_each": runs.clip_gradients, "train_seconds": runs.seconds, "comparison": result,
               "wall_minutes": (time.perf_counter() - started) / 60}
    (args.out / "adaptation_speed.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nwall {summary['wall_minutes']:.1f} min; details in {args.out}/adaptation_speed.json and eval_*/report.md")


if __name__ == "__main__":
    main()
