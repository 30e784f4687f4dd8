"""Loading a Coqui checkpoint and its config, meta or stock, as a model the adaptation code can run.

A stock ``vits`` / ``tacotron2`` checkpoint is loaded into the meta model class (the state dict keys are the same), so
that stock and meta checkpoints go through one adaptation procedure. Checkpoints are read with
``torch.load(weights_only=True)``; a file that needs pickled code is refused unless the caller trusts it.

Example::

    loaded = load_model("runs/x/best_model.pth", "runs/x/config.json", device="cpu")
    loaded.model, loaded.stock_name, loaded.algorithm   # MetaVits, "vits", "fomaml" (or "finetune" for stock)
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from coqui_meta.algorithms.inner_rules import rates_carry_over
from coqui_meta.errors import RequestError
from coqui_meta.formats.encoder_files import drop_encoder, encoder_urls, offline_message
from coqui_meta.registry import model_kind

FINETUNE = "finetune"  # the algorithm name of a stock checkpoint: plain Coqui fine-tuning
#: state-dict prefixes a meta checkpoint may hold beside the stock keys: a stock model has no such modules
META_ONLY_PREFIXES = ("prototype_encoder.", "meta_inner_lrs.")


def stock_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` without the meta-only entries: what a stock Vits/Tacotron2 loads with ``strict=True``."""
    return {name: value for name, value in state.items() if not name.startswith(META_ONLY_PREFIXES)}


@dataclass
class LoadedModel:
    model: Any  # MetaVits or MetaTacotron2, in eval mode, on the device
    config: Any  # its meta config
    model_name: str  # the checkpoint's own config.model: meta_vits, vits, ...
    stock_name: str  # vits or tacotron2
    algorithm: str  # the meta algorithm, or "finetune" for a stock checkpoint
    checkpoint: dict
    dropped_learned_rates: bool = False  # learned inner rates left out: other adapt_modules than they were made for
    phoneme_cache_path: str | None = None  # the config's own, which a written voice's config keeps
    vocoder: str = ""  # what its renditions are spoken through (`coqui_meta.formats.vocoder.attach_vocoder`)


def load_checkpoint(path: str | os.PathLike, trust: bool = False) -> dict:
    """The checkpoint dict; ``weights_only=True`` unless ``trust``. Errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as error:
        raise RequestError(
            f"{path} holds pickled objects that torch.load(weights_only=True) refuses; if you trust the file, pass "
            f"`trust` ({str(error).splitlines()[0]})"
        ) from None
    except Exception as error:  # a truncated or foreign file fails in many ways (EOFError, struct.error, ...)
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {type(error).__name__}: {error}") from None
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise ValueError(f"{path} is not a Coqui checkpoint (no 'model' state dict)")
    return checkpoint


def load_config_file(path: str | os.PathLike):
    """A Coqui config (stock or meta) with a clear error for a missing or unknown one."""
    from TTS.config import load_config

    import coqui_meta  # noqa: F401  (registers the meta models)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config not found: {path}")
    try:
        model_name = json.loads(path.read_text()).get("model")
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    try:
        model_kind(model_name)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return load_config(str(path))


def as_meta_config(config, meta_overrides: dict[str, Any] | None = None):
    """The config as a meta config (a stock one gets a default meta block), with ``meta_overrides`` applied."""
    from coqui_meta.config import MetaLearningConfig

    if "meta" not in config:
        config = model_kind(config.model).config_class.from_config(config, meta=MetaLearningConfig())
    config.meta = dataclasses.replace(config.meta, **(meta_overrides or {}))  # checked as Coqpit builds it
    return config


def load_model(
    model_path: str | os.PathLike,
    config_path: str | os.PathLike,
    device: str = "cpu",
    trust: bool = False,
    meta_overrides: dict[str, Any] | None = None,
    encoder: str | None = None,
) -> LoadedModel:
    """The checkpoint's model as a MetaVits / MetaTacotron2 on ``device``, in eval mode. ``encoder``: the start of new
    voices asked for; one other than ``coqui`` lets a config whose speaker encoder is at a URL build without it."""

    original = load_config_file(config_path)
    model_name = original.model
    kind = model_kind(model_name)  # load_config_file has checked that there is one
    algorithm = original.meta.algorithm if "meta" in original else FINETUNE
    overrides = dict(meta_overrides or {})
    learned = "meta" in original and original.meta.inner_lr_mode != "fixed"
    drop_rates = learned and not rates_carry_over(original.meta, overrides)
    if drop_rates:
        overrides["inner_lr_mode"] = "fixed"
    config = as_meta_config(original, overrides)
    from TTS.config import get_from_config_or_model_args

    if get_from_config_or_model_args(config, "use_d_vector_file") and not config.meta.uses_prototypes:
        from coqui_meta.formats.d_vector_file import d_vector_dim, d_vector_paths, read_d_vector_files

        if not d_vector_paths(config):
            raise ValueError(f"{config_path}: use_d_vector_file is set but no d_vector_file: a d-vector model reads "
                             "its voices (and a new voice's start) from one; coqui-meta embed writes one for a corpus")
        read_d_vector_files(d_vector_paths(config), d_vector_dim(config))  # a clear error before Coqui reads them
    checkpoint = load_checkpoint(model_path, trust)
    phoneme_cache_path = config.get("phoneme_cache_path")
    own_cache = None
    if config.get("use_phonemes"):
        # Coqui caches phonemes by clip name (new voices' clips are 0000.wav, ...): a cache of this run's own, which
        # goes with its model (or at exit), not a folder left behind by every load
        own_cache = config.phoneme_cache_path = tempfile.mkdtemp(prefix="coqui-meta-phonemes-")
    urls = encoder_urls(config)
    if urls and encoder not in (None, "coqui"):
        drop_encoder(config)  # another encoder starts the voices: the one at the URL is never needed
    try:
        model = kind.model_class(config)
    except BaseException as error:
        if own_cache:
            shutil.rmtree(own_cache, ignore_errors=True)
        if isinstance(error, OSError) and encoder_urls(config):  # the URL offline, or a network error
            raise RequestError(offline_message(urls, str(config_path), error)) from None
        raise
    if own_cache:
        weakref.finalize(model, shutil.rmtree, own_cache, True)
    state = checkpoint["model"]
    if drop_rates:
        state = {name: value for name, value in state.items() if not name.startswith("meta_inner_lrs.")}
    result = model.load_state_dict(state, strict=False)
    # a released inference checkpoint may lack the discriminator; anything else missing is a mismatch
    missing = [key for key in result.missing_keys if not key.startswith("disc.")]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"{model_path} does not match {config_path}: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    model.to(torch.device(device)).eval()
    return LoadedModel(model, config, model_name, kind.stock, algorithm, checkpoint, drop_rates,
                       phoneme_cache_path)
