"""The measuring commands of ``coqui-meta``: ``evaluate`` (adaptation curves of a checkpoint on tasks it never saw)
and ``compare`` (several reports side by side): `COMMANDS`, which `coqui_meta.cli` adds as sub-commands."""

import argparse
import os

from coqui_meta.cli.arguments import (
    Command,
    adaptation_settings,
    int_list,
    model_and_adaptation_arguments,
    refused,
    released_checkpoint,
    speakers_or_count,
)


def evaluate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from coqui_meta.judging.evaluation import DEFAULT_STEPS

    model_and_adaptation_arguments(parser)
    parser.add_argument("--data", required=True, help="corpus folder with a Coqui coqui-format metadata.csv, or a "
                        "folder of such folders, one per language (named by its espeak-ng code)")
    parser.add_argument("--speakers", type=speakers_or_count, default=4,
                        help="how many unseen speakers (by seed), or names a,b,c")
    parser.add_argument("--shots", type=int, default=5, help="support clips a speaker")
    parser.add_argument("--queries", type=int, default=5, help="query clips a speaker")
    parser.add_argument("--steps", type=int_list, default=list(DEFAULT_STEPS), help="steps to score at, e.g. 0,1,5,10")
    parser.add_argument("--out_path", required=True, help="folder for report.json, report.md, curves.png, samples/")
    parser.add_argument("--mcd", action="store_true", help="also report mel-cepstral distortion against the real clips")
    parser.add_argument("--task_key", default=None, choices=("speaker_name", "language", "emotion_name"),
                        help="what a new task is: a speaker, a language (then --speakers counts or names languages "
                        "and --data is a folder of language folders) or a speaking style (emotion_name: --speakers "
                        "names the styles; judged by prosody too); default: the checkpoint's meta.task_key")
    return parser


def evaluate(args: argparse.Namespace) -> int:
    """``coqui-meta evaluate``."""
    from coqui_meta.judging.evaluation import evaluate as evaluate_checkpoint
    from coqui_meta.reports.evaluation_report import to_markdown

    released_checkpoint(args, "evaluate")
    try:
        report = evaluate_checkpoint(args.model_path, args.config_path, args.data, speakers=args.speakers,
                                     shots=args.shots, queries=args.queries, steps=args.steps,
                                     out_path=args.out_path, settings=adaptation_settings(args), mcd=args.mcd,
                                     task_key=args.task_key)
    except (FileNotFoundError, ValueError, FloatingPointError) as error:
        raise refused("evaluate", error) from None
    print(to_markdown(report))
    print(f"Renditions spoken through: {report.vocoder}")
    print(f"Written: {os.path.join(args.out_path, 'report.json')}, report.md, curves.png, samples/")
    return 0


def compare_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("reports", nargs="+", help="report.json files written by coqui-meta evaluate")
    parser.add_argument("--out_path", required=True, help="folder for compare.json, compare.md and compare.png")
    return parser


def compare(args: argparse.Namespace) -> int:
    """``coqui-meta compare``."""
    from coqui_meta.reports.compare import run, to_markdown

    try:
        result = run(args.reports, args.out_path)
    except (FileNotFoundError, ValueError) as error:
        raise refused("compare", error) from None
    print(to_markdown(result))
    print(f"Written: {os.path.join(args.out_path, 'compare.md')}, compare.json, compare.png")
    return 0


COMMANDS = (
    Command("evaluate", "adaptation curves of a checkpoint on unseen speakers, languages or styles",
            "Adapt a meta or stock checkpoint to unseen speakers (or languages) and score it at every listed step.",
            evaluate, evaluate_arguments),
    Command("compare", "evaluate reports side by side",
            "Adaptation curves side by side; the first report is the baseline.", compare, compare_arguments),
)
