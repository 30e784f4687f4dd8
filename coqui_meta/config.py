"""Configs: the `meta` block and the meta versions of Coqui's Tacotron2 and VITS configs.

A meta config is the stock config plus one field, ``meta``; everything else (audio, characters,
optimizer, scheduler, mixed precision, trainer settings) is read exactly as Coqui reads it.

Example::

    from TTS.tts.configs.vits_config import VitsConfig
    from coqui_meta import MetaLearningConfig, MetaVitsConfig

    config = MetaVitsConfig.from_config(my_vits_config, meta=MetaLearningConfig(algorithm="fomaml", inner_steps=2))
    config.save_json("config.json")  # "model": "meta_vits", "meta": {...}
"""


import dataclasses
from dataclasses import dataclass, field

from coqpit import Coqpit
from TTS.tts.configs.tacotron2_config import Tacotron2Config
from TTS.tts.configs.vits_config import VitsConfig

from coqui_meta.algorithms import ALGORITHMS, Algorithm
from coqui_meta.config_rules import DEFAULT_PROTOTYPE_DIM, FIELD_RULES, check_field, one_of

#: each field's own rule, the algorithm's names from the one table of algorithms
RULES = {"algorithm": one_of(tuple(ALGORITHMS)), **FIELD_RULES}


@dataclass
class MetaLearningConfig(Coqpit):
    """How the model learns to learn. A config checks itself: each field when it is set, all of them and how they fit
    together in `check_values()`, which Coqpit runs when the config is built, loaded or overridden.

    Each field's meaning is its ``metadata["help"]`` below: the docs' reference of the ``meta`` block
    (``docs/reference/meta.md``) is generated from it.
    """

    algorithm: str = field(default="fomaml", metadata={"help": (
        "`maml` (second order), `fomaml`, `reptile`; `protonet` (a voice is the prototype, the mean embedding of its "
        "support clips, fed through Coqui's d-vector input: no inner step) and `proto_maml` (the prototype, then MAML "
        "inner steps on it and on the adapted modules; second order unless `first_order`). The prototype algorithms "
        "need `use_d_vector_file` (`from_config` sets it).")})
    inner_steps: int = field(default=1, metadata={"help": "Gradient steps on the support clips of a task."})
    inner_optimizer: str | None = field(default=None, metadata={"help": (
        "How a task's steps move its tensors, in meta-training and in `coqui-meta adapt` and `evaluate` alike: "
        "`adam` (Adam's step at the inner rates, restarted for each task) or `sgd` (`rate * grad`). `null` (the "
        "default): `adam`, except for second-order MAML (`maml`, `proto_maml` without `first_order`), which "
        "differentiates through its steps and so takes `sgd`: Adam's step is not differentiated through (its "
        "direction is a constant of the outer step; learned rates still get their gradient). Adam because it recovers "
        "a voice fastest (`benchmarks/voice_recovery.py`: the speaker row and the small conditioning layers get "
        "gradients of very different sizes, which its per-element scaling evens out).")})
    inner_lr: float = field(default=1e-3, metadata={"help": (
        "Learning rate of the inner (task) steps; with learned rates, the value they start from.")})
    inner_lr_mode: str = field(default="fixed", metadata={"help": (
        "`fixed` (`inner_lr` for every adapted tensor), `per_tensor` (one learned rate per adapted tensor: Meta-SGD "
        "at tensor granularity) or `per_tensor_step` (one per tensor and inner step: MAML++). Learned rates are "
        "meta-trained by the outer optimizer (log-parametrised), saved in meta checkpoints as "
        "`meta_inner_lrs.log_lr` and used by `coqui-meta adapt` and `evaluate` unless `--lr` is given. For `maml`, "
        "`fomaml` and `proto_maml`.")})
    inner_lr_lr: float = field(default=0.01, metadata={"help": (
        "The outer optimizer's learning rate for the learned log-rates (their own param group, no weight decay): a "
        "step moves a rate by a factor of about `exp(inner_lr_lr)`.")})
    multi_step_loss: bool = field(default=False, metadata={"help": (
        "The outer loss is the mean of the query loss of the task's voice as it starts and after every inner step "
        "(MAML++'s multi-step loss, with the start included), not the loss after the last step alone: the initial "
        "voice and every step count. Costs one query pass more per inner step. For `maml`, `fomaml` and "
        "`proto_maml`.")})
    log_adaptation_gain: bool = field(default=True, metadata={"help": (
        "Log each outer step's `query_loss_before_adaptation` and `adaptation_gain` (its query loss at the task's "
        "start minus after the inner steps): a gain that shrinks while the loss falls is memorization (the model "
        "fits the query without the support). Costs one query forward without gradient a task (nothing with "
        "`multi_step_loss`, which computes it anyway); MAML and first-order MAML.")})
    first_order: bool = field(default=False, metadata={"help": (
        "Drop the second-order terms of MAML (`fomaml` implies it).")})
    adapt_modules: list[str] = field(default_factory=list, metadata={"help": (
        "Name patterns of the parameters the inner loop adapts (`emb_g` matches every parameter under `emb_g`; "
        "shell wildcards work). Empty: the model's default (VITS: `emb_g`, `duration_predictor`, `flow`, "
        "`waveform_decoder`; Tacotron2: `speaker_embedding`, `decoder.linear_projection`, `decoder.stopnet`, "
        "`postnet`; other defaults for languages, styles and d-vector models).")})
    n_way: int = field(default=4, metadata={"help": "Tasks (speakers) per episode, all different."})
    k_shot: int = field(default=5, metadata={"help": "Support clips per task."})
    q_query: int = field(default=5, metadata={"help": "Query clips per task."})
    meta_batch_size: int = field(default=4, metadata={"help": "Tasks per outer step."})
    task_key: str = field(default="speaker_name", metadata={"help": (
        "The sample field that defines a task: `speaker_name`, `emotion_name` (a speaking style), `language`, ... "
        "With `language`, a task is a language: it starts from the mean row of the language embedding (`emb_l`, "
        "which then must be on: `use_language_embedding`), and the inner loop adapts that row with the adapted "
        "modules (default: the language embedding, the text encoder and the duration predictor).")})
    d_vector_start: str = field(default="task", metadata={"help": (
        "A d-vector model (`use_d_vector_file`, no prototype algorithm): where a task's voice (its d-vector, adapted "
        "by the inner loop) starts. `task`: the mean of the task's own support d-vectors in the file (YourTTS's "
        "zero-shot voice, then MAML's steps on top); `mean`: the mean of every d-vector in the file (a voice with "
        "nothing known).")})
    backend: str = field(default="torch", metadata={"help": (
        "`torch` (`torch.func.functional_call`) or `learn2learn` (its MAML wrapper; needs the `learn2learn` "
        "extra).")})
    episodes_per_epoch: int = field(default=100, metadata={"help": "Outer steps in one Trainer epoch."})
    eval_episodes: int = field(default=4, metadata={"help": (
        "Meta-validation episodes per Trainer evaluation (fixed across evaluations).")})
    eval_inner_steps: int | None = field(default=None, metadata={"help": (
        "Inner steps at meta-validation; `null` means `inner_steps`.")})
    adversarial_outer: bool = field(default=False, metadata={"help": (
        "VITS only: add the GAN terms (adversarial and feature matching) to the outer loss. The inner loss is always "
        "the reconstruction terms (mel L1, KL, duration).")})
    eval_tasks: list[str] = field(default_factory=list, metadata={"help": (
        "Task values (speakers by default) held out for meta-validation by `coqui-meta train`; empty: it holds out "
        "`n_way` values chosen with `seed`.")})
    seed: int = field(default=0, metadata={"help": (
        "Seed of the episode sampler, of each task's random draws and of the initial weights.")})
    max_skipped_share: float = field(default=0.25, metadata={"help": (
        "Training stops with an error once more than this share of tasks (after the first 20) had a non-finite or "
        "diverging support or query loss; such tasks are skipped and counted (`skipped_tasks`).")})
    gradient_checkpointing: bool = field(default=False, metadata={"help": (
        "Torch backend, second order (`maml`, `proto_maml`): keep only the adapted tensors between inner steps; the "
        "outer backward recomputes each step, so memory no longer grows with `inner_steps` (more time). First-order "
        "inner steps keep no graph: nothing to checkpoint.")})
    prototype_distance: str = field(default="euclidean", metadata={"help": (
        "`euclidean` (squared) or `cosine`: the metric of the prototypical classification loss.")})
    prototype_loss_weight: float = field(default=1.0, metadata={"help": (
        "Weight of the prototypical classification loss beside the query reconstruction loss (0 turns it off).")})
    prototype_channels: int = field(default=128, metadata={"help": (
        "Width of the prototype encoder's convolutions (its output size is `d_vector_dim`).")})
    prototype_reconstruction_grad: bool = field(default=False, metadata={"help": (
        "Let the reconstruction loss train the prototype encoder too, through the prototypes. Off: the encoder learns "
        "to tell speakers apart (classification loss) and the TTS model learns to speak with its prototypes; on, "
        "VITS's reconstruction loss (tens of times the classification loss) can teach the encoder what the decoder "
        "wants from a clip rather than who speaks (at weight 1 it wiped out the encoder's speaker information).")})

    def __setattr__(self, name: str, value) -> None:
        # a field set after the config is built is checked at once on its own (how it fits the other fields is
        # checked with them all, by `check_values`: two related fields may be set one after the other)
        if name in RULES and self._is_initialized():
            check_field(name, value, RULES[name])
        super().__setattr__(name, value)

    def check_values(self) -> None:
        """Every field, and how the fields fit together. Coqpit runs it when the config is built (also from JSON, as
        Coqui's ``load_config`` does) and after ``--coqpit.*`` overrides; `dataclasses.replace` runs it too."""
        for name, rule in RULES.items():
            check_field(name, getattr(self, name), rule)

        def fail(name: str, why: str) -> None:
            raise ValueError(f"meta.{name}: {why} (got {getattr(self, name)!r})")

        if self.backend not in self.traits.backends:
            fail("backend", f"{self.algorithm} runs on the {' or '.join(self.traits.backends)} backend only")
        if self.inner_optimizer == "adam" and self.second_order:
            fail("inner_optimizer", f"Adam's inner steps are not differentiated through, so second-order "
                 f"{self.algorithm} would be first-order: use inner_optimizer 'sgd' (or first_order / fomaml)")
        with_rates = ", ".join(name for name, row in ALGORITHMS.items() if row.learned_rates)
        if self.inner_lr_mode != "fixed" and not self.traits.learned_rates:
            fail("inner_lr_mode", f"learned rates are for {with_rates}, not {self.algorithm}")
        if self.multi_step_loss and not self.traits.learned_rates:
            fail("multi_step_loss", f"is for {with_rates}, not {self.algorithm}")

    @property
    def inner_update(self) -> str:
        """The inner optimizer in use: ``inner_optimizer``, or its default (``sgd`` for second-order MAML, else
        ``adam``)."""
        return self.inner_optimizer or ("sgd" if self.second_order else "adam")

    @property
    def traits(self) -> Algorithm:
        """The algorithm's row of `ALGORITHMS`."""
        return ALGORITHMS[self.algorithm]

    @property
    def second_order(self) -> bool:
        return self.traits.second_order and not self.first_order

    @property
    def uses_prototypes(self) -> bool:
        return self.traits.prototypes


def speaker_holders(config: Coqpit) -> list:
    """Where the config keeps its speaker switches: VITS has them in ``model_args`` (which Coqui reads first) too."""
    return [holder for holder in (config, config.get("model_args")) if holder is not None]


def use_prototypes(config: Coqpit, dim: int | None = None) -> None:
    """Switch ``config`` to Coqui's d-vector input of ``dim`` (default: its ``d_vector_dim`` or 64) and off the
    speaker embedding table: what the prototype algorithms condition the model with."""
    holders = speaker_holders(config)
    current = next(
        (h.get("d_vector_dim") for h in holders if h.get("use_d_vector_file") and h.get("d_vector_dim")), None
    )
    dim = dim or current or DEFAULT_PROTOTYPE_DIM
    for holder in holders:
        for key, value in (
            ("use_speaker_embedding", False),
            ("use_d_vector_file", True),
            ("d_vector_dim", dim),
            ("d_vector_file", None),
        ):
            if key in holder:
                setattr(holder, key, value)


def prototype_problem(config: Coqpit) -> str | None:
    """Why ``config`` cannot run a prototype algorithm, or None."""
    from TTS.config import get_from_config_or_model_args

    if not get_from_config_or_model_args(config, "use_d_vector_file"):
        return "use_d_vector_file must be true (the prototype is the model's d-vector)"
    if get_from_config_or_model_args(config, "use_speaker_embedding"):
        return "use_speaker_embedding must be false (the voice is the d-vector, not a row of a speaker table)"
    if not get_from_config_or_model_args(config, "d_vector_dim"):
        return "d_vector_dim must be set (the prototype encoder's output size)"
    return None


def _from_config(cls, config: Coqpit, meta: MetaLearningConfig | None = None):
    """The meta config with every field of ``config`` copied over."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init and f.name != "model"}
    values["meta"] = meta if meta is not None else MetaLearningConfig()
    made = cls(**values)
    if made.meta.uses_prototypes and prototype_problem(made):
        use_prototypes(made)
    return made


def _check_meta(config: Coqpit) -> None:
    # Coqpit runs a config's check_values after --coqpit.* overrides, not its fields': the meta block is checked here
    if isinstance(config.get("meta"), MetaLearningConfig):
        config.meta.check_values()


def _to_stock(config: Coqpit, stock_cls):
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(stock_cls) if f.init and f.name != "model"}
    return stock_cls(**values)


@dataclass
class MetaVitsConfig(VitsConfig):
    """`VitsConfig` plus a `meta` block; ``model = "meta_vits"``. Builds a `coqui_meta.MetaVits`."""

    model: str = "meta_vits"
    meta: MetaLearningConfig = field(default_factory=MetaLearningConfig)

    @classmethod
    def from_config(cls, config: VitsConfig, meta: MetaLearningConfig | None = None) -> "MetaVitsConfig":
        return _from_config(cls, config, meta)

    def check_values(self) -> None:
        super().check_values()
        _check_meta(self)

    def to_stock(self) -> VitsConfig:
        """The same config as a stock `VitsConfig` (``model = "vits"``), e.g. to load a meta checkpoint in Coqui."""
        return _to_stock(self, VitsConfig)


@dataclass
class MetaTacotron2Config(Tacotron2Config):
    """`Tacotron2Config` plus a `meta` block; ``model = "meta_tacotron2"``. Builds a `coqui_meta.MetaTacotron2`."""

    model: str = "meta_tacotron2"
    meta: MetaLearningConfig = field(default_factory=MetaLearningConfig)

    @classmethod
    def from_config(cls, config: Tacotron2Config, meta: MetaLearningConfig | None = None) -> "MetaTacotron2Config":
        return _from_config(cls, config, meta)

    def check_values(self) -> None:
        super().check_values()
        _check_meta(self)

    def to_stock(self) -> Tacotron2Config:
        """The same config as a stock `Tacotron2Config` (``model = "tacotron2"``)."""
        return _to_stock(self, Tacotron2Config)
