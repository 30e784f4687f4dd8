"""Does meta-learning make adaptation to an unseen voice faster than plain Coqui training? Measured side by side.

  1. base: a stock multi-speaker small VITS trained by Coqui's Trainer for ``--base-minutes`` on the training speakers
     (reused from ``--out`` when a base of the same settings is there; resumed from its last checkpoint when it has
     fewer minutes). Every ``--check-minutes`` its seen-speaker EER is measured (its renditions of training speakers,
     with their own speaker rows, against their real clips).
  2. branches from the base, with its weights and optimizer state: the meta branch meta-trains for ``--meta-steps``
     meta-steps (or half of ``--budget-minutes``); the plain branch goes on with plain Coqui steps for as many
     clip-gradient evaluations.
  3. both (and the base itself, to show how far the branches moved it) are evaluated on held-out speakers (from
     ``--eval-data`` when given, else held out from ``--data``) by `coqui-meta evaluate`'s code with identical
     settings; each side gets the best of the same learning-rate grid by its final query loss (the meta model's grid
     multiplies its learned inner rates: grid value / inner_lr).

With ``--corpus voices --algorithm d_vector|protonet|proto_maml`` the meta side is a prototype base
(``--prototype-base``, default the shipped one of its kind; `coqui_meta_lab.prototype_sides`): its step 0 is the
zero-step voice (the Resemblyzer mean or the prototype of the support clips), then the default procedure; ``d_vector``
trains nothing here (both bases as shipped), ``protonet`` and ``proto_maml`` meta-train the protonet base with that
algorithm and the plain side gets the same clip-gradients.

Writes ``OUT/adaptation_speed.json`` (``base``, ``plain``, ``meta``, ``speedup``, the grid, the split) and prints the
tables for BENCHMARKS.md.

    python benchmarks/adaptation_speed.py --data ../shared/data/speechocean762 --base-minutes 120 \\
        --budget-minutes 30 --out runs/adaptation_speed
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import replace
from pathlib import Path

import torch

from coqui_meta_lab.base_asset import add_base_asset_argument, existing_file
from coqui_meta_lab.prototype_sides import PROTOTYPE_ALGORITHMS
from coqui_meta_lab.quiet import quiet

ROOT = Path(__file__).resolve().parents[1]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "speechocean762"))
    parser.add_argument("--corpus", choices=["voices"], default=None,
                        help="the project's many-voice corpus (built or reused in OUT/corpus) and its shipped base "
                        "instead of --data and a base trained here; its held-out voices are judged")
    add_base_asset_argument(parser)
    parser.add_argument(
        "--eval-data", default=None, help="corpus of the held-out speakers (default: held out of --data)"
    )
    parser.add_argument("--base-minutes", type=float, default=60.0, help="training time of the base")
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="training time of both branches together (default 20)")
    parser.add_argument("--meta-steps", type=int, default=None, help="meta-steps of the meta branch (instead of time)")
    parser.add_argument("--base-only", action="store_true", help="train (or extend) the base, measure it, and stop")
    parser.add_argument("--meta-branch-only", action="store_true",
                        help="train the meta branch (with --meta-steps) and stop; a later run reuses it")
    parser.add_argument("--meta-side-only", action="store_true",
                        help="train the meta branch and evaluate it alone (no plain branch): to compare meta "
                        "settings with each other, e.g. a remedy for memorization; writes meta_side.json")
    parser.add_argument("--check-minutes", type=float, default=15.0, help="base: minutes between checkpoints/checks")
    parser.add_argument("--held-out", type=int, default=8, help="speakers of --data kept apart (without --eval-data)")
    parser.add_argument("--eval-speakers", type=int, default=None,
                        help="held-out speakers evaluated (default 6; with --corpus voices and no --eval-data, all of "
                        "its held-out voices)")
    parser.add_argument("--judge-speakers", type=int, default=12, help="training speakers in the seen-speaker EER")
    parser.add_argument("--algorithm", choices=["fomaml", "maml", "reptile", *PROTOTYPE_ALGORITHMS], default="fomaml",
                        help="the meta side: a meta branch of the base, or (--corpus voices) a prototype base")
    parser.add_argument("--prototype-base", type=existing_file, default=None,
                        help="with --algorithm d_vector|protonet|proto_maml: the prototype base (scripts/"
                        "prototype_base.py's asset) instead of the shipped one of its kind")
    parser.add_argument("--inner-steps", type=int, default=2)
    parser.add_argument("--inner-lr", type=float, default=0.001, help="inner rate (learned rates start there); in grid")
    parser.add_argument("--inner-optimizer", default=None, choices=["adam", "sgd"],
                        help="meta.inner_optimizer (default adam; sgd for maml), both sides' too (sgd until 2026-12)")
    parser.add_argument("--inner-lr-mode", default="fixed", choices=["fixed", "per_tensor", "per_tensor_step"])
    parser.add_argument("--inner-lr-lr", type=float, default=0.01, help="outer learning rate of learned log-rates")
    parser.add_argument("--multi-step-loss", action="store_true", help="meta.multi_step_loss (MAML++)")
    parser.add_argument("--adversarial-outer", action="store_true", help="meta.adversarial_outer: GAN terms outside")
    parser.add_argument("--plain-objective", choices=["stock", "reconstruction"], default="stock",
                        help="plain branch: Coqui's VITS loss, or its reconstruction terms alone (the meta branch's "
                        "objective without --adversarial-outer)")
    parser.add_argument("--shots", type=int, default=None, help="default 5 (10 with --corpus voices)")
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--steps", default="0,1,2,5,10,20,50,100")
    parser.add_argument("--lr-grid", default="0.0003,0.001,0.003", help="learning rates, the same for both sides")
    parser.add_argument("--max-seconds", type=float, default=None, help="longest clip used (default 5; the corpus's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes at a time, one thread each: the branches (with --meta-steps), evaluations")
    parser.add_argument("--skip-base-side", action="store_true",
                        help="do not adapt the base itself beside the branches (a third of the evaluation time)")
    parser.add_argument("--out", type=Path, default=Path("runs/adaptation_speed"))
    args = parser.parse_args()
    check_prototype_arguments(parser, args)
    args.budget_minutes = args.budget_minutes or 20.0
    voices = args.corpus == "voices"
    args.shots = args.shots or (10 if voices else 5)
    if voices:
        from coqui_meta_lab.voice_corpus import MAX_SECONDS, build_voice_corpus

        args.max_seconds = args.max_seconds or MAX_SECONDS
        args.data = str(build_voice_corpus(args.out / "corpus"))
    args.max_seconds = args.max_seconds or 5.0
    return args


def check_prototype_arguments(parser, args) -> None:
    """A prototype algorithm's flags checked before anything is built: it needs the many-voice corpus and a prototype
    base; ``d_vector`` trains no branch (both bases are compared as they are)."""
    from coqui_meta_lab.base_asset import NotABase
    from coqui_meta_lab.prototype_sides import prototype_asset

    prototype = args.algorithm in PROTOTYPE_ALGORITHMS
    if args.prototype_base and not prototype:
        parser.error("--prototype-base: use it with --algorithm d_vector, protonet or proto_maml")
    if not prototype:
        return
    if args.corpus != "voices":
        parser.error(f"--algorithm {args.algorithm}: use it with --corpus voices (a prototype base of its voices)")
    trains = args.algorithm != "d_vector"
    ignored = [flag for flag, given in (("--meta-steps", args.meta_steps), ("--budget-minutes", args.budget_minutes),
                                        ("--multi-step-loss", args.multi_step_loss),
                                        ("--inner-lr-mode", args.inner_lr_mode != "fixed"),
                                        ("--adversarial-outer", args.adversarial_outer)) if given and not trains]
    ignored += [flag for flag, given in (("--base-only", args.base_only), ("--meta-branch-only", args.meta_branch_only),
                                         ("--meta-side-only", args.meta_side_only)) if given]
    if ignored:
        parser.error(f"--algorithm {args.algorithm}: {', '.join(ignored)} would be ignored"
                     + ("" if trains else " (the d-vector base is compared as shipped: no branch trains)"))
    try:
        args.prototype_base = prototype_asset(args.algorithm, args.prototype_base)
    except (FileNotFoundError, NotABase) as error:
        parser.error(str(error))


def split(args) -> tuple[list[dict], list[dict], list[str]]:
    """Training clips, held-out clips and the held-out speakers (those with shots + queries short clips)."""
    from coqui_meta.formats.clips import load_clips

    samples = [s for s in load_clips(args.data) if s["seconds"] <= args.max_seconds]
    if args.corpus == "voices":
        from coqui_meta_lab.voice_corpus import held_out_voices

        held = set(held_out_voices())
        train = [s for s in samples if s["speaker_name"] not in held]
        held_samples = [s for s in samples if s["speaker_name"] in held]
        if args.eval_data:
            args.eval_data = str(at_rate(args.eval_data, 16000, args.out / "eval_data"))
            held_samples = [s for s in load_clips(args.eval_data) if s["seconds"] <= args.max_seconds]
    elif args.eval_data:
        held_samples = [s for s in load_clips(args.eval_data) if s["seconds"] <= args.max_seconds]
        overlap = {s["speaker_name"] for s in held_samples} & {s["speaker_name"] for s in samples}
        if overlap:
            raise SystemExit(f"--eval-data shares speakers with --data: {', '.join(sorted(overlap)[:5])}")
        train = samples
    else:
        counts: dict[str, int] = {}
        for sample in samples:
            counts[sample["speaker_name"]] = counts.get(sample["speaker_name"], 0) + 1
        enough = sorted(name for name, count in counts.items() if count >= args.shots + args.queries)
        held = set(random.Random(args.seed).sample(enough, args.held_out))
        train = [s for s in samples if s["speaker_name"] not in held]
        held_samples = [s for s in samples if s["speaker_name"] in held]
    counts = {}
    for sample in held_samples:
        counts[sample["speaker_name"]] = counts.get(sample["speaker_name"], 0) + 1
    eligible = sorted(name for name, count in counts.items() if count >= args.shots + args.queries)
    if args.eval_speakers is None:
        args.eval_speakers = len(eligible) if args.corpus == "voices" and not args.eval_data else 6
    if len(eligible) < args.eval_speakers:
        raise SystemExit(f"only {len(eligible)} held-out speakers have {args.shots + args.queries} clips of at most "
                         f"{args.max_seconds:g} s; lower --eval-speakers or raise --held-out")
    evaluated = sorted(random.Random(args.seed + 2).sample(eligible, args.eval_speakers))
    return train, held_samples, evaluated


def at_rate(folder: str, rate: int, out: Path) -> Path:
    """``folder`` (coqui format) as it is when every clip is at ``rate``, else a copy at ``rate`` in ``out``."""
    import librosa
    import soundfile

    from coqui_meta.formats.clips import load_clips

    clips = load_clips(folder)
    if all(soundfile.info(c["audio_file"]).samplerate == rate for c in clips):
        return Path(folder)
    if not (out / "metadata.csv").is_file():
        lines = ["audio_file|text|speaker_name"]
        for index, clip in enumerate(clips):
            wav, _ = librosa.load(clip["audio_file"], sr=rate, mono=True)
            relative = f"wavs/{index:05d}.wav"
            (out / "wavs").mkdir(parents=True, exist_ok=True)
            soundfile.write(str(out / relative), wav, rate, subtype="PCM_16")
            lines.append(f"{relative}|{clip['text']}|{clip['speaker_name']}")
        (out / "metadata.csv").write_text("\n".join(lines) + "\n")
    return out


def shipped_voices_base(args):
    """The shipped many-voice base (or ``--base-asset``) as the study's base (no training here), with its record of
    checks."""
    from coqui_meta_lab.base_asset import VOICES_BASE, read_asset, shipped_base
    from coqui_meta_lab.base_training import Base
    from coqui_meta_lab.voice_corpus import voices_config

    asset = args.base_asset or VOICES_BASE
    base = shipped_base(voices_config(args.data), args.out / "base" / ("shipped" if asset == VOICES_BASE else
                                                                       asset.stem), path=asset)
    progress = read_asset(asset)[1]["progress"] or {"steps": 0, "minutes": 0.0, "history": []}
    return Base(base.folder, base.files, progress["steps"], progress["minutes"], progress["history"])


def train_base(args, train: list[dict]):
    if args.corpus == "voices":
        return shipped_voices_base(args)
    from coqui_meta_lab.base_training import seen_speaker_check
    from coqui_meta_lab.base_training import train_base as build
    from coqui_meta_lab.presets import small_vits_config, speechocean_dataset

    speakers = sorted({s["speaker_name"] for s in train})
    config = small_vits_config(speechocean_dataset(args.data), max_audio_seconds=args.max_seconds + 0.1,
                               speakers=speakers)
    config.run_eval, config.print_step = False, 10**9

    check = seen_speaker_check(train, args.judge_speakers, args.seed)
    return build(config, train, args.out, args.base_minutes, seed=args.seed, check=check,
                 check_minutes=args.check_minutes)


def meta_config(args):
    """The meta branch's meta block; None for the d-vector base, compared as it is."""
    from coqui_meta import MetaLearningConfig

    if args.algorithm == "d_vector":
        return None
    return MetaLearningConfig(algorithm=args.algorithm, inner_steps=args.inner_steps, inner_lr=args.inner_lr,
                              inner_optimizer=args.inner_optimizer,
                              inner_lr_mode=args.inner_lr_mode, inner_lr_lr=args.inner_lr_lr,
                              multi_step_loss=args.multi_step_loss, adversarial_outer=args.adversarial_outer, n_way=4,
                              k_shot=args.shots, q_query=args.queries, meta_batch_size=4, episodes_per_epoch=50,
                              seed=args.seed)


def curve_row(values: dict, step: int) -> str:
    value = values.get(step)
    return "n/a" if value is None else f"{value:.3f}"


def print_base_table(base) -> None:
    print("\n| base steps | minutes | seen-speaker EER | same-speaker cosine | other-speaker cosine |")
    print("|---|---|---|---|---|")
    for row in base.history:
        print(
            f"| {row['steps']} | {row['minutes']:.1f} | {row.get('seen_speaker_eer', float('nan')):.3f} | "
            f"{row.get('same_speaker_cosine', float('nan')):.3f} | "
            f"{row.get('other_speaker_cosine', float('nan')):.3f} |"
        )


def print_tables(base, plain, meta, result, steps: list[int]) -> None:
    print_base_table(base)
    print("\n| metric | plain steps to its final value | meta steps to it | speed-up |\n|---|---|---|---|")
    for metric in ("query_loss", "speaker_similarity"):
        row = result["rows"][1][metric]
        if row:
            speedup = row["speedup"]
            shown = (
                "inf (met at step 0)"
                if speedup == float("inf")
                else ("not reached" if speedup is None else f"{speedup:.2f}")
            )
            print(f"| {metric} | {row['baseline_steps_to_target']} | {row['steps_to_target']} | {shown} |")
    print(f"\n| step | plain query loss (lr {plain.lr:g}) | meta query loss ({meta.lr:g}) | plain similarity | "
          "meta similarity | plain EER | meta EER |\n|---|---|---|---|---|---|---|")
    for step in steps:
        print(f"| {step} | " + " | ".join(curve_row(side.report.query_loss, step) for side in (plain, meta)) + " | "
              + " | ".join(curve_row(side.report.curve(metric), step) for metric in ("speaker_similarity", "eer")
                           for side in (plain, meta)) + " |")
    print("\nquery loss of every grid value (final step):")
    for side in (plain, meta):
        print(
            f"  {side.label}: "
            + ", ".join(
                f"{value:g} -> " + ("diverged" if curve is None else f"{curve[steps[-1]]:.3f}")
                for value, curve in side.grid.items()
            )
        )


def print_untouched(base_side, plain, steps: list[int]) -> None:
    """The base adapted as it is: if the plain branch moved its step-0 loss much, the base was not trained enough for
    the branches to compare adaptation rather than TTS training."""
    curve = base_side.report.query_loss
    shown = ", ".join(f"{step} {curve_row(curve, step)}" for step in steps)
    print(f"\nthe base itself (lr {base_side.lr:g}): {shown}")
    moved = curve[steps[0]] - plain.report.query_loss[steps[0]]
    print(f"the plain branch moved the step-{steps[0]} query loss by {moved:.3f} from the base's")


def side_summary(side) -> dict:
    report = side.report
    keys = ("query_loss", "speaker_similarity", "eer")
    gain = report.query_loss[report.steps[0]] - report.query_loss[report.steps[-1]]
    return {"lr": side.lr, **{key: report.curve(key) for key in keys}, "adaptation_gain": gain,
            "grid": {str(value): curve for value, curve in side.grid.items()}, "rates": report.rates,
            "inner_lr_mode": report.inner_lr_mode, "report": str(Path(report.model_path).parent)}


def evaluate_meta_side(args, meta, record: dict, evaluated: list[str]) -> None:
    """The meta branch alone adapted to the held-out speakers at the grid (as `main` does for both sides)."""
    from coqui_meta.files import write_json
    from coqui_meta_lab.evaluation_grid import evaluate_sides, learned_from

    grid = [float(v) for v in args.lr_grid.split(",")]
    steps = [int(s) for s in args.steps.split(",")]
    folder = Path(record["files"][0]).parents[1]
    (side,) = evaluate_sides([("meta", tuple(record["files"]), learned_from(meta))], grid,
                             args.eval_data or args.data, evaluated, args.shots, args.queries, steps, args.seed,
                             folder, jobs=args.jobs, optimizer=meta.inner_update)
    print(f"\n| step | meta query loss (lr {side.lr:g}) | similarity | EER |\n|---|---|---|---|")
    for step in steps:
        print(f"| {step} | " + " | ".join(curve_row(side.report.curve(key), step)
                                         for key in ("query_loss", "speaker_similarity", "eer")) + " |")
    summary = {"meta": {**side_summary(side), "config": meta.to_dict(), "branch": record}, "held_out": evaluated,
               "date": time.strftime("%Y-%m-%d %H:%M")}
    write_json(args.out / "meta_side.json", summary)
    write_json(folder / "meta_side.json", summary)
    print(f"adaptation gain (query loss, step {steps[0]} to {steps[-1]}): {summary['meta']['adaptation_gain']:.3f}")


def prototype_summary(args, branches) -> dict:
    """A prototype side's base (its asset and record) and where its voice starts, for the JSON."""
    if args.algorithm not in PROTOTYPE_ALGORITHMS:
        return {}
    from coqui_meta_lab.base_asset import read_asset

    record = read_asset(args.prototype_base, weights=False)[1]["progress"] or {}
    last = (record.get("history") or [{}])[-1]
    return {"prototype_base": {"asset": str(args.prototype_base), "kind": record.get("kind"),
                               "steps": record.get("steps"), "minutes": record.get("minutes"), "last_check": last},
            "voice_start": "resemblyzer mean of the support clips" if args.algorithm == "d_vector"
            else "prototype of the support clips"}


def main() -> None:
    args = arguments()
    quiet(args.threads)
    started = time.perf_counter()
    train, held_samples, evaluated = split(args)
    print(f"{len({s['speaker_name'] for s in train})} training speakers ({len(train)} clips of at most "
          f"{args.max_seconds:g} s); evaluated on {', '.join(evaluated)}")
    base = train_base(args, train)
    if args.base_only:
        print_base_table(base)
        print(f"wall {(time.perf_counter() - started) / 60:.1f} min; base in {base.folder}")
        return

    from coqui_meta.files import write_json
    from coqui_meta.reports.compare import compare
    from coqui_meta_lab.evaluation_grid import evaluate_sides, learned_from
    from coqui_meta_lab.study import clip_gradients_per_meta_step, train_branches

    meta = meta_config(args)
    meta_seconds = None if args.meta_steps else args.budget_minutes * 60 / 2
    if args.meta_branch_only or args.meta_side_only:
        from coqui_meta_lab.study import meta_branch

        record = meta_branch(base, train, meta, args.out, args.meta_steps, meta_seconds)
        print(f"meta branch: {record['steps']} meta-steps in {record['seconds'] / 60:.1f} min: {record['files'][0]}")
        if args.meta_side_only:
            evaluate_meta_side(args, meta, record, evaluated)
        return
    encoders = {}
    if args.algorithm in PROTOTYPE_ALGORITHMS:
        from coqui_meta_lab.prototype_sides import prototype_branches

        branches, encoders = prototype_branches(args.algorithm, args.prototype_base, base, train, args.data, args.out,
                                                meta, args.meta_steps, meta_seconds, args.plain_objective)
    else:
        branches = train_branches(base, train, meta, args.out, meta_steps=args.meta_steps, meta_seconds=meta_seconds,
                                  jobs=args.jobs, plain_objective=args.plain_objective)
    print(f"branches: meta {branches.meta_steps} meta-steps ({branches.seconds['meta'] / 60:.1f} min), plain "
          f"{branches.plain_steps} steps ({branches.seconds['plain'] / 60:.1f} min), {branches.clip_gradients} "
          f"clip-gradients each ({clip_gradients_per_meta_step(meta) if meta else 0} a meta-step)")
    grid = [float(v) for v in args.lr_grid.split(",")]
    steps = [int(s) for s in args.steps.split(",")]
    data = args.eval_data or args.data
    # reports kept with the meta branch, one folder for each plain objective it was compared against and each corpus
    reports = branches.folder if args.plain_objective == "stock" else branches.folder / f"vs-{args.plain_objective}"
    if args.eval_data:
        reports = reports / f"on-{Path(args.eval_data).name}"
    # the base itself too: how far the branches moved it says whether the base was trained long enough
    sides = [("plain", branches.plain_files, None), ("meta", branches.meta_files, meta and learned_from(meta)),
             *([] if args.skip_base_side or branches.plain_files == base.files else [("base", base.files, None)])]
    plain, meta_side, *untouched = evaluate_sides(sides, grid, data, evaluated, args.shots, args.queries, steps,
                                                  args.seed, reports, jobs=args.jobs,
                                                  optimizer=meta.inner_update if meta else "adam", encoders=encoders)
    baseline = replace(plain.report, source=f"plain (lr {plain.lr:g})")
    candidate = replace(meta_side.report, source=f"{args.algorithm} ({meta_side.lr:g})")
    result = compare([baseline, candidate])
    print_tables(base, plain, meta_side, result, steps)
    if untouched:
        print_untouched(untouched[0], plain, steps)
    summary = {
        "base": {"steps": base.steps, "minutes": base.minutes, "folder": str(base.folder), "history": base.history,
                 "seen_speaker_eer": base.history[-1].get("seen_speaker_eer") if base.history else None,
                 "adapted": side_summary(untouched[0]) if untouched else None},
        "plain": {**side_summary(plain), "objective": args.plain_objective},
        "meta": {**side_summary(meta_side), "algorithm": args.algorithm, "config": meta and meta.to_dict(),
                 **prototype_summary(args, branches)},
        "speedup": {metric: (row or {}).get("speedup") for metric, row in result["rows"][1].items()
                    if metric in ("query_loss", "speaker_similarity")},  # plain's steps to its final value / meta's
        "comparison": result,
        "branches": {"meta_steps": branches.meta_steps, "plain_steps": branches.plain_steps,
                     "clip_gradients": branches.clip_gradients, "seconds": branches.seconds,
                     "folder": str(branches.folder)},
        "held_out": evaluated, "eval_data": data, "train_clips": len(train), "lr_grid": grid,
        "wall_minutes": (time.perf_counter() - started) / 60, "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    summary["speedup"]["similarity"] = summary["speedup"].get("speaker_similarity")  # the key
    # JSON has no infinity: a speed-up met at meta's step 0 is null there, so the steps themselves are kept too
    summary["steps_to_plain_final"] = {
        metric: {"plain": row["baseline_steps_to_target"], "meta": row["steps_to_target"]}
        for metric, row in result["rows"][1].items() if metric in ("query_loss", "speaker_similarity") and row}
    write_json(args.out / "adaptation_speed.json", summary)
    write_json(reports / "adaptation_speed.json", summary)  # kept with its meta branch: the next run overwrites
    print(
        f"\nwall {summary['wall_minutes']:.1f} min; {args.out / 'adaptation_speed.json'}, reports in {reports}"
    )


if __name__ == "__main__":
    main()
