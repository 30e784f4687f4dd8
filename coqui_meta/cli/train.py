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

from coqui_meta.cli.arguments import Command

logger = logging.getLogger("coqui_meta")


def train(arg_list: list[str]) -> int:
    from TTS.utils.generic_utils import ConsoleFormatter, setup_logger

    from coqui_meta.models.validation_split import SplitError
    from coqui_meta.training import TrainingSetupError, meta_trainer

    for name in ("TTS", "coqui_meta"):
        setup_logger(name, level=logging.INFO, stream=sys.stdout, formatter=ConsoleFormatter())
    train_args, args, overrides = _arguments(arg_list)
    cpu_group = _launched_ranks(train_args, arg_list)
    config = _config(args, overrides, train_args)
    try:
        trainer = meta_trainer(config, args=train_args)
    except (TrainingSetupError, SplitError) as error:
        raise SystemExit(f"coqui-meta train: {error}") from None
    if getattr(args, "release_weights", None):
        restore_release(trainer.model, args.release_weights)
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
        model_name: str | None = field(default=None, metadata={
            "help": "A released Coqui model (tts_models/en/vctk/vits): its config and weights, meta-trained with the "
            "meta block and datasets of --config_path (coqui_meta.cli.train.released_config)"})

    train_args = TrainMetaArgs()
    args, overrides = train_args.init_argparse(arg_prefix="").parse_known_args(arg_list)
    train_args.parse_args(args)
    return train_args, args, overrides


def _config(args, overrides: list[str], train_args=None):
    """The meta config of ``--config_path`` (or of the run to continue, or of ``--model_name`` with it), with the
    overrides, checked."""
    from TTS.config import load_config

    import coqui_meta  # noqa: F401  (registers meta_vits and meta_tacotron2)

    if args.model_name:
        config_path = released_config(args, train_args)
    elif args.config_path:
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


def released_config(args, train_args) -> str:
    """``--model_name NAME --config_path meta.json``: the release's config (`coqui_meta.released`) overridden field by
    field by the user's JSON (a dict field such as ``model_args`` or ``audio`` merged key by key, any other value
    replaced): the user gives ``meta``, ``datasets`` and ``output_path``, and may change anything else (``epochs``,
    ``batch_size``, ``test_sentences``, ...). Besides: ``model`` becomes ``meta_vits`` / ``meta_tacotron2``; a VITS
    gets ``model_args.init_discriminator`` true (training needs the discriminator a release leaves out);
    ``save_best_after`` is 0 unless the user's JSON sets it (a release's says 10000: a short run would save nothing);
    an empty ``run_name`` becomes ``meta-DATASET-MODEL``;
    the loader fields a release leaves null (``batch_size``, ``eval_batch_size``, ``num_loader_workers``, ...) take
    Coqui's defaults. The speaker table is the corpus's speakers, as for any config `coqui-meta train` trains (its
    rows start fresh; the release's voices are not kept). The model starts from the release's weights
    (`restore_release`) unless ``--restore_path`` names another checkpoint. Returns the merged config, written to a
    working file (the Trainer copies it into the run folder)."""
    import atexit
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from coqui_meta.released import check_name, resolve

    try:
        check_name(args.model_name)  # an unknown name or kind is said first, before any download
    except ValueError as error:
        raise SystemExit(f"coqui-meta train: {error}") from None
    if args.continue_path:
        raise SystemExit("coqui-meta train: --continue_path continues its own run (its config.json); leave out "
                         "--model_name")
    if not args.config_path or not os.path.isfile(args.config_path):
        raise SystemExit(f"coqui-meta train: --model_name {args.model_name} needs --config_path meta.json, a file "
                         f"giving at least meta, datasets and output_path (not found: {args.config_path})")
    try:
        user = json.loads(Path(args.config_path).read_text(encoding="utf-8"))
    except ValueError as error:
        raise SystemExit(f"coqui-meta train: {args.config_path} is not valid JSON: {error}") from None
    try:
        release = resolve(model_name=args.model_name)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"coqui-meta train: {error}") from None
    lacking = [name for name in ("datasets", "output_path") if not user.get(name)]
    if lacking:
        raise SystemExit(f"coqui-meta train: {args.config_path} gives no {' and no '.join(lacking)}; with "
                         f"--model_name it gives the corpus to meta-train on and the run's folder")
    merged = _merged(json.loads(release.config_path.read_text()), user)
    for name in ("batch_size", "eval_batch_size", "num_loader_workers", "num_eval_loader_workers"):
        if merged.get(name) is None:  # a release leaves its run's loader fields null: Coqui's defaults instead
            merged.pop(name, None)
    if "save_best_after" not in user:
        merged["save_best_after"] = 0
    if not merged.get("run_name"):  # a release's is often empty: the run folder would start with "-"
        merged["run_name"] = "meta-" + "-".join(args.model_name.split("/")[2:])
    merged["model"] = user.get("model") or f"meta_{release.model.removeprefix('meta_')}"
    if merged["model"] == "meta_vits" and "init_discriminator" not in user.get("model_args", {}):
        # a release for inference has no discriminator (init_discriminator false); VITS training needs one: it
        # starts fresh, the generator from the release
        merged.setdefault("model_args", {})["init_discriminator"] = True
    work = tempfile.mkdtemp(prefix="coqui-meta-train-")
    atexit.register(shutil.rmtree, work, True)
    path = os.path.join(work, "config.json")
    with open(path, "w", encoding="utf-8") as file:
        json.dump(merged, file, indent=4)
    if train_args is not None and not train_args.restore_path:
        args.release_weights = str(release.model_file)  # loaded into the model by train(), see restore_release
    logger.info("Meta-training %s (%s) with %s's fields over its config", args.model_name, release.model_file,
                args.config_path)
    return path


def restore_release(model, path: str) -> None:
    """The release's weights into the model the Trainer holds. Not the Trainer's ``--restore_path``: a release's
    checkpoint is often ``{"model": ...}`` alone, without the step and optimizer state the Trainer's restore expects.
    Tensors the release lacks (a VITS discriminator) or shapes differently (a speaker table of other speakers) keep
    their fresh initialisation, and are named in the log."""
    from coqui_meta.formats.checkpoints import load_checkpoint

    try:
        release = load_checkpoint(path)["model"]
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"coqui-meta train: {error}") from None
    own = model.state_dict()
    fits = {name: value for name, value in release.items() if name in own and own[name].shape == value.shape}
    model.load_state_dict(fits, strict=False)
    fresh = sorted({name.split(".")[0] for name in own if name not in fits})
    logger.info("Restored %d of %d tensors from %s; starting fresh: %s", len(fits), len(own), path,
                ", ".join(fresh) or "none")


def _merged(base: dict, user: dict) -> dict:
    """``base`` with ``user``'s fields: dicts merged key by key, any other value replaced."""
    out = dict(base)
    for key, value in user.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = _merged(base[key], value) if both else value
    return out


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


#: its own parser (the Trainer's arguments, ``--config_path``, ``--model_name`` and ``--coqpit.*`` overrides, as
#: ``TTS/bin/train_tts.py`` reads them) reads the rest of the line
COMMANDS = (Command("train", "meta-train a meta_vits or meta_tacotron2 config", __doc__.splitlines()[0], train,
                    forward=True),)
