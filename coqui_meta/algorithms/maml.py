"""MAML (Finn et al., 2017): learn an initialisation from which a few SGD steps fit any task. First-order MAML
(``algorithm="fomaml"``, or ``first_order=True``) is the same algorithm with the inner steps' gradients treated as
constants: the meta-gradient is the query gradient at the adapted point, cheaper in time and memory.

For each task, the adapted tensors take ``inner_steps`` SGD steps on the support clips, at the model's inner rates
(fixed, or learned per tensor and step); the query loss at the adapted point is backpropagated through those steps
(second order unless first order) into every parameter of the model and the learned rates.

Example::

    from coqui_meta.algorithms import MAML
    algorithm = MAML(model, config.meta)          # model: MetaVits or MetaTacotron2
    algorithm.outer_backward(batch["tasks"])      # .grad holds the meta-gradient
    optimizer.step()
"""

from __future__ import annotations

from coqui_meta.algorithms.base import GradientMetaAlgorithm, TaskResult
from coqui_meta.algorithms.inner_loop import adapt


class MAML(GradientMetaAlgorithm):
    name = "maml"

    def task_backward(self, support, query, weight, scale, seeds, voice=None) -> TaskResult:
        task = self.task_model(voice=voice)
        support_losses = adapt(task, support, self.inner_steps, self.inner_optimizer(), self.second_order, seeds)
        loss, loss_dict, outputs = self.query_loss(task, query, seeds)
        if not self.healthy(loss, support_losses):
            return self.skipped_result(loss, support_losses)
        scale(loss * weight).backward()
        return TaskResult(float(loss.detach()), loss_dict, outputs, support_losses)
