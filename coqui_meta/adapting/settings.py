"""Learning a new voice from its support clips, for `evaluate` and `adapt`, meta and stock checkpoints alike: a
`coqui_meta.algorithms.task.Task` (meta-training's inner loop, step by step, with its seeds) started as the
settings say.

The voice starts as the model's task initialisation (the speaker embedding set to the mean of the trained rows, as
Coqui initialises an added speaker, or for a language task the language embedding's mean row; for a prototype model,
the prototype of the support clips as its d-vector: a voice with no step at all; for a YourTTS-style d-vector model,
``start_voice``, from a speaker encoder or the file's mean) and the adapted tensors (``meta.adapt_modules``) take the
steps meta-training's inner loop takes (``meta.inner_update``: Adam's by default, SGD for second-order MAML) on the
support clips at the model's inner rates (learned or ``meta.inner_lr``; ``lr`` fixes one rate for all, ``lr_scale``
multiplies them); gradient clipping when asked for. The tensors live in a dict run through
``functional_call``: the loaded model is never changed. Every random draw (VITS's segment and noise, dropout) comes
from the task's seeds, the ones meta-validation uses, so two runs give the same numbers. A loss that stops being
finite, or grows ten-fold, stops the adaptation with `TaskDiverged`.

Example::

    voice = AdaptationSettings(lr=1e-3, seed=0).start(model, support)
    before = voice.score(query)[0]
    voice.step(support, steps=10)
    wav, rate = voice.render(query, index=0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from coqui_meta.algorithms.task import Task, task_optimizer
from coqui_meta.errors import RequestError
from coqui_meta.formats.vocoder import VocoderChoice, attach_vocoder
from coqui_meta.seeds import TaskSeeds


@dataclass
class AdaptationSettings:
    """How a new voice is learned; shared by the CLI, `evaluate`, `adapt` and the study.

    ``lr``: one rate for every adapted tensor (None: the model's own, learned or ``meta.inner_lr``); ``lr_scale``
    multiplies the rates; ``optimizer`` ``adam`` or ``sgd`` (None: the model's ``meta.inner_update``, the
    procedure it meta-trained with); ``grad_clip`` clips the gradients' total norm (0: off);
    ``adapt_modules`` overrides ``meta.adapt_modules``; ``seed`` seeds the clips drawn and every random draw;
    ``device`` (None: CUDA when there is one); ``trust`` reads checkpoints that need pickled code; ``encoder``: where
    a d-vector model's new voice starts (`coqui_meta.adapting.d_vector_voice.STARTS`; None: its config's encoder, else
    the mean of its d-vector file); ``vocoder``: what a Tacotron2's renditions and samples are spoken through
    (`coqui_meta.formats.vocoder.VocoderChoice`; None: Griffin-Lim)."""

    lr: float | None = None
    lr_scale: float = 1.0
    optimizer: str | None = None
    grad_clip: float = 0.0
    adapt_modules: list[str] = field(default_factory=list)
    seed: int = 0
    device: str | None = None
    trust: bool = False
    encoder: str | None = None
    vocoder: VocoderChoice | None = None

    def torch_device(self) -> torch.device:
        return torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def start(self, model, support: dict | None = None, start_voice: torch.Tensor | None = None) -> Task:
        """A new voice of ``model`` as a strict `Task` with these settings' optimizer and seeds. ``start_voice``: the
        d-vector a d-vector model's voice starts from (default: `meta_start_voice` of ``support``)."""
        optimizer = task_optimizer(model, self.optimizer, self.grad_clip, self.lr_scale, self.lr)
        return Task.start(model, support, start_voice, optimizer, TaskSeeds.of_voice(self.seed), strict=True)


def load_for_adaptation(model_path: str, config_path: str, settings: AdaptationSettings, device: torch.device,
                        task_key: str | None = None):
    """The checkpoint as a model to adapt, with ``settings.adapt_modules`` applied and tasks of ``task_key`` (None:
    the checkpoint's own). A checkpoint's learned inner rates are for its own ``adapt_modules``: with other modules,
    ``settings.lr`` must say the rate."""
    overrides = {"adapt_modules": list(settings.adapt_modules)} if settings.adapt_modules else {}
    if task_key:
        overrides["task_key"] = task_key
    from coqui_meta.formats.checkpoints import load_model

    loaded = load_model(model_path, config_path, device=str(device), trust=settings.trust, meta_overrides=overrides,
                        encoder=settings.encoder)
    if loaded.dropped_learned_rates and settings.lr is None:
        raise RequestError(
            f"`adapt_modules`: {model_path} learned its inner rates for its own adapt_modules and tasks "
            f"({', '.join(loaded.config.meta.adapt_modules) or 'the default'}); give `lr` for these modules"
        )
    loaded.vocoder = attach_vocoder(loaded.model, settings.vocoder, str(config_path))
    return loaded
