"""Makes Coqui's own `load_config()` and `setup_model()` know ``meta_vits`` and ``meta_tacotron2``.

Coqui finds a model named ``X`` by importing ``TTS.tts.models.X`` (class ``to_camel(X)``) and its config by importing
``TTS.tts.configs.X_config``. `register()` puts our modules under those names in ``sys.modules`` and installs the
Trainer's checkpoint wrappers (`coqui_meta.trainer_bridge`); no installed file is changed.
"""

from __future__ import annotations

import sys
import types


def _alias(name: str, **attributes) -> None:
    module = sys.modules.get(name)
    if module is None:
        module = types.ModuleType(name, f"coqui-meta alias: {', '.join(attributes)}")
        sys.modules[name] = module
    for key, value in attributes.items():
        setattr(module, key, value)


def register() -> None:
    """Register the meta models and configs with Coqui, and make its Trainer's checkpoints atomic and able to carry
    the run's position (`coqui_meta.trainer_bridge`). Idempotent; run by ``import coqui_meta``."""
    from coqui_meta import trainer_bridge
    from coqui_meta.config import MetaTacotron2Config, MetaVitsConfig
    from coqui_meta.models import MetaTacotron2, MetaVits

    _alias("TTS.tts.configs.meta_vits_config", MetaVitsConfig=MetaVitsConfig)
    _alias("TTS.tts.configs.meta_tacotron2_config", MetaTacotron2Config=MetaTacotron2Config)
    _alias("TTS.tts.models.meta_vits", MetaVits=MetaVits)
    _alias("TTS.tts.models.meta_tacotron2", MetaTacotron2=MetaTacotron2)
    trainer_bridge.install()


def meta_classes(stock_model: str):
    """(config class, model class) of the meta version of Coqui's ``vits`` or ``tacotron2``."""
    from coqui_meta.config import MetaTacotron2Config, MetaVitsConfig
    from coqui_meta.models import MetaTacotron2, MetaVits

    table = {"vits": (MetaVitsConfig, MetaVits), "tacotron2": (MetaTacotron2Config, MetaTacotron2)}
    if stock_model not in table:
        raise ValueError(f"model {stock_model!r} has no meta version; use one of {', '.join(table)}")
    return table[stock_model]
