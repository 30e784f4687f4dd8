"""One task's life: it starts (as a new voice, language or style), takes inner steps on its support clips, is scored
on clips, and speaks. Meta-training, meta-validation, `coqui-meta evaluate`, `adapt` (voice, language, style) and
the seen-speaker measure all hold a `Task`; what differs is how it starts (learn2learn's ``clone()``/``adapt()``
and higher's one inner loop are the models):

- `Task.for_training`: a view that stays connected to the model's parameters (and learned rates), on the
  algorithm's backend, second order if the algorithm is; a diverged step ends the steps and the caller skips the task.
- `Task.start`: a measurement's view (``differentiable=False``): the loaded model is never changed, no graph grows
  over the steps, and with ``strict`` a diverged loss raises `TaskDiverged`.
- `Task.known`: a voice the model already has: no start, no steps; it renders each clip with its own speaker row.

Which rates a task steps at is decided by the model's ``meta_inner_lrs`` alone (`task_optimizer`): a checkpoint
whose learned rates were made for other tensors has them dropped when it is loaded
(`coqui_meta.algorithms.inner_rules.rates_carry_over`).

Example::

    task = Task.start(model, support, seeds=TaskSeeds.of_voice(0), strict=True)
    before = task.score(query)[0]
    task.step(support, steps=10)
    after = task.score(query)[0]
    wav, rate = task.render(query, index=0)
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch.func import functional_call

from coqui_meta.algorithms.inner_loop import (
    D_VECTOR,
    GST_WEIGHTS,
    TorchTaskModel,
    _CallMethod,
    adapt,
    failed_forward,
    make_task_model,
    score,
    split_voice,
)
from coqui_meta.algorithms.inner_rules import DIVERGENCE_FACTOR, InnerOptimizer, diverged
from coqui_meta.algorithms.meta_model import MetaModel
from coqui_meta.errors import Phrased
from coqui_meta.seeds import TaskSeeds, seeded


class TaskDiverged(Phrased, FloatingPointError):
    """A strict task's loss stopped being finite or grew past ten times where it started."""


def task_optimizer(model: MetaModel, kind: str | None = None, grad_clip: float = 0.0, scale: float = 1.0,
                   fixed: float | None = None, adapted: list[str] | None = None) -> InnerOptimizer:
    """A fresh inner optimizer (Adam's moments at zero) at the model's inner rates, fixed or learned, for the tensors
    it adapts (``adapted``, when the caller has them: `meta_adapted_names`); ``kind`` None is the model's
    ``meta.inner_update``."""
    rates = model.meta_inner_lrs
    adapted = model.meta_adapted_names() if adapted is None else adapted
    if rates.names != adapted:
        raise ValueError(f"the model's inner rates are for {len(rates.names)} tensors, but it adapts {len(adapted)} "
                         "(were parameters frozen after it was built?); build the model after freezing them")
    return InnerOptimizer(rates, kind or model.config.meta.inner_update, grad_clip, scale, fixed)


class Task:
    """A task's view of the model (its adapted tensors, its voice), its inner optimizer and its seeds."""

    def __init__(self, model: MetaModel, view, optimizer: InnerOptimizer | None, seeds: TaskSeeds,
                 strict: bool = False) -> None:
        self.model, self.view, self.optimizer, self.seeds, self.strict = model, view, optimizer, seeds, strict
        self.steps_taken = 0
        self.first_loss: float | None = None  # what a strict task judges divergence against

    # ------------------------------------------------------------------ starts
    @classmethod
    def for_training(cls, algorithm, support: dict, seeds: TaskSeeds, voice: torch.Tensor | None = None) -> Task:
        """A task of meta-training: differentiable, on ``algorithm``'s backend; ``voice`` (a prototype model's
        d-vector) defaults to the algorithm's start for ``support``."""
        model = algorithm.model
        voice = algorithm.task_voice(support) if voice is None else voice
        view = make_task_model(model, algorithm.meta.backend, algorithm.adapted, algorithm.second_order,
                               algorithm.backend_cache, voice)
        return cls(model, view, algorithm.inner_optimizer(), seeds)

    @classmethod
    def start(cls, model: MetaModel, support: dict | None = None, voice: torch.Tensor | None = None,
              optimizer: InnerOptimizer | None = None, seeds: TaskSeeds = TaskSeeds(), strict: bool = False) -> Task:
        """A task to measure or to keep: ``voice`` is where a d-vector model's voice starts (default: its
        ``meta_start_voice`` of ``support``); ``optimizer`` defaults to `task_optimizer`."""
        if model.meta_voice_is_d_vector and voice is None:
            if support is None:
                raise ValueError("a d-vector model's voice starts from its support clips: pass support or voice")
            was_training = model.training
            model.eval()
            with torch.no_grad():
                voice = model.meta_start_voice(support)
            model.train(was_training)
        voice = None if voice is None else voice.detach().to(next(model.parameters()).device)
        adapted = model.meta_adapted_names()
        view = TorchTaskModel(model, adapted, voice=voice, differentiable=False)
        return cls(model, view, optimizer or task_optimizer(model, adapted=adapted), seeds, strict)

    @classmethod
    def known(cls, model: MetaModel, seeds: TaskSeeds = TaskSeeds()) -> Task:
        """The voices the model has: it speaks each clip with the clip's own speaker row (or d-vector)."""
        return cls(model, None, None, seeds)

    # ------------------------------------------------------------------ life
    def step(self, support: dict, steps: int = 1, create_graph: bool = False) -> list[float]:
        """``steps`` inner steps on the support batch, each with its own seed; the support loss before each. A
        diverged loss ends them (a strict task raises `TaskDiverged`)."""
        losses = adapt(self.view, support, steps, self.optimizer, create_graph, self.seeds, first=self.steps_taken)
        for offset, loss in enumerate(losses):
            self._check(loss, "support", self.steps_taken + offset)
        self.steps_taken += len(losses)
        return losses

    def loss(self, batch: dict):
        """The outer loss on ``batch`` with its graph (meta-training's query loss), with the task's query seed."""
        try:
            with seeded(self.seeds.query(), _device(self.model)):
                return self.view.loss(batch, outer=True)
        except RuntimeError as error:  # Coqui's forward on tensors the steps blew up: a diverged task, skipped
            if not failed_forward(self.view, error):
                raise
            return torch.tensor(math.nan, device=_device(self.model)), {}, {}

    def score(self, batch: dict) -> tuple[float, dict, dict]:
        """The loss on ``batch`` as a measurement (eval mode, no graph, the query seed): loss, terms and outputs."""
        loss, terms, outputs = score(self.view, batch, self.seeds)
        self._check(loss, "scored", self.steps_taken)
        return loss, terms, outputs

    def render(self, batch: dict, index: int, seed: int | None = None) -> tuple[np.ndarray, int]:
        """The task's voice saying the text of clip ``index`` of ``batch`` (free-running): a waveform and its rate."""
        seed = self.seeds.render(index) if seed is None else seed
        if self.view is None:
            return render(self.model, batch, index, seed)
        tensors, voice = split_voice(self.view.tensors)
        return render(self.model, batch, index, seed, tensors, voice, self.style_weights())

    # ------------------------------------------------------------------ what the task holds
    @property
    def adapted(self) -> list[str]:
        """The names of the tensors the steps move (``d_vector`` and ``gst_weights`` for the task's inputs)."""
        return list(self.view.adapted)

    @property
    def initial(self) -> dict[str, torch.Tensor]:
        return self.view.initial

    def current(self, name: str) -> torch.Tensor | None:
        """The task's own value of ``name`` as it is now (adapted or set at the start, e.g. the speaker table whose
        every row is the mean), detached; None when the task leaves it to the model."""
        tensor = self.view.tensors.get(name)
        return None if tensor is None else tensor.detach()

    def adapted_tensors(self) -> dict[str, torch.Tensor]:
        """The adapted tensors as they are now, graphs included (a training task's)."""
        return self.view.adapted_tensors()

    def detach_adapted(self) -> None:
        self.view.detach_adapted()

    def tensors(self) -> dict[str, torch.Tensor]:
        """The adapted tensors (speaker embedding or d-vector included when it is adapted), detached."""
        return {name: tensor.detach() for name, tensor in self.view.adapted_tensors().items()}

    def d_vector(self) -> torch.Tensor:
        """A d-vector model's voice as it is now: where it started, moved by the steps if it is adapted."""
        return self.current(D_VECTOR)

    def style_weights(self) -> torch.Tensor | None:
        """A GST style task's token weights as they are now (None for any other task)."""
        return self.current(GST_WEIGHTS)

    def rates(self) -> dict:
        """The rates used, as reports record them (`InnerOptimizer.record`)."""
        return self.optimizer.record()

    def _check(self, loss: float, what: str, steps: int) -> None:
        self.first_loss = loss if self.first_loss is None else self.first_loss
        if not (self.strict and diverged([self.first_loss, loss])):
            return
        failure = getattr(self.view, "forward_error", None)
        if failure and not math.isfinite(loss):  # no loss at all: the tensors, or Coqui's forward on them, gave out
            raise TaskDiverged(f"the adaptation diverged after {steps} step(s): {failure} (the {what} loss was "
                               f"{self.first_loss:.4g} at the start); lower `lr` or `lr_scale`")
        raise TaskDiverged(
            f"the adaptation diverged: the {what} loss is {loss:.4g} after {steps} step(s), from "
            f"{self.first_loss:.4g} (more than {DIVERGENCE_FACTOR:g} times, or not finite); lower `lr` or "
            "`lr_scale`"
        )


def _device(model) -> torch.device:
    return next(model.parameters()).device


@contextlib.contextmanager
def _inference_limit(model: MetaModel, batch: dict, index: int):
    """An untrained model may never stop (Tacotron2) or stretch every sound (VITS): allow twice the real length."""
    owner, attribute, limit = model.meta_inference_limit(batch, index)
    original = getattr(owner, attribute)
    setattr(owner, attribute, limit if original is None else min(original, limit))
    try:
        yield
    finally:
        setattr(owner, attribute, original)


@torch.no_grad()
def render(model: MetaModel, batch: dict, index: int, seed: int, tensors: dict | None = None,
           voice: torch.Tensor | None = None, style_weights: torch.Tensor | None = None):
    """``model`` saying the text of clip ``index`` of ``batch`` (free-running, no teacher forcing), with ``tensors``
    (``functional_call`` names, ``model.``-prefixed) in place of its own and ``voice`` as the d-vector, or else the
    clip's own speaker row, and a GST style task's ``style_weights``: a waveform and its sample rate. The model
    speaks in eval mode and is left in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        return _speak(model, batch, index, seed, tensors, voice, style_weights)
    finally:
        model.train(was_training)


def _speak(model: MetaModel, batch: dict, index: int, seed: int, tensors: dict | None, voice: torch.Tensor | None,
           style_weights: torch.Tensor | None):
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
    style = model.meta_style_weights(style_weights) if style_weights is not None else contextlib.nullcontext()
    with seeded(seed, _device(model)), _inference_limit(model, batch, index), style:
        outputs = functional_call(_CallMethod(model, "inference"), tensors or {}, (tokens,), {"aux_input": aux_input},
                                  strict=False)
    return model.meta_waveform(outputs), model.config.audio.sample_rate
