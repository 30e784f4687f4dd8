"""``coqui-meta train``: meta-training with Coqui's Trainer, as ``TTS/bin/train_tts.py`` trains: the same trainer
arguments and config overrides (``--coqpit.meta.inner_steps 3``), ``--continue_path`` and ``--restore_path``, and the
Trainer's launchers for several GPUs (or torchrun, also on CPUs with gloo). Meta-validation runs on the task values
(speakers) that ``meta.eval_tasks`` names, or ``meta.n_way`` of them chosen by ``meta.seed``; every clip is checked
before training (`coqui_meta.training`, the one path from a config to a Trainer)."""

# no ``from __future__ import annotations``: coqpit builds the argument parser from the dataclass's real type hints
import logging
import os
import sys
from dataclasses import dataclass, field

logger = logging.getLogger("coqui_meta")


def train(arg_list: list[str]) -> int:
    from TTS.utils.generic_utils import ConsoleFormatter, setup_logger

    from coqui_meta.models.validation_split import SplitError
    from coqui_meta.training import TrainingSetupError, meta_trainer

    for name in ("TTS", "coqui_meta"):
        setup_logger(name, level=logging.INFO, stream=sys.stdout, formatter=ConsoleFormatter())
    train_args, args, overrides = _arguments(arg_list)
    cpu_group = _launched_ranks(train_args, arg_list)
    config = _config(args, overrides)
    try:
        trainer = meta_trainer(config, args=train_args)
    except (TrainingSetupError, SplitError) as error:
        raise SystemExit(f"coqui-meta train: {error}") from None
    if args.continue_path and overrides:
        # the Trainer reloads config.json in place when it continues a run: apply the overrides again
        apply_overrides(trainer.config, overrides)
    try:
        trainer.fit()
    finally:
        if cpu_group:
            import torch.distributed as dist

            dist.destroy_process_group()
    return 0


def _arguments(arg_list: list[str]):
    """The Trainer's own arguments plus ``--config_path``, and the config overrides (``--coqpit.*``)."""
    from trainer import TrainerArgs

    @dataclass
    class TrainMetaArgs(TrainerArgs):
        config_path: str | None = field(default=None, metadata={"help": "Path to the config file."})

    train_args = TrainMetaArgs()
    args, overrides = train_args.init_argparse(arg_prefix="").parse_known_args(arg_list)
    train_args.parse_args(args)
    return train_args, args, overrides


def _config(args, overrides: list[str]):
    """The meta config of ``--config_path`` (or of the run to continue), with the overrides, checked."""
    from TTS.config import load_config

    import coqui_meta  # noqa: F401  (registers meta_vits and meta_tacotron2)

    if args.config_path:
        config_path = args.config_path
    elif args.continue_path:
        config_path = os.path.join(args.continue_path, "config.json")
    else:
        raise SystemExit("coqui-meta train: give --config_path CONFIG or --continue_path DIR")
    if not os.path.isfile(config_path):
        raise SystemExit(f"coqui-meta train: config file not found: {config_path}")
    try:
        config = load_config(config_path)
    except ValueError as error:  # a value the meta block refuses (it checks itself as Coqui reads it)
        raise SystemExit(f"coqui-meta train: {config_path}: {error}") from None
    if "meta" not in config:
        raise SystemExit(
            f"coqui-meta train: {config_path} has model {config.model!r} and no 'meta' block; "
            "use model 'meta_vits' or 'meta_tacotron2' (see MetaVitsConfig.from_config)"
        )
    try:
        apply_overrides(config, overrides)  # Coqpit checks the config (its meta block too) after the overrides
    except ValueError as error:
        raise SystemExit(f"coqui-meta train: {error}") from None
    return config


def apply_overrides(config, overrides: list[str]) -> None:
    """``--coqpit.*`` overrides applied to ``config``. Coqpit's parser turns every empty dict or list field it was
    not asked to change into None (Coqui's ``get_sampler`` then fails on ``weighted_sampler_multipliers``), and it
    reads an empty list whose field has a longer default as that default, then fails on its first item (an
    IndexError for ``model_args.periods_multi_period_discriminator: []``): such a list holds its default while the
    parser runs. Every empty field it was not asked to change is put back."""
    if not overrides:
        return
    empty = dict(_empty_fields(config))
    named = " ".join(overrides)
    for path, (owner, name, _, default) in empty.items():
        if default and f"--coqpit.{path}." in named:
            raise ValueError(f"--coqpit.{path}: the config's {path} is empty, so it has no item to override; "
                             "write the list in the config file")
        if default:
            setattr(owner, name, default)
    try:
        config.parse_known_args(overrides, relaxed_parser=True)
    finally:
        for path, (owner, name, value, default) in empty.items():
            if default or (getattr(owner, name) is None and f"--coqpit.{path}" not in named):
                setattr(owner, name, value)


def _empty_fields(config, prefix: str = ""):
    """Each empty dict or list field under ``config``: its path, owner, name, empty value and field default."""
    import dataclasses

    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if dataclasses.is_dataclass(value):
            yield from _empty_fields(value, f"{prefix}{item.name}.")
        elif isinstance(value, (dict, list)) and not value:
            factory = item.default_factory if item.default_factory is not dataclasses.MISSING else type(value)
            yield f"{prefix}{item.name}", (config, item.name, type(value)(), factory())


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
