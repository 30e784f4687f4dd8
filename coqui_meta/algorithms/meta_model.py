"""What a meta model gives the algorithms: the one contract between `coqui_meta.algorithms` and the models
(`coqui_meta.models.MetaVits`, `coqui_meta.models.MetaTacotron2`, through their shared `MetaModelMixin`). The
algorithms and a `Task` call these and nothing else of a model beyond ``torch.nn.Module``'s own; a test checks both
models against it and that the algorithms call no ``meta_*`` name it lacks.

    from coqui_meta.algorithms.meta_model import MetaModel
    isinstance(model, MetaModel)   # True for MetaVits and MetaTacotron2
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class MetaModel(Protocol):
    """A Coqui model (an ``nn.Module``) that meta-learning can adapt task by task."""

    config: Any  # the model's config; ``config.meta`` is its `coqui_meta.config.MetaLearningConfig`
    meta_inner_lrs: Any  # the inner rates (`coqui_meta.algorithms.inner_rules.InnerRates`), fixed or learned

    # -- which tensors a task adapts, and where it starts
    def meta_adapted_names(self) -> list[str]:
        """``named_parameters()`` names the inner loop adapts (``meta.adapt_modules``, or the model's default)."""

    @property
    def meta_voice_is_d_vector(self) -> bool:
        """Whether a task's voice is a d-vector (a prototype or d-vector model) rather than a table row."""

    def meta_start_voice(self, support: dict) -> torch.Tensor | None:
        """The d-vector a task's voice starts from (None when the voice is a table row)."""

    def meta_task_init(self, params: dict[str, torch.Tensor], adapted: list[str],
                       voice: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The tensors a task starts from: the adapted ones, and the task's own voice (or the table's mean row)."""

    # -- a task's loss, and the prototypes of its clips
    def meta_task_loss(self, batch: dict, outer: bool = False) -> tuple[torch.Tensor, dict, dict]:
        """Loss of one task batch with the parameters as they are: ``(loss, loss terms, outputs)``."""

    def meta_embed(self, batch: dict) -> torch.Tensor:
        """The prototype encoder's embedding of each clip of a prepared batch: ``[B, d_vector_dim]``."""

    def meta_prototype(self, support: dict) -> torch.Tensor:
        """A new voice from its support clips with no gradient step: the mean of their embeddings."""

    # -- speaking a task's clip (Task.render)
    def meta_text(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The token ids ``[B, T]`` and their lengths of a prepared batch."""

    def meta_inference_limit(self, batch: dict, index: int) -> tuple[object, str, int]:
        """(module, attribute, value): the inference length limit that allows twice clip ``index``'s length."""

    def meta_waveform(self, outputs: dict):
        """The waveform (numpy, at the config's sample rate) of ``inference``'s outputs for one clip."""

    def meta_style_weights(self, weights):
        """A context in which inference speaks with these style-token weights (GST Tacotron2)."""
