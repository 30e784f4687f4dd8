"""Both sides of a study evaluated alike: each model adapted to the held-out tasks by ``coqui-meta evaluate``'s code at
every value of the same learning-rate grid (query loss only), then again at its best value with the judges; runs in
worker processes, their adaptation steps on one progress bar, each finished run kept (a crash loses only the runs under
way).

Example::

    plain, meta_side = evaluate_sides([("plain", branches.plain_files, None),
                                       ("meta", branches.meta_files, meta.inner_lr)], [3e-4, 1e-3, 3e-3], data,
                                      speakers, shots=10, queries=3, steps=[0, 1, 5, 10], seed=0, out=out, jobs=2)
    plain.lr, plain.report.speaker_similarity
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm.auto import tqdm

from coqui_meta.files import write_json
from coqui_meta.reports.report_json import EvaluationReport
from coqui_meta_lab.base_training import settings_key
from coqui_meta_lab.quiet import quiet


@dataclass
class Side:
    """One side of the comparison, evaluated on held-out speakers: the best of the learning-rate grid and its report."""

    label: str
    lr: float  # the grid value chosen (for a meta model: its own rates times value / meta.inner_lr)
    grid: dict[float, dict | None]  # grid value -> query loss by step, or None where the adaptation diverged
    report: EvaluationReport  # `evaluate`'s report at the chosen value, with the speaker judge


@dataclass
class GridPoint:
    """A grid run as ``evaluations.json`` keeps it: its query loss by step, all the grid needs of a report."""

    query_loss: dict[int, float]


def grid_settings(value: float, seed: int, inner_lr: float | None = None, optimizer: str | None = None,
                  adapt_modules: list[str] | None = None, encoder: str | None = None):
    """The adaptation at grid value ``value``: that rate, or for a meta model with learned rates (``inner_lr``: the
    value they started from) its rates times ``value / inner_lr`` (rates that never moved adapt as a fixed rate of the
    same value). Both sides see the same grid, ``optimizer`` (None: each model's own ``meta.inner_optimizer``) and
    ``adapt_modules`` (None: each model's own ``meta.adapt_modules`` or default); ``encoder``: where a d-vector
    model's voice starts (`coqui_meta.adapting.settings.AdaptationSettings`)."""
    from coqui_meta.adapting.settings import AdaptationSettings

    rate = {"lr": value} if inner_lr is None else {"lr_scale": value / inner_lr}
    return AdaptationSettings(**rate, seed=seed, optimizer=optimizer, adapt_modules=list(adapt_modules or []),
                              encoder=encoder)


def learned_from(meta) -> float | None:
    """Where a meta model's learned inner rates started (None for a fixed rate): the grid multiplies them."""
    return meta.inner_lr if meta.inner_lr_mode != "fixed" else None


def quiet_worker() -> None:
    """A worker process's set-up: one thread, no Trainer or torchaudio chatter."""
    quiet(1)


def _evaluate_point(files, settings, out_path, similarity, kwargs, report_steps=None):
    """One ``evaluate`` run (in a worker process when evaluations run in parallel): its report, or the divergence.
    ``report_steps(n)`` hears of its steps as they are done."""
    from coqui_meta.algorithms.task import TaskDiverged
    from coqui_meta.judging.evaluation import evaluate

    try:
        return evaluate(*files, out_path=out_path, settings=settings, similarity=similarity,
                        progress=report_steps or False, **kwargs)
    except TaskDiverged as error:
        return str(error)


def _steps_of(kwargs: dict) -> int:
    """The progress steps of one run, as `evaluate` counts them."""
    from coqui_meta.judging.evaluation import progress_steps

    speakers = kwargs["speakers"]
    return progress_steps(speakers if isinstance(speakers, int) else len(speakers), kwargs["steps"])


def _put(queue, index: int, steps: int) -> None:
    queue.put((index, steps))


def _in_workers(calls: list[tuple], todo: list[int], jobs: int, keep, advance) -> None:
    """The runs ``todo`` of ``calls``, ``jobs`` processes at a time, each reporting its steps through a queue to
    ``advance(index, steps)``."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from coqui_meta.judging.pitch import compile_pitch_tracker

    compile_pitch_tracker()  # here, once: workers compiling pYIN at once on a fresh environment can crash

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(jobs, mp_context=context, initializer=quiet_worker) as pool:
        queue = manager.Queue()
        futures = {pool.submit(_evaluate_point, *calls[index], partial(_put, queue, index)): index for index in todo}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            while not queue.empty():
                advance(*queue.get())
            for future in done:
                keep(futures[future], future.result())


def _run_all(calls: list[tuple], jobs: int) -> list:
    """The ``evaluate`` runs of ``calls``, ``jobs`` at a time; the grid's runs without a report folder are kept in an
    ``evaluations.json`` beside each model as each one ends (a crash loses only the runs under way), so that a later
    study with the same model and settings reuses them."""
    # a model file written again (a base trained on) is another model: its size and time are in the key
    keys = [settings_key(files, _written(files[0]), vars(settings), similarity, kwargs) if out_path is None else None
            for files, settings, out_path, similarity, kwargs in calls]
    caches = {files[0]: _load_cache(files) for files, *_ in calls}
    results = [_cached(caches[call[0][0]].get(key)) if key else None for call, key in zip(calls, keys)]
    todo = [index for index, result in enumerate(results) if result is None]
    bar = tqdm(total=sum(_steps_of(calls[index][4]) for index in todo), desc="evaluations", unit="step",
               disable=not todo)
    reported = dict.fromkeys(todo, 0)

    def advance(index: int, steps: int) -> None:
        reported[index] += steps
        bar.update(steps)

    def keep(index: int, result) -> None:
        results[index] = result
        advance(index, max(0, _steps_of(calls[index][4]) - reported[index]))  # a diverged run stopped early
        bar.set_postfix(runs=f"{sum(result is not None for result in results)}/{len(results)}")
        if keys[index]:  # a divergence's message, or the query loss curve (all the grid needs)
            model = calls[index][0][0]
            caches[model][keys[index]] = result if isinstance(result, str) else {"query_loss": result.query_loss}
            write_json(Path(model).parent / "evaluations.json", caches[model])

    with bar:
        if jobs <= 1 or len(todo) <= 1:
            for index in todo:
                keep(index, _evaluate_point(*calls[index], partial(advance, index)))
        else:
            _in_workers(calls, todo, jobs, keep, advance)
    return results


def _written(path: str) -> tuple[int, int]:
    stat = Path(path).stat()
    return stat.st_size, stat.st_mtime_ns


def _cached(result):
    """A cached grid result (a divergence's message, or a `GridPoint` with its steps as numbers again: JSON keys are
    strings)."""
    if isinstance(result, dict):
        return GridPoint({int(step): value for step, value in result["query_loss"].items()})
    return result


def _load_cache(files: tuple[str, str]) -> dict:
    path = Path(files[0]).parent / "evaluations.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def evaluate_sides(sides: list[tuple[str, tuple[str, str], float | None]], grid: list[float], data: str,
                   speakers: list[str], shots: int, queries: int, steps: list[int], seed: int, out: Path,
                   jobs: int = 1, task_key: str | None = None, optimizer: str | None = None,
                   choose_at: int | None = None, adapt_modules: list[str] | None = None,
                   encoders: dict[str, str] | None = None) -> list[Side]:
    """Each side (label, files, and for a meta model with learned rates the ``inner_lr`` they started from) adapted at
    every grid value with ``optimizer`` (query loss only; give the meta branch's ``meta.inner_update``) and
    ``adapt_modules`` (give the meta branch's ``meta.adapt_modules`` when it has its own), then again at
    its value with the lowest query loss at step ``choose_at`` (default the last of ``steps``; the same rule for every
    side), with the speaker judge; ``jobs`` at a time. ``task_key="language"``: ``speakers`` are languages.
    ``encoders``: by label, where a d-vector model's voice starts (its zero-step voice: e.g. ``{"meta":
    "resemblyzer"}``)."""
    encoders = encoders or {}
    choose_at = steps[-1] if choose_at is None else choose_at
    if choose_at not in steps:
        raise ValueError(f"choose_at: step {choose_at} is not among the evaluated steps {steps}")
    kwargs = dict(data=data, speakers=speakers, shots=shots, queries=queries, steps=steps)
    if task_key:
        kwargs["task_key"] = task_key
    calls = [(files, grid_settings(value, seed, inner_lr, optimizer, adapt_modules, encoders.get(label)), None, False,
              kwargs) for label, files, inner_lr in sides for value in grid]
    results = iter(_run_all(calls, jobs))
    grids, best = {}, {}
    for label, _, _ in sides:
        grids[label] = {}
        for value in grid:
            result = next(results)
            grids[label][value] = None if isinstance(result, str) else result.query_loss
            curve = grids[label][value]
            print(f"  {label} at {value:g}: " + (result if curve is None else ", ".join(
                f"{step} {loss:.2f}" for step, loss in curve.items())))
        usable = {value: curve for value, curve in grids[label].items() if curve is not None}
        if not usable:
            raise RuntimeError(f"{label}: the adaptation diverged at every learning rate of the grid {grid}")
        best[label] = min(usable, key=lambda value: usable[value][choose_at])
    finals = _run_all([(files, grid_settings(best[label], seed, inner_lr, optimizer, adapt_modules,
                                             encoders.get(label)),
                        str(out / f"eval_{label}"), True, kwargs) for label, files, inner_lr in sides], jobs)
    return [Side(label, best[label], grids[label], report) for (label, _, _), report in zip(sides, finals)]
