"""How a task's tensors move, and where its random draws come from: shared by meta-training, meta-validation,
`coqui-meta evaluate` and `coqui-meta adapt`.

- `InnerRates`: the inner learning rates. ``fixed`` is ``meta.inner_lr`` for every tensor; ``per_tensor`` learns one
  rate per adapted tensor (Meta-SGD at tensor granularity, Li et al., 2017); ``per_tensor_step`` one per tensor and
  inner step (MAML++, Antoniou et al., 2019). Learned rates are log-parametrised (always positive, and the outer
  optimizer moves them by factors) and trained by the outer optimizer with their own learning rate. A step past the
  last trained one uses the last step's rates.
- `InnerOptimizer`: Adam's step at those rates (``meta.inner_optimizer``'s default; not differentiated through) or SGD
  (``rate * grad``, what second-order MAML differentiates through); gradient clipping when a user asks for it.

Example::

    rates = InnerRates(["emb_g.weight", "flow.flows.0.pre.weight"], mode="per_tensor_step", inner_lr=1e-3, steps=2)
    optimizer = InnerOptimizer(rates)
    updates = optimizer.updates(grads, step=0)     # {name: rate * grad}
"""

from __future__ import annotations

import math

import torch
from torch import nn

from coqui_meta.config_rules import INNER_LR_MODES, INNER_OPTIMIZERS
from coqui_meta.errors import RequestError

#: a support or query loss this many times the first support loss means the task's steps diverged
DIVERGENCE_FACTOR = 10.0


def diverged(losses: list[float]) -> bool:
    """A loss that is not finite, or that grew past `DIVERGENCE_FACTOR` times the first one."""
    if not all(math.isfinite(value) for value in losses):
        return True
    return bool(losses) and losses[0] > 0 and max(losses) > DIVERGENCE_FACTOR * losses[0]


#: the meta fields that decide which tensors a task adapts: learned rates are for the tensors of their values only
RATE_KEYS = ("adapt_modules", "task_key")


def rates_carry_over(learned_with, asked: dict) -> bool:
    """Whether rates learned with the meta config ``learned_with`` fit tasks with the meta values ``asked`` (the
    one place this is decided: a loaded checkpoint's rates that do not fit are dropped, and its tasks step at one
    fixed rate, ``meta.inner_lr``, unless one is given)."""
    return all(key not in asked or asked[key] == learned_with.get(key) for key in RATE_KEYS)


class InnerRates(nn.Module):
    """The inner learning rates of the adapted tensors ``names``; learned rates are the parameter ``log_lr``
    (``[1 or steps, len(names)]``), which a meta checkpoint holds beside the stock state dict."""

    def __init__(self, names: list[str], mode: str = "fixed", inner_lr: float = 1e-3, steps: int = 1) -> None:
        super().__init__()
        if mode not in INNER_LR_MODES:
            raise ValueError(f"meta.inner_lr_mode must be one of {', '.join(INNER_LR_MODES)} (got {mode!r})")
        self.names, self.mode, self.inner_lr = list(names), mode, float(inner_lr)
        rows = {"fixed": 0, "per_tensor": 1, "per_tensor_step": steps}[mode]
        if rows:
            self.log_lr = nn.Parameter(torch.full((rows, len(self.names)), math.log(inner_lr)))

    @property
    def learned(self) -> bool:
        return self.mode != "fixed"

    def at(self, step: int, scale: float = 1.0, fixed: float | None = None) -> dict[str, torch.Tensor | float]:
        """The rate of every tensor at inner step ``step`` (0-based), times ``scale``; ``fixed`` overrides them all."""
        if fixed is not None or not self.learned:
            rate = (self.inner_lr if fixed is None else fixed) * scale
            return dict.fromkeys(self.names, rate)
        row = self.log_lr[min(step, self.log_lr.shape[0] - 1)].exp() * scale
        return {name: row[index] for index, name in enumerate(self.names)}

    @torch.no_grad()
    def table(self, scale: float = 1.0) -> dict[str, list[float]]:
        """Each tensor's learned rates, one per trained step (times ``scale``); empty for fixed rates."""
        if not self.learned:
            return {}
        values = (self.log_lr.exp() * scale).T.tolist()
        return dict(zip(self.names, values))

    @torch.no_grad()
    def summary(self, groups: dict[str, list[str]]) -> dict[str, float]:
        """The geometric mean rate of each group of tensors (e.g. one ``adapt_modules`` pattern), for the logs."""
        if not self.learned:
            return {}
        index = {name: i for i, name in enumerate(self.names)}
        return {f"inner_lr_{group}": float(self.log_lr[:, [index[n] for n in names]].mean().exp())
                for group, names in groups.items() if names}


class InnerOptimizer:
    """The update of a task's adapted tensors from their gradients at inner step ``step``: ``rate * grad`` (SGD), or
    Adam's step at those rates; with ``grad_clip``, the gradients' total norm is clipped first."""

    def __init__(self, rates: InnerRates, kind: str = "sgd", grad_clip: float = 0.0, scale: float = 1.0,
                 fixed: float | None = None) -> None:
        if kind not in INNER_OPTIMIZERS:
            raise RequestError(f"`optimizer` must be one of {', '.join(INNER_OPTIMIZERS)} (got {kind!r})")
        if fixed is not None and not fixed > 0:
            raise RequestError(f"`lr` must be > 0 (got {fixed})")
        if not scale > 0:
            raise RequestError(f"`lr_scale` must be > 0 (got {scale})")
        self.rates, self.kind, self.scale, self.fixed = rates, kind, scale, fixed
        self.grad_clip = float(grad_clip or 0.0)
        self._moments: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def at(self, step: int) -> dict[str, torch.Tensor | float]:
        return self.rates.at(step, self.scale, self.fixed)

    def updates(self, grads: dict[str, torch.Tensor | None], step: int) -> dict[str, torch.Tensor]:
        grads = {name: grad for name, grad in grads.items() if grad is not None}
        if self.grad_clip > 0 and grads:
            norm = torch.norm(torch.stack([grad.norm() for grad in grads.values()]))
            factor = torch.clamp(self.grad_clip / (norm + 1e-6), max=1.0)
            grads = {name: grad * factor for name, grad in grads.items()}
        rates = self.at(step)
        if self.kind == "sgd":
            return {name: rates[name] * grad for name, grad in grads.items()}
        return {name: rates[name] * self._adam(name, grad.detach(), step) for name, grad in grads.items()}

    def _adam(self, name: str, grad: torch.Tensor, step: int, betas=(0.9, 0.999), eps: float = 1e-8) -> torch.Tensor:
        """Adam's direction (bias-corrected), as torch.optim.Adam computes it; not differentiated through."""
        first, second = self._moments.get(name, (torch.zeros_like(grad), torch.zeros_like(grad)))
        first = betas[0] * first + (1 - betas[0]) * grad
        second = betas[1] * second + (1 - betas[1]) * grad * grad
        self._moments[name] = (first, second)
        count = step + 1
        return (first / (1 - betas[0] ** count)) / ((second / (1 - betas[1] ** count)).sqrt() + eps)

    @property
    def learned(self) -> bool:
        """Whether the steps use the learned rates (not a fixed ``--lr``)."""
        return self.rates.learned and self.fixed is None

    def record(self) -> dict:
        """What a report says of the rates used: the mode, the fixed rate or the learned ones (per tensor, one per
        trained step; later steps repeat the last), and the scale applied to them."""
        return {
            "inner_lr_mode": self.rates.mode if self.learned else "fixed",
            "lr": None if self.learned else (self.rates.inner_lr if self.fixed is None else self.fixed) * self.scale,
            "lr_scale": self.scale,
            "optimizer": self.kind,
            "grad_clip": self.grad_clip,
            "rates": self.rates.table(self.scale) if self.learned else {},
        }
