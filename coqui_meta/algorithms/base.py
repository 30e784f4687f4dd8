"""What every gradient-based algorithm shares: task views, meta-validation, and the outer backward over tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from coqui_meta.algorithms.inner_rules import InnerOptimizer, diverged
from coqui_meta.algorithms.meta_model import MetaModel
from coqui_meta.algorithms.task import Task, task_optimizer
from coqui_meta.seeds import TaskSeeds


@dataclass
class TaskResult:
    """One task of an outer step: its query loss (detached), the loss terms and the query outputs."""

    query_loss: float
    loss_dict: dict[str, Any]
    outputs: dict[str, Any]
    support_losses: list[float] = field(default_factory=list)
    skipped: bool = False  # a non-finite or diverged support or query loss: nothing was backpropagated
    query_loss_before: float | None = None  # at the task's start, when measured (meta.log_adaptation_gain)

    def __post_init__(self) -> None:
        # keep the values, not the graphs: outputs of every task of a meta-batch live until the step ends
        self.outputs = {k: v.detach() if torch.is_tensor(v) else v for k, v in self.outputs.items()}
        self.loss_dict = {
            k: float(v.detach()) if torch.is_tensor(v) and v.numel() == 1 else v for k, v in self.loss_dict.items()
        }


class GradientMetaAlgorithm:
    """Base of MAML (first and second order), Reptile and the prototype algorithms.

    Subclasses implement `task_backward`: adapt one task and put its share of the meta-gradient in ``.grad``.
    ``inner_steps`` (a task's steps in training, and meta-validation's default) and ``second_order`` come from the
    config (`MetaLearningConfig.second_order` decides it once).
    """

    name = "base"

    def __init__(self, model: MetaModel, meta, inner_steps: int | None = None) -> None:
        self.model = model
        self.meta = meta
        self.inner_steps = meta.inner_steps if inner_steps is None else inner_steps
        self.second_order = meta.second_order
        self.adapted = model.meta_adapted_names()
        self.backend_cache: dict[str, Any] = {}  # learn2learn's wrapper, kept between tasks

    def inner_optimizer(self) -> InnerOptimizer:
        """Meta-training's inner steps: ``meta.inner_optimizer`` at the model's inner rates (fixed or learned), fresh
        for each task (Adam's moments start at zero, as in `coqui-meta adapt`)."""
        return task_optimizer(self.model, adapted=self.adapted)

    def start_task(self, support: dict, seeds: TaskSeeds, voice: torch.Tensor | None = None) -> Task:
        """A task of meta-training (`Task.for_training`): it starts from ``voice``, or `task_voice` of ``support``."""
        return Task.for_training(self, support, seeds, voice)

    def task_voice(self, support: dict) -> torch.Tensor | None:
        """The d-vector a task's voice starts from, for a model whose voice is one (`meta_start_voice`), else None."""
        return self.model.meta_start_voice(support)

    def task_backward(self, support: dict, query: dict, weight: float, scale: Callable, seeds: TaskSeeds) -> TaskResult:
        raise NotImplementedError

    def outer_backward(
        self, tasks: list[tuple[dict, dict]], scale: Callable = lambda loss: loss, seeds: list[int] | None = None
    ) -> list[TaskResult]:
        """Accumulate the meta-gradient of the mean query loss over ``tasks`` into the parameters' ``.grad``.

        Each task is backpropagated on its own, so memory holds one task's graph at a time. ``scale`` wraps the loss
        before ``backward`` (the AMP grad scaler). With ``seeds``, each task's random draws (VITS's segments and
        noise, dropout) come from its own seed (`TaskSeeds`), so a task gives the same gradient on whichever rank
        runs it. A task whose support or query loss is not finite, or diverged, is skipped (``TaskResult.skipped``):
        it adds nothing to ``.grad``.
        """
        weight = 1.0 / len(tasks)
        return [self.task_backward(support, query, weight, scale, TaskSeeds(None if seeds is None else seeds[index]))
                for index, (support, query) in enumerate(tasks)]

    def start_query_loss(self, task: Task, query: dict) -> float | None:
        """The query loss of the task's voice as it starts, without a graph (`meta.log_adaptation_gain`), or None."""
        if not self.meta.log_adaptation_gain:
            return None
        with torch.no_grad():
            return float(task.loss(query)[0])

    @staticmethod
    def healthy(loss: torch.Tensor, support_losses: list[float]) -> bool:
        return bool(torch.isfinite(loss.detach()).all()) and not diverged([*support_losses, float(loss.detach())])

    @staticmethod
    def skipped_result(loss: torch.Tensor, support_losses: list[float]) -> TaskResult:
        return TaskResult(float(loss.detach()), {}, {}, support_losses, skipped=True)

    def evaluate_task(self, support: dict, query: dict, steps: int, seed: int) -> tuple[float, float, dict]:
        """Query loss before and after ``steps`` inner steps, measured as `coqui-meta evaluate` measures them: the
        same task view, steps and seeds (`TaskSeeds(seed)`), scored in eval mode with the task's query seed."""
        with torch.no_grad():
            voice = self.task_voice(support)
        task = Task.start(self.model, support, voice, self.inner_optimizer(), TaskSeeds(seed))
        before, _, _ = task.score(query)
        task.step(support, steps)
        after, _, outputs = task.score(query)
        return before, after, outputs
