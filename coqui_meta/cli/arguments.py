"""The flags and the error wording the commands share: which checkpoint (``--model_name`` or ``--model_path``),
how a new voice is learned (`adaptation_settings`), and a library error said in this command line's flags
(`in_flags`)."""

import argparse
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Command:
    """One sub-command of ``coqui-meta``: `coqui_meta.cli.build_parser` adds each module's ``COMMANDS``."""

    name: str
    help: str  # its line in ``coqui-meta --help``
    description: str
    run: Callable  # ``run(args) -> int``; with ``forward``, ``run(argv) -> int``
    arguments: Callable[[argparse.ArgumentParser], object] | None = None  # adds its flags to its sub-parser
    forward: bool = False  # its own parser reads the rest of the line (the Trainer's arguments, the lab's demo)


def checkpoint_arguments(parser: argparse.ArgumentParser, model_help: str) -> None:
    parser.add_argument("--model_name", default=None, help="a released Coqui model as `tts --model_name` names it "
                        "(e.g. tts_models/en/vctk/vits): from Coqui's cache, else downloaded (coqui_meta.released)")
    parser.add_argument("--model_path", default=None, help=f"{model_help}; or a released model's folder")
    parser.add_argument("--config_path", default=None, help="its config.json (default: the one beside the model)")
    parser.add_argument("--trust_checkpoint", action="store_true", help="allow a checkpoint that needs pickled code")


def released_checkpoint(args: argparse.Namespace, command: str):
    """``--model_name`` or ``--model_path`` (a checkpoint or a release's folder) resolved to the checkpoint and the
    config to read (`coqui_meta.released`), put back in ``args``; a refusal before anything is written."""
    from coqui_meta.released import resolve

    try:
        release = resolve(args.model_name, args.model_path, args.config_path)
    except (FileNotFoundError, ValueError) as error:
        raise refused(command, error) from None
    args.model_path, args.config_path = str(release.model_file), str(release.config_path)
    if args.model_name and release.default_vocoder and "vocoder_name" in args and not (
            args.vocoder_name or args.vocoder_path or args.vocoder_config_path):
        args.vocoder_name = release.default_vocoder  # as `tts --model_name` speaks a Tacotron2 release
    return release


def model_and_adaptation_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags `evaluate` and `adapt` share: which checkpoint, and how a new voice is learned."""
    checkpoint_arguments(parser, "checkpoint (.pth) of a meta or stock vits/tacotron2")
    parser.add_argument("--lr", type=float, default=None,
                        help="one adaptation learning rate for every tensor (default: the checkpoint's learned inner "
                        "rates, or its meta.inner_lr)")
    parser.add_argument("--lr_scale", type=float, default=1.0, help="multiplies the learning rates (learned or --lr)")
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default=None,
                        help="how the steps move the voice (default: the model's own: adam; sgd for second-order maml)")
    parser.add_argument("--grad_clip", type=float, default=0.0, help="clip the gradients' total norm (default: off)")
    parser.add_argument("--encoder", choices=("coqui", "resemblyzer", "mean"), default=None,
                        help="d-vector models: where a new voice starts (default: the Coqui speaker encoder the config "
                        "names, else the mean of its d-vector file)")
    parser.add_argument("--adapt_modules", default=None,
                        help="comma-separated name patterns (default: the config's); the speaker embedding alone "
                        "(emb_g / speaker_embedding) keeps every old speaker bit-identical")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--vocoder_name", default=None, help="Tacotron2: a released vocoder that speaks the samples "
                        "and renditions, as `tts --vocoder_name` names it (e.g. vocoder_models/en/ljspeech/hifigan_v2;"
                        " from Coqui's cache when offline); default: with --model_name the release's own "
                        "vocoder, as `tts --model_name` uses it, else Griffin-Lim")
    parser.add_argument("--vocoder_path", default=None, help="Tacotron2: a vocoder checkpoint instead (with "
                        "--vocoder_config_path)")
    parser.add_argument("--vocoder_config_path", default=None, help="its config.json")


#: the flag of each library argument whose flag is not ``--`` and its name
FLAGS = {"trust": "--trust_checkpoint"}


def in_flags(error: Exception) -> str:
    """An error's message with the arguments it names given as this CLI's flags (`coqui_meta.errors.Phrased`)."""
    phrased = getattr(error, "phrased", None)
    return phrased(lambda name: FLAGS.get(name, f"--{name}")) if phrased else str(error)


def adaptation_settings(args):
    from coqui_meta.adapting.settings import AdaptationSettings
    from coqui_meta.formats.vocoder import VocoderChoice

    vocoder = VocoderChoice(args.vocoder_name, args.vocoder_path, args.vocoder_config_path)
    return AdaptationSettings(lr=args.lr, lr_scale=args.lr_scale, optimizer=args.optimizer, grad_clip=args.grad_clip,
                              adapt_modules=args.adapt_modules.split(",") if args.adapt_modules else [],
                              seed=args.seed, device=args.device, trust=args.trust_checkpoint, encoder=args.encoder,
                              vocoder=vocoder if vocoder.named else None)


def int_list(text: str) -> list[int]:
    """An argparse ``type``: comma-separated integers (``--steps 0,1,5,10``)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 0,1,5,10, got {text!r}") from None


def speakers_or_count(text: str) -> int | list[str]:
    """An argparse ``type``: how many tasks to draw (``4``) or their names (``a,b,c``)."""
    return int(text) if text.isdigit() else [name for name in text.split(",") if name]


def refused(command: str, error: Exception) -> SystemExit:
    """The exit of ``coqui-meta COMMAND`` for a library error: one line, in this command line's flags."""
    return SystemExit(f"coqui-meta {command}: {in_flags(error)}")
