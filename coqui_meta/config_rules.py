"""What each field of the `meta` block must be on its own, whatever the other fields are: the rules a
`coqui_meta.config.MetaLearningConfig` checks a field by when it is set (and all of them in `check_values`)."""

BACKENDS = ("torch", "learn2learn")
DISTANCES = ("euclidean", "cosine")
INNER_LR_MODES = ("fixed", "per_tensor", "per_tensor_step")
INNER_OPTIMIZERS = ("adam", "sgd")
D_VECTOR_STARTS = ("task", "mean")
DEFAULT_PROTOTYPE_DIM = 64


def one_of(options) -> tuple:
    return (lambda value: value in options, f"must be one of {', '.join(o for o in options if o is not None)}"
            + (" or null" if None in options else ""))


_AT_LEAST_ONE = (lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                 "must be an integer >= 1")
_POSITIVE = (lambda value: value > 0, "must be > 0")
#: each field's own rule: what it must be, whatever the other fields are (``algorithm``'s is `coqui_meta.config`'s:
#: the names of `coqui_meta.algorithms.ALGORITHMS`, whose classes this module sits below)
FIELD_RULES = {
    "backend": one_of(BACKENDS),
    "prototype_distance": one_of(DISTANCES),
    "prototype_loss_weight": (lambda value: value >= 0, "must be >= 0"),
    **dict.fromkeys(("prototype_channels", "inner_steps", "k_shot", "q_query", "n_way", "meta_batch_size",
                     "episodes_per_epoch", "eval_episodes"), _AT_LEAST_ONE),
    "eval_inner_steps": (lambda value: value is None or value >= 0, "must be >= 0 or null"),
    "inner_lr": _POSITIVE,
    "inner_optimizer": one_of((*INNER_OPTIMIZERS, None)),
    "inner_lr_mode": one_of(INNER_LR_MODES),
    "inner_lr_lr": _POSITIVE,
    "adapt_modules": (lambda value: isinstance(value, list) and all(isinstance(p, str) and p for p in value),
                      "must be a list of non-empty name patterns"),
    "max_skipped_share": (lambda value: 0.0 <= value <= 1.0, "must be between 0 and 1"),
    "task_key": (lambda value: bool(value) and isinstance(value, str), "must name a sample field such as speaker_name"),
    "d_vector_start": one_of(D_VECTOR_STARTS),
}


def check_field(name: str, value, rule: tuple | None = None) -> None:
    holds, why = rule or FIELD_RULES[name]
    try:
        good = holds(value)
    except TypeError:  # a value of another type altogether ("1e-3" for a rate)
        good = False
    if not good:
        raise ValueError(f"meta.{name}: {why} (got {value!r})")
