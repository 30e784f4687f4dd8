"""What turns a stock Coqui TTS model into a meta-learner; shared by MetaTacotron2 and MetaVits.

For the gradient algorithms the mixin adds no parameter, so the state dict is the stock model's. The prototype
algorithms (``protonet``, ``proto_maml``) add one submodule, ``prototype_encoder``, whose keys a stock model does not
have: ``coqui-meta adapt`` writes a voice without them. The mixin changes four things the Trainer calls:
``get_data_loader`` (episodes instead of shuffled batches), ``format_batch`` (per task), ``optimize`` (the outer step
of the configured algorithm) and ``eval_step`` (query loss after inner adaptation on the eval tasks).
A model class supplies ``meta_task_loss(batch, outer)``, the name of its speaker embedding and, for prototypes,
``meta_clip_mels(batch)``.
"""

from __future__ import annotations

import fnmatch
import logging
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from coqui_meta.algorithms import build_algorithm
from coqui_meta.algorithms.inner_loop import D_VECTOR
from coqui_meta.algorithms.inner_rules import InnerRates
from coqui_meta.config import prototype_problem
from coqui_meta.episodes import EpisodeCollate, MetaBatchSampler, SpeakerEpisodeSampler, task_position

logger = logging.getLogger(__name__)


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _to_device(value: Any, device: torch.device) -> Any:
    if torch.is_tensor(value):
        return value.to(device, non_blocking=True)
    return value


def _plain(value: Any) -> Any:
    """Inference tensors (the Trainer evaluates under inference_mode) cloned into tensors autograd can use."""
    if torch.is_tensor(value):
        return value.clone()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


class MetaLearningMixin:
    """Episodic meta-training for a Coqui ``BaseTTS`` model. Put it first in the bases."""

    #: name of the speaker-embedding weight in ``named_parameters()``
    meta_speaker_embedding: str = ""
    #: default ``adapt_modules`` patterns
    meta_default_adapt_modules: tuple[str, ...] = ()
    #: index of the optimizer that the outer step uses (VITS: 1, the generator's)
    meta_optimizer_index: int = 0
    #: second-order MAML must not use cuDNN RNN kernels (they have no double backward)
    meta_needs_native_rnn: bool = False

    def __init__(self, config, *args, **kwargs) -> None:
        super().__init__(config, *args, **kwargs)
        meta = self.config.meta
        meta.check_values()
        if meta.gradient_checkpointing and not meta.second_order:
            logger.warning("meta.gradient_checkpointing changes nothing for %s%s: first-order inner steps keep no "
                           "graph to recompute", meta.algorithm, " with first_order" if meta.first_order else "")
        if self.meta_uses_prototypes:
            self._meta_init_prototype_encoder()
        # the inner learning rates; learned ones are parameters (meta_inner_lrs.log_lr) that the outer optimizer trains
        self._meta_groups = self.meta_adapted_groups()
        names = [name for group in self._meta_groups.values() for name in group]
        self.meta_inner_lrs = InnerRates(names, meta.inner_lr_mode, meta.inner_lr, meta.inner_steps)
        self.meta_algorithm = build_algorithm(self, meta)
        # tasks seen and skipped (non-finite loss) in this run, meta-batches the Trainer did not count as a step
        # because every task was skipped, meta-batches run (the run's position: which meta-batch and seeds come
        # next) and training epochs completed; all are saved in checkpoints (meta_checkpoint_extras)
        self._meta_seen = self._meta_skipped = self._meta_skipped_steps = 0
        self._meta_batches = self._meta_epochs = 0

    # ------------------------------------------------------------------ prototypes
    @property
    def meta_uses_prototypes(self) -> bool:
        return self.config.meta.uses_prototypes

    def _meta_init_prototype_encoder(self) -> None:
        from TTS.config import get_from_config_or_model_args

        from coqui_meta.models.prototype_encoder import PrototypeEncoder

        problem = prototype_problem(self.config)
        if problem:
            raise ValueError(
                f"meta.algorithm = {self.config.meta.algorithm!r}: {problem}. MetaVitsConfig/MetaTacotron2Config."
                "from_config(config, meta=...) sets it, or call coqui_meta.config.use_prototypes(config)"
            )
        self.prototype_encoder = PrototypeEncoder(
            num_mels=self.config.audio.num_mels,
            channels=self.config.meta.prototype_channels,
            dim=int(get_from_config_or_model_args(self.config, "d_vector_dim")),
        )

    def meta_clip_mels(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The log-mel frames ``[B, T, num_mels]`` and lengths of a prepared batch: the prototype encoder's input."""
        raise NotImplementedError

    def meta_embed(self, batch: dict) -> torch.Tensor:
        """The prototype encoder's embedding of each clip of a prepared batch: ``[B, d_vector_dim]``."""
        mels, lengths = self.meta_clip_mels(batch)
        return self.prototype_encoder(mels.float(), lengths)

    def meta_prototype(self, support: dict) -> torch.Tensor:
        """A new voice from its support clips, with no gradient step: the mean of their embeddings, ``[d_vector_dim]``."""
        return self.meta_embed(support).mean(0)

    def test_run(self, trainer):
        if self.meta_uses_prototypes and not (self.speaker_manager and self.speaker_manager.embeddings):
            # the voices of a prototype model are made from clips (coqui-meta adapt); there is no table to pick from
            logger.info("Test sentences skipped: a prototype model has no stored voice to speak them with")
            raise NotImplementedError  # the Trainer skips the test run on this
        return super().test_run(trainer)

    # ------------------------------------------------------------------ what the inner loop adapts
    def meta_default_patterns(self) -> list[str]:
        patterns = list(self.meta_default_adapt_modules)
        if self.meta_uses_prototypes:  # the voice is the d-vector, not a row of the speaker table
            table = self.meta_speaker_embedding.split(".")[0]
            patterns = [D_VECTOR] + [p for p in patterns if p != table]
        return patterns

    def meta_adapted_names(self) -> list[str]:
        """Parameter names matched by ``meta.adapt_modules`` (or the model's default patterns); ``d_vector`` stands
        for the voice of a prototype model."""
        return [name for names in self.meta_adapted_groups().values() for name in names]

    def meta_adapted_groups(self) -> dict[str, list[str]]:
        """Each ``adapt_modules`` pattern (or default pattern) and the parameter names it adds, in order."""
        patterns = list(self.config.meta.adapt_modules) or self.meta_default_patterns()
        names = [name for name, param in self.named_parameters()
                 if param.requires_grad and not name.startswith("meta_inner_lrs.")]
        if self.meta_uses_prototypes:
            names.append(D_VECTOR)
        chosen: list[str] = []
        groups: dict[str, list[str]] = {}
        for pattern in patterns:
            matched = [n for n in names if n == pattern or n.startswith(pattern + ".") or fnmatch.fnmatchcase(n, pattern)]
            if not matched:
                raise ValueError(
                    f"meta.adapt_modules: pattern {pattern!r} matches no trainable parameter of {type(self).__name__}"
                    f" (top-level modules: {sorted({n.split('.')[0] for n in names})})"
                )
            groups[pattern] = [n for n in matched if n not in chosen]
            chosen += groups[pattern]
        return groups

    def meta_task_init(
        self, params: dict[str, torch.Tensor], adapted: list[str], voice: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The tensors a task starts from: the adapted ones as they are, and the voice: for a prototype model
        ``voice`` (the prototype of the support clips) as the d-vector; otherwise the speaker embedding replaced by the
        mean of its rows in every row, so each task starts as a new voice (as Coqui initialises an added speaker)."""
        tensors = {name: params[name] for name in adapted if name != D_VECTOR}
        if self.meta_uses_prototypes:
            if voice is None:
                raise ValueError("a task of a prototype model starts from the prototype of its support clips: pass voice")
            tensors[D_VECTOR] = voice
            return tensors
        name = self.meta_speaker_embedding
        if name and name in params:
            weight = params[name]
            tensors[name] = weight.mean(0, keepdim=True).expand_as(weight)
        return tensors

    def meta_task_loss(self, batch: dict, outer: bool = False) -> tuple[torch.Tensor, dict, dict]:
        """Loss of one task batch with the parameters as they are: ``(loss, loss terms, outputs)``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ data
    def get_data_loader(self, config, *, is_eval: bool = False, samples=None, verbose: bool = True) -> DataLoader:
        """Episodes of the model's own dataset and collate: one batch a meta-batch of tasks."""
        stock = super().get_data_loader(config, is_eval=is_eval, samples=samples, verbose=verbose)
        dataset = self._meta_without_d_vector_file(stock.dataset)
        meta = config.meta
        replicas, rank = _world()
        if meta.meta_batch_size % replicas:
            raise ValueError(
                f"meta.meta_batch_size ({meta.meta_batch_size}) must be divisible by the number of ranks ({replicas})"
            )
        steps = meta.eval_episodes if is_eval else meta.episodes_per_epoch
        tasks_per_step = meta.meta_batch_size // replicas
        tasks_per_episode = max(1, meta.n_way // replicas)  # the sampler checks that n_way splits over the ranks
        episodes = SpeakerEpisodeSampler(
            dataset.samples,
            n_way=meta.n_way,
            k_shot=meta.k_shot,
            q_query=meta.q_query,
            task_key=meta.task_key,
            seed=meta.seed + (1_000_003 if is_eval else 0),
            num_replicas=replicas,
            rank=rank,
            episodes=max(1, -(-steps * tasks_per_step // tasks_per_episode)),
            fixed=is_eval,
        )
        if verbose:
            logger.info(
                "%s episodes: %d %s values, %d meta-batches of %d tasks (%d support + %d query clips each)",
                "Eval" if is_eval else "Train",
                len(episodes.tasks),
                meta.task_key,
                steps,
                tasks_per_step,
                meta.k_shot,
                meta.q_query,
            )
        return DataLoader(
            dataset,
            batch_sampler=MetaBatchSampler(episodes, tasks_per_step, steps),
            collate_fn=self.meta_episode_collate(dataset, meta.k_shot, meta.q_query),
            num_workers=config.num_eval_loader_workers if is_eval else config.num_loader_workers,
            pin_memory=False,
        )

    def meta_episode_collate(self, dataset, k_shot: int, q_query: int) -> EpisodeCollate:
        """The dataset's own collate, cut into tasks, with unknown speakers standing in for a known one."""
        known = self.speaker_manager.name_to_id if self.speaker_manager is not None else {}
        return EpisodeCollate(dataset.collate_fn, k_shot, q_query, known_speakers=list(known))

    def meta_stock_dataset(self, samples: list):
        """The stock dataset over ``samples``: the model's own dataset class, length filters, order and collate."""
        return self._meta_without_d_vector_file(super().get_data_loader(self.config, is_eval=True, samples=samples, verbose=False).dataset)

    def _meta_without_d_vector_file(self, dataset):
        if self.meta_uses_prototypes:  # the d-vectors are the encoder's prototypes, not looked up in a file
            dataset.d_vector_mapping = None
        return dataset

    def meta_prepare(self, raw: dict) -> dict:
        """One collated support or query set, formatted and on the model's device as the Trainer prepares a task."""
        return self.format_batch_on_device(self.format_batch({"tasks": [(raw,)]}))["tasks"][0][0]

    def on_train_epoch_start(self, trainer) -> None:
        """Start the epoch's meta-batches where the run is (after ``--continue_path`` too)."""
        super().on_train_epoch_start(trainer)
        sampler = getattr(trainer.train_loader, "batch_sampler", None)
        if isinstance(sampler, MetaBatchSampler):
            sampler.set_position(self._meta_batches, trainer.epochs_done)
            if self._meta_batches > trainer.epochs_done * sampler.steps:
                # continued mid-epoch: the optimizers stepped in this epoch before the checkpoint, so the Trainer must
                # step their per-epoch schedulers at its end, even when no batch of the epoch is left
                trainer._stepped_optimizers.update(range(len(trainer.optimizer)))

    def format_batch(self, batch: dict) -> dict:
        if "tasks" not in batch:
            return super().format_batch(batch)
        device = next(self.parameters()).device
        tasks = []
        for pair in batch["tasks"]:
            formatted = []
            for part in pair:
                part = super().format_batch(part)
                formatted.append({key: _to_device(value, device) for key, value in part.items()})
            tasks.append(tuple(formatted))
        return {"tasks": tasks}

    def format_batch_on_device(self, batch: dict) -> dict:
        if "tasks" not in batch:
            return super().format_batch_on_device(batch)
        stock = super().format_batch_on_device
        return {"tasks": [tuple(stock(part) for part in pair) for pair in batch["tasks"]]}

    # ------------------------------------------------------------------ training
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

    def _meta_reset_rate_group(self, trainer) -> None:
        """The Trainer sets every group to the model's learning rate when it restores weights (not when it continues
        a run): give the learned rates their own back."""
        for group in trainer.optimizer[self.meta_optimizer_index].param_groups:
            if group.get("meta_inner_lrs"):
                group["lr"] = self.config.meta.inner_lr_lr

    def optimize(self, batch: dict, trainer) -> tuple[dict, dict]:
        """One outer step inside Coqui's Trainer: meta-gradient of the configured algorithm, then the Coqui
        optimizer, grad scaler, gradient clipping and scheduler of this model's config.

        With several ranks each runs its share of the meta-batch; the gradients are averaged over all the tasks that
        were not skipped, on every rank. A task's random draws come from a seed fixed by (meta.seed, step, task), so
        the meta-gradient does not depend on how the tasks are split.
        """
        index = self.meta_optimizer_index
        optimizer = trainer.optimizer[index]
        scaler = trainer.scaler if trainer.use_amp_scaler else None
        optimizer.zero_grad(set_to_none=True)
        tasks = batch["tasks"]
        replicas, rank = _world()
        meta_batch, self._meta_batches = self._meta_batches, self._meta_batches + 1
        meta = self.config.meta
        first = meta.seed * 1_000_003 + meta_batch * len(tasks) * replicas
        seeds = [first + task_position(i, rank, replicas, meta.n_way) for i in range(len(tasks))]
        results = self.meta_algorithm.outer_backward(tasks, scale=scaler.scale if scaler else lambda x: x, seeds=seeds)
        kept = [r for r in results if not r.skipped]
        kept_everywhere = self._meta_count_tasks(len(results), len(kept))
        if kept_everywhere == 0:
            optimizer.zero_grad(set_to_none=True)
            logger.warning("Every task of meta-batch %d had a non-finite loss; no update, and the Trainer does not count "
                           "the step", meta_batch)
            self._meta_skipped_steps += 1
            return None, None
        factor = len(tasks) * replicas / kept_everywhere  # the mean over kept tasks, once ranks are averaged
        if factor != 1.0:
            for group in optimizer.param_groups:
                for param in group["params"]:
                    if param.grad is not None:
                        param.grad.mul_(factor)
        grad_norm = self._meta_clip_and_step(trainer, optimizer, scaler, index)
        loss_dict: dict[str, Any] = {
            "loss": sum(r.query_loss for r in kept) / len(kept) if kept else float("nan"),
            "support_loss": sum(r.support_losses[0] for r in kept if r.support_losses) / max(1, len(kept)),
            "grad_norm": grad_norm,
            "skipped_tasks": self._meta_skipped,
        }
        terms = [key for key in kept[0].loss_dict if key != "loss"] if kept else []
        for key in terms:
            loss_dict[f"query_{key}"] = sum(float(r.loss_dict[key]) for r in kept) / len(kept)
        loss_dict.update(getattr(self.meta_algorithm, "step_logs", {}))
        loss_dict.update(self.meta_inner_lrs.summary(self._meta_groups))
        loss_dict.update(self.meta_after_outer_step(trainer, kept))
        outputs = kept[-1].outputs if kept else {}
        if len(trainer.optimizer) > 1:  # name them as the Trainer names multi-optimizer outputs, for train_log
            outputs = {f"{key}_{index}": value for key, value in outputs.items()}
        return outputs, loss_dict

    def _meta_count_tasks(self, seen: int, kept: int) -> int:
        """Count skipped tasks over all ranks; stop training past ``meta.max_skipped_share``. Returns the kept tasks
        of this step on all ranks."""
        counts = torch.tensor([float(seen), float(kept)])
        if _world()[0] > 1:
            counts = counts.to(next(self.parameters()).device)
            dist.all_reduce(counts)
        seen, kept = int(counts[0]), int(counts[1])
        self._meta_seen += seen
        self._meta_skipped += seen - kept
        if seen > kept:
            logger.warning("Skipped %d of %d tasks with a non-finite loss (%d so far)", seen - kept, seen, self._meta_skipped)
        share = self.config.meta.max_skipped_share
        if self._meta_seen >= 20 and self._meta_skipped > share * self._meta_seen:
            raise RuntimeError(
                f"{self._meta_skipped} of {self._meta_seen} tasks had a non-finite support or query loss, more than "
                f"meta.max_skipped_share = {share}; check the data (silent or corrupt clips) or lower meta.inner_lr"
            )
        return kept

    def on_train_epoch_end(self, trainer) -> None:
        super().on_train_epoch_end(trainer)
        self._meta_epochs = trainer.epochs_done + 1

    def meta_checkpoint_extras(self) -> dict[str, Any]:
        """Saved beside the state dict in every Trainer checkpoint (`coqui_meta.files.trainer_checkpoints`)."""
        return {"meta_tasks": {"seen": self._meta_seen, "skipped": self._meta_skipped,
                               "skipped_steps": self._meta_skipped_steps, "batches": self._meta_batches,
                               "epochs": self._meta_epochs}}

    def on_init_end(self, trainer) -> None:
        """On ``--continue_path`` take the task counts up where the checkpoint left them, so that
        ``meta.max_skipped_share`` judges the whole run, not the part since the last restart, and continue at the
        checkpoint's meta-batch and epoch."""
        super().on_init_end(trainer)
        if not trainer.args.continue_path:
            self._meta_reset_rate_group(trainer)
        if not (trainer.args.continue_path and trainer.args.restore_path):
            return
        self._meta_batches = trainer.total_steps_done  # an older checkpoint holds no count: the Trainer's step
        path = str(trainer.args.restore_path)
        if "://" in path:  # remote storage, as the Trainer reads it
            from trainer.io import load_fsspec

            checkpoint = load_fsspec(path, map_location="cpu")
        else:  # mapped, not read: only the counts are needed
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        counts = checkpoint.get("meta_tasks")
        if counts is None:
            logger.warning("%s has no task counts (an older checkpoint): skipped tasks are counted from this restart", path)
            return
        self._meta_seen, self._meta_skipped = int(counts["seen"]), int(counts["skipped"])
        self._meta_skipped_steps = int(counts["skipped_steps"])
        if self._meta_skipped:
            logger.info("Resumed with %d of %d tasks skipped so far", self._meta_skipped, self._meta_seen)
        if "batches" not in counts:  # written before the count was kept: the Trainer's steps and the skipped ones
            self._meta_batches += self._meta_skipped_steps
            return
        # The Trainer restores step + 1 and the saved epoch: right for checkpoint_N (written after step N), one step
        # ahead and one epoch behind for best_model_N (written after N steps, at its epoch's end). Continue where the
        # run was, so the next meta-batch, its seeds and the epochs are an uninterrupted run's.
        self._meta_batches, self._meta_epochs = int(counts["batches"]), int(counts["epochs"])
        trainer.total_steps_done = self._meta_batches - self._meta_skipped_steps
        trainer.epochs_done = max(trainer.epochs_done, self._meta_epochs)

    def _meta_clip_and_step(self, trainer, optimizer, scaler, index: int) -> float:
        grad_clip = trainer.config.grad_clip
        if isinstance(grad_clip, (list, tuple)):
            grad_clip = grad_clip[index]
        replicas, _ = _world()
        if replicas > 1:  # the Trainer calls optimize() on the bare model: no DDP hook averages the gradients
            for param in (p for group in optimizer.param_groups for p in group["params"] if p.requires_grad):
                if param.grad is None:
                    param.grad = torch.zeros_like(param)
                dist.all_reduce(param.grad)
                param.grad.div_(replicas)
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
        trainer._stepped_optimizers.add(index)  # the Trainer steps per-epoch schedulers of these
        optimizer.zero_grad(set_to_none=True)
        return float(grad_norm)

    def meta_after_outer_step(self, trainer, results) -> dict[str, float]:
        """Hook for work after the outer step (VITS trains its discriminator here)."""
        return {}

    # ------------------------------------------------------------------ meta-validation
    def eval_step(self, batch: dict, criterion, optimizer_idx: int | None = None):
        """Query loss before and after inner adaptation on each eval task (``loss`` is the one after)."""
        if optimizer_idx is not None and optimizer_idx != self.meta_optimizer_index:
            return {}, {}
        meta = self.config.meta
        steps = self.meta_algorithm.inner_steps if meta.eval_inner_steps is None else meta.eval_inner_steps
        replicas, rank = _world()
        before, after, outputs = [], [], {}
        with torch.inference_mode(False), torch.enable_grad():
            for index, (support, query) in enumerate(batch["tasks"]):
                seed = meta.seed + task_position(index, rank, replicas, meta.n_way)  # as one process would draw it
                pre, post, outputs = self.meta_algorithm.evaluate_task(_plain(support), _plain(query), steps, seed=seed)
                before.append(pre)
                after.append(post)
        totals = torch.tensor([sum(before), sum(after), float(len(after))], dtype=torch.float64)
        if replicas > 1:  # every rank logs the mean over the whole meta-batch, so rank 0 picks the best model on it
            totals = totals.to(next(self.parameters()).device)
            dist.all_reduce(totals)
        mean_before, mean_after = (totals[0] / totals[2]).item(), (totals[1] / totals[2]).item()
        return outputs, {
            "loss": mean_after,
            "query_loss_before_adaptation": mean_before,
            "query_loss_after_adaptation": mean_after,
            "adaptation_gain": mean_before - mean_after,
        }

    # Figures and audio of the last query batch, as Coqui draws them for a stock batch.
    def train_log(self, batch, outputs, logger, steps):
        return super().train_log(batch["tasks"][-1][1] if "tasks" in batch else batch, outputs, logger, steps)

    def eval_log(self, batch, outputs, logger, steps):
        return super().eval_log(batch["tasks"][-1][1] if "tasks" in batch else batch, outputs, logger, steps)
