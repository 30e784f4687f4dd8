"""The inner loop: a task's view of the model, moved by steps on its support clips. `coqui_meta.algorithms.task.Task`
owns a task's life and runs it through these; one loop serves meta-training, meta-validation, `coqui-meta evaluate`
and `coqui-meta adapt`. ``create_graph`` decides whether second-order terms are kept, ``differentiable`` whether the
result stays connected to the model's parameters (and learned rates) at all.

Two backends give the same view. ``torch`` keeps the adapted tensors in a dict and runs the model through
``torch.func.functional_call``; the user's module is never copied or changed. ``learn2learn`` clones the model with
learn2learn's MAML wrapper and updates the clone with its ``maml_update``; it is the oracle the tests compare against.

A task starts as a new voice: the model's ``meta_task_init`` replaces the speaker embedding by the mean of the trained
rows (as Coqui initialises an added speaker), or, for a prototype model, sets the d-vector to the prototype; then
`adapt` takes steps on the adapted tensors only (`coqui_meta.algorithms.inner_rules`: the rates, the optimizer, the
seeds).

Example::

    task = TorchTaskModel(model, adapted_names)
    losses = adapt(task, support_batch, steps=3, optimizer=InnerOptimizer(model.meta_inner_lrs), create_graph=True,
                   seeds=TaskSeeds(7))
    query_loss, loss_dict, outputs = task.loss(query_batch)
    query_loss.backward()   # meta-gradient in model.parameters() (and the learned rates)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable

import torch
import torch.utils.checkpoint
from torch import nn
from torch.func import functional_call

from coqui_meta.algorithms.inner_rules import InnerOptimizer, diverged
from coqui_meta.seeds import TaskSeeds, seeded

#: the voice of a prototype model in a task's tensors: not a parameter but the d-vector input of every clip
D_VECTOR = "d_vector"
#: a style task's global-style-token weights (GST Tacotron2): not a parameter but the style input of every clip, as
#: Coqui's own token-weights style input (``style_wav`` given as a dict of token weights)
GST_WEIGHTS = "gst_weights"
TASK_INPUTS = (D_VECTOR, GST_WEIGHTS)


def split_voice(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """A task's tensors as ``functional_call`` takes them (``model.``-prefixed parameters) and its d-vector, if any
    (its other inputs, style weights, go into the batch: `with_task_inputs`)."""
    prefixed = {f"model.{name}": tensor for name, tensor in tensors.items() if name not in TASK_INPUTS}
    return prefixed, tensors.get(D_VECTOR)


def with_task_inputs(model: nn.Module, batch: dict, tensors: dict[str, torch.Tensor]) -> dict:
    """``batch`` with a task's inputs that are not parameters: its d-vector for every clip, its style weights."""
    voice, weights = tensors.get(D_VECTOR), tensors.get(GST_WEIGHTS)
    if voice is not None:
        batch = {**batch, "d_vectors": voice.unsqueeze(0).expand(model.meta_text(batch)[0].shape[0], -1)}
    if weights is not None:
        batch = {**batch, GST_WEIGHTS: weights}
    return batch


class _CallMethod(nn.Module):
    """Lets ``functional_call`` run a method other than ``forward`` (here the model's task loss)."""

    def __init__(self, model: nn.Module, method: str) -> None:
        super().__init__()
        self.model = model
        self.method = method

    def forward(self, *args, **kwargs):
        return getattr(self.model, self.method)(*args, **kwargs)


def _no_cudnn_if(second_order: bool, model: nn.Module):
    # cuDNN's RNN backward has no derivative: second-order MAML through LSTMs must run them natively.
    if second_order and getattr(model, "meta_needs_native_rnn", False) and torch.backends.cudnn.enabled:
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


class TorchTaskModel:
    """The model seen through ``functional_call`` with a dict of task tensors. A prototype model's task also holds
    its voice (``D_VECTOR``, the prototype at first), given to every clip as Coqui's ``d_vectors`` input.

    With ``differentiable=False`` (adaptation only) the task starts from detached copies and every step gives new
    leaves: nothing reaches the model's parameters, and no graph grows over the steps."""

    def __init__(
        self,
        model: nn.Module,
        adapted: Iterable[str],
        second_order: bool = False,
        checkpointing: bool = False,
        voice: torch.Tensor | None = None,
        differentiable: bool = True,
    ) -> None:
        self.model = model
        self.adapted = list(adapted)
        self.second_order = second_order
        self.checkpointing = checkpointing
        self.differentiable = differentiable
        self.initial = model.meta_task_init(dict(model.named_parameters()), self.adapted, voice)
        if not differentiable:
            self.initial = {name: self._leaf(tensor) for name, tensor in self.initial.items()}
        self.tensors = dict(self.initial)
        self._call = _CallMethod(model, "meta_task_loss")
        self.moved = False  # whether a step has moved the adapted tensors (`failed_forward`)

    @staticmethod
    def _leaf(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.detach().clone().requires_grad_(True)

    def loss(self, batch: dict, outer: bool = False, tensors: dict[str, torch.Tensor] | None = None):
        tensors = self.tensors if tensors is None else tensors
        prefixed, _ = split_voice(tensors)
        batch = with_task_inputs(self.model, batch, tensors)
        with _no_cudnn_if(self.second_order, self.model):
            return functional_call(self._call, prefixed, (batch,), {"outer": outer}, strict=False)

    def checkpointed_step(self, batch: dict, optimizer: InnerOptimizer, step: int) -> float:
        """A second-order SGD step whose graph is not kept: only the adapted tensors before it are, and the outer
        backward recomputes the step (its forward and its gradient) when it reaches it. Returns the loss before it."""
        names = list(self.adapted)

        def run(*adapted):
            loss = self.loss(batch, tensors={**self.tensors, **dict(zip(names, adapted))})[0]
            grads = torch.autograd.grad(loss, adapted, create_graph=True, allow_unused=True)
            updates = optimizer.updates(dict(zip(names, grads)), step)
            return (loss.detach(), *(t - updates[n] if n in updates else t for n, t in zip(names, adapted)))

        loss, *updated = torch.utils.checkpoint.checkpoint(
            run, *(self.tensors[name] for name in names), use_reentrant=False
        )
        self.tensors.update(zip(names, updated))
        self.moved = True
        return float(loss)

    def adapted_tensors(self) -> dict[str, torch.Tensor]:
        return {name: self.tensors[name] for name in self.adapted}

    def apply(self, updates: dict[str, torch.Tensor]) -> None:
        """``tensor <- tensor - update`` for each adapted tensor that has an update."""
        self.moved = True
        for name, update in updates.items():
            moved = self.tensors[name] - update
            self.tensors[name] = moved if self.differentiable else self._leaf(moved)

    def detach_adapted(self) -> None:
        for name in self.adapted:
            self.tensors[name] = self.tensors[name].detach()


class LearnToLearnTaskModel:
    """The same view through learn2learn: a ``MAML.clone()`` of the model, updated with ``maml_update``."""

    checkpointing = False

    def __init__(self, maml, adapted: Iterable[str], second_order: bool = False) -> None:
        self.maml = maml
        self.model = maml.module
        self.adapted = list(adapted)
        self.second_order = second_order
        self.learner = maml.clone()
        self.moved = False
        self.initial = self.model.meta_task_init(dict(self.learner.module.named_parameters()), self.adapted)
        for name, tensor in self.initial.items():
            self._set(name, tensor)

    def _set(self, name: str, tensor: torch.Tensor) -> None:
        owner, _, leaf = name.rpartition(".")
        self.learner.module.get_submodule(owner)._parameters[leaf] = tensor

    def loss(self, batch: dict, outer: bool = False):
        with _no_cudnn_if(self.second_order, self.model):
            return self.learner.module.meta_task_loss(batch, outer=outer)

    def adapted_tensors(self) -> dict[str, torch.Tensor]:
        params = dict(self.learner.module.named_parameters())
        return {name: params[name] for name in self.adapted}

    def apply(self, updates: dict[str, torch.Tensor]) -> None:
        from learn2learn.algorithms.maml import maml_update

        # maml_update moves each parameter by -lr * grad: with lr 1 and the updates as "gradients", by -update
        aligned = [updates.get(name) for name, _ in self.learner.module.named_parameters()]
        maml_update(self.learner.module, 1.0, aligned)
        self.moved = True

    def detach_adapted(self) -> None:
        for name, tensor in self.adapted_tensors().items():
            self._set(name, tensor.detach())


def make_task_model(model: nn.Module, backend: str, adapted: list[str], second_order: bool, cache: dict, voice=None):
    """A fresh task view of ``model``. ``cache`` keeps learn2learn's wrapper between tasks."""
    if backend == "torch":
        checkpointing = getattr(model.config.meta, "gradient_checkpointing", False)
        return TorchTaskModel(model, adapted, second_order, checkpointing, voice=voice)
    if backend == "learn2learn":
        if "maml" not in cache:
            try:
                from learn2learn.algorithms import MAML
            except ImportError as error:  # pragma: no cover - depends on the environment
                raise ImportError(
                    "meta.backend = 'learn2learn' needs learn2learn 0.2.0; run scripts/setup.sh, which builds it"
                ) from error
            # the updates are given to every maml_update call; the wrapper's own lr is unused.
            cache["maml"] = MAML(model, lr=0.0, first_order=not second_order, allow_unused=True)
        return LearnToLearnTaskModel(cache["maml"], adapted, second_order)
    raise ValueError(f"meta.backend must be 'torch' or 'learn2learn', got {backend!r}")


def failed_forward(task, error: RuntimeError) -> bool:
    """Whether ``error``, raised by a forward of the task view ``task``, means that its steps diverged: once a step
    has blown the adapted tensors up, Coqui's forward fails in ways of its own (VITS's duration-predictor spline
    takes the min of an empty interval of NaN durations) where it ran before the steps. The error's first line is
    kept on the view (``forward_error``) for the divergence message; an error before any step, or out of memory, is
    not a divergence."""
    if not getattr(task, "moved", False) or isinstance(error, torch.cuda.OutOfMemoryError):
        return False
    first_line = (str(error).strip().splitlines() or [""])[0]
    task.forward_error = f"Coqui's forward failed on what the steps made ({type(error).__name__}: {first_line})"
    return True


def finite(tensors: dict[str, torch.Tensor]) -> bool:
    """Whether every tensor is finite: one check of the adapted tensors after a step, far cheaper than the step, so
    that a step that blew them up never reaches Coqui's forward."""
    with torch.no_grad():
        return bool(torch.stack([torch.isfinite(tensor).all() for tensor in tensors.values()]).all())


def inner_step(task, support: dict, step: int, optimizer: InnerOptimizer, create_graph: bool) -> float:
    """Inner step ``step`` (0-based) of ``task`` on the support batch; returns the support loss before it."""
    if create_graph and task.checkpointing:
        return task.checkpointed_step(support, optimizer, step)
    loss, _, _ = task.loss(support)
    tensors = task.adapted_tensors()
    grads = torch.autograd.grad(
        loss, list(tensors.values()), create_graph=create_graph, retain_graph=create_graph, allow_unused=True
    )
    task.apply(optimizer.updates(dict(zip(tensors, grads)), step))
    return float(loss.detach())


def adapt(task, support: dict, steps: int, optimizer: InnerOptimizer, create_graph: bool,
          seeds: TaskSeeds = TaskSeeds(), first: int = 0) -> list[float]:
    """Inner steps ``first .. first + steps - 1`` of ``task`` on the support batch, each with its own seed; returns
    the support loss before each step. Stops at the first diverged loss (`diverged`): the caller decides what a
    diverged task means (skipped in training, an error in adaptation). A step that leaves an adapted tensor not
    finite, or a forward that fails on what the steps made (`failed_forward`), ends them with a NaN loss, the loss
    of that point: Coqui's forward never runs on such tensors."""
    model = task.model
    device, was_training = next(model.parameters()).device, model.training
    model.train()  # a task's steps run as in training, wherever they run (meta-validation runs in eval mode)
    losses: list[float] = []
    try:
        for step in range(first, first + steps):
            try:
                with seeded(seeds.support(step), device):
                    losses.append(inner_step(task, support, step, optimizer, create_graph))
            except RuntimeError as error:
                if not failed_forward(task, error):
                    raise
                losses.append(math.nan)
            if diverged(losses):
                break
            if not finite(task.adapted_tensors()):
                task.forward_error = f"step {step + 1} left the adapted tensors not finite"
                losses.append(math.nan)
                break
    finally:
        model.train(was_training)
    return losses


@torch.no_grad()
def score(task, batch: dict, seeds: TaskSeeds = TaskSeeds()) -> tuple[float, dict, dict]:
    """The task's loss on ``batch`` as a measurement: eval mode, no graph, the task's query seed."""
    model = task.model
    was_training = model.training
    model.eval()
    try:
        with seeded(seeds.query(), next(model.parameters()).device):
            loss, loss_dict, outputs = task.loss(batch)
    except RuntimeError as error:
        if not failed_forward(task, error):
            raise
        return math.nan, {}, {}
    finally:
        model.train(was_training)
    return float(loss), loss_dict, outputs
