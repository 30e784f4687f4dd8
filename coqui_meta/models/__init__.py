"""The meta versions of Coqui's models. Their state dicts are the stock models'."""

from coqui_meta.models.tacotron2 import MetaTacotron2
from coqui_meta.models.vits import MetaVits

__all__ = ["MetaTacotron2", "MetaVits"]
