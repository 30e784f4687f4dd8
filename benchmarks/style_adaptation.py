"""Does meta-learning learn a new speaking style faster than plain Coqui training? Measured side by side, VITS or GST
Tacotron2.

  1. corpus: the project's style corpus (`coqui_meta_lab.style_corpus`: 8 voices x 8 styles, the style in
     ``emotion_name``; ``high`` and ``emphatic`` held out from every model), built or reused in ``OUT/corpus``.
  2. base: VITS: the shipped many-voice base (it knows the corpus's voices, in their neutral style) trained on by
     plain Coqui steps for ``--base-minutes`` on the training styles; ``--model tacotron2``: the GST Tacotron2 style
     base (`coqui_meta_lab.gst_base`, Griffin-Lim renditions) trained on them until it has ``--base-minutes``
     in all, from the shipped ``assets/gst_style_base.safetensors`` (``scripts/gst_base.py``), its renditions' pitch
     and length checked every ``--check-minutes``. Reused, or resumed, as the speaker study's is.
  3. branches from the base, with its weights and optimizer state (fresh optimizers, both alike, when the base is
     an asset alone): the meta branch meta-trains with a task per style (``task_key="emotion_name"``) for
     ``--meta-steps``; the plain branch goes on with plain Coqui steps for as many
     clip-gradient evaluations, on the objective matched to the meta branch's (``--plain-objective``; Tacotron2 has
     one objective, Coqui's Tacotron loss, on both sides).
  4. both are adapted to each held-out style from ``--shots`` clips (its clips keep their voices) by `coqui-meta
     evaluate`'s code with identical settings, each at the best value of the same learning-rate grid by query loss at
     the last step (or at ``--choose-at``, for both sides alike; a meta model's learned rates, ``--inner-lr-mode``,
     are multiplied by the grid), and judged by the style judge (style distance and style EER,
     `coqui_meta.judging.style_judge`).

Writes ``OUT/style_adaptation.json`` (a copy beside the reports too, which the next study in ``OUT`` keeps) and
``OUT/style_adaptation.png`` (the curves) and prints the tables for BENCHMARKS.md.

    python benchmarks/style_adaptation.py --base-minutes 15 --meta-steps 30 --out runs/style_adaptation
    python benchmarks/style_adaptation.py --model tacotron2 --base-minutes 130 --meta-steps 30 --jobs 2 --threads 2 \
        --out runs/style_gst  # from the shipped GST base (130 minutes)
    python benchmarks/style_adaptation.py --model tacotron2 --base-minutes 130 --meta-steps 30 --jobs 2 --threads 2 \
        --inner-lr-mode per_tensor_step --inner-lr-lr 0.03 --multi-step-loss --out runs/style_gst  # MAML++
    python benchmarks/style_adaptation.py --model tacotron2 --base-minutes 130 --meta-steps 30 --jobs 2 --threads 2 \
        --adapt-modules gst_weights,gst_layer --out runs/style_gst  # only the style tokens, on both sides
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from coqui_meta_lab.base_asset import existing_file
from coqui_meta_lab.quiet import quiet


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["vits", "tacotron2"], default="vits",
                        help="tacotron2: a GST Tacotron2 trained from scratch on the training styles")
    parser.add_argument("--base-minutes", type=float, default=15.0, help="plain training on the training styles")
    parser.add_argument("--check-minutes", type=float, default=15.0)
    parser.add_argument("--meta-steps", type=int, default=30)
    parser.add_argument("--algorithm", choices=["fomaml", "maml", "reptile"], default="fomaml")
    parser.add_argument("--inner-steps", type=int, default=2)
    parser.add_argument("--inner-lr", type=float, default=0.001)
    parser.add_argument("--inner-optimizer", default=None, choices=["adam", "sgd"])
    parser.add_argument("--inner-lr-mode", default="fixed", choices=["fixed", "per_tensor", "per_tensor_step"],
                        help="learned inner rates (they start at --inner-lr; the grid multiplies them)")
    parser.add_argument("--inner-lr-lr", type=float, default=0.01, help="outer learning rate of learned log-rates")
    parser.add_argument("--multi-step-loss", action="store_true", help="meta.multi_step_loss (MAML++; learned rates)")
    parser.add_argument("--adapt-modules", default="",
                        help="comma-separated name patterns of what the inner loop and both sides' adaptation adapt "
                        "(meta.adapt_modules; default the model's style modules), e.g. gst_weights,gst_layer")
    parser.add_argument("--adversarial-outer", action="store_true", help="meta.adversarial_outer: GAN terms outside")
    parser.add_argument("--plain-objective", choices=["stock", "reconstruction"], default="reconstruction",
                        help="the plain branch's objective: reconstruction matches a meta branch without "
                        "--adversarial-outer, stock one with it")
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--steps", default="0,1,2,5,10,20,50,100")
    parser.add_argument("--lr-grid", default="0.0003,0.001,0.003", help="learning rates, the same for both sides")
    parser.add_argument("--choose-at", type=int, default=None,
                        help="the step whose query loss chooses each side's rate of the grid (default the last of "
                        "--steps; the same rule for both sides)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="processes at a time: the branches, the evaluations")
    parser.add_argument("--out", type=Path, default=Path("runs/style_adaptation"))
    parser.add_argument("--base-asset", type=existing_file, default=None,
                        help="the base to go on from instead of the shipped one: VITS, another base of the many-voice "
                             "corpus's training voices (scripts/voices_base.py --asset; any decoder width); "
                             "tacotron2, another GST base (scripts/gst_base.py --asset)")
    args = parser.parse_args()
    if args.model == "tacotron2":
        if args.adversarial_outer:
            parser.error("--adversarial-outer is VITS's: a GST Tacotron2 has no GAN terms")
        if args.algorithm == "maml":
            parser.error("--algorithm maml: second-order MAML on Tacotron2 does not fit a CPU's memory (BENCHMARKS, "
                         "Tacotron2, CPU); use fomaml or reptile")
        args.plain_objective = "stock"  # Coqui's Tacotron loss: the meta branch's objective too
    steps = [int(s) for s in args.steps.split(",")]
    if args.choose_at is not None and args.choose_at not in steps:
        parser.error(f"--choose-at {args.choose_at}: not one of --steps {args.steps}")
    args.steps, args.choose_at = steps, steps[-1] if args.choose_at is None else args.choose_at
    args.adapt_modules = [pattern.strip() for pattern in args.adapt_modules.split(",") if pattern.strip()]
    try:
        meta_config(args)
        if args.adapt_modules:
            style_model(args)
    except ValueError as error:  # e.g. learned rates with reptile, a pattern that matches nothing
        parser.error(str(error))
    return args


def stock_config(args, corpus: Path):
    """The style base's stock config over the style corpus in ``corpus`` (paths only: nothing is read or written)."""
    if args.model == "tacotron2":
        from coqui_meta_lab.gst_base import gst_base_config

        return gst_base_config(corpus)
    from coqui_meta_lab.presets import small_vits_config, speechocean_dataset
    from coqui_meta_lab.style_corpus import MAX_SECONDS
    from coqui_meta_lab.voice_corpus import training_voices

    config = small_vits_config(speechocean_dataset(str(corpus)), max_audio_seconds=MAX_SECONDS + 0.1,
                               speakers=training_voices())
    config.run_eval, config.print_step = False, 10**9
    return config


def style_model(args):
    """A meta model of the study's kind with its meta-learning settings, untrained: it says which tensors they adapt
    (a pattern of ``--adapt-modules`` that matches none is a ValueError naming it)."""
    from coqui_meta.registry import model_kind

    config = stock_config(args, args.out / "corpus")  # where main builds it; the check reads nothing there
    kind = model_kind(config.model)
    return kind.model_class(kind.config_class.from_config(config, meta=meta_config(args)))


def gst_base(args, corpus: Path, train: list[dict]):
    """The GST style base (`coqui_meta_lab.gst_base`) trained on to ``--base-minutes`` in all: from its folder
    here, else from ``--base-asset`` or the shipped GST base (``scripts/gst_base.py`` writes both), else from
    scratch."""
    from coqui_meta_lab.gst_base import GST_BASE, train_gst_base

    return train_gst_base(corpus, train, args.out, args.base_minutes, seed=args.seed, check_minutes=args.check_minutes,
                          asset=args.base_asset or GST_BASE)


def style_base(args, corpus: Path, train: list[dict]):
    """The shipped many-voice base (or ``--base-asset``) trained on for ``--base-minutes`` on the training styles."""
    from coqui_meta_lab.base_asset import VOICES_BASE, asset_start, fit_decoder
    from coqui_meta_lab.base_training import train_base

    config = stock_config(args, corpus)
    asset = args.base_asset or VOICES_BASE
    what = "a base of the many-voice corpus's training voices (the style base's speaker table)"
    weights, record = asset_start(asset, config.speakers, what, record=False)()  # the record: style training only
    fit_decoder(config, weights)  # the decoder's width is the base's (a wider one: another style base)
    return train_base(config, train, args.out, args.base_minutes, seed=args.seed, check_minutes=args.check_minutes,
                      warm_start=lambda: (weights, record))


def meta_config(args):
    from coqui_meta import MetaLearningConfig

    return MetaLearningConfig(algorithm=args.algorithm, task_key="emotion_name", inner_steps=args.inner_steps,
                              inner_lr=args.inner_lr, inner_optimizer=args.inner_optimizer,
                              inner_lr_mode=args.inner_lr_mode, inner_lr_lr=args.inner_lr_lr,
                              multi_step_loss=args.multi_step_loss, adversarial_outer=args.adversarial_outer,
                              adapt_modules=list(args.adapt_modules),
                              n_way=2, k_shot=args.shots, q_query=args.queries, meta_batch_size=4,
                              episodes_per_epoch=50, seed=args.seed)


def steps_to(curve: dict[int, float], target: float) -> int | None:
    """The first step at which a lower-is-better ``curve`` is at ``target`` or below."""
    return next((step for step, value in sorted(curve.items()) if value is not None and value <= target), None)


def print_tables(plain, meta, steps: list[int]) -> dict:
    def cell(value):
        return "n/a" if value is None else f"{value:.3f}"

    print(f"\n| step | plain query loss (lr {plain.lr:g}) | meta query loss ({meta.lr:g}) | plain style distance | "
          "meta style distance | plain style EER | meta style EER |\n|---|---|---|---|---|---|---|")
    for step in steps:
        print(f"| {step} | " + " | ".join(cell(side.report.curve(metric)[step]) for metric in
                                         ("query_loss", "style_distance", "style_eer") for side in (plain, meta))
              + " |")
    print("\nmean gap from the target style in each feature (within-style spreads), first and last step:")
    for side in (plain, meta):
        for step in (steps[0], steps[-1]):
            gaps = (side.report.style_feature_gap or {}).get(step) or {}
            print(f"  {side.label} step {step}: " + ", ".join(f"{k} {v:.2f}" for k, v in gaps.items()))
    for side in (plain, meta):
        judged = side.report.style_judged or {}
        print(f"  {side.label}: share of renditions the judge measured by step: "
              + ", ".join(f"{step} {share:.2f}" for step, share in judged.items() if share is not None))
    reached = {}
    for metric in ("query_loss", "style_distance"):
        target = plain.report.curve(metric)[steps[-1]]
        reached[metric] = {"plain": steps_to(plain.report.curve(metric), target),
                           "meta": steps_to(meta.report.curve(metric), target)}
        print(f"{metric}: plain's step-{steps[-1]} value {target:.3f} reached by plain at step "
              f"{reached[metric]['plain']}, by meta at step {reached[metric]['meta']}")
    return reached


def plot(summary: dict, path: Path) -> None:
    """Query loss, style distance and style EER by adaptation step, plain against meta (``summary``: the JSON this
    script writes, as written or as read back)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ("query_loss", "style_distance", "style_eer")
    figure, axes = plt.subplots(1, len(metrics), figsize=(15, 4))
    for axis, metric in zip(axes, metrics):
        for label in ("plain", "meta"):
            curve = {int(step): value for step, value in (summary[label].get(metric) or {}).items()
                     if value is not None}
            steps = sorted(curve)
            axis.plot([max(step, 0.5) for step in steps], [curve[step] for step in steps], marker="o",
                      label=f"{label} (lr {summary[label]['lr']:g})")
        axis.set(xscale="log", xlabel="adaptation steps (0 drawn at 0.5)", ylabel=metric.replace("_", " "))
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.suptitle(f"held-out styles {', '.join(summary['held_out'])}: {summary.get('model', 'vits')}")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def main() -> None:
    args = arguments()
    quiet(args.threads)
    started = time.perf_counter()

    from coqui_meta.files import write_json
    from coqui_meta_lab.base_asset import NotABase
    from coqui_meta_lab.evaluation_grid import evaluate_sides, learned_from
    from coqui_meta_lab.gst_base import style_training_clips
    from coqui_meta_lab.study import train_branches
    from coqui_meta_lab.style_corpus import build_style_corpus, held_out_styles

    corpus = build_style_corpus(args.out / "corpus")
    held = held_out_styles()
    train = style_training_clips(corpus)
    print(f"{len(train)} training clips in {len({s['emotion_name'] for s in train})} styles; held out: "
          f"{', '.join(held)}")
    try:
        base = (gst_base if args.model == "tacotron2" else style_base)(args, corpus, train)
    except NotABase as error:
        raise SystemExit(f"error: {error}") from None
    meta = meta_config(args)
    branches = train_branches(base, train, meta, args.out, meta_steps=args.meta_steps, jobs=args.jobs,
                              plain_objective=args.plain_objective)
    print(f"branches: meta {branches.meta_steps} meta-steps ({branches.seconds['meta'] / 60:.1f} min), plain "
          f"{branches.plain_steps} steps ({branches.seconds['plain'] / 60:.1f} min), {branches.clip_gradients} "
          "clip-gradients each")
    grid = [float(v) for v in args.lr_grid.split(",")]
    steps = args.steps
    chosen = "" if args.choose_at == steps[-1] else f"-chosen-at-{args.choose_at}"
    chosen += f"-adapting-{'+'.join(args.adapt_modules)}" if args.adapt_modules else ""
    reports = branches.folder / f"styles-vs-{args.plain_objective}{chosen}"
    plain, meta_side = evaluate_sides([("plain", branches.plain_files, None),
                                       ("meta", branches.meta_files, learned_from(meta))],
                                      grid, str(corpus), held, args.shots, args.queries, steps, args.seed, reports,
                                      jobs=args.jobs, task_key="emotion_name", optimizer=meta.inner_update,
                                      choose_at=args.choose_at, adapt_modules=args.adapt_modules)
    reached = print_tables(plain, meta_side, steps)
    keys = ("query_loss", "style_distance", "style_eer", "style_judged", "style_feature_gap", "speaker_similarity")
    summary = {
        "model": args.model, "base": {"steps": base.steps, "minutes": base.minutes, "folder": str(base.folder)},
        **{side.label: {"lr": side.lr, **{key: side.report.curve(key) for key in keys},
                        "grid": {str(value): curve for value, curve in side.grid.items()}}
           for side in (plain, meta_side)},
        "plain_objective": args.plain_objective, "meta_config": meta.to_dict(), "adapt_modules": args.adapt_modules,
        "steps_to_plain_final": reached, "held_out": held, "lr_grid": grid, "chosen_at": args.choose_at,
        "branches": {"meta_steps": branches.meta_steps, "plain_steps": branches.plain_steps,
                     "clip_gradients": branches.clip_gradients, "seconds": branches.seconds},
        "wall_minutes": (time.perf_counter() - started) / 60, "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    write_json(args.out / "style_adaptation.json", summary)
    write_json(reports / "style_adaptation.json", summary)  # the next study in this folder writes over the first
    plot(summary, args.out / "style_adaptation.png")
    print(f"\nwall {summary['wall_minutes']:.1f} min; {args.out / 'style_adaptation.json'}, reports in {reports}")


if __name__ == "__main__":
    main()
