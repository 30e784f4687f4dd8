"""`coqui-meta demo`: the whole idea on any machine, from voices the machine has.

1. Builds (or reuses) the project's many-voice corpus (`coqui_meta_lab.voice_corpus`): 67 Debian voices
   (espeak-ng's variants, flite, festival) each saying 30 sentences this project writes; 13 voices are held out from
   every model by a fixed rule.
2. Starts from the shipped many-voice base (`coqui_meta_lab.base_asset`): a small stock VITS trained by plain
   Coqui steps on the 54 training voices (``scripts/voices_base.py`` reproduces it).
3. Meta-trains a copy (first-order MAML) and gives the stock model as many clip-gradient evaluations
   (`coqui_meta_lab.study`), side by side.
4. Adapts both to held-out voices with the same procedure (`coqui-meta evaluate`, each side at its best rate of one
   grid), judges them with the speaker judge (similarity and EER) and writes the `compare` table, plot and HTML
   report with every rendition to listen to.

    make demo                      # sets up .venv and the voices, then runs this
    coqui-meta demo --out_path runs/demo [--quick]
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from coqui_meta_lab.debian_voices import install_voices
from coqui_meta_lab.voice_corpus import (
    MAX_SECONDS,
    build_voice_corpus,
    held_out_voices,
    training_voices,
    voices_config,
)


def command(arg_list: list[str]) -> int:
    """``coqui-meta demo [--out_path DIR] [--quick] [--seed N] [--train_base MINUTES]`` (the ``coqui_meta.commands``
    entry point this package adds to the plugin's command line)."""
    import argparse
    import logging

    import torch

    from coqui_meta.cli.arguments import in_flags

    parser = argparse.ArgumentParser(
        prog="coqui-meta demo",
        description="Meta-learning against plain Coqui training on a corpus of Debian voices, end to end (< 15 min).",
    )
    parser.add_argument("--out_path", default="runs/demo", help="folder for the corpus, models, reports and audio")
    parser.add_argument("--quick", action="store_true", help="a few minutes of training only (a smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train_base", type=float, default=None, metavar="MINUTES",
                        help="train the demo's base for MINUTES (resumable) instead of using the shipped one, and stop")
    args = parser.parse_args(arg_list)
    logging.getLogger("TTS").setLevel(logging.ERROR)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    try:
        run(args.out_path, quick=args.quick, seed=args.seed, train_base_minutes=args.train_base)
    except RuntimeError as error:
        raise SystemExit(f"coqui-meta demo: {in_flags(error)}") from None
    return 0


def demo_voices(quick: bool = False) -> list[str]:
    """The held-out voices the demo judges: every third of the corpus's held-out voices (5 of 13; the quick demo
    the first 3 of those), so the choice never looks at how a model does on them."""
    chosen = held_out_voices()[::3]
    return chosen[:3] if quick else chosen


def run(
    out_path: str = "runs/demo", quick: bool = False, seed: int = 0, train_base_minutes: float | None = None
) -> Path:
    """The demo, as a story told on the console: corpus, base, the two branches, adaptation, the result."""
    from coqui_meta.formats.clips import load_clips
    from coqui_meta_lab.base_asset import shipped_base
    from coqui_meta_lab.base_training import seen_speaker_check, train_base

    started = time.perf_counter()
    out = Path(out_path)
    install_voices()
    print(f"1/5 Corpus: the project's many-voice corpus (Debian voices saying sentences it writes): {out / 'corpus'}")
    # the quick demo (a smoke test) draws 6 clips a voice: 8 of the 30 are plenty (nearly every clip is under
    # MAX_SECONDS), and build in a quarter of the time
    corpus = build_voice_corpus(out / "corpus", clips_per_voice=8 if quick else 30, seed=seed)
    samples = [s for s in load_clips(corpus) if s["seconds"] <= MAX_SECONDS]
    voices, judged = set(training_voices()), demo_voices(quick)
    train = [s for s in samples if s["speaker_name"] in voices]
    print(f"    {len(samples)} clips of {len({s['speaker_name'] for s in samples})} voices; "
          f"{len(held_out_voices())} are held out (neither model ever hears them), of which the demo judges "
          f"{', '.join(judged)}")
    config = voices_config(corpus)
    print(f"2/5 Base: a small multi-speaker VITS trained by plain Coqui steps on the {len(voices)} training voices")
    if train_base_minutes:
        base = train_base(config, train, out, train_base_minutes, seed=seed, check=seen_speaker_check(train, 12, seed))
        if not quick:
            return base.folder
    else:
        base = shipped_base(config, out / "base")
    return _compare_branches(base, train, corpus, judged, out, quick, seed, started)


def _compare_branches(base, train: list[dict], corpus: Path, judged: list[str], out: Path, quick: bool, seed: int,
                      started: float):
    import torch

    from coqui_meta import MetaLearningConfig
    from coqui_meta.reports.compare import run as compare
    from coqui_meta_lab.evaluation_grid import evaluate_sides
    from coqui_meta_lab.study import clip_gradients_per_meta_step, train_branches

    shots, queries, inner_steps = (4, 2, 1) if quick else (5, 3, 2)
    steps = [0, 1, 2, 5] if quick else [0, 1, 2, 5, 10, 20]
    meta = MetaLearningConfig(algorithm="fomaml", inner_steps=inner_steps, inner_lr=0.001,
                              inner_lr_mode="per_tensor_step", inner_lr_lr=0.03, multi_step_loss=True, n_way=4,
                              k_shot=shots, q_query=queries, meta_batch_size=2 if quick else 4, episodes_per_epoch=50,
                              seed=seed)
    meta_steps = 2 if quick else 20
    print(f"3/5 Branches from the base, side by side: first-order MAML with learned inner rates for {meta_steps} "
          f"meta-steps, and plain Coqui training for as many clip-gradients "
          f"({meta_steps * clip_gradients_per_meta_step(meta)})")
    jobs = min(2, os.cpu_count() or 1)
    branches = train_branches(base, train, meta, out, meta_steps=meta_steps, jobs=jobs)
    print(f"    meta: {branches.meta_steps} meta-steps in {branches.seconds['meta'] / 60:.1f} min; plain: "
          f"{branches.plain_steps} steps in {branches.seconds['plain'] / 60:.1f} min")
    grid = [0.0003, 0.001] if quick else [0.0003, 0.001, 0.003]  # quick: a choice still, of two
    print(f"4/5 Adapting both to the held-out voices from {shots} clips each, the same way, at each rate of {grid}:")
    plain, meta_side = evaluate_sides([("plain", branches.plain_files, None),
                                       ("meta", branches.meta_files, meta.inner_lr)], grid, str(corpus),
                                      judged, shots, queries, steps, seed, out, jobs=jobs)
    result = compare([str(out / "eval_plain" / "report.json"), str(out / "eval_meta" / "report.json")],
                     str(out / "compare"))
    print(f"5/5 Result on {', '.join(judged)} (each side at its best rate by its final query loss):\n")
    _print_table(plain, meta_side, steps)
    for metric, better in (("speaker_similarity", "higher"), ("query_loss", "lower")):
        row = result["rows"][1].get(metric)
        if row is None:  # no judge on this machine
            continue
        reached = "not reached" if row["steps_to_target"] is None else f"step {row['steps_to_target']}"
        print(f"Plain fine-tuning's step-{steps[-1]} {metric.replace('_', ' ')} ({row['target']:.3f}; {better} is "
              f"better): meta reaches it at {reached}.")
    print("Read with care: the query loss is the generator's reconstruction terms, and the meta branch trains on\n"
          "those alone (meta.adversarial_outer off) while plain Coqui training adds its GAN terms. Much of the\n"
          "meta lead comes from that; BENCHMARKS.md compares against plain training on the same objective.")
    print(f"Demo done in {(time.perf_counter() - started) / 60:.1f} min on {torch.get_num_threads()} thread(s).")
    print(f"  open this:  {out / 'compare' / 'compare.html'} (curves, table, every rendition to listen to)")
    print(f"  comparison: {out / 'compare' / 'compare.md'} and compare.png")
    print(f"  curves:     {out / 'eval_meta' / 'curves.png'}, {out / 'eval_plain' / 'curves.png'}")
    print(f"  audio:      {out / 'eval_meta' / 'samples'} (step {steps[0]} = before, step {steps[-1]} = after)")
    return out / "compare"


def _print_table(plain, meta_side, steps: list[int]) -> None:
    """The demo's table: query loss, similarity (Resemblyzer cosine to the voice's real clips) and EER, both sides."""
    print(f"| step | plain query loss (lr {plain.lr:g}) | meta query loss ({meta_side.lr:g}) | plain similarity | "
          "meta similarity | plain EER | meta EER |\n|---|---|---|---|---|---|---|")
    for step in steps:
        cells = [side.report.curve(metric)[step] for metric in ("query_loss", "speaker_similarity", "eer")
                 for side in (plain, meta_side)]
        print(f"| {step} | " + " | ".join("n/a" if v is None else f"{v:.3f}" for v in cells) + " |")
