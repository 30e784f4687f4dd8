"""Base-first, compute-matched training of a plain Coqui model and a meta model, for the demo and the benchmark.

1. A **base**: a stock multi-speaker model trained by Coqui's Trainer (its own ``train_step`` on its own loader) for a
   number of minutes, with a Trainer checkpoint at every check, so that a base of hours is built over several runs.
   It lives in ``out/base/<settings key>/`` and is reused by any later run with the same settings (model config,
   training clips, seed); asked for more minutes than it has, it goes on from its last checkpoint.
2. Two **branches** from the base, with the base's weights and optimizer state: the meta branch meta-trains a meta
   model for a number of meta-steps; the plain branch goes on with plain Coqui steps until it has used as many
   clip-gradient evaluations (a gradient on c clips counts c; a meta-step of T tasks costs
   ``T * (inner_steps * k_shot + q_query)``).

Example::

    base = train_base(stock_config, train_samples, "runs/study", minutes=60, check=my_check)
    branches = train_branches(base, train_samples, meta, "runs/study", meta_steps=100)
    branches.plain_files, branches.meta_files   # (model.pth, config.json) of each
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from coqui_meta.files import write_atomic, write_json


def clip_gradients_per_meta_step(meta) -> int:
    return meta.meta_batch_size * (meta.inner_steps * meta.k_shot + meta.q_query)


def settings_key(*parts: Any) -> str:
    """A short hash of JSON-able settings: the name of the folder that holds what they produce."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def make_trainer(config, model, samples, out: Path, continue_path: str | None = None):
    from trainer import Trainer, TrainerArgs

    args = TrainerArgs()
    args.use_accelerate = False
    if continue_path:
        args.continue_path = continue_path
    return Trainer(args, config, str(out), model=model, train_samples=samples, parse_command_line_args=False,
                   gpu=0 if torch.cuda.is_available() else None)


def _batches(trainer, samples):
    loader = trainer.get_train_dataloader(samples, verbose=False)  # one loader: each pass draws new episodes/shuffles
    while True:
        yield from loader


def train_steps(trainer, samples, desc: str, steps: int | None = None, seconds: float | None = None,
                progress: bool = True) -> tuple[int, float]:
    """Coqui's ``Trainer.train_step`` for ``steps`` steps or ``seconds``; returns (steps done, seconds)."""
    trainer.model.train()
    start, done = time.perf_counter(), 0
    bar = tqdm(total=steps, desc=desc, unit="step", disable=not progress)
    for batch in _batches(trainer, samples):
        if (steps is not None and done >= steps) or (seconds is not None and time.perf_counter() - start >= seconds):
            break
        _, loss_dict = trainer.train_step(batch, 1, done, time.time())
        done += 1
        bar.update(1)
        loss = (loss_dict or {}).get("loss", (loss_dict or {}).get("loss_1"))
        if loss is not None:
            bar.set_postfix(loss=f"{float(loss):.3f}")
    bar.close()
    return done, time.perf_counter() - start


def save_checkpoint(model, config, folder: Path, step: int) -> tuple[str, str]:
    """``folder/model.pth`` (written atomically) and ``folder/config.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "step": step, "epoch": 0}
    write_atomic(folder / "model.pth", lambda p: torch.save(state, p))
    config.save_json(str(folder / "config.json"))
    return str(folder / "model.pth"), str(folder / "config.json")


@dataclass
class Base:
    """A trained base: its files, how long it trained, and what was measured at each check."""

    folder: Path
    files: tuple[str, str]
    steps: int
    minutes: float
    history: list[dict[str, Any]] = field(default_factory=list)
    trainer_checkpoint: str | None = None  # the Trainer's run folder; None for a base given as weights only

    def start_state(self) -> dict:
        """What the branches start from: the weights and, when the base has a Trainer checkpoint, the optimizer
        states (else the branches start with fresh optimizers, both alike)."""
        if self.trainer_checkpoint is None:
            return {"model": torch.load(self.files[0], map_location="cpu", weights_only=True)["model"], "optimizer": None}
        from trainer.io import get_last_checkpoint

        path, _ = get_last_checkpoint(self.trainer_checkpoint)
        state = torch.load(path, map_location="cpu", weights_only=True)
        return {"model": state["model"], "optimizer": state["optimizer"]}


def _progress(folder: Path) -> dict[str, Any]:
    path = folder / "progress.json"
    return json.loads(path.read_text()) if path.is_file() else {"steps": 0, "minutes": 0.0, "history": []}


def _last_run(folder: Path) -> str | None:
    """The Trainer's run folder under ``folder/trainer`` that holds the newest checkpoint."""
    checkpoints = sorted((folder / "trainer").glob("*/checkpoint_*.pth"), key=lambda p: p.stat().st_mtime)
    return str(checkpoints[-1].parent) if checkpoints else None


def train_base(stock_config, samples: list[dict], out: str | Path, minutes: float, seed: int = 0,
               check: Callable[[tuple[str, str]], dict] | None = None, check_minutes: float = 15.0,
               progress: bool = True) -> Base:
    """The base of these settings under ``out/base/``: trained (or trained on) until it has ``minutes`` of training.

    Every ``check_minutes`` and at the end, the Trainer writes a checkpoint (model, optimizers, scaler), the base's
    ``model.pth``/``config.json`` are written, and ``check(files)`` (e.g. the seen-speaker EER) is recorded in
    ``progress.json`` with the steps and minutes so far.
    """
    from TTS.tts.models import setup_model

    config = stock_config.to_dict()
    config.pop("output_path", None)
    key = settings_key(config, sorted(s["audio_file"] for s in samples), seed)
    folder = Path(out) / "base" / key
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "settings.json", {"key": key, "model": stock_config.model, "seed": seed, "clips": len(samples),
                                          "speakers": sorted({s["speaker_name"] for s in samples})})
    state = _progress(folder)
    files = (str(folder / "model.pth"), str(folder / "config.json"))
    if state["minutes"] >= minutes and Path(files[0]).is_file():
        print(f"Base: reusing {folder} ({state['steps']} steps, {state['minutes']:.1f} min; asked for {minutes:g})")
        return Base(folder, files, state["steps"], state["minutes"], state["history"], _last_run(folder))

    torch.manual_seed(seed)
    stock_config.output_path = str(folder / "trainer")
    model = setup_model(stock_config)
    run = _last_run(folder)
    trainer = make_trainer(stock_config, model, samples, folder / "trainer", continue_path=run)
    if run:
        print(f"Base: going on from {run} ({state['steps']} steps, {state['minutes']:.1f} of {minutes:g} min)")
    while state["minutes"] < minutes:
        seconds = 60 * min(check_minutes, minutes - state["minutes"])
        done, took = train_steps(trainer, samples, f"base ({state['minutes']:.0f}/{minutes:g} min)", seconds=seconds,
                                 progress=progress)
        state["steps"] += done
        state["minutes"] += took / 60
        trainer.save_checkpoint()
        save_checkpoint(model, stock_config, folder, state["steps"])
        record = {"steps": state["steps"], "minutes": round(state["minutes"], 2)}
        if check is not None:
            model.eval()
            record.update(check(files))
            model.train()
        state["history"].append(record)
        write_json(folder / "progress.json", state)
        print("Base:", ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()
                                 if not isinstance(v, (list, dict))))
    return Base(folder, files, state["steps"], state["minutes"], state["history"], _last_run(folder))


def seen_speaker_check(samples: list[dict], speakers: int = 12, seed: int = 0, clips: int = 3):
    """A ``check`` for `train_base`: the base's seen-speaker EER (`coqui_meta.identity.seen_speaker_eer`) on
    ``speakers`` of its training speakers, and the mean same- and other-speaker cosines."""

    def check(files: tuple[str, str]) -> dict[str, float]:
        from coqui_meta.checkpoints import load_model
        from coqui_meta.identity import seen_speaker_eer

        result = seen_speaker_eer(load_model(*files).model, samples, speakers=speakers, clips=clips, seed=seed)
        return {"seen_speaker_eer": result["eer"], "same_speaker_cosine": result["same_speaker_cosine"],
                "other_speaker_cosine": result["other_speaker_cosine"]}

    return check


@dataclass
class Branches:
    folder: Path
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


def train_branches(base: Base, samples: list[dict], meta, out: str | Path, meta_steps: int | None = None,
                   meta_seconds: float | None = None, progress: bool = True) -> Branches:
    """The meta branch (``meta_steps`` meta-steps, or as many as ``meta_seconds`` allow) and the plain branch (the
    same clip-gradients) from ``base``."""
    from coqui_meta.checkpoints import load_config_file
    from coqui_meta.registry import meta_classes
    from TTS.tts.models import setup_model

    stock_config = load_config_file(base.files[1])
    start = base.start_state()
    key = settings_key(base.folder.name, base.steps, meta.to_dict(), meta_steps, meta_seconds)
    folder = Path(out) / "branches" / key
    done_file = folder / "branches.json"
    if done_file.is_file():  # trained before with these settings: reuse
        done = json.loads(done_file.read_text())
        print(f"Branches: reusing {folder} ({done['meta_steps']} meta-steps, {done['plain_steps']} plain steps)")
        return Branches(folder, tuple(done["plain_files"]), tuple(done["meta_files"]), done["meta_steps"],
                        done["plain_steps"], done["clip_gradients"], done["seconds"])
    config_cls, model_cls = meta_classes(stock_config.model)
    meta_config = config_cls.from_config(stock_config, meta=meta)
    meta_config.output_path = stock_config.output_path = str(folder / "trainer")
    seconds = {}

    meta_model = model_cls(meta_config)
    meta_model.load_state_dict(start["model"], strict=False)  # the learned rates (if any) start at meta.inner_lr
    meta_trainer = make_trainer(meta_config, meta_model, samples, folder / "trainer")
    for optimizer, state in zip(meta_trainer.optimizer, start["optimizer"] or []):
        _copy_optimizer_state(state, optimizer)
    done, seconds["meta"] = train_steps(meta_trainer, samples, f"meta branch ({meta.algorithm})", steps=meta_steps,
                                        seconds=meta_seconds, progress=progress)
    meta_files = save_checkpoint(meta_model, meta_config, folder / "meta_model", base.steps + done)
    del meta_trainer

    clip_gradients = done * clip_gradients_per_meta_step(meta)
    plain_steps = round(clip_gradients / stock_config.batch_size)
    torch.manual_seed(meta.seed)  # the plain branch's shuffles
    plain = setup_model(stock_config)
    plain.load_state_dict(start["model"])
    plain_trainer = make_trainer(stock_config, plain, samples, folder / "trainer")
    for optimizer, state in zip(plain_trainer.optimizer, start["optimizer"] or []):
        optimizer.load_state_dict(state)
    _, seconds["plain"] = train_steps(plain_trainer, samples, "plain branch (same clip-gradients)", steps=plain_steps,
                                      progress=progress)
    plain_files = save_checkpoint(plain, stock_config, folder / "plain_model", base.steps + plain_steps)
    branches = Branches(folder, plain_files, meta_files, done, plain_steps, clip_gradients, seconds)
    write_json(done_file, {"meta_steps": done, "plain_steps": plain_steps, "clip_gradients": clip_gradients,
                           "seconds": seconds, "plain_files": plain_files, "meta_files": meta_files})
    return branches


@dataclass
class Side:
    """One side of the comparison, evaluated on held-out speakers: the best of the learning-rate grid and its report."""

    label: str
    lr: float  # the grid value chosen (for a meta model: its own rates times value / meta.inner_lr)
    grid: dict[float, dict | None]  # grid value -> query loss by step, or None where the adaptation diverged
    report: dict  # `evaluate`'s report at the chosen value, with the speaker judge


def grid_settings(value: float, seed: int, inner_lr: float | None = None):
    """The adaptation at grid value ``value``: a plain model at that rate; a meta model (``inner_lr`` given) at its
    own inner rates (learned, or its ``meta.inner_lr``) times ``value / inner_lr``. Both sides see the same grid, and
    a meta model whose rates never moved adapts exactly as a plain one at the same value."""
    from coqui_meta.adaptation import AdaptationSettings

    if inner_lr is None:
        return AdaptationSettings(lr=value, seed=seed)
    return AdaptationSettings(lr_scale=value / inner_lr, seed=seed)


def _quiet() -> None:
    import logging
    import warnings

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore", message="In 2.9, this function's implementation")  # torchaudio.load


def _evaluate_point(files, settings, out_path, similarity, kwargs):
    """One ``evaluate`` run (in a worker process when evaluations run in parallel): its report, or the divergence."""
    from coqui_meta.adaptation import AdaptationDiverged
    from coqui_meta.evaluation import evaluate

    try:
        return evaluate(*files, out_path=out_path, settings=settings, similarity=similarity, progress=False, **kwargs)
    except AdaptationDiverged as error:
        return str(error)


def _run_all(calls: list[tuple], jobs: int) -> list:
    if jobs <= 1:
        return [_evaluate_point(*call) for call in calls]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet) as pool:
        return list(pool.map(_evaluate_point, *zip(*calls)))


def evaluate_sides(sides: list[tuple[str, tuple[str, str], float | None]], grid: list[float], data: str,
                   speakers: list[str], shots: int, queries: int, steps: list[int], seed: int, out: Path,
                   jobs: int = 1) -> list[Side]:
    """Each side (label, files, ``inner_lr`` for a meta model) adapted at every grid value (query loss only), then
    again at its value with the lowest final query loss, with the speaker judge; ``jobs`` processes at a time."""
    kwargs = dict(data=data, speakers=speakers, shots=shots, queries=queries, steps=steps)
    calls = [(files, grid_settings(value, seed, inner_lr), None, False, kwargs)
             for _, files, inner_lr in sides for value in grid]
    results = iter(_run_all(calls, jobs))
    grids, best = {}, {}
    for label, _, _ in sides:
        grids[label] = {}
        for value in grid:
            result = next(results)
            grids[label][value] = None if isinstance(result, str) else result["query_loss"]
            shown = result if isinstance(result, str) else ", ".join(f"{k} {v:.2f}" for k, v in result["query_loss"].items())
            print(f"  {label} at {value:g}: {shown}")
        usable = {value: curve for value, curve in grids[label].items() if curve is not None}
        if not usable:
            raise RuntimeError(f"{label}: the adaptation diverged at every learning rate of the grid {grid}")
        best[label] = min(usable, key=lambda value: usable[value][steps[-1]])
    finals = _run_all([(files, grid_settings(best[label], seed, inner_lr), str(out / f"eval_{label}"), True, kwargs)
                       for label, files, inner_lr in sides], jobs)
    return [Side(label, best[label], grids[label], report) for (label, _, _), report in zip(sides, finals)]


def probe_inner_lr(start_files, data: str, speakers: list[str], shots: int, queries: int, inner_steps: int,
                   grid: list[float], seed: int) -> tuple[float, dict[float, float]]:
    """The grid learning rate that adapts the start best on training speakers: lowest query loss after
    ``inner_steps`` SGD steps. Chosen before meta-training, never on held-out speakers."""
    from coqui_meta.adaptation import AdaptationSettings
    from coqui_meta.evaluation import evaluate

    losses = {
        lr: evaluate(*start_files, data, speakers, shots, queries, [inner_steps], None,
                     AdaptationSettings(lr=lr, seed=seed), progress=False, similarity=False)["query_loss"][inner_steps]
        for lr in grid
    }
    return min(losses, key=losses.get), losses
