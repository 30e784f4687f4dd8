"""The ``coqui-meta`` command line.

``coqui-meta evaluate --model_path CKPT --config_path CONFIG --data CORPUS --speakers 4 --shots 5 --queries 5
--steps 0,1,2,5,10 --out_path DIR``: adaptation curves on unseen speakers (see `coqui_meta.voices.evaluation`).

``coqui-meta adapt --model_path CKPT --config_path CONFIG --data CLIPS --speaker NAME --shots K --steps N
--out_path DIR [--save_delta]``: a new voice that stock Coqui loads (see `coqui_meta.voices.new_voice`);
``coqui-meta apply-delta`` puts a saved delta back on its base (see `coqui_meta.voices.delta`).

``coqui-meta embed [--encoder prototype|resemblyzer|coqui] [--model_path CKPT] [--config_path CONFIG] --data CORPUS
--out_path d_vectors.json``: a speaker encoder's embedding (a prototype model's own, Resemblyzer's or Coqui's) of every
clip and speaker, in the d-vector format Coqui reads (see `coqui_meta.voices.embed`).

Every command that reads a model takes ``--model_name NAME`` as ``tts --model_name`` does (a released Coqui model, e.g.
``tts_models/en/vctk/vits``: Coqui's cache, else a download) or ``--model_path`` a checkpoint or a release's folder
(`coqui_meta.released`); ``train --model_name NAME --config_path meta.json`` meta-trains a released model
(`coqui_meta.train_command.released_config`).

``coqui-meta compare A/report.json B/report.json ... --out_path DIR``: adaptation curves side by side, the first report
being the baseline (see `coqui_meta.voices.compare`).

``coqui-meta train --config_path config.json [--continue_path DIR] [--restore_path CKPT] [--coqpit.meta.inner_steps 3]``
mirrors Coqui's ``TTS/bin/train_tts.py``: the same trainer arguments and config overrides. On several GPUs:
``python -m trainer.distribute --script $(which coqui-meta) --gpus 0,1 train --config_path config.json`` or
``torchrun --nproc_per_node 2 $(which coqui-meta) train --config_path config.json`` (torchrun also without GPUs, with
gloo). Meta-validation runs on task values (speakers) held out from training: ``meta.eval_tasks``, or ``meta.n_way`` of
them chosen by seed.
"""


import argparse
import logging
import os
import sys

from coqui_meta.cli_voices import (
    adapt_command,
    adaptation_settings,
    apply_delta_command,
    embed_command,
    in_flags,
    model_and_adaptation_arguments,
    released_checkpoint,
)

logger = logging.getLogger("coqui_meta")


def _train_command(arg_list: list[str]) -> int:
    from coqui_meta.train_command import train

    return train(arg_list)


def _compare(arg_list: list[str]) -> int:
    from coqui_meta.voices.compare import run, to_markdown

    parser = argparse.ArgumentParser(
        prog="coqui-meta compare", description="Adaptation curves side by side; the first report is the baseline."
    )
    parser.add_argument("reports", nargs="+", help="report.json files written by coqui-meta evaluate")
    parser.add_argument("--out_path", required=True, help="folder for compare.json, compare.md and compare.png")
    args = parser.parse_args(arg_list)
    try:
        result = run(args.reports, args.out_path)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"coqui-meta compare: {in_flags(error)}") from None
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
    from coqui_meta.voices.evaluation import DEFAULT_STEPS, evaluate

    parser = argparse.ArgumentParser(
        prog="coqui-meta evaluate",
        description="Adapt a meta or stock checkpoint to unseen speakers (or languages) and score it at every listed "
        "step.",
    )
    model_and_adaptation_arguments(parser)
    parser.add_argument("--data", required=True, help="corpus folder with a Coqui coqui-format metadata.csv, or a "
                        "folder of such folders, one per language (named by its espeak-ng code)")
    parser.add_argument(
        "--speakers", type=_speakers, default=4, help="how many unseen speakers (by seed), or names a,b,c"
    )
    parser.add_argument("--shots", type=int, default=5, help="support clips a speaker")
    parser.add_argument("--queries", type=int, default=5, help="query clips a speaker")
    parser.add_argument("--steps", type=_int_list, default=list(DEFAULT_STEPS), help="steps to score at, e.g. 0,1,5,10")
    parser.add_argument("--out_path", required=True, help="folder for report.json, report.md, curves.png, samples/")
    parser.add_argument("--mcd", action="store_true", help="also report mel-cepstral distortion against the real clips")
    parser.add_argument("--task_key", default=None, choices=("speaker_name", "language", "emotion_name"),
                        help="what a new task is: a speaker, a language (then --speakers counts or names languages "
                        "and --data is a folder of language folders) or a speaking style (emotion_name: --speakers "
                        "names the styles; judged by prosody too); default: the checkpoint's meta.task_key")
    args = parser.parse_args(arg_list)
    released_checkpoint(args, "evaluate")
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
            settings=adaptation_settings(args),
            mcd=args.mcd,
            task_key=args.task_key,
        )
    except (FileNotFoundError, ValueError, FloatingPointError) as error:
        raise SystemExit(f"coqui-meta evaluate: {in_flags(error)}") from None
    from coqui_meta.voices.report import to_markdown

    print(to_markdown(report))
    print(f"Renditions spoken through: {report['vocoder']}")
    print(f"Written: {os.path.join(args.out_path, 'report.json')}, report.md, curves.png, samples/")
    return 0


def _demo(arg_list: list[str]) -> int:
    """`coqui-meta demo` is the lab's (it builds corpora from Debian voices and ships a base, which the plugin does not
    carry): a package that is installed beside the plugin adds it through the entry point group ``coqui_meta.commands``
    (lab/pyproject.toml), so the plugin imports nothing of the lab."""
    from importlib.metadata import entry_points

    found = list(entry_points(group="coqui_meta.commands", name="demo"))
    if not found:
        raise SystemExit("coqui-meta demo: the demo lives in the lab beside the plugin, not in the coqui-meta wheel: "
                         "run `make demo` in a checkout of the repository (it installs lab/ next to the plugin)")
    return found[0].load()(arg_list)


COMMANDS = {
    "demo": _demo,
    "train": _train_command,
    "evaluate": _evaluate,
    "compare": _compare,
    "adapt": adapt_command,
    "apply-delta": apply_delta_command,
    "embed": embed_command,
}


def main(argv: list[str] | None = None) -> int:
    import warnings

    # torchaudio 2.8 announces, at every clip it reads, a change of its load() in 2.9; nothing here depends on it
    warnings.filterwarnings("ignore", message="In 2.9, this function's implementation")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="coqui-meta", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        choices=sorted(COMMANDS),
        help="train: meta-train a meta_vits or meta_tacotron2 config; evaluate: adaptation curves of a checkpoint on "
        "unseen speakers or languages; compare: evaluate reports side by side; adapt: a new voice or language that "
        "stock Coqui loads; "
        "apply-delta: a saved voice delta back on its base; embed: a speaker encoder's d-vector file of a corpus; "
        "demo: the whole idea on Debian voices",
    )
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    if argv[0] not in COMMANDS and (known := [a for a in argv if a in COMMANDS]):
        # `python -m trainer.distribute --script $(which coqui-meta) train ...` puts its flags before the command
        argv.remove(known[0])
        argv.insert(0, known[0])
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        parser.error(f"unknown command {command!r}; use one of {', '.join(sorted(COMMANDS))}")
    return COMMANDS[command](rest)


if __name__ == "__main__":
    sys.exit(main())
