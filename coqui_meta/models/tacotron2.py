"""MetaTacotron2: Coqui's Tacotron2 with episodic meta-training.

The inner and outer losses are Coqui's own Tacotron2 training loss (``TacotronLoss``: decoder and postnet L1/MSE,
stopnet, guided attention as configured), computed by the stock ``train_step``.

Example::

    from coqui_meta import MetaTacotron2, MetaTacotron2Config, MetaLearningConfig
    config = MetaTacotron2Config.from_config(tacotron2_config, meta=MetaLearningConfig(algorithm="fomaml"))
    model = MetaTacotron2.init_from_config(config)
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from TTS.tts.layers.losses import TacotronLoss
from TTS.tts.models.tacotron2 import Tacotron2

from coqui_meta.algorithms.inner_loop import GST_WEIGHTS
from coqui_meta.models.mixin import MetaLearningMixin


class MetaTacotron2(MetaLearningMixin, Tacotron2):
    meta_speaker_embedding = "speaker_embedding.weight"
    # Speaker embedding plus the decoder's output side. Not the decoder RNNs by default: with second-order MAML the
    # graph keeps one weight-sized gradient per decoder step (about 26 MB a step for decoder_rnn), which runs out of
    # memory on clips of a few seconds.
    meta_default_adapt_modules = ("speaker_embedding", "decoder.linear_projection", "decoder.stopnet", "postnet")
    meta_needs_native_rnn = True
    # a style is the global style tokens' weights (Coqui's token-weights input), the token bank and its attention, and
    # the decoder's output side
    meta_style_adapt_modules = (GST_WEIGHTS, "gst_layer", "decoder.linear_projection", "decoder.stopnet", "postnet")
    meta_style_needs_gst = True

    def __init__(self, config, *args, **kwargs) -> None:
        super().__init__(config, *args, **kwargs)
        self._meta_losses = {"tacotron": TacotronLoss(config)}  # a plain dict: not part of the state dict
        self._meta_gst_weights = None  # a style task's token weights, while its forward or inference runs
        # the vocoder renditions are spoken through (coqui_meta.formats.vocoder); None: Griffin-Lim. Not a submodule:
        # the state dict stays the stock model's
        self.meta_vocoder = None

    def compute_gst(self, inputs, style_input, speaker_embedding=None):
        """Coqui's, unless a style task's token weights are set: then the style is their weighted sum of the tokens
        as Coqui's token-weights input computes it (each token attended alone), differentiable in the weights."""
        weights = self._meta_gst_weights
        if weights is None:
            return super().compute_gst(inputs, style_input, speaker_embedding)
        query = torch.zeros(1, 1, self.gst.gst_embedding_dim // 2).type_as(inputs)
        if speaker_embedding is not None:
            query = torch.cat([query, speaker_embedding.reshape(1, 1, -1)], dim=-1)
        tokens = torch.tanh(self.gst_layer.style_token_layer.style_tokens)
        attention = self.gst_layer.style_token_layer.attention
        style = sum(weight * attention(query, token[None, None]) for weight, token in zip(weights, tokens))
        return self._concat_speaker_embedding(inputs, style)

    @contextlib.contextmanager
    def meta_style_weights(self, weights):
        """Token weights as the style input of every clip while the block runs (None: Coqui's own input)."""
        self._meta_gst_weights = weights
        try:
            yield
        finally:
            self._meta_gst_weights = None

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
        mel = outputs["model_outputs"].float().cpu()[0].numpy()  # [1, frames, mels], normalised
        if self.meta_vocoder is not None:  # the vocoder the user named, as Coqui's Synthesizer runs it
            return self.meta_vocoder.waveform(mel, self.ap).astype(np.float32)
        return self.ap.inv_melspectrogram(mel.T).astype(np.float32)  # Griffin-Lim

    def meta_clip_mels(self, batch: dict):
        return batch["mel_input"], batch["mel_lengths"]  # [B, T, num_mels], normalised log mel

    def meta_task_loss(self, batch: dict, outer: bool = False):
        criterion = self._meta_losses["tacotron"]
        device = batch["text_input"].device
        if next(criterion.buffers(), device).device != device:
            criterion.to(device)
        with self.meta_style_weights(batch.get(GST_WEIGHTS)):
            outputs, loss_dict = Tacotron2.train_step(self, batch, criterion)
        return loss_dict["loss"], loss_dict, outputs
