"""The losses a meta model logs under the names Coqui's Trainer picks the best model by (``config.target_loss``).

A stock VITS logs ``loss_0`` (discriminator) and ``loss_1`` (generator) in training and meta-validation; a
single-optimizer model logs ``loss``. A meta model logs the same names: in training ``loss_{i}`` for the outer step of
optimizer ``i`` (MetaVits: ``loss_1`` the query loss, ``loss_0`` the discriminator's), in meta-validation the query
loss after adaptation under the outer optimizer's name. A ``target_loss`` that meta-validation never logs is refused
before the first step, not when ``save_best_model`` first looks for it at the end of an epoch.
"""

from __future__ import annotations

from typing import Any


def logged_names(model, optimizers: int, run_eval: bool) -> set[str]:
    """The loss names both the training and (with ``run_eval``) the meta-validation averages will hold."""
    if optimizers == 1:
        return {"loss"}
    outer = f"loss_{model.meta_optimizer_index}"
    return {outer} if run_eval else {outer, *(f"loss_{i}" for i in range(optimizers))}


def with_optimizer_losses(model, loss_dict: dict[str, Any], optimizers: int) -> dict[str, Any]:
    """``loss_dict`` of an outer step with ``loss_{i}`` added for a multi-optimizer model."""
    if optimizers == 1:
        return loss_dict
    named = {f"loss_{model.meta_optimizer_index}": loss_dict["loss"]}
    for index, key in getattr(model, "meta_optimizer_losses", {}).items():
        if key in loss_dict:
            named[f"loss_{index}"] = loss_dict[key]
    return {**loss_dict, **named}


def check_target_loss(model, config, optimizers: int) -> None:
    """A `ValueError` before training for a ``target_loss`` the Trainer would not find after the first epoch."""
    target = config.get("target_loss") if hasattr(config, "get") else getattr(config, "target_loss", None)
    if not target:
        return
    names = logged_names(model, optimizers, bool(config.run_eval))
    if target not in names:
        raise ValueError(
            f"target_loss {target!r}: a {type(model).__name__} logs {', '.join(sorted(names))} in "
            f"{'training and meta-validation' if config.run_eval else 'training'}; set target_loss to one of them, "
            "or to null (the mean of the optimizers' losses)")
