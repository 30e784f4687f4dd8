"""The ``coqui-meta`` command line.

``coqui-meta evaluate --model_path CKPT --config_path CONFIG --data CORPUS --speakers 4 --shots 5 --queries 5
--steps 0,1,2,5,10 --out_path DIR``: adaptation curves on unseen speakers (see `coqui_meta.voices.evaluation`).

``coqui-meta adapt --model_path CKPT --config_path CONFIG --data CLIPS --speaker NAME --shots K --steps N
--out_path DIR [--save_delta]``: a new voice that stock Coqui loads (see `coqui_meta.voices.new_voice`);
``coqui-meta apply-delta`` puts a saved delta back on its base (see `coqui_meta.voices.delta`).

``coqui-meta embed --model_path CKPT --config_path CONFIG --data CORPUS --out_path d_vectors.json``: a prototype
model's embedding of every clip and speaker, in the d-vector format Coqui reads (see `coqui_meta.voices.embed`).

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


def _checkpoint_arguments(parser: argparse.ArgumentParser, model_help: str) -> None:
    parser.add_argument("--model_path", required=True, help=model_help)
    parser.add_argument("--config_path", required=True, help="its config.json")
    parser.add_argument("--trust_checkpoint", action="store_true", help="allow a checkpoint that needs pickled code")


def _model_and_adaptation_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags `evaluate` and `adapt` share: which checkpoint, and how a new voice is learned."""
    _checkpoint_arguments(parser, "checkpoint (.pth) of a meta or stock vits/tacotron2")
    parser.add_argument("--lr", type=float, default=None,
                        help="one adaptation learning rate for every tensor (default: the checkpoint's learned inner "
                        "rates, or its meta.inner_lr)")
    parser.add_argument("--lr_scale", type=float, default=1.0, help="multiplies the learning rates (learned or --lr)")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    parser.add_argument("--grad_clip", type=float, default=0.0, help="clip the gradients' total norm (default: off)")
    parser.add_argument("--adapt_modules", default=None,
                        help="comma-separated name patterns (default: the config's); the speaker embedding alone "
                        "(emb_g / speaker_embedding) keeps every old speaker bit-identical")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")


def _adaptation_settings(args):
    from coqui_meta.voices.adaptation import AdaptationSettings

    return AdaptationSettings(lr=args.lr, lr_scale=args.lr_scale, optimizer=args.optimizer, grad_clip=args.grad_clip,
                              adapt_modules=args.adapt_modules.split(",") if args.adapt_modules else [],
                              seed=args.seed, device=args.device, trust=args.trust_checkpoint)


def _evaluate(arg_list: list[str]) -> int:
    from coqui_meta.voices.evaluation import DEFAULT_STEPS, evaluate

    parser = argparse.ArgumentParser(
        prog="coqui-meta evaluate",
        description="Adapt a meta or stock checkpoint to unseen speakers and score it at every listed step.",
    )
    _model_and_adaptation_arguments(parser)
    parser.add_argument("--data", required=True, help="corpus folder with a Coqui coqui-format metadata.csv")
    parser.add_argument(
        "--speakers", type=_speakers, default=4, help="how many unseen speakers (by seed), or names a,b,c"
    )
    parser.add_argument("--shots", type=int, default=5, help="support clips a speaker")
    parser.add_argument("--queries", type=int, default=5, help="query clips a speaker")
    parser.add_argument("--steps", type=_int_list, default=list(DEFAULT_STEPS), help="steps to score at, e.g. 0,1,5,10")
    parser.add_argument("--out_path", required=True, help="folder for report.json, report.md, curves.png, samples/")
    parser.add_argument("--mcd", action="store_true", help="also report mel-cepstral distortion against the real clips")
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
            settings=_adaptation_settings(args),
            mcd=args.mcd,
        )
    except (FileNotFoundError, ValueError, FloatingPointError) as error:
        raise SystemExit(f"coqui-meta evaluate: {error}") from None
    from coqui_meta.voices.report import to_markdown

    print(to_markdown(report))
    print(f"Written: {os.path.join(args.out_path, 'report.json')}, report.md, curves.png, samples/")
    return 0


def _adapt(arg_list: list[str]) -> int:
    from coqui_meta.voices.new_voice import adapt

    parser = argparse.ArgumentParser(
        prog="coqui-meta adapt",
        description="Learn a new voice from a few clips; write a model, config and speakers file that stock Coqui "
        "loads.",
    )
    _model_and_adaptation_arguments(parser)
    parser.add_argument(
        "--data", required=True, help="a folder with a coqui-format metadata.csv, or of name.wav + name.txt"
    )
    parser.add_argument("--speaker", required=True, help="the new voice's name (for metadata.csv: the speaker to take)")
    parser.add_argument("--shots", type=int, default=10, help="clips to learn from")
    parser.add_argument("--steps", type=int, default=20, help="adaptation steps (0: a prototype model's voice is the "
                        "prototype of the clips)")
    parser.add_argument("--out_path", required=True, help="new folder for model.pth, config.json, speakers.json, ...")
    parser.add_argument("--save_delta", action="store_true", help="also write voice.safetensors: only what changed")
    parser.add_argument("--d_vectors", action="append", default=[],
                        help="prototype models: a d-vector file whose voices to keep beside the new one (coqui-meta "
                        "embed's, or an earlier voice's d_vectors.json); default: the training speakers' prototypes")
    args = parser.parse_args(arg_list)
    try:
        info = adapt(
            args.model_path, args.config_path, args.data, args.speaker, args.shots, args.steps, args.out_path,
            settings=_adaptation_settings(args), save_delta=args.save_delta, d_vectors=args.d_vectors,
        )
    except (FileNotFoundError, FileExistsError, ValueError, FloatingPointError) as error:
        raise SystemExit(f"coqui-meta adapt: {error}") from None
    out = args.out_path
    voice_file = "d_vectors.json" if info.get("d_vectors") else "speakers.json"
    print(
        f"Voice {info['speaker']!r}: support loss {(info['support_loss'] or [info['final_support_loss']])[0]:.4f}"
        f" -> {info['final_support_loss']:.4f} in {info['steps']} steps ({info['seconds']:.1f} s on {info['device']})"
    )
    print(f"Written: {out}/model.pth, config.json, {voice_file}, sample.wav, adapt.json")
    print(f'Try: tts --model_path {out}/model.pth --config_path {out}/config.json --speaker_idx {info["speaker"]} '
          f'--text "Hello there." --out_path {out}/hello.wav')
    return 0


def _embed(arg_list: list[str]) -> int:
    from coqui_meta.voices.embed import embed

    parser = argparse.ArgumentParser(
        prog="coqui-meta embed",
        description="A prototype model's embedding of every clip and speaker of a corpus, as a Coqui d-vector file.",
    )
    _checkpoint_arguments(parser, "checkpoint of a protonet or proto_maml model")
    parser.add_argument("--data", required=True, help="corpus folder with a Coqui coqui-format metadata.csv")
    parser.add_argument("--out_path", required=True, help="the d-vector file to write (.json)")
    parser.add_argument("--dataset_name", default="",
                        help="the dataset_name of the Coqui dataset config that will read the file (keys are "
                        "dataset_name#path, as Coqui names clips; default: empty, Coqui's default)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args(arg_list)
    try:
        info = embed(args.model_path, args.config_path, args.data, args.out_path, dataset_name=args.dataset_name,
                     batch_size=args.batch_size, device=args.device, trust=args.trust_checkpoint)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"coqui-meta embed: {error}") from None
    print(f"{info['clips']} clips of {info['speakers']} speakers, {info['d_vector_dim']}-dimensional, written to "
          f"{info['out_path']} ({info['seconds']:.1f} s)")
    if info["left_out"]:
        print(f"{len(info['left_out'])} clip(s) left out by the model's length filters, e.g. {info['left_out'][0]}")
    return 0


def _apply_delta(arg_list: list[str]) -> int:
    from coqui_meta.voices.delta import apply_delta

    parser = argparse.ArgumentParser(prog="coqui-meta apply-delta",
                                     description="Put a voice delta (voice.safetensors) back on its base checkpoint.")
    _checkpoint_arguments(parser, "the base checkpoint the voice was adapted from")
    parser.add_argument("--delta", required=True, help="voice.safetensors written by coqui-meta adapt --save_delta")
    parser.add_argument("--out_path", required=True, help="new folder for model.pth, config.json, speakers.json")
    args = parser.parse_args(arg_list)
    try:
        info = apply_delta(args.model_path, args.config_path, args.delta, args.out_path, trust=args.trust_checkpoint)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        raise SystemExit(f"coqui-meta apply-delta: {error}") from None
    print(f"Voice {info['speaker']!r} written to {args.out_path}")
    return 0


def _demo(arg_list: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="coqui-meta demo",
        description="Meta-learning against plain Coqui training on a corpus of Debian voices, end to end (< 15 min).",
    )
    parser.add_argument("--out_path", default="runs/demo", help="folder for the corpus, models, reports and audio")
    parser.add_argument("--quick", action="store_true", help="a few minutes of training only (a smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train_base", type=float, default=None, metavar="MINUTES",
                        help="train the demo's base for MINUTES (resumable) instead of using the shipped one, and stop")
    args = parser.parse_args(arg_list)
    import torch

    from coqui_meta.experiments.demo import run

    logging.getLogger("TTS").setLevel(logging.ERROR)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    try:
        run(args.out_path, quick=args.quick, seed=args.seed, train_base_minutes=args.train_base)
    except RuntimeError as error:
        raise SystemExit(f"coqui-meta demo: {error}") from None
    return 0


COMMANDS = {
    "demo": _demo,
    "train": _train_command,
    "evaluate": _evaluate,
    "compare": _compare,
    "adapt": _adapt,
    "apply-delta": _apply_delta,
    "embed": _embed,
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
        "unseen speakers; compare: evaluate reports side by side; adapt: a new voice that stock Coqui loads; "
        "apply-delta: a saved voice delta back on its base; embed: a prototype model's d-vectors of a corpus; "
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
