"""Base-first, compute-matched training of a plain Coqui model and a meta model, and their evaluation side by side;
shared by the demo and the benchmark.

From a base (`coqui_meta_lab.base_training`), with its weights and optimizer state, the meta branch
meta-trains a meta model for a number of meta-steps and the plain branch goes on with plain Coqui steps until it has
used as many clip-gradient evaluations (a gradient on c clips counts c; a meta-step of T tasks costs
``T * (inner_steps * k_shot + q_query)``, with ``q_query`` once more per inner step for the multi-step loss). Both
are then adapted to held-out speakers by ``coqui-meta evaluate``'s code with identical settings, each at the best
value of the same learning-rate grid (`coqui_meta_lab.evaluation_grid.evaluate_sides`).

Example::

    branches = train_branches(base, train_samples, meta, "runs/study", meta_steps=100)
    plain, meta_side = evaluate_sides([("plain", branches.plain_files, None),  # experiments.evaluation_grid
                                       ("meta", branches.meta_files, meta.inner_lr)], grid, data, speakers, ...)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from coqui_meta.files import write_json
from coqui_meta_lab.base_training import Base, make_trainer, save_checkpoint, settings_key, train_steps
from coqui_meta_lab.evaluation_grid import quiet_worker


def clip_gradients_per_meta_step(meta) -> int:
    """Clips that get a gradient in one meta-step: every task's inner steps on its support clips (protonet, which
    takes none: their one pass through the prototype encoder) and its query passes (one, or one per inner step and
    one more with the multi-step loss)."""
    support_passes = 1 if meta.algorithm == "protonet" else meta.inner_steps
    query_passes = meta.inner_steps + 1 if meta.multi_step_loss else 1
    return meta.meta_batch_size * (support_passes * meta.k_shot + query_passes * meta.q_query)


@dataclass
class Branches:
    folder: Path  # the meta branch's folder, where the comparison's reports go
    plain_files: tuple[str, str]
    meta_files: tuple[str, str]
    meta_steps: int
    plain_steps: int
    clip_gradients: int
    seconds: dict[str, float]


def _copy_optimizer_state(source: dict, optimizer) -> None:
    """Load ``source`` (an optimizer state of the base) into ``optimizer``, whose param groups are the base's plus,
    perhaps, groups of its own at the end (the meta model's learned inner rates): those start fresh."""
    own = optimizer.state_dict()
    groups = source["param_groups"]
    if len(own["param_groups"]) > len(groups):
        next_id = 1 + max((i for g in groups for i in g["params"]), default=-1)
        extra = []
        for group in own["param_groups"][len(groups):]:
            extra.append({**group, "params": list(range(next_id, next_id + len(group["params"])))})
            next_id += len(group["params"])
        source = {"state": source["state"], "param_groups": groups + extra}
    optimizer.load_state_dict(source)


def _read_branch(folder: Path) -> dict:
    """A branch's record, its checkpoint in its own folder (a study folder copied or moved reads and reports there)."""
    record = json.loads((folder / "branch.json").read_text())
    return {**record, "files": [str(folder / "model" / Path(path).name) for path in record["files"]]}


def meta_branch(base: Base, samples: list[dict], meta, out: str | Path, steps: int | None = None,
                seconds: float | None = None, progress: bool = True) -> dict:
    """The meta model meta-trained from ``base`` for ``steps`` meta-steps (or as many as ``seconds`` allow), in
    ``out/branches/meta-<key>/``; reused when trained before with these settings."""
    from coqui_meta.formats.checkpoints import load_config_file
    from coqui_meta.registry import model_kind

    key = settings_key(base.folder.name, base.steps, meta.to_dict(), steps, seconds)
    folder = Path(out) / "branches" / f"meta-{key}"
    if (folder / "branch.json").is_file():
        return _read_branch(folder)
    stock_config = load_config_file(base.files[1])
    start = base.start_state()
    kind = model_kind(stock_config.model)
    config_cls, model_cls = kind.config_class, kind.model_class
    config = config_cls.from_config(stock_config, meta=meta)
    config.output_path = str(folder / "trainer")
    model = model_cls(config)
    model.load_state_dict(start["model"], strict=False)  # the learned rates (if any) start at meta.inner_lr
    trainer = make_trainer(config, model, samples, folder / "trainer")
    for optimizer, state in zip(trainer.optimizer, start["optimizer"] or []):
        _copy_optimizer_state(state, optimizer)
    gains: dict[str, list] = {"adaptation_gain": []}  # the training side's measure of memorization, step by step
    done, took = train_steps(trainer, samples, f"meta branch ({meta.algorithm})", steps=steps, seconds=seconds,
                             progress=progress, logged=gains)
    files = save_checkpoint(model, config, folder / "model", base.steps + done)
    record = {"steps": done, "seconds": took, "files": files, "rates": model.meta_inner_lrs.table(),
              "clip_gradients": done * clip_gradients_per_meta_step(meta),
              "adaptation_gain": gains["adaptation_gain"]}
    write_json(folder / "branch.json", record)
    return record


PLAIN_OBJECTIVES = ("stock", "reconstruction")


def plain_branch(base: Base, samples: list[dict], steps: int, out: str | Path, seed: int = 0,
                 progress: bool = True, objective: str = "stock") -> dict:
    """The stock model trained on from ``base`` for ``steps`` plain Coqui steps, in ``out/branches/plain-<key>/``;
    reused when trained before (any meta branch of the same budget compares against the same plain branch).
    ``objective="reconstruction"``: a VITS generator without its GAN terms (``gen_loss_alpha`` and
    ``feat_loss_alpha`` 0), the objective a meta branch without ``adversarial_outer`` trains on, so that the two
    differ in meta-learning alone."""
    from TTS.tts.models import setup_model

    from coqui_meta.formats.checkpoints import load_config_file

    if objective not in PLAIN_OBJECTIVES:
        raise ValueError(f"plain objective must be one of {PLAIN_OBJECTIVES}, got {objective!r}")
    key = settings_key(base.folder.name, base.steps, steps, seed, *([objective] if objective != "stock" else []))
    folder = Path(out) / "branches" / f"plain-{key}"
    if (folder / "branch.json").is_file():
        return _read_branch(folder)
    stock_config = load_config_file(base.files[1])
    if objective == "reconstruction" and hasattr(stock_config, "gen_loss_alpha"):
        stock_config.gen_loss_alpha, stock_config.feat_loss_alpha = 0.0, 0.0
    start = base.start_state()
    stock_config.output_path = str(folder / "trainer")
    # the Trainer seeds torch, random and numpy with training_seed when it is made: the branch's shuffles and VITS's
    # random segments follow ``seed`` only through it (seed 0 keeps Coqui's own, so earlier branches stay the same)
    stock_config.training_seed += seed
    model = setup_model(stock_config)
    model.load_state_dict(start["model"])
    trainer = make_trainer(stock_config, model, samples, folder / "trainer")
    for optimizer, state in zip(trainer.optimizer, start["optimizer"] or []):
        optimizer.load_state_dict(state)
    _, took = train_steps(trainer, samples, "plain branch (same clip-gradients)", steps=steps, progress=progress)
    record = {"steps": steps, "seconds": took, "objective": objective,
              "files": save_checkpoint(model, stock_config, folder / "model", base.steps + steps)}
    write_json(folder / "branch.json", record)
    return record


def train_branches(base: Base, samples: list[dict], meta, out: str | Path, meta_steps: int | None = None,
                   meta_seconds: float | None = None, jobs: int = 1, progress: bool = True,
                   plain_objective: str = "stock") -> Branches:
    """The meta branch (``meta_steps`` meta-steps, or as many as ``meta_seconds`` allow) and the plain branch (the
    same clip-gradients, on ``plain_objective``) from ``base``. With ``meta_steps`` and ``jobs`` >= 2 the two train side
    by side, one process (one thread) each, with the plain branch's progress bar (a plain VITS step is the longer)."""
    from coqui_meta.formats.checkpoints import load_config_file

    batch = load_config_file(base.files[1]).batch_size
    if meta_steps is not None and jobs > 1:
        plain_steps = round(meta_steps * clip_gradients_per_meta_step(meta) / batch)
        meta_record, plain_record = _side_by_side(
            [(meta_branch, (base, samples, meta, out, meta_steps, None, False)),
             (plain_branch, (base, samples, plain_steps, out, meta.seed, progress, plain_objective))])
    else:
        meta_record = meta_branch(base, samples, meta, out, meta_steps, meta_seconds, progress)
        plain_steps = round(meta_record["clip_gradients"] / batch)
        plain_record = plain_branch(base, samples, plain_steps, out, meta.seed, progress, plain_objective)
    return Branches(Path(meta_record["files"][0]).parents[1], tuple(plain_record["files"]),
                    tuple(meta_record["files"]), meta_record["steps"], plain_steps, meta_record["clip_gradients"],
                    {"meta": meta_record["seconds"], "plain": plain_record["seconds"]})


def _call(function, args):
    quiet_worker()
    return function(*args)


def _side_by_side(calls: list[tuple]) -> list:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(len(calls), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_call, function, args) for function, args in calls]
        return [future.result() for future in futures]
