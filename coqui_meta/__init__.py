"""coqui-meta: meta-learning (MAML, first-order MAML, Reptile) for Coqui TTS Tacotron2 and VITS.

``import coqui_meta`` registers ``meta_vits`` and ``meta_tacotron2`` with Coqui, so that
``TTS.config.load_config()`` and ``TTS.tts.models.setup_model()`` handle them.
"""

from coqui_meta.config import MetaLearningConfig, MetaTacotron2Config, MetaVitsConfig
from coqui_meta.episodes import SpeakerEpisodeSampler
from coqui_meta.models import MetaTacotron2, MetaVits
from coqui_meta.registry import register

__version__ = "0.1.0"
__all__ = [
    "MetaLearningConfig",
    "MetaTacotron2",
    "MetaTacotron2Config",
    "MetaVits",
    "MetaVitsConfig",
    "SpeakerEpisodeSampler",
    "register",
]

register()
