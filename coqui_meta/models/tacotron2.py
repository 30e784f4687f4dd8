"""MetaTacotron2: Coqui's Tacotron2 with episodic meta-training.

The inner and outer losses are Coqui's own Tacotron2 training loss (``TacotronLoss``: decoder and postnet L1/MSE,
stopnet, guided attention as configured), computed by the stock ``train_step``.

Example::

    from coqui_meta import MetaTacotron2, MetaTacotron2Config, MetaLearningConfig
    config = MetaTacotron2Config.from_config(tacotron2_config, meta=MetaLearningConfig(algorithm="fomaml"))
    model = MetaTacotron2.init_from_config(config)
"""

from __future__ import annotations

import numpy as np
from TTS.tts.layers.losses import TacotronLoss
from TTS.tts.models.tacotron2 import Tacotron2

from coqui_meta.models.mixin import MetaLearningMixin


class MetaTacotron2(MetaLearningMixin, Tacotron2):
    meta_speaker_embedding = "speaker_embedding.weight"
    # Speaker embedding plus the decoder's output side. Not the decoder RNNs by default: with second-order MAML the
    # graph keeps one weight-sized gradient per decoder step (about 26 MB a step for decoder_rnn), which runs out of
    # memory on clips of a few seconds.
    meta_default_adapt_modules = ("speaker_embedding", "decoder.linear_projection", "decoder.stopnet", "postnet")
    meta_needs_native_rnn = True

    def __init__(self, config, *args, **kwargs) -> None:
        super().__init__(config, *args, **kwargs)
        self._meta_losses = {"tacotron": TacotronLoss(config)}  # a plain dict: not part of the state dict

    @classmethod
    def init_from_config(cls, config, samples=None) -> MetaTacotron2:
        return cls(config)

    @property
    def num_speakers(self) -> int:
        # Tacotron2.inference feeds the d-vector only when num_speakers > 1; a prototype model's voices come from clips,
        # not from a d-vector file, so its speaker manager is empty
        count = super().num_speakers
        return max(count, 2) if self.meta_uses_prototypes else count

    def meta_text(self, batch: dict):
        return batch["text_input"], batch["text_lengths"]

    def meta_inference_limit(self, batch: dict, index: int):
        return self.decoder, "max_decoder_steps", 2 * int(batch["mel_lengths"][index]) // max(1, self.decoder.r) + 10

    def meta_waveform(self, outputs: dict) -> np.ndarray:
        mel = outputs["model_outputs"].float().cpu()[0].numpy().T  # [1, frames, mels], normalised
        return self.ap.inv_melspectrogram(mel).astype(np.float32)  # Griffin-Lim

    def meta_clip_mels(self, batch: dict):
        return batch["mel_input"], batch["mel_lengths"]  # [B, T, num_mels], normalised log mel

    def meta_task_loss(self, batch: dict, outer: bool = False):
        criterion = self._meta_losses["tacotron"]
        device = batch["text_input"].device
        if next(criterion.buffers(), device).device != device:
            criterion.to(device)
        outputs, loss_dict = Tacotron2.train_step(self, batch, criterion)
        return loss_dict["loss"], loss_dict, outputs
