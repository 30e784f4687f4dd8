"""Makes Coqui's own `load_config()` and `setup_model()` know ``meta_vits`` and ``meta_tacotron2``.

Coqui finds a model named ``X`` by importing ``TTS.tts.models.X`` (class ``to_camel(X)``) and its config by importing
``TTS.tts.configs.X_config``. `register()` puts our modules under those names in ``sys.modules``: new names only, so
no installed file and none of Coqui's or its Trainer's code is changed (a meta model's own Trainer gets its checkpoint
wrappers from the model's ``on_init_start`` hook, `coqui_meta.trainer_bridge`).
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass


def _alias(name: str, **attributes) -> None:
    module = sys.modules.get(name)
    if module is None:
        module = types.ModuleType(name, f"coqui-meta alias: {', '.join(attributes)}")
        sys.modules[name] = module
    for key, value in attributes.items():
        setattr(module, key, value)


@dataclass(frozen=True)
class ModelKind:
    """One row of the table of models (`models`): a meta model and the stock Coqui model it extends."""

    name: str  # the meta config's ``model``: meta_vits
    stock: str  # Coqui's: vits
    config_class: type
    model_class: type


def models() -> dict[str, ModelKind]:
    """The one table of the models coqui-meta supports, under both names (``meta_vits`` and ``vits`` give one row)."""
    from coqui_meta.config import MetaTacotron2Config, MetaVitsConfig
    from coqui_meta.models import MetaTacotron2, MetaVits

    rows = (ModelKind("meta_vits", "vits", MetaVitsConfig, MetaVits),
            ModelKind("meta_tacotron2", "tacotron2", MetaTacotron2Config, MetaTacotron2))
    return {key: row for row in rows for key in (row.name, row.stock)}


def model_kind(name: str) -> ModelKind:
    """The row of a config's ``model`` (meta or stock name); a ValueError naming the supported ones otherwise."""
    table = models()
    if name not in table:
        raise ValueError(f"model {name!r} is not supported; use {', '.join(table)}")
    return table[name]


def register() -> None:
    """Register the meta models and configs with Coqui under new module names. Idempotent; run by
    ``import coqui_meta``."""
    for kind in set(models().values()):
        _alias(f"TTS.tts.configs.{kind.name}_config", **{kind.config_class.__name__: kind.config_class})
        _alias(f"TTS.tts.models.{kind.name}", **{kind.model_class.__name__: kind.model_class})
