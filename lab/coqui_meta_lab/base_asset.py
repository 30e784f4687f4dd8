"""A shipped base: a trained stock VITS's weights in half precision (safetensors) with its speakers and its training
record, as the many-voice base ``assets/voices_base.safetensors`` is shipped (``scripts/voices_base.py`` trains and
writes it).

Example::

    export_base(base.files, VOICES_BASE, note="...", progress={"steps": 5373, ...})
    weights, metadata = read_asset(VOICES_BASE)         # fp32 weights; metadata["speakers"], metadata["progress"]
    base = shipped_base(config, Path("runs/demo/base"))  # written out as a checkpoint for Coqui's Trainer
    base = shipped_base(config, folder, path=Path("wide.safetensors"))  # another base of its voices, any decoder width
    base = train_base(config, train, out, minutes, warm_start=asset_start(VOICES_BASE, config.speakers))  # goes on
"""

from __future__ import annotations

import json
from pathlib import Path

VOICES_BASE = Path(__file__).resolve().parent / "assets" / "voices_base.safetensors"


class NotABase(RuntimeError):
    """An asset that is not a base of the voices asked for, or that has no training record to go on with."""


def existing_file(value: str) -> Path:
    """An argparse ``type`` for a file that must exist (``--base-asset``): named in the usage error otherwise."""
    import argparse

    if not Path(value).is_file():
        raise argparse.ArgumentTypeError(f"{value}: no such file")
    return Path(value)


def add_base_asset_argument(parser) -> None:
    """The studies' ``--base-asset PATH`` flag (an argparse ``parser``'s): a base to start from instead of the shipped
    one."""
    parser.add_argument("--base-asset", type=existing_file, default=None,
                        help="another base of the many-voice corpus's training voices (scripts/voices_base.py "
                             "--asset; any decoder width) instead of the shipped one")


def export_base(files: tuple[str, str], path: Path = VOICES_BASE, note: str = "",
                progress: dict | None = None) -> Path:
    """The base's weights (generator and discriminator) in half precision as ``path`` (safetensors), with its
    speakers and (to go on training it elsewhere) its ``progress`` record (steps, minutes, checks)."""
    import torch
    from safetensors.torch import save_file

    from coqui_meta.files import write_atomic
    from coqui_meta.formats.checkpoints import load_config_file

    state = torch.load(files[0], map_location="cpu", weights_only=True)["model"]
    config = load_config_file(files[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"speakers": json.dumps(list(config.speakers)), "note": note}
    if progress is not None:
        metadata["progress"] = json.dumps(progress)
    tensors = {k: v.half().contiguous() if v.is_floating_point() else v.contiguous() for k, v in state.items()}
    write_atomic(path, lambda temporary: save_file(tensors, str(temporary), metadata=metadata))
    return path


def read_asset(path: Path = VOICES_BASE, weights: bool = True) -> tuple[dict, dict]:
    """A shipped base's fp32 weights (none without ``weights``) and its metadata (``speakers`` and ``progress``
    decoded)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            metadata = dict(handle.metadata() or {})
            state = {key: handle.get_tensor(key).float() for key in handle.keys()} if weights else {}
    except Exception as error:  # safetensors has its own error type for a file of another kind
        raise NotABase(f"{path} is not a base asset (a safetensors file): {error}") from error
    if "speakers" not in metadata:
        raise NotABase(f"{path} is not a base written by coqui-meta (its metadata names no speakers)")
    metadata["speakers"] = json.loads(metadata["speakers"])
    metadata["progress"] = json.loads(metadata.get("progress", "null"))
    return state, metadata


def check_asset(path: Path, speakers, what: str = "a base of these voices", record: bool = False) -> dict:
    """The metadata of the base asset at ``path``, read without its weights, after checking that it was trained on
    ``speakers`` (in that order: they are its speaker table's rows) and, with ``record``, that it keeps a training
    record to go on with; `NotABase` naming the file and saying it is not ``what`` otherwise."""
    _, metadata = read_asset(path, weights=False)
    theirs, ours = metadata["speakers"], list(speakers)
    if theirs != ours:
        order = " in another order (its speaker table's rows)" if sorted(theirs) == sorted(ours) else ""
        raise NotABase(f"{path} is not {what}: it was trained on {_voices(theirs)}{order}, not on {_voices(ours)}")
    if record and metadata["progress"] is None:
        raise NotABase(f"{path} is not {what}: it keeps no training record (steps, minutes, checks) to go on with")
    return metadata


def _voices(names) -> str:
    names = list(names)
    return f"{len(names)} voices ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"


def asset_start(path: Path, speakers, what: str = "a base of these voices", record: bool = True):
    """A ``warm_start`` for `coqui_meta_lab.base_training.train_base` from the base asset at ``path``: checked
    now (`check_asset`, before anything is trained or written), its weights read when the Trainer needs them. With
    ``record`` the base goes on with the asset's record of steps, minutes and checks; without, it starts a record of
    its own (the VITS style base counts its style training only)."""
    check_asset(path, speakers, what, record)

    def start() -> tuple[dict, dict]:
        weights, metadata = read_asset(path)
        return weights, metadata["progress"] if record else {"steps": 0, "minutes": 0.0, "history": []}

    return start


def weights_start(path: Path):
    """A ``warm_start`` for `coqui_meta_lab.base_training.train_base` from the weights of another kind of base (a
    prototype base from the speaker-table base): every tensor of the same name and shape is taken, the speaker table
    is left out (a d-vector model has none), the rest (the speaker conditioning, whose input is another size) starts
    fresh, and the record starts anew."""
    read_asset(path, weights=False)  # a file that is no base is refused now, before anything is trained

    def start() -> tuple[dict, dict]:
        weights, _ = read_asset(path)
        weights = {key: value for key, value in weights.items() if not key.startswith("emb_g.")}
        return weights, {"steps": 0, "minutes": 0.0, "history": []}

    return start


def shipped_base(config, folder: Path, path: Path = VOICES_BASE):
    """The shipped base as a `coqui_meta_lab.base_training.Base` in ``folder`` (fp32 weights, ``config``,
    whose speakers must be the base's)."""
    from TTS.tts.models import setup_model

    from coqui_meta_lab.base_training import Base, save_checkpoint

    if not path.is_file():
        raise RuntimeError(f"the shipped base {path} is missing; train one with scripts/voices_base.py")
    check_asset(path, config.speakers, "a base of this corpus's voices (train one with scripts/voices_base.py)")
    state, metadata = read_asset(path)
    note = metadata.get("note", "")
    model = setup_model(fit_decoder(config, state))
    model.load_state_dict(state)
    files = save_checkpoint(model, config, folder, step=0)
    print(f"Base: the shipped {path.name} ({note})")
    return Base(folder, files, steps=0, minutes=0.0)


def fit_decoder(config, weights: dict):
    """``config`` with the waveform decoder's width of ``weights`` (a base trained with
    ``scripts/voices_base.py --decoder-channels``): the one size a base's weights may differ from the preset in."""
    width = weights["waveform_decoder.conv_pre.weight"].shape[0]
    config.model_args.upsample_initial_channel_decoder = int(width)
    return config
