"""MetaVits: Coqui's VITS with episodic meta-training.

Inner loss: the generator's reconstruction terms (mel L1, KL, duration), weighted as the config weights them. Outer
loss: the same on the query clips, plus the adversarial and feature-matching terms if ``meta.adversarial_outer``. The
discriminator is trained as stock Coqui trains it, on the (adapted) query outputs, after each outer step.

Example::

    from coqui_meta import MetaVits, MetaVitsConfig, MetaLearningConfig
    config = MetaVitsConfig.from_config(vits_config, meta=MetaLearningConfig(algorithm="maml"))
    model = MetaVits.init_from_config(config)
    Trainer(TrainerArgs(), config, output_path, model=model, train_samples=train, eval_samples=held_out).fit()
"""

from __future__ import annotations

import numpy as np
import torch
from TTS.tts.layers.losses import VitsDiscriminatorLoss, VitsGeneratorLoss
from TTS.tts.models.vits import Vits
from TTS.tts.utils.helpers import segment
from TTS.utils.audio.torch_transforms import wav_to_mel

from coqui_meta.models.mixin import MetaLearningMixin
from coqui_meta.models.outer_step import clip_and_step


class MetaVits(MetaLearningMixin, Vits):
    meta_speaker_embedding = "emb_g.weight"
    # everything speaker-conditioned: it recovers a known voice fastest and goes furthest past its own trained row
    # (benchmarks/voice_recovery.py; the row alone or with the conditioning layers stays near the mean voice longer)
    meta_default_adapt_modules = ("emb_g", "duration_predictor", "flow", "waveform_decoder")
    meta_language_embedding = "emb_l.weight"
    # a language is how text is read: its embedding, the text encoder it conditions, and the durations
    meta_language_adapt_modules = ("emb_l", "text_encoder", "duration_predictor")
    # a style is how every voice speaks: the same modules (its rows move the support clips' own voices)
    meta_style_adapt_modules = meta_default_adapt_modules
    meta_optimizer_index = 1
    meta_optimizer_losses = {0: "loss_disc"}  # logged as loss_0, as a stock VITS logs its discriminator's loss

    def __init__(self, config, *args, **kwargs) -> None:
        super().__init__(config, *args, **kwargs)
        # a plain dict, not submodules: the state dict must stay the stock model's
        self._meta_losses = {"generator": VitsGeneratorLoss(config), "discriminator": VitsDiscriminatorLoss(config)}

    @classmethod
    def init_from_config(cls, config, samples=None) -> MetaVits:
        return cls(config)

    def _mel_slices(self, mel: torch.Tensor, outputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
        audio = self.config.audio
        size = self.spec_segment_size * (int(self.interpolate_factor) if self.args.encoder_sample_rate else 1)
        with torch.autocast("cuda", enabled=False):
            mel_slice = segment(mel.float(), outputs["slice_ids"], size, pad_short=True)
            mel_slice_hat = wav_to_mel(
                y=outputs["model_outputs"].float(),
                n_fft=audio.fft_size,
                sample_rate=audio.sample_rate,
                num_mels=audio.num_mels,
                hop_length=audio.hop_length,
                win_length=audio.win_length,
                fmin=audio.mel_fmin,
                fmax=audio.mel_fmax,
                center=False,
            )
        return mel_slice, mel_slice_hat

    def meta_text(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return batch["tokens"], batch["token_lens"]

    def meta_inference_limit(self, batch: dict, index: int):
        return self, "max_inference_len", 2 * int(batch["spec_lens"][index]) + 10  # latent frames

    def meta_waveform(self, outputs: dict) -> np.ndarray:
        return outputs["model_outputs"].float().cpu().reshape(-1).numpy()  # [1, 1, samples]

    def meta_clip_mels(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        mel = batch["mel"]  # [B, num_mels, T], log mel computed by format_batch_on_device
        lengths = batch["spec_lens"] * mel.shape[2] // batch["spec"].shape[2]
        return mel.transpose(1, 2), lengths

    @staticmethod
    def _forget_inference_caches() -> None:
        # Coqui caches its Hann windows and mel bases in module dicts. One first made while the Trainer formats an eval
        # batch under inference_mode (e.g. a resumed run that evaluates before it trains) is an inference tensor, which
        # autograd refuses to save: drop such entries so they are rebuilt as ordinary tensors.
        from TTS.utils.audio import torch_transforms

        for cache in (torch_transforms.hann_window, torch_transforms.mel_basis):
            for key in [key for key, value in cache.items() if value.is_inference()]:
                del cache[key]

    def meta_task_loss(self, batch: dict, outer: bool = False):
        """The generator branch of Coqui's ``Vits.train_step`` (optimizer_idx 1) without the discriminator's terms
        unless ``outer and meta.adversarial_outer``; like Coqui, it passes the real mel slice as ``mel_slice_hat``
        and the generated one as ``mel_slice`` (the L1 loss is symmetric)."""
        if torch.is_grad_enabled():
            self._forget_inference_caches()
        outputs = self.forward(
            batch["tokens"],
            batch["token_lens"],
            batch["spec"],
            batch["spec_lens"],
            batch["waveform"],
            aux_input={
                "d_vectors": batch["d_vectors"],
                "speaker_ids": batch["speaker_ids"],
                "language_ids": batch["language_ids"],
            },
        )
        mel_slice, mel_slice_hat = self._mel_slices(batch["mel"], outputs)
        if outer and self.config.meta.adversarial_outer:
            scores_fake, feats_fake, _, feats_real = self.disc(outputs["model_outputs"], outputs["waveform_seg"])
        else:  # no discriminator terms: the generator loss is its reconstruction terms alone
            scores_fake, feats_fake, feats_real = [], [], []
        with torch.autocast("cuda", enabled=False):
            loss_dict = self._meta_losses["generator"](
                mel_slice=mel_slice_hat.float(),
                mel_slice_hat=mel_slice.float(),
                z_p=outputs["z_p"].float(),
                logs_q=outputs["logs_q"].float(),
                m_p=outputs["m_p"].float(),
                logs_p=outputs["logs_p"].float(),
                z_len=batch["spec_lens"],
                scores_disc_fake=scores_fake,
                feats_disc_fake=feats_fake,
                feats_disc_real=feats_real,
                loss_duration=outputs["loss_duration"],
            )
        if not (outer and self.config.meta.adversarial_outer):
            del loss_dict["loss_gen"], loss_dict["loss_feat"]
        return loss_dict["loss"], loss_dict, outputs

    def meta_after_outer_step(self, trainer, results) -> dict[str, float]:
        """Train the discriminator on the adapted query outputs, as Coqui's VITS does on its batches."""
        optimizer = trainer.optimizer[0]
        scaler = trainer.scaler if trainer.use_amp_scaler else None
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for result in results:
            scores_fake, _, scores_real, _ = self.disc(result.outputs["model_outputs"], result.outputs["waveform_seg"])
            with torch.autocast("cuda", enabled=False):
                loss = self._meta_losses["discriminator"](scores_real, scores_fake)["loss"] / len(results)
            (scaler.scale(loss) if scaler else loss).backward()
            total += float(loss.detach())
        grad_norm = clip_and_step(trainer, 0)
        return {"loss_disc": total, "grad_norm_disc": grad_norm}
