"""The Trainer's batches as episodes: one batch a meta-batch of tasks, each a support and a query set collated by
the model's own dataset and collate, and formatted per task as the Trainer formats a stock batch."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch.utils.data import DataLoader

from coqui_meta.episodes import EpisodeCollate, MetaBatchSampler, SpeakerEpisodeSampler
from coqui_meta.models.outer_step import world
from coqui_meta.seeds import derive

logger = logging.getLogger(__name__)


def _to_device(value: Any, device: torch.device) -> Any:
    if torch.is_tensor(value):
        return value.to(device, non_blocking=True)
    return value


class DVectorsOfKnownClips(dict):
    """A d-vector file's entries, where a clip it lacks (a new voice's, in ``evaluate`` or ``adapt``) reads as NaNs:
    a d-vector model's task voice stands in for every clip's d-vector, and `meta_start_voice` starts it elsewhere
    (``coqui-meta train`` refuses a file that lacks a training clip, before training)."""

    def __init__(self, entries: dict, dim: int) -> None:
        super().__init__(entries)
        self.dim = dim

    def __missing__(self, key: str) -> dict:
        return {"name": None, "embedding": [float("nan")] * self.dim}


class EpisodicDataMixin:
    """Episodic loaders and per-task formatting for a Coqui ``BaseTTS`` model."""

    def get_data_loader(self, config, *, is_eval: bool = False, samples=None, verbose: bool = True) -> DataLoader:
        """Episodes of the model's own dataset and collate: one batch a meta-batch of tasks."""
        stock = super().get_data_loader(config, is_eval=is_eval, samples=samples, verbose=verbose)
        dataset = self._meta_without_d_vector_file(stock.dataset)
        meta = config.meta
        replicas, rank = world()
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
            seed=derive(meta.seed, "validation episodes" if is_eval else "training episodes"),
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
        return self._meta_without_d_vector_file(
            super().get_data_loader(self.config, is_eval=True, samples=samples, verbose=False).dataset
        )

    def _meta_without_d_vector_file(self, dataset):
        if self.meta_uses_prototypes:  # the d-vectors are the encoder's prototypes, not looked up in a file
            dataset.d_vector_mapping = None
        elif getattr(dataset, "d_vector_mapping", None) is not None:
            dataset.d_vector_mapping = self.speaker_manager.embeddings  # the lenient lookup, for Tacotron2's collate
        return dataset

    def _meta_read_new_clips(self) -> None:
        """Let a d-vector model's batches hold clips its d-vector file lacks (`DVectorsOfKnownClips`)."""
        manager = self.speaker_manager
        if not self.meta_uses_prototypes and manager is not None and manager.embeddings:
            dim = len(next(iter(manager.embeddings.values()))["embedding"])
            manager.embeddings = DVectorsOfKnownClips(manager.embeddings, dim)

    def _meta_fill_d_vectors(self, batch: dict) -> dict:
        """When the task is not the voice (a language task of a d-vector model), a clip the d-vector file lacks (a new
        language's) speaks with its speaker's mean d-vector in the file (the file's mean for a speaker it lacks)."""
        vectors = batch.get("d_vectors")
        if vectors is None or self.meta_voice_is_d_vector:
            return batch  # none, or the task's d-vector stands in for every clip's
        for row in (~torch.isfinite(vectors).all(1)).nonzero().flatten().tolist():
            vectors[row] = self._meta_speaker_d_vector(batch["speaker_names"][row])
        return batch

    def _meta_speaker_d_vector(self, speaker: str) -> torch.Tensor:
        manager = self.speaker_manager
        if speaker in manager.embeddings_by_names:
            return torch.as_tensor(manager.get_mean_embedding(speaker), dtype=torch.float32)
        return self.meta_mean_d_vector().cpu()

    def meta_prepare(self, raw: dict) -> dict:
        """One collated support or query set, formatted and on the model's device as the Trainer prepares a task."""
        return self.format_batch_on_device(self.format_batch({"tasks": [(raw,)]}))["tasks"][0][0]

    def format_batch(self, batch: dict) -> dict:
        if "tasks" not in batch:
            return super().format_batch(batch)
        device = next(self.parameters()).device
        tasks = []
        for pair in batch["tasks"]:
            formatted = []
            for part in pair:
                part = self._meta_fill_d_vectors(super().format_batch(part))
                formatted.append({key: _to_device(value, device) for key, value in part.items()})
            tasks.append(tuple(formatted))
        return {"tasks": tasks}

    def format_batch_on_device(self, batch: dict) -> dict:
        if "tasks" not in batch:
            return super().format_batch_on_device(batch)
        stock = super().format_batch_on_device
        return {"tasks": [tuple(stock(part) for part in pair) for pair in batch["tasks"]]}

