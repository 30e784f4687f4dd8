"""Reptile (Nichol et al., 2018): move the initialisation towards the weights each task is adapted to.

For each task, the adapted tensors take ``inner_steps`` steps (``meta.inner_update``) on its support clips, reaching
``phi``. Their
meta-gradient is ``(theta - phi) / (inner_lr * inner_steps)``: the mean inner gradient along the path, so the Coqui
optimizer's learning rate has its usual scale. Parameters outside ``adapt_modules`` get the query-loss gradient at
``phi``, as in first-order MAML; without it they would never learn.

Example::

    from coqui_meta.algorithms import Reptile
    Reptile(model, config.meta).outer_backward(batch["tasks"])
"""

from __future__ import annotations

from coqui_meta.algorithms.base import GradientMetaAlgorithm, TaskResult


class Reptile(GradientMetaAlgorithm):
    name = "reptile"

    def task_backward(self, support, query, weight, scale, seeds) -> TaskResult:
        task = self.start_task(support, seeds)
        support_losses = task.step(support, self.meta.inner_steps)
        phi = task.tensors()
        task.detach_adapted()
        loss, loss_dict, outputs = task.loss(query)
        if not self.healthy(loss, support_losses):
            return self.skipped_result(loss, support_losses)
        # d/dtheta of <(init - phi) / (lr * steps), init> is the Reptile direction, mapped through init(theta)
        # (the identity, or the mean over speaker rows for the speaker embedding).
        step_size = self.meta.inner_lr * self.meta.inner_steps
        surrogate = sum(
            ((task.initial[name] - phi[name]).detach() / step_size * task.initial[name]).sum() for name in phi
        )
        scale((loss + surrogate) * weight).backward()
        return TaskResult(float(loss.detach()), loss_dict, outputs, support_losses)
