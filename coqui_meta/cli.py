"""The ``coqui-meta`` command line.

``coqui-meta evaluate --model_path CKPT --config_path CONFIG --data CORPUS --speakers 4 --shots 5 --queries 5
--steps 0,1,2,5,10 --out_path DIR``: adaptation curves on unseen speakers (see `coqui_meta.evaluation`).

``coqui-meta adapt --model_path CKPT --config_path CONFIG --data CLIPS --speaker NAME --shots K --steps N
--out_path DIR [--save_delta]``: a new voice that stock Coqui loads (see `coqui_meta.voices`);
``coqui-meta apply-delta`` puts a saved delta back on its base (see `coqui_meta.delta`).

``coqui-meta embed --model_path CKPT --config_path CONFIG --data CORPUS --out_path d_vectors.json``: a prototype
model's embedding of every clip and speaker, in the d-vector format Coqui reads (see `coqui_meta.embed`).

``coqui-meta compare A/report.json B/report.json ... --out_path DIR``: adaptation curves side by side, the first report
being the baseline (see `coqui_meta.compare`).

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
    cpu_group = _launched_ranks(train_args, arg_list)
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
    trained = sorted({s["speaker_name"] for s in train_samples})
    if config.get("use_speaker_embedding"):
        # the speaker table holds the declared speakers (those of a checkpoint to restore), else the training ones
        config.speakers = declared_speakers or trained
    elif meta.uses_prototypes:  # no table to fill; recorded so that evaluate knows the speakers the encoder saw
        config.speakers = trained

    import torch

    torch.manual_seed(meta.seed)  # the initial weights too: two runs of one config are the same run
    model = setup_model(config)
    train_samples, eval_samples = _screen(model, train_samples, "training"), _screen(model, eval_samples, "meta-validation")
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
    try:
        trainer.fit()
    finally:
        if cpu_group:
            import torch.distributed as dist

            dist.destroy_process_group()
    return 0


def _launched_ranks(train_args, arg_list: list[str]) -> bool:
    """Set up the ranks that torchrun started (it sets RANK and WORLD_SIZE; trainer.distribute passes --rank and
    --use_ddp itself). On GPUs, Coqui's Trainer forms the process group; without CUDA it cannot, so torchrun's ranks
    join a gloo group here and the meta-batches are split and averaged just the same. Returns whether it made that
    group."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world < 2:
        if train_args.use_ddp and not torch.cuda.is_available():
            raise SystemExit("coqui-meta train: --use_ddp (python -m trainer.distribute) needs GPUs, and none is "
                             "visible; Coqui's Trainer distributes on CUDA only. Without GPUs, start the ranks with "
                             "torchrun --nproc_per_node N $(which coqui-meta) train ...")
        return False
    if "--rank" not in " ".join(arg_list):
        train_args.rank = int(os.environ["RANK"])
    if torch.cuda.is_available():
        if int(os.environ.get("LOCAL_WORLD_SIZE", world)) != world:
            raise SystemExit(f"coqui-meta train: torchrun started {world} ranks over several machines; Coqui's "
                             "Trainer trains on the GPUs of one machine (its process group is at localhost)")
        if torch.cuda.device_count() != world:
            raise SystemExit(f"coqui-meta train: torchrun started {world} ranks but {torch.cuda.device_count()} GPUs "
                             f"are visible; Coqui's Trainer uses one rank per visible GPU: set CUDA_VISIBLE_DEVICES "
                             f"to {world} GPUs")
        train_args.use_ddp = True  # else the Trainer refuses to start on several GPUs
        return False
    import torch.distributed as dist

    dist.init_process_group("gloo", rank=train_args.rank, world_size=world)
    logger.info("Rank %d of %d (gloo, CPU): this rank runs its share of every meta-batch", train_args.rank, world)
    return True


def _screen(model, samples: list, which: str) -> list:
    """Leave out the clips the model cannot train on, counted and named in the log; stop when none are left."""
    from coqui_meta.data import describe_problems, screen_samples

    kept, problems = screen_samples(samples, model)
    if problems:
        logger.warning("%s data: %s", which.capitalize(), describe_problems(problems, len(samples)))
    if not kept:
        raise SystemExit(f"coqui-meta train: no usable {which} clip is left ({describe_problems(problems, len(samples))})")
    return kept


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
    from coqui_meta.adaptation import AdaptationSettings

    return AdaptationSettings(lr=args.lr, lr_scale=args.lr_scale, optimizer=args.optimizer, grad_clip=args.grad_clip,
                              adapt_modules=args.adapt_modules.split(",") if args.adapt_modules else [],
                              seed=args.seed, device=args.device, trust=args.trust_checkpoint)


def _evaluate(arg_list: list[str]) -> int:
    from coqui_meta.evaluation import DEFAULT_STEPS, evaluate

    parser = argparse.ArgumentParser(
        prog="coqui-meta evaluate",
        description="Adapt a meta or stock checkpoint to unseen speakers and score it at every listed step.",
    )
    _model_and_adaptation_arguments(parser)
    parser.add_argument("--data", required=True, help="corpus folder with a Coqui coqui-format metadata.csv")
    parser.add_argument("--speakers", type=_speakers, default=4, help="how many unseen speakers (by seed), or names a,b,c")
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
    from coqui_meta.report import to_markdown

    print(to_markdown(report))
    print(f"Written: {os.path.join(args.out_path, 'report.json')}, report.md, curves.png, samples/")
    return 0


def _adapt(arg_list: list[str]) -> int:
    from coqui_meta.voices import adapt

    parser = argparse.ArgumentParser(
        prog="coqui-meta adapt",
        description="Learn a new voice from a few clips; write a model, config and speakers file that stock Coqui loads.",
    )
    _model_and_adaptation_arguments(parser)
    parser.add_argument("--data", required=True, help="a folder with a coqui-format metadata.csv, or of name.wav + name.txt")
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
    print(f"Voice {info['speaker']!r}: support loss {info['support_loss'][0] if info['support_loss'] else info['final_support_loss']:.4f}"
          f" -> {info['final_support_loss']:.4f} in {info['steps']} steps ({info['seconds']:.1f} s on {info['device']})")
    print(f"Written: {out}/model.pth, config.json, {voice_file}, sample.wav, adapt.json")
    print(f'Try: tts --model_path {out}/model.pth --config_path {out}/config.json --speaker_idx {info["speaker"]} '
          f'--text "Hello there." --out_path {out}/hello.wav')
    return 0


def _embed(arg_list: list[str]) -> int:
    from coqui_meta.embed import embed

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
    from coqui_meta.delta import apply_delta

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

    from coqui_meta.demo import run

    logging.getLogger("TTS").setLevel(logging.ERROR)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    try:
        run(args.out_path, quick=args.quick, seed=args.seed, train_base_minutes=args.train_base)
    except RuntimeError as error:
        raise SystemExit(f"coqui-meta demo: {error}") from None
    return 0


COMMANDS = {
    "demo": _demo,
    "train": _train,
    "evaluate": _evaluate,
    "compare": _compare,
    "adapt": _adapt,
    "apply-delta": _apply_delta,
    "embed": _embed,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="coqui-meta", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        choices=sorted(COMMANDS),
        help="train: meta-train a meta_vits or meta_tacotron2 config; evaluate: adaptation curves of a checkpoint on "
        "unseen speakers; compare: evaluate reports side by side; adapt: a new voice that stock Coqui loads; "
        "apply-delta: a saved voice delta back on its base; embed: a prototype model's d-vectors of a corpus; demo: the whole idea on Debian voices",
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
