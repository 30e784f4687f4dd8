"""What every gradient-based algorithm shares: task views, meta-validation, and the outer backward over tasks."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from coqui_meta.algorithms.inner_loop import adapt, make_task_model


@dataclass
class TaskResult:
    """One task of an outer step: its query loss (detached), the loss terms and the query outputs."""

    query_loss: float
    loss_dict: dict[str, Any]
    outputs: dict[str, Any]
    support_losses: list[float] = field(default_factory=list)
    skipped: bool = False  # a non-finite support or query loss: nothing was backpropagated

    def __post_init__(self) -> None:
        # keep the values, not the graphs: outputs of every task of a meta-batch live until the step ends
        self.outputs = {k: v.detach() if torch.is_tensor(v) else v for k, v in self.outputs.items()}
        self.loss_dict = {k: float(v.detach()) if torch.is_tensor(v) and v.numel() == 1 else v for k, v in self.loss_dict.items()}


class GradientMetaAlgorithm:
    """Base of MAML, first-order MAML and Reptile.

    Subclasses implement `task_backward`: adapt one task and put its share of the meta-gradient in ``.grad``.
    """

    name = "base"
    second_order = False

    def __init__(self, model: nn.Module, meta) -> None:
        self.model = model
        self.meta = meta
        self.adapted = model.meta_adapted_names()
        self._backend_cache: dict[str, Any] = {}

    @property
    def inner_steps(self) -> int:
        """Inner steps of a task in training (and meta-validation's default)."""
        return self.meta.inner_steps

    def task_model(self, backend: str | None = None, voice: torch.Tensor | None = None):
        return make_task_model(
            self.model, backend or self.meta.backend, self.adapted, self.second_order, self._backend_cache, voice
        )

    def task_voice(self, support: dict) -> torch.Tensor | None:
        """The voice a task starts from, if the algorithm makes one from the support clips (prototypes)."""
        return None

    def task_backward(self, support: dict, query: dict, weight: float, scale: Callable) -> TaskResult:
        raise NotImplementedError

    def outer_backward(
        self, tasks: list[tuple[dict, dict]], scale: Callable = lambda loss: loss, seeds: list[int] | None = None
    ) -> list[TaskResult]:
        """Accumulate the meta-gradient of the mean query loss over ``tasks`` into the parameters' ``.grad``.

        Each task is backpropagated on its own, so memory holds one task's graph at a time. ``scale`` wraps the loss
        before ``backward`` (the AMP grad scaler). With ``seeds``, each task's random draws (VITS's segments and
        noise, dropout) come from its own seed, so a task gives the same gradient on whichever rank runs it. A task
        whose support or query loss is not finite is skipped (``TaskResult.skipped``): it adds nothing to ``.grad``.
        """
        weight = 1.0 / len(tasks)
        results = []
        for index, (support, query) in enumerate(tasks):
            with self.seeded(None if seeds is None else seeds[index]):
                results.append(self.task_backward(support, query, weight, scale))
        return results

    @contextlib.contextmanager
    def seeded(self, seed: int | None):
        """Every torch random draw inside comes from ``seed`` (no change when None); the global state is kept."""
        if seed is None:
            yield
            return
        devices = [self._device()] if self._device().type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    @staticmethod
    def finite(loss: torch.Tensor, support_losses: list[float]) -> bool:
        return bool(torch.isfinite(loss.detach()).all()) and all(math.isfinite(value) for value in support_losses)

    @staticmethod
    def skipped_result(loss: torch.Tensor, support_losses: list[float]) -> TaskResult:
        return TaskResult(float(loss.detach()), {}, {}, support_losses, skipped=True)

    def evaluate_task(self, support: dict, query: dict, steps: int, seed: int) -> tuple[float, float, dict]:
        """Query loss before and after ``steps`` inner steps, with the same random draws for both."""
        with torch.no_grad():
            voice = self.task_voice(support)
        if voice is not None:
            voice.requires_grad_(True)  # adapted by the steps
        task = self.task_model(voice=voice)
        with self.seeded(seed), torch.no_grad():
            before, _, _ = task.loss(query)
        with self.seeded(seed + 1):  # the steps' own draws too, so that the result does not depend on earlier work
            adapt(task, support, steps, self.meta.inner_lr, create_graph=False)
        with self.seeded(seed), torch.no_grad():
            after, loss_dict, outputs = task.loss(query)
        return float(before), float(after), outputs

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device
