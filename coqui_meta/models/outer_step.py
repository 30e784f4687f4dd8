"""The outer step of meta-training inside Coqui's Trainer: the meta-gradient of a meta-batch, averaged over the
tasks that were kept on every rank, then Coqui's grad scaler, gradient clipping, optimizer and scheduler as the
model's config sets them. With several ranks each runs its share of the meta-batch and the gradients are all-reduced
in flat buckets (Coqui's Trainer calls ``optimize()`` on the bare model, so no DDP hook averages them)."""

from __future__ import annotations

import torch
import torch.distributed as dist

from coqui_meta import trainer_bridge

#: bytes of gradients all-reduced in one collective call
BUCKET_BYTES = 25 * 2**20


def world() -> tuple[int, int]:
    """(ranks, this rank) of the process group, or (1, 0) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """``values`` summed over the ranks (as they are, with one rank)."""
    totals = torch.tensor(values, dtype=torch.float64)
    if world()[0] > 1:
        totals = totals.to(device)
        dist.all_reduce(totals)
    return [float(value) for value in totals]


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Every parameter's ``.grad`` averaged over the ranks, a bucket of flattened gradients per collective call
    (a missing gradient counts as zeros)."""
    replicas = world()[0]
    if replicas == 1:
        return
    for param in params:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
    bucket: list[torch.nn.Parameter] = []
    size = 0
    for param in params:
        bucket.append(param)
        size += param.grad.numel() * param.grad.element_size()
        if size >= BUCKET_BYTES:
            _reduce_bucket(bucket, replicas)
            bucket, size = [], 0
    if bucket:
        _reduce_bucket(bucket, replicas)


def _reduce_bucket(bucket: list[torch.nn.Parameter], replicas: int) -> None:
    flat = torch.cat([param.grad.reshape(-1) for param in bucket])
    dist.all_reduce(flat)
    flat.div_(replicas)
    offset = 0
    for param in bucket:
        count = param.grad.numel()
        param.grad.copy_(flat[offset : offset + count].view_as(param.grad))
        offset += count


def clip_and_step(trainer, index: int) -> float:
    """Average the gradients of optimizer ``index`` over the ranks, unscale (fp16), clip to the config's
    ``grad_clip``, step the optimizer (through the grad scaler) and, when it steps per batch, its scheduler.
    Returns the gradient norm before clipping."""
    optimizer = trainer.optimizer[index]
    scaler = trainer.scaler if trainer.use_amp_scaler else None
    grad_clip = trainer.config.grad_clip
    if isinstance(grad_clip, (list, tuple)):
        grad_clip = grad_clip[index]
    average_gradients([p for group in optimizer.param_groups for p in group["params"] if p.requires_grad])
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if scaler is not None:
        scaler.unscale_(optimizer)
    if grad_clip and grad_clip > 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    else:
        grad_norm = torch.norm(torch.stack([p.grad.detach().norm() for p in params])) if params else torch.zeros(())
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    scheduler = trainer.scheduler[index]
    if scheduler is not None and not trainer.config.scheduler_after_epoch:
        scheduler.step()
    trainer_bridge.mark_stepped(trainer, [index])
    optimizer.zero_grad(set_to_none=True)
    return float(grad_norm)


def scale_gradients(optimizer, factor: float) -> None:
    if factor != 1.0:
        for group in optimizer.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    param.grad.mul_(factor)
