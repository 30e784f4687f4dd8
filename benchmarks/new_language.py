"""Does meta-learning make adaptation to an unseen language faster than plain Coqui training? Measured side by side.

  1. corpus: the project's multilingual corpus (`coqui_meta_lab.language_corpus`: espeak-ng voices, the same
     speakers in every language, sentences the project writes), built into ``--corpus`` unless it is there.
  2. base: a stock multilingual small VITS (language embedding, espeak-ng phonemes) trained by Coqui's Trainer for
     ``--base-minutes`` on the training languages (all but ``--held-out``); reused from ``--out`` when it is there.
  3. branches from the base: the meta branch meta-trains with ``task_key="language"`` (a task is a language; it starts
     from the mean language row) for ``--meta-steps``; the plain branch goes on with plain Coqui steps for as many
     clip-gradient evaluations.
  4. both, and the base itself, adapt to each held-out language from ``--shots`` clips by `coqui-meta evaluate`'s code
     (``--task_key language``) with identical settings; each side gets the best of the same learning-rate grid.

Writes ``OUT/new_language.json`` and prints the tables for BENCHMARKS.md. ``--eval-corpus`` takes the held-out
languages from another corpus of the same layout (one coqui-format folder per language).

    python benchmarks/new_language.py --base-minutes 15 --meta-steps 40 --out runs/new_language
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from coqui_meta_lab.quiet import quiet

ROOT = Path(__file__).resolve().parents[1]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("runs/language_corpus"))
    parser.add_argument("--eval-corpus", type=Path, default=None,
                        help="corpus of the held-out languages (language folders); built there if it is not there")
    parser.add_argument("--held-out", default="sv,ro,cs", help="languages no model trains on")
    parser.add_argument("--clips-per-speaker", type=int, default=10)
    parser.add_argument("--base-minutes", type=float, default=15.0)
    parser.add_argument("--meta-steps", type=int, default=40)
    parser.add_argument("--inner-steps", type=int, default=2)
    parser.add_argument("--inner-lr", type=float, default=0.01)
    parser.add_argument("--inner-optimizer", default=None, choices=["adam", "sgd"],
                        help="meta.inner_optimizer (default: adam) and every side's adaptation (sgd before 2026-12-05)")
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--steps", default="0,1,2,5,10,20")
    parser.add_argument("--lr-grid", default="0.003,0.01,0.03", help="learning rates, the same for every side")
    parser.add_argument("--plain-objective", choices=["stock", "reconstruction"], default="stock",
                        help="plain branch: Coqui's VITS loss, or its reconstruction terms alone (the meta branch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--branch-seed", type=int, default=None,
                        help="seed of the branches alone (episode draws, plain batches; default --seed): their spread "
                             "on one base, whose corpus, training and evaluation clips stay those of --seed")
    parser.add_argument("--jobs", type=int, default=2, help="processes at a time: the branches, the evaluations")
    parser.add_argument("--out", type=Path, default=Path("runs/new_language"))
    return parser.parse_args()


def held_out_folder(corpus: Path, languages: list[str], out: Path) -> Path:
    """A corpus of the held-out languages alone (links to their folders): what evaluate adapts to."""
    folder = out / "held_out_corpus"
    folder.mkdir(parents=True, exist_ok=True)
    for language in languages:
        if not (corpus / language / "metadata.csv").is_file():
            raise SystemExit(f"{corpus / language}: no metadata.csv for held-out language {language!r}")
        link = folder / language
        if not link.exists():
            link.symlink_to((corpus / language).resolve())
    return folder


def side_summary(side) -> dict:
    report = side.report
    return {"lr": side.lr, **{key: report.curve(key) for key in ("query_loss", "speaker_similarity", "eer")},
            "grid": {str(value): curve for value, curve in side.grid.items()}}


def main() -> None:
    args = arguments()
    quiet(1)
    from TTS.tts.datasets import load_tts_samples

    from coqui_meta import MetaLearningConfig
    from coqui_meta.files import write_json
    from coqui_meta.reports.compare import compare
    from coqui_meta_lab.base_training import train_base
    from coqui_meta_lab.evaluation_grid import evaluate_sides
    from coqui_meta_lab.language_corpus import LANGUAGES, build_language_corpus, multilingual_vits_config
    from coqui_meta_lab.study import clip_gradients_per_meta_step, train_branches

    started = time.perf_counter()
    held = args.held_out.split(",")
    build_language_corpus(args.corpus, clips_per_speaker=args.clips_per_speaker, seed=args.seed)
    eval_corpus = args.eval_corpus or args.corpus
    if args.eval_corpus and not args.eval_corpus.exists():  # else another corpus of language folders, as it is
        build_language_corpus(args.eval_corpus, languages=held, clips_per_speaker=args.clips_per_speaker,
                              seed=args.seed + 1)
    training = [language for language in LANGUAGES if language not in held]
    config = multilingual_vits_config(args.corpus, training, output_path=str(args.out / "phonemes"))
    config.run_eval, config.print_step = False, 10**9
    samples, _ = load_tts_samples(config, eval_split=False)
    print(f"{len(training)} training languages ({len(samples)} clips); held out: {', '.join(held)}")
    base = train_base(config, samples, args.out, args.base_minutes, seed=args.seed)
    meta = MetaLearningConfig(algorithm="fomaml", task_key="language", inner_steps=args.inner_steps,
                              inner_lr=args.inner_lr, inner_optimizer=args.inner_optimizer, n_way=2,
                              k_shot=args.shots, q_query=args.queries,
                              meta_batch_size=2, episodes_per_epoch=50,
                              seed=args.seed if args.branch_seed is None else args.branch_seed)
    branches = train_branches(base, samples, meta, args.out, meta_steps=args.meta_steps, jobs=args.jobs,
                              plain_objective=args.plain_objective)
    print(f"branches: meta {branches.meta_steps} meta-steps ({branches.seconds['meta'] / 60:.1f} min), plain "
          f"{branches.plain_steps} steps ({branches.seconds['plain'] / 60:.1f} min), {branches.clip_gradients} "
          f"clip-gradients each ({clip_gradients_per_meta_step(meta)} a meta-step)")
    grid, steps = [float(v) for v in args.lr_grid.split(",")], [int(s) for s in args.steps.split(",")]
    sides = [("plain", branches.plain_files, None), ("meta", branches.meta_files, None), ("base", base.files, None)]
    # reports kept with the meta branch, one folder for each plain objective it was compared against
    reports = branches.folder if args.plain_objective == "stock" else branches.folder / f"vs-{args.plain_objective}"
    plain, meta_side, untouched = evaluate_sides(
        sides, grid, str(held_out_folder(eval_corpus, held, args.out)), held, args.shots, args.queries, steps,
        args.seed, reports, jobs=args.jobs, task_key="language", optimizer=meta.inner_update)
    baseline = replace(plain.report, source=f"plain (lr {plain.lr:g})")
    candidate = replace(meta_side.report, source=f"fomaml ({meta_side.lr:g})")
    result = compare([baseline, candidate])
    print(f"\n| step | plain query loss (lr {plain.lr:g}) | meta query loss ({meta_side.lr:g}) | base itself "
          f"({untouched.lr:g}) |\n|---|---|---|---|")
    for step in steps:
        print(f"| {step} | " + " | ".join(f"{side.report.query_loss[step]:.3f}"
                                          for side in (plain, meta_side, untouched)) + " |")
    row = result["rows"][1]["query_loss"] or {}
    print(f"\nquery loss: plain reaches its final value at step {row.get('baseline_steps_to_target')}, meta at "
          f"{row.get('steps_to_target')}; speed-up {row.get('speedup')}")
    print(f"per language at step {steps[-1]}: " + "; ".join(
        f"{language} " + ", ".join(f"{side.label} {side.report.per_speaker[language]['query_loss'][steps[-1]]:.2f}"
                                   for side in (plain, meta_side, untouched))
        for language in held))
    for side in (plain, meta_side, untouched):
        print(f"  {side.label} grid (final step): " + ", ".join(
            f"{value:g} -> " + ("diverged" if curve is None else f"{curve[steps[-1]]:.3f}")
            for value, curve in side.grid.items()))
    summary = {
        "base": {"steps": base.steps, "minutes": base.minutes, "folder": str(base.folder),
                 "adapted": side_summary(untouched)},
        "plain": side_summary(plain), "meta": side_summary(meta_side),
        "speedup": {"query_loss": row.get("speedup")}, "held_out": held, "training_languages": training,
        "plain_objective": args.plain_objective, "seed": args.seed, "branch_seed": args.branch_seed,
        "branches": {"meta_steps": branches.meta_steps, "plain_steps": branches.plain_steps,
                     "clip_gradients": branches.clip_gradients, "seconds": branches.seconds},
        "wall_minutes": (time.perf_counter() - started) / 60, "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    write_json(args.out / "new_language.json", summary)
    print(f"\nwall {summary['wall_minutes']:.1f} min; {args.out / 'new_language.json'}")


if __name__ == "__main__":
    main()
