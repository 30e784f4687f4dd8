"""The voice commands of ``coqui-meta``: ``adapt`` (a new voice, or with ``--language`` a new language, or with
``--style`` a new speaking style: one path, `adapt`), ``embed`` (a d-vector file of a corpus) and ``apply-delta``.
`COMMANDS`, which `coqui_meta.cli` adds as sub-commands."""

import argparse
from dataclasses import dataclass
from typing import Callable

from coqui_meta.cli.arguments import (
    Command,
    adaptation_settings,
    checkpoint_arguments,
    model_and_adaptation_arguments,
    refused,
    released_checkpoint,
)

#: the errors a command reports in one line (anything else is a bug, and keeps its traceback)
LIBRARY_ERRORS = (FileNotFoundError, FileExistsError, ValueError, FloatingPointError)


# -- adapt --------------------------------------------------------------------------------------------------------


def adapt_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    model_and_adaptation_arguments(parser)
    parser.add_argument(
        "--data", required=True, help="a folder with a coqui-format metadata.csv, or of name.wav + name.txt"
    )
    parser.add_argument("--speaker", help="the new voice's name (for metadata.csv: the speaker to take); with "
                        "--style, the voice the clips are of (one the model has)")
    parser.add_argument("--style", help="a new speaking style: the clips' emotion_name (a VITS model learns it as a "
                        "new row, SPEAKER_STYLE, of the voice that speaks the clips)")
    parser.add_argument("--language", help="the language of the clips (an espeak-ng code): with --speaker, one the "
                        "multilingual model has; alone, a new language to add to it")
    parser.add_argument("--shots", type=int, default=10, help="clips to learn from")
    parser.add_argument("--steps", type=int, default=20, help="adaptation steps (0: a prototype model's voice is the "
                        "prototype of the clips)")
    parser.add_argument("--out_path", required=True, help="new folder for model.pth, config.json, speakers.json, ...")
    parser.add_argument("--save_delta", action="store_true", help="also write voice.safetensors: only what changed")
    parser.add_argument("--d_vectors", action="append", default=[],
                        help="d-vector models: a d-vector file whose voices to keep beside the new one (coqui-meta "
                        "embed's, or an earlier voice's d_vectors.json), besides the config's d_vector_file")
    return parser


@dataclass
class Learning:
    """What ``adapt`` learns (a voice, a language or a style): how, and how its result is told."""

    learn: Callable[[], object]  # runs the library call; its result is the kind's `AdaptationResult`
    title: Callable[[object], str]  # "Voice 'anna'", ...
    files: Callable[[object], str]  # the voice files written beside model.pth and config.json
    try_it: Callable[[object], str]  # how stock Coqui speaks it


def adapt(args: argparse.Namespace) -> int:
    """``coqui-meta adapt``: whichever kind the flags ask for goes through the same handling and report."""
    released_checkpoint(args, "adapt")
    learning = _learning(args)
    try:
        info = learning.learn()
    except LIBRARY_ERRORS as error:
        raise refused("adapt", error) from None
    out = args.out_path
    first = (info.support_loss or [info.final_support_loss])[0]
    print(f"{learning.title(info)}: support loss {first:.4f} -> {info.final_support_loss:.4f} in {info.steps} steps "
          f"({info.seconds:.1f} s on {info.device})")
    print(f"Written: {out}/model.pth, config.json, {learning.files(info)}sample.wav, adapt.json")
    print(f"Sample spoken through: {info.vocoder}")
    print(learning.try_it(info))
    return 0


def _learning(args) -> Learning:
    """The kind the flags ask for, its library call and its report; flags that do not fit it are refused."""
    from coqui_meta.adapting.new_language import adapt_language
    from coqui_meta.adapting.new_style import adapt_style
    from coqui_meta.adapting.new_voice import adapt as adapt_voice

    settings, out = adaptation_settings(args), args.out_path
    speak = f"tts --model_path {out}/model.pth --config_path {out}/config.json"
    if args.style:
        _refuse_flags(args, "--style", language=args.language, d_vectors=args.d_vectors)
        return Learning(
            lambda: adapt_style(args.model_path, args.config_path, args.data, args.style, args.speaker, args.shots,
                                args.steps, out, settings=settings, save_delta=args.save_delta),
            lambda info: f"Style {info.style!r} of {info.voice!r}", lambda info: "speakers.json, ",
            lambda info: _try_style(info, out, speak))
    if not args.speaker and not args.language:
        raise SystemExit("coqui-meta adapt: give --speaker NAME (a new voice), --language CODE (a new language) or "
                         "--style NAME")
    if not args.speaker:
        _refuse_flags(args, "--language", save_delta=args.save_delta, d_vectors=args.d_vectors)
        return Learning(
            lambda: adapt_language(args.model_path, args.config_path, args.data, args.language, args.shots, args.steps,
                                   out, settings=settings),
            lambda info: f"Language {info.language!r}", lambda info: "",
            lambda info: f'Try: {speak} --language_idx {info.language} --speaker_idx {info.speaker_idx} --text "..." '
                         f"--out_path {out}/hello.wav")
    return Learning(
        lambda: adapt_voice(args.model_path, args.config_path, args.data, args.speaker, args.shots, args.steps, out,
                            settings=settings, save_delta=args.save_delta, d_vectors=args.d_vectors,
                            language=args.language),
        lambda info: f"Voice {info.speaker!r}", _voice_files,
        lambda info: _try_voice(info, args, speak))


def _refuse_flags(args, kind: str, **given) -> None:
    wrong = [f"--{name}" for name, value in given.items() if value]
    if wrong:
        raise SystemExit(f"coqui-meta adapt: {' and '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} not for {kind}")


def _voice_files(info) -> str:
    files = "d_vectors.json" if info.d_vectors else "" if info.single_speaker else "speakers.json"
    return f"{files}, " if files else ""


def _try_voice(info, args, speak: str) -> str:
    language = f" --language_idx {info.language}" if info.language else ""
    speaker = "" if info.single_speaker else f" --speaker_idx {info.speaker}"  # a one-speaker model's own
    return (f'Try: {speak}{speaker}{language}{vocoder_flags(args)} --text "Hello there." '
            f"--out_path {args.out_path}/hello.wav")


def _try_style(info, out: str, speak: str) -> str:
    if info.style_weights:  # GST: stock Coqui takes the token weights as style_wav, from Python
        return (f"Try (Python): from TTS.utils.synthesizer import Synthesizer; s = Synthesizer('{out}/model.pth', "
                f"'{out}/config.json'); s.tts('Hello there.', style_wav=s.tts_config.gst.gst_style_input_weights)")
    return f'Try: {speak} --speaker_idx {info.speaker} --text "Hello there." --out_path {out}/hello.wav'


def vocoder_flags(args) -> str:
    """The vocoder flags of stock ``tts`` that speak a Tacotron2 result as the sample was spoken ("" for none): the
    files, since ``tts --model_path`` ignores ``--vocoder_name``."""
    from coqui_meta.formats.vocoder import released_vocoder

    model_path, config_path = args.vocoder_path, args.vocoder_config_path
    if args.vocoder_name:
        model_path, config_path = released_vocoder(args.vocoder_name)  # found a moment ago: in the cache now
    return f" --vocoder_path {model_path} --vocoder_config_path {config_path}" if model_path else ""


# -- embed and apply-delta ----------------------------------------------------------------------------------------


def embed_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from coqui_meta.adapting.encoders import ENCODERS

    parser.add_argument("--encoder", choices=ENCODERS, default="prototype",
                        help="prototype: a protonet/proto_maml model's own encoder (needs --model_path and "
                        "--config_path); resemblyzer: 256-dimensional; coqui: Coqui's speaker encoder (YourTTS's kind)")
    parser.add_argument("--model_name", default=None, help="a released Coqui model as `tts --model_name` names it "
                        "(its config, and for --encoder coqui the speaker encoder in its folder)")
    parser.add_argument("--model_path", default=None,
                        help="--encoder prototype: checkpoint of a protonet or proto_maml model, or a release's "
                        "folder")
    parser.add_argument("--config_path", default=None, help="its config.json; with another encoder, optional: the "
                        "d-vector model's config, whose d_vector_dim the vectors must have")
    parser.add_argument("--trust_checkpoint", action="store_true", help="allow a checkpoint that needs pickled code")
    parser.add_argument("--encoder_model_path", default=None,
                        help="--encoder coqui: its checkpoint (default: the config's speaker_encoder_model_path)")
    parser.add_argument("--encoder_config_path", default=None,
                        help="--encoder coqui: its config (default: the config's speaker_encoder_config_path)")
    parser.add_argument("--data", default=None, help="corpus folder with a Coqui coqui-format metadata.csv (default: "
                        "the datasets of --config_path, read by Coqui in any formatter and keyed as Coqui keys them)")
    parser.add_argument("--out_path", required=True, help="the d-vector file to write (.json)")
    parser.add_argument("--dataset_name", default="",
                        help="the dataset_name of the Coqui dataset config that will read the file (keys are "
                        "dataset_name#path, as Coqui names clips; default: empty, Coqui's default)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    return parser


def embed(args: argparse.Namespace) -> int:
    """``coqui-meta embed``."""
    from coqui_meta.adapting.embed import embed as embed_corpus

    if args.model_name or args.model_path:
        released_checkpoint(args, "embed")
    try:
        info = embed_corpus(args.model_path, args.config_path, args.data, args.out_path,
                            dataset_name=args.dataset_name, batch_size=args.batch_size, device=args.device,
                            trust=args.trust_checkpoint, encoder=args.encoder,
                            encoder_model_path=args.encoder_model_path, encoder_config_path=args.encoder_config_path)
    except (FileNotFoundError, ValueError) as error:
        raise refused("embed", error) from None
    print(f"{info['clips']} clips of {info['speakers']} speakers, {info['d_vector_dim']}-dimensional "
          f"({info['encoder']} encoder), written to {info['out_path']} ({info['seconds']:.1f} s)")
    if info["left_out"]:
        print(f"{len(info['left_out'])} clip(s) left out by the model's length filters, e.g. {info['left_out'][0]}")
    if info["fields_to_set"]:  # a config that does not use d-vectors yet: how it reads the file
        import json

        print(f"{args.config_path} does not use d-vectors yet; to train or speak with these, set in it: "
              + ", ".join(f"{key}={json.dumps(value)}" for key, value in info["fields_to_set"].items()))
    return 0


def apply_delta_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    checkpoint_arguments(parser, "the base checkpoint the voice was adapted from")
    parser.add_argument("--delta", required=True, help="voice.safetensors written by coqui-meta adapt --save_delta")
    parser.add_argument("--out_path", required=True, help="new folder for model.pth, config.json, speakers.json")
    return parser


def apply_delta(args: argparse.Namespace) -> int:
    """``coqui-meta apply-delta``."""
    from coqui_meta.adapting.delta import apply_delta as apply_voice_delta

    released_checkpoint(args, "apply-delta")
    try:
        info = apply_voice_delta(args.model_path, args.config_path, args.delta, args.out_path,
                                 trust=args.trust_checkpoint)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        raise refused("apply-delta", error) from None
    print(f"Voice {info['speaker']!r} written to {args.out_path}")
    return 0


COMMANDS = (
    Command("adapt", "a new voice, language or speaking style that stock Coqui loads",
            "Learn a new voice (--speaker), a new language (--language) or a new speaking style (--style) from a few "
            "clips; write a model and config that stock Coqui loads.", adapt, adapt_arguments),
    Command("embed", "a speaker encoder's d-vector file of a corpus",
            "A speaker encoder's embedding of every clip and speaker of a corpus, as a Coqui d-vector file.", embed,
            embed_arguments),
    Command("apply-delta", "a saved voice delta back on its base",
            "Put a voice delta (voice.safetensors) back on its base checkpoint.", apply_delta, apply_delta_arguments),
)
