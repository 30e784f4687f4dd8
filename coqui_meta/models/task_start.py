"""What a task is to a meta model: the tensors its inner loop adapts, and the voice it starts from (the mean of the
speaker table's rows, as Coqui initialises an added speaker, or the prototype of its support clips, through the
prototype encoder, for the prototype algorithms)."""

from __future__ import annotations

import fnmatch
import logging

import torch

from coqui_meta.algorithms.inner_loop import D_VECTOR
from coqui_meta.config import prototype_problem

logger = logging.getLogger(__name__)


class TaskStartMixin:
    """A task's adapted tensors and starting voice. A model class supplies ``meta_speaker_embedding``,
    ``meta_default_adapt_modules``, ``meta_task_loss(batch, outer)`` and, for prototypes, ``meta_clip_mels(batch)``."""

    #: name of the speaker-embedding weight in ``named_parameters()``
    meta_speaker_embedding: str = ""
    #: default ``adapt_modules`` patterns
    meta_default_adapt_modules: tuple[str, ...] = ()

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

    def meta_text(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The token ids ``[B, T]`` and their lengths of a prepared batch."""
        raise NotImplementedError

    def meta_inference_limit(self, batch: dict, index: int) -> tuple[object, str, int]:
        """(module, attribute, value): the inference length limit that allows twice clip ``index``'s real length."""
        raise NotImplementedError

    def meta_waveform(self, outputs: dict):
        """The waveform (numpy, at the config's sample rate) of ``inference``'s outputs for one clip."""
        raise NotImplementedError

    def meta_clip_mels(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The log-mel frames ``[B, T, num_mels]`` and lengths of a prepared batch: the prototype encoder's input."""
        raise NotImplementedError

    def meta_embed(self, batch: dict) -> torch.Tensor:
        """The prototype encoder's embedding of each clip of a prepared batch: ``[B, d_vector_dim]``."""
        mels, lengths = self.meta_clip_mels(batch)
        return self.prototype_encoder(mels.float(), lengths)

    def meta_prototype(self, support: dict) -> torch.Tensor:
        """A new voice from its support clips, with no gradient step: the mean of their embeddings,
        ``[d_vector_dim]``."""
        return self.meta_embed(support).mean(0)

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
            matched = [
                n for n in names if n == pattern or n.startswith(pattern + ".") or fnmatch.fnmatchcase(n, pattern)
            ]
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
                raise ValueError(
                    "a task of a prototype model starts from the prototype of its support clips: pass voice"
                )
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

