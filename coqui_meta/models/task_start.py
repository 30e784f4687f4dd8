"""What a task is to a meta model: the tensors its inner loop adapts, and where it starts.

A task is a speaker (or any ``meta.task_key`` value) or a language. A speaker task of a one-speaker model (no
speaker input: ``meta_single_voice``) is its one voice fine-tuned: the default modules without the speaker table
(meta-training one gives it a table first: `coqui_meta.models.one_speaker`). A speaker task of a speaker-table model
starts from the mean of the table's rows (as Coqui initialises an added speaker); of a d-vector model (YourTTS's shape:
``use_d_vector_file``) from a d-vector, which the inner loop adapts: the task's own d-vectors, or their mean over the
file (``meta.d_vector_start``); of a prototype model from the prototype of its support clips. A language task
(``task_key="language"``) starts from the mean row of the language embedding. A style task (``task_key=
"emotion_name"``) of a model without a style input (VITS) keeps every clip's own voice (its row, or d-vector) and
starts from the model as it is, the neutral style it learned: its inner loop adapts the style modules
(``meta_style_adapt_modules``), so the style is carried by them for every voice. Of a model with global style tokens
(GST Tacotron2) from the tokens' mean: the style input is a weight for each token (``GST_WEIGHTS``, Coqui's own
token-weights input), all equal at first, adapted with the token bank."""

from __future__ import annotations

import fnmatch
import logging

import torch

from coqui_meta.algorithms.inner_loop import D_VECTOR, GST_WEIGHTS
from coqui_meta.config import prototype_problem

logger = logging.getLogger(__name__)


class TaskStartMixin:
    """A task's adapted tensors and starting voice. A model class supplies ``meta_speaker_embedding``,
    ``meta_default_adapt_modules``, ``meta_task_loss(batch, outer)`` and, for prototypes, ``meta_clip_mels(batch)``;
    for language tasks ``meta_language_embedding`` and ``meta_language_adapt_modules``."""

    #: name of the speaker-embedding weight in ``named_parameters()``
    meta_speaker_embedding: str = ""
    #: default ``adapt_modules`` patterns
    meta_default_adapt_modules: tuple[str, ...] = ()
    #: name of the language-embedding weight (empty: the model has none)
    meta_language_embedding: str = ""
    #: default ``adapt_modules`` patterns when a task is a language
    meta_language_adapt_modules: tuple[str, ...] = ()
    #: default ``adapt_modules`` patterns when a task is a speaking style (``emotion_name``); empty: no style tasks
    meta_style_adapt_modules: tuple[str, ...] = ()
    #: a style task needs the model's global style tokens (it has no other place for a style)
    meta_style_needs_gst: bool = False

    @property
    def meta_uses_prototypes(self) -> bool:
        return self.config.meta.uses_prototypes

    @property
    def meta_task_is_language(self) -> bool:
        return self.config.meta.task_key == "language"

    @property
    def meta_task_is_style(self) -> bool:
        return self.config.meta.task_key == "emotion_name"

    @property
    def meta_style_uses_gst(self) -> bool:
        """A style task's style is global-style-token weights (``GST_WEIGHTS``): a style task of a GST model."""
        return self.meta_task_is_style and bool(getattr(self, "use_gst", False)) and hasattr(self, "gst_layer")

    @property
    def meta_voice_is_d_vector(self) -> bool:
        """A task's voice is a d-vector (``D_VECTOR``, adapted by the inner loop), not a row of a speaker table: a
        prototype model's, or a speaker task's of a model that reads its voices from a d-vector file."""
        from TTS.config import get_from_config_or_model_args

        if self.meta_uses_prototypes:
            return True
        d_vectors = get_from_config_or_model_args(self.config, "use_d_vector_file", False)
        return bool(d_vectors) and not (self.meta_task_is_language or self.meta_task_is_style)

    @property
    def meta_single_voice(self) -> bool:
        """A speaker task of a model with no speaker input at all (a one-speaker release: LJSpeech's VITS or
        Tacotron2-DDC): its one voice is carried by its weights, so a new voice is that voice fine-tuned on the clips
        (`coqui-meta adapt` keeps the model one-speaker); it cannot be meta-trained on speaker tasks as it is
        (`meta_check_trainable`)."""
        return (self.config.meta.task_key == "speaker_name" and not self.meta_voice_is_d_vector
                and self.meta_speaker_embedding not in dict(self.named_parameters()))

    @property
    def meta_task_table(self) -> str:
        """The embedding weight whose rows are tasks (its mean row starts a task), or "" when no table is reset: a
        d-vector voice, or a style task (each clip keeps its own voice)."""
        if self.meta_task_is_language:
            return self.meta_language_embedding
        if self.meta_task_is_style:
            return ""
        return "" if self.meta_voice_is_d_vector else self.meta_speaker_embedding

    def _meta_check_task(self) -> None:
        """Errors for a task the model cannot start, raised when the model is built (before any training)."""
        if self.meta_voice_is_d_vector and self.config.meta.backend != "torch":
            raise ValueError(f"meta.backend = {self.config.meta.backend!r}: a d-vector voice is adapted on the torch "
                             "backend only (learn2learn adapts parameters, and a d-vector is an input)")
        if self.meta_task_is_style:
            self._meta_check_style_task()
        if self.meta_task_is_language and self.meta_language_embedding not in dict(self.named_parameters()):
            raise ValueError(
                f"meta.task_key = 'language': {type(self).__name__} has no language embedding "
                f"({self.meta_language_embedding or 'this model has none'}); set use_language_embedding (VITS: "
                "model_args.use_language_embedding) and give the datasets their language"
            )

    def meta_check_trainable(self) -> None:
        """An error when meta-training cannot start on this model's tasks: a one-speaker model (`meta_single_voice`)
        has no input that tells one speaker's task from another's. Raised when the Trainer is set up."""
        if self.meta_single_voice:
            raise ValueError(
                f"{type(self).__name__} has no speaker input (use_speaker_embedding is false and no d-vector file is "
                "used), so a task per speaker (meta.task_key = 'speaker_name') has no voice to learn: set "
                "use_speaker_embedding=true (VITS: also model_args.use_speaker_embedding) with the corpus's speakers, "
                "or use_d_vector_file=true with a d_vector_file (coqui-meta embed writes one); coqui-meta train "
                "gives a one-speaker VITS a speaker table itself (coqui_meta.models.one_speaker), and coqui-meta "
                "adapt fine-tunes a one-speaker model to a new voice as it is"
            )

    def _meta_check_style_task(self) -> None:
        from TTS.config import get_from_config_or_model_args

        name = type(self).__name__
        if not self.meta_style_adapt_modules:
            raise ValueError(f"meta.task_key = 'emotion_name': style tasks are not supported for {name} yet (a VITS "
                             "model learns a style in the modules that carry its voices)")
        if self.meta_uses_prototypes:
            raise ValueError(f"meta.algorithm = {self.config.meta.algorithm!r}: prototypes are voices made from clips; "
                             "a style task (meta.task_key = 'emotion_name') needs maml, fomaml or reptile")
        if self.meta_style_uses_gst:
            if self.config.meta.backend != "torch":
                raise ValueError(f"meta.backend = {self.config.meta.backend!r}: style-token weights are adapted on "
                                 "the torch backend only (learn2learn adapts parameters, and the weights are an input)")
            return
        if self.meta_style_needs_gst:
            raise ValueError(f"meta.task_key = 'emotion_name': {name} learns a style in its global style tokens: set "
                             "use_gst=True (with gst: GSTConfig)")
        has_table = self.meta_speaker_embedding in dict(self.named_parameters())
        if not has_table and not get_from_config_or_model_args(self.config, "use_d_vector_file", False):
            raise ValueError(
                f"meta.task_key = 'emotion_name': {name} has no style input and no speaker table or d-vectors, so a "
                "style has no voice to be spoken in: set use_speaker_embedding (VITS: model_args."
                "use_speaker_embedding) with the corpus's speakers, or use_d_vector_file")

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

    def meta_style_weights(self, weights):
        """A context in which inference speaks with these style-token weights: a model with global style tokens
        (GST Tacotron2) has its own; others have no tokens to weigh."""
        raise ValueError(f"{type(self).__name__} has no global style tokens to speak with style weights")

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

    def meta_start_voice(self, support: dict) -> torch.Tensor | None:
        """The d-vector a task's voice starts from (None when the voice is a table row): the prototype of the support
        clips, or for a d-vector model their own d-vectors' mean (``meta.d_vector_start = "task"``; clips that the
        d-vector file lacks have none) or the file's mean."""
        if not self.meta_voice_is_d_vector:
            return None
        if self.meta_uses_prototypes:
            return self.meta_prototype(support)
        own = support.get("d_vectors")
        if self.config.meta.d_vector_start == "task" and own is not None and bool(torch.isfinite(own).all()):
            start = own.mean(0)
        else:
            start = self.meta_mean_d_vector()
        return start.detach().clone().requires_grad_(True)  # data, not a parameter: the inner loop's own leaf

    def meta_mean_d_vector(self) -> torch.Tensor:
        """The mean of every d-vector of the model's d-vector file: a voice with nothing known."""
        if getattr(self, "_meta_mean_d_vector", None) is None:
            manager = self.speaker_manager
            if manager is None or not manager.embeddings:
                raise ValueError("this d-vector model has no d-vector file loaded (d_vector_file) to take a mean of")
            vectors = torch.tensor([entry["embedding"] for entry in manager.embeddings.values()], dtype=torch.float32)
            self._meta_mean_d_vector = vectors.mean(0)
        return self._meta_mean_d_vector.to(next(self.parameters()).device)

    def meta_default_patterns(self) -> list[str]:
        if self.meta_task_is_language:
            return list(self.meta_language_adapt_modules)
        if self.meta_task_is_style:  # without the speaker table when the voices are d-vectors (it has none)
            names = {name.split(".")[0] for name, _ in self.named_parameters()}
            names |= {GST_WEIGHTS} if self.meta_style_uses_gst else set()
            return [p for p in self.meta_style_adapt_modules if p.split(".")[0] in names]
        patterns = list(self.meta_default_adapt_modules)
        if self.meta_single_voice:  # no speaker table: the voice is the voice-bearing modules alone
            table = self.meta_speaker_embedding.split(".")[0]
            return [p for p in patterns if p != table]
        if self.meta_voice_is_d_vector:  # the voice is the d-vector, not a row of the speaker table
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
        if self.meta_voice_is_d_vector:
            names.append(D_VECTOR)
        if self.meta_style_uses_gst:
            names.append(GST_WEIGHTS)
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
        """The tensors a task starts from: the adapted ones as they are, and the task's own: for a d-vector voice
        ``voice`` (`meta_start_voice`) as the d-vector; otherwise the task table (speaker or language embedding)
        replaced by the mean of its rows in every row, so each task starts as a new voice or language (as Coqui
        initialises an added speaker)."""
        tensors = {name: params[name] for name in adapted if name not in (D_VECTOR, GST_WEIGHTS)}
        if GST_WEIGHTS in adapted:  # the tokens' mean: each at 1/K (data, not a parameter: the loop's own leaf)
            count = self.gst_layer.style_token_layer.style_tokens.shape[0]
            start = torch.full((count,), 1.0 / count, device=next(self.parameters()).device)
            tensors[GST_WEIGHTS] = start.requires_grad_(True)
        if self.meta_voice_is_d_vector:
            if voice is None:
                raise ValueError("a task of a d-vector model starts from a d-vector (meta_start_voice): pass voice")
            tensors[D_VECTOR] = voice
            return tensors
        name = self.meta_task_table
        if name and name in params:
            weight = params[name]
            tensors[name] = weight.mean(0, keepdim=True).expand_as(weight)
        return tensors

    def meta_task_loss(self, batch: dict, outer: bool = False) -> tuple[torch.Tensor, dict, dict]:
        """Loss of one task batch with the parameters as they are: ``(loss, loss terms, outputs)``."""
        raise NotImplementedError

