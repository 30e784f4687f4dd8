"""Learning a new voice from its support clips: the procedure shared by `evaluate` and `adapt`, for meta and stock
checkpoints alike.

The voice starts as the model's task initialisation (the speaker embedding set to the mean of the trained rows, as
Coqui initialises an added speaker; for a prototype model, the prototype of the support clips as its d-vector: a voice
with no step at all) and the adapted tensors (``meta.adapt_modules``) take SGD or Adam steps on the
support clips with the config's gradient clipping. The tensors live in a dict run through ``functional_call``:
the loaded model is never changed. Every random draw (VITS's segment and noise, dropout) is seeded, so two runs
give the same numbers.

Example::

    voice = VoiceAdaptation(model, optimizer="sgd", lr=1e-3)
    before = voice.score(query, seed=0)
    for step in range(10):
        voice.step(support, seed=step)
    wav = voice.synthesize(query, index=0, seed=0)
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch.func import functional_call

from coqui_meta.algorithms.inner_loop import D_VECTOR, TorchTaskModel, _CallMethod, split_voice

OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Every torch random draw inside comes from ``seed``; the global state is restored after."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class VoiceAdaptation:
    """One new voice: a task view of ``model`` whose adapted tensors are trained by a torch optimizer."""

    def __init__(
        self, model, optimizer: str = "sgd", lr: float = 1e-3, adapted: list[str] | None = None, support: dict | None = None
    ) -> None:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        if not lr > 0:
            raise ValueError(f"--lr must be > 0, got {lr}")
        self.model = model
        self.device = next(model.parameters()).device
        self.prototype = None
        if model.meta_uses_prototypes:
            if support is None:
                raise ValueError("a prototype model's voice starts from the prototype of its support clips: pass support")
            model.eval()
            with torch.no_grad():
                self.prototype = model.meta_prototype(support)
        adapted = adapted if adapted is not None else model.meta_adapted_names()
        self.task = TorchTaskModel(model, adapted, voice=self.prototype)
        self.leaves = {}
        for name in self.task.adapted:
            self.leaves[name] = self.task.tensors[name].detach().clone().requires_grad_(True)
            self.task.tensors[name] = self.leaves[name]
        self.optimizer = OPTIMIZERS[optimizer](list(self.leaves.values()), lr=lr)
        grad_clip = model.config.grad_clip
        if isinstance(grad_clip, (list, tuple)):
            grad_clip = grad_clip[model.meta_optimizer_index]
        self.grad_clip = float(grad_clip or 0.0)
        self.steps_taken = 0

    def step(self, support: dict, seed: int) -> float:
        """One optimizer step on the support batch; returns the support loss before it."""
        self.model.train()
        with seeded(seed, self.device):
            loss, _, _ = self.task.loss(support)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the support loss is {float(loss)} at step {self.steps_taken + 1}; lower --lr")
        grads = torch.autograd.grad(loss, list(self.leaves.values()), allow_unused=True)
        for leaf, grad in zip(self.leaves.values(), grads):
            leaf.grad = grad
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([leaf for leaf in self.leaves.values() if leaf.grad is not None], self.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps_taken += 1
        return float(loss.detach())

    @torch.no_grad()
    def score(self, batch: dict, seed: int) -> float:
        """The model's reconstruction loss on ``batch`` (teacher-forced), in eval mode with seeded draws."""
        self.model.eval()
        with seeded(seed, self.device):
            loss, _, _ = self.task.loss(batch)
        return float(loss)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The voice's adapted tensors (speaker embedding or d-vector included when it is adapted), detached."""
        return {name: leaf.detach() for name, leaf in self.leaves.items()}

    def d_vector(self) -> torch.Tensor:
        """A prototype model's voice as it is now: the prototype, moved by the steps if it is adapted."""
        return self.task.tensors[D_VECTOR].detach()

    @contextlib.contextmanager
    def _length_limit(self, batch: dict, index: int):
        """An untrained model may never stop (Tacotron2) or stretch every sound (VITS): allow twice the real length."""
        if "mel_lengths" in batch and hasattr(self.model, "decoder"):  # Tacotron2: decoder steps of r frames
            owner, attribute = self.model.decoder, "max_decoder_steps"
            limit = 2 * int(batch["mel_lengths"][index]) // max(1, self.model.decoder.r) + 10
        elif "spec_lens" in batch and hasattr(self.model, "max_inference_len"):  # VITS: latent frames
            owner, attribute = self.model, "max_inference_len"
            limit = 2 * int(batch["spec_lens"][index]) + 10
        else:
            yield
            return
        original = getattr(owner, attribute)
        setattr(owner, attribute, limit if original is None else min(original, limit))
        try:
            yield
        finally:
            setattr(owner, attribute, original)

    @torch.no_grad()
    def synthesize(self, batch: dict, index: int, seed: int) -> tuple[np.ndarray, int]:
        """The voice saying the text of clip ``index`` of ``batch`` (free-running, no teacher forcing): a waveform
        and its sample rate. VITS returns its own waveform; Tacotron2 its mel through Griffin-Lim."""
        self.model.eval()
        tokens_key, lengths_key = ("tokens", "token_lens") if "tokens" in batch else ("text_input", "text_lengths")
        length = int(batch[lengths_key][index])
        tokens = batch[tokens_key][index : index + 1, :length]
        tensors, voice = split_voice(self.task.tensors)
        if voice is not None:
            aux_input = {"speaker_ids": None, "d_vectors": voice.detach()[None], "language_ids": None}
        else:
            aux_input = {"speaker_ids": batch["speaker_ids"][index : index + 1], "d_vectors": None, "language_ids": None}
        call = _CallMethod(self.model, "inference")
        with seeded(seed, self.device), self._length_limit(batch, index):
            outputs = functional_call(call, tensors, (tokens,), {"aux_input": aux_input}, strict=False)
        sample_rate = self.model.config.audio.sample_rate
        audio = outputs["model_outputs"].float().cpu()
        if "tokens" in batch:  # VITS: [1, 1, samples]
            return audio.reshape(-1).numpy(), sample_rate
        mel = audio[0].numpy().T  # Tacotron2: [1, frames, mels] normalised mel
        return self.model.ap.inv_melspectrogram(mel).astype(np.float32), sample_rate
