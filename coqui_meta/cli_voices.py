"""The voice commands of ``coqui-meta``: ``adapt`` (a new voice, or with ``--language`` a new language), ``embed`` (a
d-vector file of a corpus) and ``apply-delta``; and the checkpoint and adaptation flags ``evaluate`` shares with
``adapt``. `coqui_meta.cli` dispatches to them."""

import argparse


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
        raise SystemExit(f"coqui-meta {command}: {in_flags(error)}") from None
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
    from coqui_meta.voices.adaptation import AdaptationSettings
    from coqui_meta.voices.vocoder import VocoderChoice

    vocoder = VocoderChoice(args.vocoder_name, args.vocoder_path, args.vocoder_config_path)
    return AdaptationSettings(lr=args.lr, lr_scale=args.lr_scale, optimizer=args.optimizer, grad_clip=args.grad_clip,
                              adapt_modules=args.adapt_modules.split(",") if args.adapt_modules else [],
                              seed=args.seed, device=args.device, trust=args.trust_checkpoint, encoder=args.encoder,
                              vocoder=vocoder if vocoder.named else None)


def adapt_command(arg_list: list[str]) -> int:
    from coqui_meta.voices.new_voice import adapt

    parser = argparse.ArgumentParser(
        prog="coqui-meta adapt",
        description="Learn a new voice (--speaker), a new language (--language) or a new speaking style (--style) "
        "from a few clips; write a model and config that stock Coqui loads.",
    )
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
    args = parser.parse_args(arg_list)
    released_checkpoint(args, "adapt")
    if args.style:
        return _adapt_style(args)
    if not args.speaker and not args.language:
        parser.error("give --speaker NAME (a new voice), --language CODE (a new language) or --style NAME")
    if not args.speaker:
        return _adapt_language(args)
    try:
        info = adapt(
            args.model_path, args.config_path, args.data, args.speaker, args.shots, args.steps, args.out_path,
            settings=adaptation_settings(args), save_delta=args.save_delta, d_vectors=args.d_vectors,
            language=args.language,
        )
    except (FileNotFoundError, FileExistsError, ValueError, FloatingPointError) as error:
        raise SystemExit(f"coqui-meta adapt: {in_flags(error)}") from None
    out = args.out_path
    voice_file = "d_vectors.json" if info.get("d_vectors") else "" if info.get("single_speaker") else "speakers.json"
    print(
        f"Voice {info['speaker']!r}: support loss {(info['support_loss'] or [info['final_support_loss']])[0]:.4f}"
        f" -> {info['final_support_loss']:.4f} in {info['steps']} steps ({info['seconds']:.1f} s on {info['device']})"
    )
    print(f"Written: {out}/model.pth, config.json, {voice_file + ', ' if voice_file else ''}sample.wav, adapt.json")
    print(f"Sample spoken through: {info['vocoder']}")
    language = f" --language_idx {info['language']}" if info.get("language") else ""
    speaker = "" if info.get("single_speaker") else f" --speaker_idx {info['speaker']}"  # a one-speaker model's own
    print(f'Try: tts --model_path {out}/model.pth --config_path {out}/config.json{speaker}'
          f'{language}{vocoder_flags(args)} --text "Hello there." --out_path {out}/hello.wav')
    return 0


def vocoder_flags(args) -> str:
    """The vocoder flags of stock ``tts`` that speak a Tacotron2 result as the sample was spoken ("" for none): the
    files, since ``tts --model_path`` ignores ``--vocoder_name``."""
    from coqui_meta.voices.vocoder import released_vocoder

    model_path, config_path = args.vocoder_path, args.vocoder_config_path
    if args.vocoder_name:
        model_path, config_path = released_vocoder(args.vocoder_name)  # found a moment ago: in the cache now
    return f" --vocoder_path {model_path} --vocoder_config_path {config_path}" if model_path else ""


def _adapt_language(args) -> int:
    from coqui_meta.voices.new_language import adapt_language

    if args.save_delta or args.d_vectors:
        raise SystemExit("coqui-meta adapt: --save_delta and --d_vectors are for new voices, not --language")
    try:
        info = adapt_language(args.model_path, args.config_path, args.data, args.language, args.shots, args.steps,
                              args.out_path, settings=adaptation_settings(args))
    except (FileNotFoundError, FileExistsError, ValueError, FloatingPointError) as error:
        raise SystemExit(f"coqui-meta adapt: {in_flags(error)}") from None
    out, speaker = args.out_path, info["speaker_idx"]
    print(f"Language {info['language']!r}: support loss {(info['support_loss'] or [info['final_support_loss']])[0]:.4f}"
          f" -> {info['final_support_loss']:.4f} in {info['steps']} steps ({info['seconds']:.1f} s)")
    print(f"Written: {out}/model.pth, config.json, sample.wav, adapt.json")
    print(f"Try: tts --model_path {out}/model.pth --config_path {out}/config.json --language_idx {info['language']} "
          f'--speaker_idx {speaker} --text "..." --out_path {out}/hello.wav')
    return 0


def _adapt_style(args) -> int:
    from coqui_meta.voices.new_style import adapt_style

    if args.language or args.d_vectors:
        raise SystemExit("coqui-meta adapt: --language and --d_vectors are not for --style")
    try:
        info = adapt_style(args.model_path, args.config_path, args.data, args.style, args.speaker, args.shots,
                           args.steps, args.out_path, settings=adaptation_settings(args), save_delta=args.save_delta)
    except (FileNotFoundError, FileExistsError, ValueError, FloatingPointError) as error:
        raise SystemExit(f"coqui-meta adapt: {in_flags(error)}") from None
    out, name = args.out_path, info["speaker"]
    print(f"Style {info['style']!r} of {info['voice']!r}: support loss "
          f"{(info['support_loss'] or [info['final_support_loss']])[0]:.4f} -> {info['final_support_loss']:.4f} in "
          f"{info['steps']} steps ({info['seconds']:.1f} s)")
    print(f"Written: {out}/model.pth, config.json, speakers.json, sample.wav, adapt.json")
    if info["style_weights"]:  # GST: stock Coqui takes the token weights as style_wav, from Python
        print(f"Try (Python): from TTS.utils.synthesizer import Synthesizer; s = Synthesizer('{out}/model.pth', "
              f"'{out}/config.json'); s.tts('Hello there.', style_wav=s.tts_config.gst.gst_style_input_weights)")
    else:
        print(f'Try: tts --model_path {out}/model.pth --config_path {out}/config.json --speaker_idx {name} '
              f'--text "Hello there." --out_path {out}/hello.wav')
    return 0


def embed_command(arg_list: list[str]) -> int:
    from coqui_meta.voices.embed import embed
    from coqui_meta.voices.encoders import ENCODERS

    parser = argparse.ArgumentParser(
        prog="coqui-meta embed",
        description="A speaker encoder's embedding of every clip and speaker of a corpus, as a Coqui d-vector file.",
    )
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
    args = parser.parse_args(arg_list)
    if args.model_name or args.model_path:
        released_checkpoint(args, "embed")
    try:
        info = embed(args.model_path, args.config_path, args.data, args.out_path, dataset_name=args.dataset_name,
                     batch_size=args.batch_size, device=args.device, trust=args.trust_checkpoint, encoder=args.encoder,
                     encoder_model_path=args.encoder_model_path, encoder_config_path=args.encoder_config_path)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"coqui-meta embed: {in_flags(error)}") from None
    print(f"{info['clips']} clips of {info['speakers']} speakers, {info['d_vector_dim']}-dimensional "
          f"({info['encoder']} encoder), written to {info['out_path']} ({info['seconds']:.1f} s)")
    if info["left_out"]:
        print(f"{len(info['left_out'])} clip(s) left out by the model's length filters, e.g. {info['left_out'][0]}")
    if info["fields_to_set"]:  # a config that does not use d-vectors yet: how it reads the file
        import json

        print(f"{args.config_path} does not use d-vectors yet; to train or speak with these, set in it: "
              + ", ".join(f"{key}={json.dumps(value)}" for key, value in info["fields_to_set"].items()))
    return 0


def apply_delta_command(arg_list: list[str]) -> int:
    from coqui_meta.voices.delta import apply_delta

    parser = argparse.ArgumentParser(prog="coqui-meta apply-delta",
                                     description="Put a voice delta (voice.safetensors) back on its base checkpoint.")
    checkpoint_arguments(parser, "the base checkpoint the voice was adapted from")
    parser.add_argument("--delta", required=True, help="voice.safetensors written by coqui-meta adapt --save_delta")
    parser.add_argument("--out_path", required=True, help="new folder for model.pth, config.json, speakers.json")
    args = parser.parse_args(arg_list)
    released_checkpoint(args, "apply-delta")
    try:
        info = apply_delta(args.model_path, args.config_path, args.delta, args.out_path, trust=args.trust_checkpoint)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        raise SystemExit(f"coqui-meta apply-delta: {in_flags(error)}") from None
    print(f"Voice {info['speaker']!r} written to {args.out_path}")
    return 0
