"""The ``coqui-meta`` command line.

``coqui-meta evaluate --model_path CKPT --config_path CONFIG --data CORPUS --speakers 4 --shots 5 --queries 5
--steps 0,1,2,5,10 --out_path DIR``: adaptation curves on unseen speakers (see `coqui_meta.evaluation`).

``coqui-meta compare A/report.json B/report.json ... --out_path DIR``: adaptation curves side by side, the first report
being the baseline (see `coqui_meta.compare`).

``coqui-meta train --config_path config.json [--continue_path DIR] [--restore_path CKPT] [--coqpit.meta.inner_steps 3]``
mirrors Coqui's ``TTS/bin/train_tts.py``: the same trainer arguments and config overrides. Meta-validation runs on
task values (speakers) held out from training: ``meta.eval_tasks``, or ``meta.n_way`` of them chosen by seed.
"""


import argparse
import logging
import os
import sys
from dataclasses import dataclass, field

logger = logging.getLogger("coqui_meta")


def _train(arg_list: list[str]) -> int:
    from trainer import Trainer, TrainerArgs
    from TTS.config import load_config
    from TTS.tts.datasets import load_tts_samples
    from TTS.tts.models import setup_model
    from TTS.utils.generic_utils import ConsoleFormatter, setup_logger

    import coqui_meta  # noqa: F401  (registers meta_vits and meta_tacotron2)
    from coqui_meta.episodes import split_by_task

    @dataclass
    class TrainMetaArgs(TrainerArgs):
        config_path: str | None = field(default=None, metadata={"help": "Path to the config file."})

    setup_logger("TTS", level=logging.INFO, stream=sys.stdout, formatter=ConsoleFormatter())
    setup_logger("coqui_meta", level=logging.INFO, stream=sys.stdout, formatter=ConsoleFormatter())
    train_args = TrainMetaArgs()
    parser = train_args.init_argparse(arg_prefix="")
    args, config_overrides = parser.parse_known_args(arg_list)
    train_args.parse_args(args)
    if args.config_path:
        config_path = args.config_path
    elif args.continue_path:
        config_path = os.path.join(args.continue_path, "config.json")
    else:
        raise SystemExit("coqui-meta train: give --config_path CONFIG or --continue_path DIR")
    if not os.path.isfile(config_path):
        raise SystemExit(f"coqui-meta train: config file not found: {config_path}")
    config = load_config(config_path)
    if "meta" not in config:
        raise SystemExit(
            f"coqui-meta train: {config_path} has model {config.model!r} and no 'meta' block; "
            "use model 'meta_vits' or 'meta_tacotron2' (see MetaVitsConfig.from_config)"
        )
    if config_overrides:
        config.parse_known_args(config_overrides, relaxed_parser=True)
    config.meta.check_values()

    declared_speakers = list(config.speakers)
    samples, _ = load_tts_samples(config, eval_split=False)  # it sets config.speakers to every speaker in the data
    meta = config.meta
    train_samples, eval_samples = split_by_task(samples, meta.task_key, meta.eval_tasks, meta.n_way, meta.seed)
    held_out = sorted({str(s[meta.task_key]) for s in eval_samples})
    logger.info("Meta-validation on held-out %s values: %s", meta.task_key, ", ".join(held_out))
    if config.get("use_speaker_embedding"):
        # the speaker table holds the declared speakers (those of a checkpoint to restore), else the training ones
        config.speakers = declared_speakers or sorted({s["speaker_name"] for s in train_samples})

    model = setup_model(config)
    trainer = Trainer(
        train_args,
        model.config,
        config.output_path,
        model=model,
        train_samples=train_samples,
        eval_samples=eval_samples,
        parse_command_line_args=False,
    )
    if args.continue_path and config_overrides:
        # the Trainer reloads config.json in place when it continues a run: apply the overrides again
        trainer.config.parse_known_args(config_overrides, relaxed_parser=True)
    trainer.fit()
    return 0


def _compare(arg_list: list[str]) -> int:
    from coqui_meta.compare import run, to_markdown

    parser = argparse.ArgumentParser(
        prog="coqui-meta compare", description="Adaptation curves side by side; the first report is the baseline."
    )
    parser.add_argument("reports", nargs="+", help="report.json files written by coqui-meta evaluate")
    parser.add_argument("--out_path", required=True, help="folder for compare.json, compare.md and compare.png")
    args = parser.parse_args(arg_list)
    try:
        result = run(args.reports, args.out_path)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"coqui-meta compare: {error}") from None
    print(to_markdown(result))
    print(f"Written: {os.path.join(args.out_path, 'compare.md')}, compare.json, compare.png")
    return 0


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 0,1,5,10, got {text!r}") from None


def _speakers(text: str) -> int | list[str]:
    return int(text) if text.isdigit() else [name for name in text.split(",") if name]


def _evaluate(arg_list: list[str]) -> int:
    from coqui_meta.evaluation import DEFAULT_STEPS, evaluate

    parser = argparse.ArgumentParser(
        prog="coqui-meta evaluate",
        description="Adapt a meta or stock checkpoint to unseen speakers and score it at every listed step.",
    )
    parser.add_argument("--model_path", required=True, help="checkpoint (.pth) of a meta or stock vits/tacotron2")
    parser.add_argument("--config_path", required=True, help="its config.json")
    parser.add_argument("--data", required=True, help="corpus folder with a Coqui coqui-format metadata.csv")
    parser.add_argument("--speakers", type=_speakers, default=4, help="how many unseen speakers (by seed), or names a,b,c")
    parser.add_argument("--shots", type=int, default=5, help="support clips a speaker")
    parser.add_argument("--queries", type=int, default=5, help="query clips a speaker")
    parser.add_argument("--steps", type=_int_list, default=list(DEFAULT_STEPS), help="steps to score at, e.g. 0,1,5,10")
    parser.add_argument("--out_path", required=True, help="folder for report.json, report.md, curves.png, samples/")
    parser.add_argument("--lr", type=float, default=None, help="adaptation learning rate (default: the config's meta.inner_lr)")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    parser.add_argument("--adapt_modules", default=None, help="comma-separated name patterns (default: the config's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--mcd", action="store_true", help="also report mel-cepstral distortion against the real clips")
    parser.add_argument("--trust_checkpoint", action="store_true", help="allow a checkpoint that needs pickled code")
    args = parser.parse_args(arg_list)
    try:
        report = evaluate(
            args.model_path,
            args.config_path,
            args.data,
            speakers=args.speakers,
            shots=args.shots,
            queries=args.queries,
            steps=args.steps,
            out_path=args.out_path,
            lr=args.lr,
            optimizer=args.optimizer,
            adapt_modules=args.adapt_modules.split(",") if args.adapt_modules else None,
            seed=args.seed,
            device=args.device,
            mcd=args.mcd,
            trust=args.trust_checkpoint,
        )
    except (FileNotFoundError, ValueError, FloatingPointError) as error:
        raise SystemExit(f"coqui-meta evaluate: {error}") from None
    from coqui_meta.report import to_markdown

    print(to_markdown(report))
    print(f"Written: {os.path.join(args.out_path, 'report.json')}, report.md, curves.png, samples/")
    return 0


COMMANDS = {"train": _train, "evaluate": _evaluate, "compare": _compare}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="coqui-meta", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        choices=sorted(COMMANDS),
        help="train: meta-train a meta_vits or meta_tacotron2 config; evaluate: adaptation curves of a checkpoint on "
        "unseen speakers; compare: evaluate reports side by side",
    )
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        parser.error(f"unknown command {command!r}; use one of {', '.join(sorted(COMMANDS))}")
    return COMMANDS[command](rest)


if __name__ == "__main__":
    sys.exit(main())
