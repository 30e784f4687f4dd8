"""Learning a new voice from its support clips, for `evaluate` and `adapt`, meta and stock checkpoints alike: the
inner loop of meta-training (`coqui_meta.algorithms.inner_loop.adapt`), step by step, with its seeds.

The voice starts as the model's task initialisation (the speaker embedding set to the mean of the trained rows, as
Coqui initialises an added speaker, or for a language task the language embedding's mean row; for a prototype model,
the prototype of the support clips as its d-vector: a voice with no step at all; for a YourTTS-style d-vector model,
``start_voice``, from a speaker encoder or the file's mean) and the adapted tensors (``meta.adapt_modules``) take the
steps meta-training's inner loop takes (``meta.inner_update``: Adam's by default, SGD for second-order MAML) on the
support clips at the model's inner rates (learned or ``meta.inner_lr``; ``lr`` fixes one rate for all, ``lr_scale``
multiplies them); gradient clipping when asked for. The tensors live in a dict run through
``functional_call``: the loaded model is never changed. Every random draw (VITS's segment and noise, dropout) comes
from the task's seeds, the ones meta-validation uses, so two runs give the same numbers. A loss that stops being
finite, or grows ten-fold, stops the adaptation with `AdaptationDiverged`.

Example::

    voice = VoiceAdaptation(model, AdaptationSettings(lr=1e-3, seed=0))
    before = voice.score(query)
    for step in range(10):
        voice.step(support)
    wav = voice.synthesize(query, index=0)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import functional_call

from coqui_meta.algorithms.inner_loop import (
    D_VECTOR,
    GST_WEIGHTS,
    TorchTaskModel,
    _CallMethod,
    adapt,
    score,
    split_voice,
)
from coqui_meta.algorithms.inner_rules import DIVERGENCE_FACTOR, InnerOptimizer, InnerRates, diverged
from coqui_meta.seeds import TaskSeeds, seeded


@dataclass
class AdaptationSettings:
    """How a new voice is learned; shared by the CLI, `evaluate`, `adapt` and the study.

    ``lr``: one rate for every adapted tensor (None: the model's own, learned or ``meta.inner_lr``); ``lr_scale``
    multiplies the rates; ``optimizer`` ``adam`` or ``sgd`` (None: the model's ``meta.inner_update``, the
    procedure it meta-trained with); ``grad_clip`` clips the gradients' total norm (0: off);
    ``adapt_modules`` overrides ``meta.adapt_modules``; ``seed`` seeds the clips drawn and every random draw;
    ``device`` (None: CUDA when there is one); ``trust`` reads checkpoints that need pickled code; ``encoder``: where
    a d-vector model's new voice starts (`coqui_meta.voices.d_vector_voice.STARTS`; None: its config's encoder, else
    the mean of its d-vector file)."""

    lr: float | None = None
    lr_scale: float = 1.0
    optimizer: str | None = None
    grad_clip: float = 0.0
    adapt_modules: list[str] = field(default_factory=list)
    seed: int = 0
    device: str | None = None
    trust: bool = False
    encoder: str | None = None

    def torch_device(self) -> torch.device:
        return torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))


def load_for_adaptation(model_path: str, config_path: str, settings: AdaptationSettings, device: torch.device,
                        task_key: str | None = None):
    """The checkpoint as a model to adapt, with ``settings.adapt_modules`` applied and tasks of ``task_key`` (None:
    the checkpoint's own). A checkpoint's learned inner rates are for its own ``adapt_modules``: with other modules,
    ``settings.lr`` must say the rate."""
    overrides = {"adapt_modules": list(settings.adapt_modules)} if settings.adapt_modules else {}
    if task_key:
        overrides["task_key"] = task_key
    from coqui_meta.voices.checkpoints import load_model

    loaded = load_model(model_path, config_path, device=str(device), trust=settings.trust, meta_overrides=overrides,
                        encoder=settings.encoder)
    if loaded.dropped_learned_rates and settings.lr is None:
        raise ValueError(
            f"--adapt_modules: {model_path} learned its inner rates for its own adapt_modules and tasks "
            f"({', '.join(loaded.config.meta.adapt_modules) or 'the default'}); give --lr for these modules"
        )
    return loaded


class AdaptationDiverged(FloatingPointError):
    """The adaptation's loss stopped being finite or grew past ten times where it started."""


class VoiceAdaptation:
    """One new voice: a task view of ``model`` moved, step by step, by the inner loop."""

    def __init__(self, model, settings: AdaptationSettings | None = None, support: dict | None = None,
                 start_voice: torch.Tensor | None = None) -> None:
        """``start_voice``: the d-vector a d-vector model's voice starts from (default: `meta_start_voice` of
        ``support``: the prototype of its clips, their own d-vectors, or the file's mean)."""
        settings = settings or AdaptationSettings()
        self.model = model
        self.device = next(model.parameters()).device
        self.prototype = None  # the d-vector the voice starts from, for a model whose voice is one
        if model.meta_voice_is_d_vector:
            if start_voice is None and support is None:
                raise ValueError("a d-vector model's voice starts from its support clips: pass support or start_voice")
            model.eval()
            with torch.no_grad():
                start = model.meta_start_voice(support) if start_voice is None else start_voice
            self.prototype = start.detach().to(self.device)
        adapted = model.meta_adapted_names()
        rates = model.meta_inner_lrs
        if rates.names != adapted:  # other modules than those the rates were made for: one rate for all
            rates = InnerRates(adapted, "fixed", model.config.meta.inner_lr)
        kind = settings.optimizer or model.config.meta.inner_update
        self.optimizer = InnerOptimizer(rates, kind, settings.grad_clip, settings.lr_scale, settings.lr)
        self.task = TorchTaskModel(model, adapted, voice=self.prototype, differentiable=False)
        self.seeds = TaskSeeds.of_voice(settings.seed)
        self.steps_taken = 0
        self.start: float | None = None  # the first loss measured: what divergence is judged against

    def _check(self, loss: float, what: str) -> None:
        self.start = loss if self.start is None else self.start
        if diverged([self.start, loss]):
            raise AdaptationDiverged(
                f"the adaptation diverged: the {what} loss is {loss:.4g} after {self.steps_taken} step(s), from "
                f"{self.start:.4g} (more than {DIVERGENCE_FACTOR:g} times, or not finite); lower --lr or --lr_scale"
            )

    def step(self, support: dict) -> float:
        """One inner step on the support batch; returns the support loss before it."""
        (loss,) = adapt(self.task, support, 1, self.optimizer, create_graph=False, seeds=self.seeds,
                        first=self.steps_taken)
        self._check(loss, "support")
        self.steps_taken += 1
        return loss

    def score(self, batch: dict) -> float:
        """The model's reconstruction loss on ``batch`` (teacher-forced), in eval mode with the task's query seed."""
        loss = score(self.task, batch, self.seeds)[0]
        self._check(loss, "scored")
        return loss

    def rates(self) -> dict:
        """The rates used, as reports record them (`InnerOptimizer.record`)."""
        return self.optimizer.record()

    def tensors(self) -> dict[str, torch.Tensor]:
        """The voice's adapted tensors (speaker embedding or d-vector included when it is adapted), detached."""
        return {name: tensor.detach() for name, tensor in self.task.adapted_tensors().items()}

    def d_vector(self) -> torch.Tensor:
        """A d-vector model's voice as it is now: where it started, moved by the steps if it is adapted."""
        return self.task.tensors[D_VECTOR].detach()

    def synthesize(self, batch: dict, index: int, seed: int | None = None) -> tuple[np.ndarray, int]:
        """The voice saying the text of clip ``index`` of ``batch`` (free-running): a waveform and its sample rate."""
        tensors, voice = split_voice(self.task.tensors)
        return render(self.model, batch, index, self.seeds.render(index) if seed is None else seed, tensors, voice,
                      self.style_weights())

    def style_weights(self) -> torch.Tensor | None:
        """A GST style task's token weights as they are now (None for any other task)."""
        weights = self.task.tensors.get(GST_WEIGHTS)
        return None if weights is None else weights.detach()


@contextlib.contextmanager
def _inference_limit(model, batch: dict, index: int):
    """An untrained model may never stop (Tacotron2) or stretch every sound (VITS): allow twice the real length."""
    owner, attribute, limit = model.meta_inference_limit(batch, index)
    original = getattr(owner, attribute)
    setattr(owner, attribute, limit if original is None else min(original, limit))
    try:
        yield
    finally:
        setattr(owner, attribute, original)


@torch.no_grad()
def render(model, batch: dict, index: int, seed: int, tensors: dict | None = None, voice: torch.Tensor | None = None,
           style_weights: torch.Tensor | None = None):
    """``model`` saying the text of clip ``index`` of ``batch`` (free-running, no teacher forcing), with ``tensors``
    (``functional_call`` names, ``model.``-prefixed) in place of its own and ``voice`` as the d-vector, or else the
    clip's own speaker row, and a GST style task's ``style_weights``: a waveform and its sample rate."""
    model.eval()
    tokens, lengths = model.meta_text(batch)
    tokens = tokens[index : index + 1, : int(lengths[index])]
    def row(key: str):
        values = batch.get(key)
        return values[index : index + 1] if values is not None else None

    if voice is not None:
        aux_input = {"speaker_ids": None, "d_vectors": voice.detach()[None], "language_ids": row("language_ids")}
    else:  # the clip's own speaker: its row of the table, or its d-vector
        aux_input = {"speaker_ids": row("speaker_ids"), "d_vectors": row("d_vectors"),
                     "language_ids": row("language_ids")}
    aux_input.update(style_mel=None, style_text=None)  # Coqui's style inputs (a GST style task's are its weights)
    device = next(model.parameters()).device
    style = model.meta_style_weights(style_weights) if style_weights is not None else contextlib.nullcontext()
    with seeded(seed, device), _inference_limit(model, batch, index), style:
        outputs = functional_call(_CallMethod(model, "inference"), tensors or {}, (tokens,), {"aux_input": aux_input},
                                  strict=False)
    return model.meta_waveform(outputs), model.config.audio.sample_rate
