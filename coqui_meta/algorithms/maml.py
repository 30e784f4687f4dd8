"""MAML (Finn et al., 2017): learn an initialisation from which a few SGD steps fit any task. First-order MAML
(``algorithm="fomaml"``, or ``first_order=True``) is the same algorithm with the inner steps' gradients treated as
constants: the meta-gradient is the query gradient at the adapted point, cheaper in time and memory.

For each task, the adapted tensors take ``inner_steps`` steps on the support clips (``meta.inner_update``: SGD for
second-order MAML, Adam's step by default for first order), at the model's inner rates (fixed, or learned per tensor
and step); the query loss at the adapted point (with ``multi_step_loss``, the mean of
the query losses before the steps and after each) is backpropagated through those steps (second order unless first
order) into every parameter of the model and the learned rates.

Example::

    from coqui_meta.algorithms import MAML
    algorithm = MAML(model, config.meta)          # model: MetaVits or MetaTacotron2
    algorithm.outer_backward(batch["tasks"])      # .grad holds the meta-gradient
    optimizer.step()
"""

from __future__ import annotations

from coqui_meta.algorithms.base import GradientMetaAlgorithm, TaskResult


class MAML(GradientMetaAlgorithm):
    name = "maml"

    def task_backward(self, support, query, weight, scale, seeds, voice=None) -> TaskResult:
        task = self.start_task(support, seeds, voice)
        every_step = self.meta.multi_step_loss  # MAML++: the query loss as the voice starts and after every step
        queries = [task.loss(query)] if every_step else []
        before = float(queries[0][0].detach()) if every_step else self.start_query_loss(task, query)
        support_losses: list[float] = []
        for _ in range(self.inner_steps) if every_step else [0]:
            support_losses += task.step(support, 1 if every_step else self.inner_steps, self.second_order)
            queries.append(task.loss(query))
        final, loss_dict, outputs = queries[-1]
        if not all(self.healthy(loss, support_losses) for loss, _, _ in queries):
            return self.skipped_result(final, support_losses)
        loss = sum(loss for loss, _, _ in queries) / len(queries)
        scale(loss * weight).backward()
        return TaskResult(float(final.detach()), loss_dict, outputs, support_losses, query_loss_before=before)
