"""What turns a stock Coqui TTS model into a meta-learner; shared by MetaTacotron2 and MetaVits.

The mixin adapts the Trainer's hooks: ``get_data_loader`` and ``format_batch`` (episodes instead of shuffled batches,
`coqui_meta.models.episodic_data`), ``optimize`` (the outer step of the configured algorithm,
`coqui_meta.models.outer_step`), ``eval_step`` (the query loss before and after a task's inner steps on held-out
tasks), ``get_optimizer`` (the learned inner rates get a param group of their own) and the checkpoint and epoch
hooks that keep the run's position (`coqui_meta.models.run_state`). What a task adapts and starts from is
`coqui_meta.models.task_start`.

The state dict is the stock model's, plus ``prototype_encoder.*`` for the prototype algorithms and
``meta_inner_lrs.*`` for learned inner rates: ``coqui-meta adapt`` writes voices without them.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from coqui_meta import trainer_bridge
from coqui_meta.algorithms import build_algorithm
from coqui_meta.algorithms.inner_rules import InnerRates
from coqui_meta.episodes import MetaBatchSampler, task_position
from coqui_meta.models.episodic_data import EpisodicDataMixin
from coqui_meta.models.outer_step import all_reduce_sum, clip_and_step, scale_gradients, world
from coqui_meta.models.run_state import RunState
from coqui_meta.models.target_loss import check_target_loss, with_optimizer_losses
from coqui_meta.models.task_start import TaskStartMixin
from coqui_meta.models.validation_split import meta_validation_split
from coqui_meta.seeds import training_task, validation_task

logger = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """Inference tensors (the Trainer evaluates under inference_mode) cloned into tensors autograd can use."""
    if torch.is_tensor(value):
        return value.clone()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


class MetaLearningMixin(TaskStartMixin, EpisodicDataMixin):
    """Episodic meta-training for a Coqui ``BaseTTS`` model. Put it first in the bases."""

    #: index of the optimizer that the outer step uses (VITS: 1, the generator's)
    meta_optimizer_index: int = 0
    #: second-order MAML must not use cuDNN RNN kernels (they have no double backward)
    meta_needs_native_rnn: bool = False

    def __init__(self, config, *args, **kwargs) -> None:
        super().__init__(config, *args, **kwargs)
        meta = self.config.meta  # checked as it was built, loaded or overridden (MetaLearningConfig.check_values)
        if meta.gradient_checkpointing and not meta.second_order:
            logger.warning("meta.gradient_checkpointing changes nothing for %s%s: first-order inner steps keep no "
                           "graph to recompute", meta.algorithm, " with first_order" if meta.first_order else "")
        self._meta_check_task()
        self._meta_read_new_clips()
        if self.meta_uses_prototypes:
            self._meta_init_prototype_encoder()
        self._meta_groups = self.meta_adapted_groups()
        names = [name for group in self._meta_groups.values() for name in group]
        # learned rates are parameters (meta_inner_lrs.log_lr) that the outer optimizer trains
        self.meta_inner_lrs = InnerRates(names, meta.inner_lr_mode, meta.inner_lr, meta.inner_steps)
        self.meta_algorithm = build_algorithm(self, meta)
        self.meta_run = RunState()

    # ------------------------------------------------------------------ optimizers
    def get_optimizer(self):
        """Coqui's optimizers, with the learned inner rates (if any) in a param group of their own in the outer
        optimizer: their own learning rate (``meta.inner_lr_lr``) and no weight decay (which would pull every rate
        towards 1)."""
        optimizers = super().get_optimizer()
        rates = list(self.meta_inner_lrs.parameters())
        if rates:
            outer = optimizers[self.meta_optimizer_index] if isinstance(optimizers, list) else optimizers
            ids = {id(rate) for rate in rates}
            for group in outer.param_groups:
                group["params"] = [param for param in group["params"] if id(param) not in ids]
            outer.add_param_group({"params": rates, "lr": self.config.meta.inner_lr_lr, "weight_decay": 0.0,
                                   "meta_inner_lrs": True})
        return optimizers

    # ------------------------------------------------------------------ training
    def optimize(self, batch: dict, trainer) -> tuple[dict, dict]:
        """One outer step inside Coqui's Trainer: the meta-gradient of the configured algorithm over the meta-batch,
        then the Coqui optimizer, grad scaler, gradient clipping and scheduler of this model's config.

        With several ranks each runs its share of the meta-batch; the gradients are averaged over all the tasks that
        were not skipped, on every rank. A task's random draws come from a seed fixed by (meta.seed, meta-batch,
        task), so the meta-gradient does not depend on how the tasks are split.
        """
        index, meta, tasks = self.meta_optimizer_index, self.config.meta, batch["tasks"]
        optimizer = trainer.optimizer[index]
        scaler = trainer.scaler if trainer.use_amp_scaler else None
        optimizer.zero_grad(set_to_none=True)
        replicas, rank = world()
        meta_batch = self.meta_run.batches
        self.meta_run.batches += 1
        seeds = [training_task(meta.seed, meta_batch, task_position(i, rank, replicas, meta.n_way))
                 for i in range(len(tasks))]
        results = self.meta_algorithm.outer_backward(tasks, scale=scaler.scale if scaler else lambda x: x, seeds=seeds)
        kept = [r for r in results if not r.skipped]
        seen, kept_everywhere = (int(v) for v in all_reduce_sum([len(results), len(kept)], self._meta_device()))
        self.meta_run.count(seen, kept_everywhere, meta.max_skipped_share)
        if kept_everywhere == 0:
            optimizer.zero_grad(set_to_none=True)
            logger.warning("Every task of meta-batch %d had a non-finite or diverged loss; no update, and the Trainer "
                           "does not count the step", meta_batch)
            return None, None
        scale_gradients(optimizer, len(tasks) * replicas / kept_everywhere)  # the mean over kept tasks
        loss_dict = {"grad_norm": clip_and_step(trainer, index), **self._meta_step_logs(kept)}
        loss_dict.update(self.meta_after_outer_step(trainer, kept))
        loss_dict = with_optimizer_losses(self, loss_dict, len(trainer.optimizer))
        outputs = kept[-1].outputs if kept else {}
        if len(trainer.optimizer) > 1:  # name them as the Trainer names multi-optimizer outputs, for train_log
            outputs = {f"{key}_{index}": value for key, value in outputs.items()}
        return outputs, loss_dict

    def _meta_step_logs(self, kept) -> dict[str, Any]:
        """What an outer step logs: the query and support losses and terms, the algorithm's and the rates' figures."""
        logs: dict[str, Any] = {
            "loss": sum(r.query_loss for r in kept) / len(kept) if kept else float("nan"),
            "support_loss": sum(r.support_losses[0] for r in kept if r.support_losses) / max(1, len(kept)),
            "skipped_tasks": self.meta_run.skipped,
        }
        befores = [r.query_loss_before for r in kept]
        if kept and None not in befores:  # a gain that shrinks while the loss falls is memorization
            logs["query_loss_before_adaptation"] = sum(befores) / len(kept)
            logs["adaptation_gain"] = logs["query_loss_before_adaptation"] - logs["loss"]
        for key in [key for key in kept[0].loss_dict if key != "loss"] if kept else []:
            logs[f"query_{key}"] = sum(float(r.loss_dict[key]) for r in kept) / len(kept)
        logs.update(getattr(self.meta_algorithm, "step_logs", {}))
        logs.update(self.meta_inner_lrs.summary(self._meta_groups))
        return logs

    def meta_after_outer_step(self, trainer, results) -> dict[str, float]:
        """Hook for work after the outer step (VITS trains its discriminator here)."""
        return {}

    def _meta_device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------ the run's position
    def meta_checkpoint_extras(self) -> dict[str, Any]:
        """Saved beside the state dict in every Trainer checkpoint (`coqui_meta.trainer_bridge`)."""
        return {trainer_bridge.EXTRAS_KEY: self.meta_run.to_dict()}

    def on_init_start(self, trainer) -> None:
        """This run's Trainer (and no other) writes atomic checkpoints that carry the run's position and hands the
        model the extras of the checkpoint it restores (`coqui_meta.trainer_bridge`)."""
        super().on_init_start(trainer)
        trainer_bridge.install(trainer)

    def on_init_end(self, trainer) -> None:
        """On ``--continue_path``, go on where the checkpoint left the run: its task counts (so that
        ``meta.max_skipped_share`` judges the whole run), its meta-batch and its epoch. Restoring weights only
        (``--restore_path``), the Trainer sets every param group to the model's learning rate: the learned rates get
        their own back."""
        super().on_init_end(trainer)
        self.meta_check_trainable()
        self._meta_split_validation(trainer)
        check_target_loss(self, trainer.config, len(trainer.optimizer))
        if not trainer.args.continue_path:
            for group in trainer.optimizer[self.meta_optimizer_index].param_groups:
                if group.get("meta_inner_lrs"):
                    group["lr"] = self.config.meta.inner_lr_lr
            return
        self.meta_run = RunState.from_dict(trainer_bridge.restored_extras(trainer))
        if self.meta_run.skipped:
            logger.info("Resumed with %d of %d tasks skipped so far", self.meta_run.skipped, self.meta_run.seen)
        # The Trainer restores step + 1 and the saved epoch: right for checkpoint_N (written after step N), one step
        # ahead and one epoch behind for best_model_N (written after N steps, at its epoch's end). Continue where the
        # run was, so the next meta-batch, its seeds and the epochs are an uninterrupted run's.
        trainer_bridge.set_position(
            trainer, self.meta_run.trainer_steps, max(trainer.epochs_done, self.meta_run.epochs)
        )

    def _meta_split_validation(self, trainer) -> None:
        """Before the first step: meta-validation on whole tasks that training never sees (`meta_validation_split`),
        whatever split the Trainer was given (Coqui's recipes give it one of clips)."""
        if not trainer.config.run_eval or trainer.train_samples is None:
            return
        train, held, note = meta_validation_split(  # a SplitError names the fix
            list(trainer.train_samples), list(trainer.eval_samples or []), self.config.meta,
            usable=lambda samples: self.meta_stock_dataset(samples).samples)
        if note:
            logger.warning(note)
            trainer.train_samples, trainer.eval_samples = train, held

    def on_train_epoch_start(self, trainer) -> None:
        """Start the epoch's meta-batches where the run is (after ``--continue_path`` too)."""
        super().on_train_epoch_start(trainer)
        sampler = getattr(trainer.train_loader, "batch_sampler", None)
        if isinstance(sampler, MetaBatchSampler):
            sampler.set_position(self.meta_run.batches, trainer.epochs_done)
            if self.meta_run.batches > trainer.epochs_done * sampler.steps:
                # continued mid-epoch: the optimizers stepped in this epoch before the checkpoint, so the Trainer must
                # step their per-epoch schedulers at its end, even when no batch of the epoch is left
                trainer_bridge.mark_stepped(trainer, range(len(trainer.optimizer)))

    def on_train_epoch_end(self, trainer) -> None:
        super().on_train_epoch_end(trainer)
        self.meta_run.epochs = trainer.epochs_done + 1

    # ------------------------------------------------------------------ meta-validation
    def eval_step(self, batch: dict, criterion, optimizer_idx: int | None = None):
        """Query loss before and after inner adaptation on each eval task (``loss`` is the one after), measured as
        ``coqui-meta evaluate`` measures it."""
        if optimizer_idx is not None and optimizer_idx != self.meta_optimizer_index:
            return {}, {}
        meta = self.config.meta
        steps = self.meta_algorithm.inner_steps if meta.eval_inner_steps is None else meta.eval_inner_steps
        replicas, rank = world()
        before, after, outputs = [], [], {}
        with torch.inference_mode(False), torch.enable_grad():
            for index, (support, query) in enumerate(batch["tasks"]):
                seed = validation_task(meta.seed, task_position(index, rank, replicas, meta.n_way))  # one process's
                pre, post, outputs = self.meta_algorithm.evaluate_task(_plain(support), _plain(query), steps, seed=seed)
                before.append(pre)
                after.append(post)
        # every rank logs the mean over the whole meta-batch, so rank 0 picks the best model on it
        total_before, total_after, count = all_reduce_sum([sum(before), sum(after), len(after)], self._meta_device())
        return outputs, {
            "loss": total_after / count,
            "query_loss_before_adaptation": total_before / count,
            "query_loss_after_adaptation": total_after / count,
            "adaptation_gain": (total_before - total_after) / count,
        }

    # ------------------------------------------------------------------ logs and test sentences
    # Figures and audio of the last query batch, as Coqui draws them for a stock batch.
    def train_log(self, batch, outputs, logger, steps):
        return super().train_log(batch["tasks"][-1][1] if "tasks" in batch else batch, outputs, logger, steps)

    def eval_log(self, batch, outputs, logger, steps):
        return super().eval_log(batch["tasks"][-1][1] if "tasks" in batch else batch, outputs, logger, steps)

    def test_run(self, trainer):
        if self.meta_uses_prototypes and not (self.speaker_manager and self.speaker_manager.embeddings):
            # the voices of a prototype model are made from clips (coqui-meta adapt); there is no table to pick from
            logger.info("Test sentences skipped: a prototype model has no stored voice to speak them with")
            raise NotImplementedError  # the Trainer skips the test run on this
        return super().test_run(trainer)
