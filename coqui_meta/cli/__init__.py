"""The ``coqui-meta`` command line.

``coqui-meta evaluate --model_path CKPT --config_path CONFIG --data CORPUS --speakers 4 --shots 5 --queries 5
--steps 0,1,2,5,10 --out_path DIR``: adaptation curves on unseen speakers (see `coqui_meta.judging.evaluation`).

``coqui-meta adapt --model_path CKPT --config_path CONFIG --data CLIPS --speaker NAME --shots K --steps N
--out_path DIR [--save_delta]``: a new voice that stock Coqui loads (see `coqui_meta.adapting.new_voice`);
``coqui-meta apply-delta`` puts a saved delta back on its base (see `coqui_meta.adapting.delta`).

``coqui-meta embed [--encoder prototype|resemblyzer|coqui] [--model_path CKPT] [--config_path CONFIG] --data CORPUS
--out_path d_vectors.json``: a speaker encoder's embedding (a prototype model's own, Resemblyzer's or Coqui's) of every
clip and speaker, in the d-vector format Coqui reads (see `coqui_meta.adapting.embed`).

Every command that reads a model takes ``--model_name NAME`` as ``tts --model_name`` does (a released Coqui model, e.g.
``tts_models/en/vctk/vits``: Coqui's cache, else a download) or ``--model_path`` a checkpoint or a release's folder
(`coqui_meta.released`); ``train --model_name NAME --config_path meta.json`` meta-trains a released model
(`coqui_meta.cli.train.released_config`).

``coqui-meta compare A/report.json B/report.json ... --out_path DIR``: adaptation curves side by side, the first report
being the baseline (see `coqui_meta.reports.compare`).

The commands are argparse sub-commands (`build_parser`), each registered by its module: `coqui_meta.cli.train`,
`coqui_meta.cli.measures`, `coqui_meta.cli.voices`.

``coqui-meta train --config_path config.json [--continue_path DIR] [--restore_path CKPT] [--coqpit.meta.inner_steps 3]``
mirrors Coqui's ``TTS/bin/train_tts.py``: the same trainer arguments and config overrides. On several GPUs:
``python -m trainer.distribute --script $(which coqui-meta) --gpus 0,1 train --config_path config.json`` or
``torchrun --nproc_per_node 2 $(which coqui-meta) train --config_path config.json`` (torchrun also without GPUs, with
gloo). Meta-validation runs on task values (speakers) held out from training: ``meta.eval_tasks``, or ``meta.n_way`` of
them chosen by seed.
"""

import argparse
import sys

from coqui_meta.cli import measures, train, voices
from coqui_meta.cli.arguments import Command

#: the flags ``python -m trainer.distribute --script $(which coqui-meta) train ...`` puts before the command: they
#: are the Trainer's, and ``train`` gets them back
LAUNCHER_FLAGS = ("--continue_path", "--restore_path", "--group_id", "--use_ddp")


def build_parser() -> argparse.ArgumentParser:
    """``coqui-meta`` and its sub-commands, each module's ``COMMANDS``. A command whose own parser reads the rest of
    the line (``train``, ``demo``: ``forward``) gets the arguments argparse did not take (`forwarded`)."""
    parser = argparse.ArgumentParser(prog="coqui-meta", description=__doc__.splitlines()[0], allow_abbrev=False)
    for flag in LAUNCHER_FLAGS:
        parser.add_argument(flag, default=None, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)
    for command in (*train.COMMANDS, *measures.COMMANDS, *voices.COMMANDS, DEMO):
        sub = commands.add_parser(command.name, help=command.help, description=command.description,
                                  add_help=not command.forward)
        if command.arguments is not None:
            command.arguments(sub)
        sub.set_defaults(run=command.run, forward=command.forward)
    return parser


def forwarded(args: argparse.Namespace, rest: list[str]) -> list[str]:
    """The arguments a ``forward`` command's own parser reads: the launcher's flags given before the command, then
    the rest of the line."""
    return [f"{flag}={getattr(args, flag[2:])}" for flag in LAUNCHER_FLAGS if getattr(args, flag[2:])] + rest


def command_parsers(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """Each sub-command's parser of ``parser`` (default: `build_parser`'s), by name (the docs' command reference
    reads them)."""
    actions = (parser or build_parser())._actions
    (commands,) = [action for action in actions if isinstance(action, argparse._SubParsersAction)]
    return dict(commands.choices)


def demo(arg_list: list[str]) -> int:
    """`coqui-meta demo` is the lab's (it builds corpora from Debian voices and ships a base, which the plugin does not
    carry): a package that is installed beside the plugin adds it through the entry point group ``coqui_meta.commands``
    (lab/pyproject.toml), so the plugin imports nothing of the lab."""
    from importlib.metadata import entry_points

    found = list(entry_points(group="coqui_meta.commands", name="demo"))
    if not found:
        raise SystemExit("coqui-meta demo: the demo lives in the lab beside the plugin, not in the coqui-meta wheel: "
                         "run `make demo` in a checkout of the repository (it installs lab/ next to the plugin)")
    return found[0].load()(arg_list)


DEMO = Command("demo", "the whole idea on Debian voices (the lab's)", demo.__doc__.splitlines()[0], demo, forward=True)


def main(argv: list[str] | None = None) -> int:
    import warnings

    # torchaudio 2.8 announces, at every clip it reads, a change of its load() in 2.9; nothing here depends on it
    warnings.filterwarnings("ignore", message="In 2.9, this function's implementation")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv in (["-h"], ["--help"]):
        parser.print_help()
        return 0 if argv else 2
    args, rest = parser.parse_known_args(argv)
    if args.forward:
        return args.run(forwarded(args, rest))
    if rest:
        command_parsers(parser)[args.command].error(f"unrecognized arguments: {' '.join(rest)}")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
