"""Meta-validation needs whole tasks that training never sees. Coqui's recipes split clips, not speakers
(``load_tts_samples(..., eval_split=True)``), so their eval clips belong to training speakers and cannot form held-out
tasks. `meta_validation_split` turns such a split into one by tasks before the first step, and says what it did.

Example::

    train, held, note = meta_validation_split(train_samples, eval_samples, meta, usable=model_usable)
    logger.info(note)
"""

from __future__ import annotations

from typing import Callable

from coqui_meta.episodes import held_out_tasks, tasks_with


class SplitError(ValueError):
    """Meta-validation cannot be formed from the samples given; the message names the fix."""


def meta_validation_split(train: list[dict], held: list[dict] | None, meta,
                          usable: Callable[[list[dict]], list[dict]] = lambda s: s) -> tuple[list, list, str | None]:
    """(train, meta-validation, what was changed or None). ``usable`` keeps the clips the model can use (its length
    filters). A split that shares task values between the two sets is made a split by tasks: the eval clips' task
    values are held out whole, or, when those cannot form ``meta.n_way`` tasks (or leave too few to train on),
    ``meta.n_way`` values chosen by ``meta.seed``. A split by tasks that cannot form tasks is a `SplitError`."""
    if not held:
        return train, held or [], None
    key, needed = meta.task_key, meta.k_shot + meta.q_query
    train_values = {str(s[key]) for s in train}
    shared = sorted({str(s[key]) for s in held} & train_values)
    if not shared:
        enough = tasks_with(usable(held), key, needed)
        if len(enough) < meta.n_way:
            raise SplitError(
                f"meta-validation: {len(enough)} held-out {key} value(s) have {needed} usable clips "
                f"(k_shot + q_query) and meta.n_way is {meta.n_way}; hold out more with meta.eval_tasks or "
                f"coqui_meta.episodes.split_by_task, or lower meta.n_way, meta.k_shot or meta.q_query")
        return train, held, None
    every = train + held
    enough = tasks_with(usable(every), key, needed)
    values = {str(s[key]) for s in held}
    chosen = sorted(v for v in values if v in enough)
    how = f"the {key} values of the eval clips"
    if len(chosen) < meta.n_way or len(enough) - len(chosen) < meta.n_way:
        if len(enough) < 2 * meta.n_way:
            raise SplitError(
                f"meta-validation needs {meta.n_way} whole {key} values (meta.n_way) held out and as many to train "
                f"on, each with {needed} usable clips; the data has {len(enough)}. Lower meta.n_way, meta.k_shot or "
                f"meta.q_query, or add data")
        chosen = held_out_tasks(usable(every), key, meta.n_way, meta.seed, needed)
        how = f"{meta.n_way} {key} values chosen by meta.seed (the eval clips' values cannot form its tasks)"
    kept = set(chosen)
    new_train = [s for s in every if str(s[key]) not in kept]
    new_held = [s for s in every if str(s[key]) in kept]
    note = (f"The eval samples share {len(shared)} {key} value(s) with training (Coqui's eval split holds out clips, "
            f"not {key} values); meta-validation holds out {how} instead, whole: {', '.join(chosen)} "
            f"({len(new_held)} clips). Set meta.eval_tasks or use coqui_meta.episodes.split_by_task to choose them.")
    return new_train, new_held, note
