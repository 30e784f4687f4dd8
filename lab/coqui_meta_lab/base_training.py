"""The base of a study: a stock multi-speaker model trained by Coqui's Trainer (its own ``train_step`` on its own
loader) for a number of minutes, with a Trainer checkpoint at every check, so that a base of hours is built over
several runs. It lives in ``out/base/<settings key>/`` and is reused by any later run with the same settings (model
config, training clips, seed); asked for more minutes than it has, it goes on from its last checkpoint. At every
check it can measure itself, e.g. its seen-speaker EER (`seen_speaker_check`).

Example::

    base = train_base(stock_config, train_samples, "runs/study", minutes=60, check=seen_speaker_check(train_samples))
    base.files, base.steps, base.history
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from coqui_meta.files import write_atomic, write_json


def settings_key(*parts: Any) -> str:
    """A short hash of JSON-able settings: the name of the folder that holds what they produce."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def make_trainer(config, model, samples, out: Path, continue_path: str | None = None):
    """The project's one path to a Trainer (`coqui_meta.training.trainer_for`), for a model the study made."""
    from trainer import TrainerArgs

    from coqui_meta.training import trainer_for

    args = TrainerArgs()
    args.use_accelerate = False
    if continue_path:
        args.continue_path = continue_path
    return trainer_for(model, samples, None, args, out, config=config, gpu=0 if torch.cuda.is_available() else None)


def _batches(trainer, samples):
    loader = trainer.get_train_dataloader(samples, verbose=False)  # one loader: each pass draws new episodes/shuffles
    while True:
        yield from loader


def train_steps(trainer, samples, desc: str, steps: int | None = None, seconds: float | None = None,
                progress: bool = True, logged: dict[str, list] | None = None) -> tuple[int, float]:
    """Coqui's ``Trainer.train_step`` for ``steps`` steps or ``seconds``; returns (steps done, seconds). Each key of
    ``logged`` gets the step's value of that loss-dict entry, when it has one."""
    trainer.model.train()
    start, done = time.perf_counter(), 0
    bar = tqdm(total=steps, desc=desc, unit="step", disable=not progress)
    for batch in _batches(trainer, samples):
        if (steps is not None and done >= steps) or (seconds is not None and time.perf_counter() - start >= seconds):
            break
        _, loss_dict = trainer.train_step(batch, 1, done, time.time())
        done += 1
        bar.update(1)
        for key, values in (logged or {}).items():
            if key in (loss_dict or {}):
                values.append(float(loss_dict[key]))
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
            return {
                "model": torch.load(self.files[0], map_location="cpu", weights_only=True)["model"],
                "optimizer": None,
            }
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


def _load_matching(model, weights: dict) -> list[str]:
    """Loads ``weights`` into ``model``, whose modules may differ from theirs in size only where the config asks for a
    new one (e.g. a wider waveform decoder): those keep their fresh initialisation. Returns the new modules' names;
    a tensor the model has no place for is an error."""
    own = model.state_dict()
    unknown = sorted(set(weights) - set(own))
    if unknown:
        raise ValueError(f"the weights to start from have tensors this model lacks: {', '.join(unknown[:5])}")
    kept = {key: value for key, value in weights.items() if value.shape == own[key].shape}
    model.load_state_dict(kept, strict=False)
    return sorted({".".join(key.split(".")[:1]) for key in own if key not in kept})


def train_base(stock_config, samples: list[dict], out: str | Path, minutes: float, seed: int = 0,
               check: Callable[[tuple[str, str]], dict] | None = None, check_minutes: float = 15.0,
               progress: bool = True, warm_start: Callable[[], tuple[dict, dict]] | None = None) -> Base:
    """The base of these settings under ``out/base/``: trained (or trained on) until it has ``minutes`` of training.

    Every ``check_minutes`` and at the end, the Trainer writes a checkpoint (model, optimizers, scaler), the base's
    ``model.pth``/``config.json`` are written, and ``check(files)`` (e.g. the seen-speaker EER) is recorded in
    ``progress.json`` with the steps and minutes so far. Without a Trainer checkpoint in the folder (a new machine),
    ``warm_start()`` may give the weights and the progress record to go on from (a shipped base: its optimizers
    start anew; modules the config makes another size, such as a wider decoder, start fresh).
    """
    from TTS.tts.models import setup_model

    stock_config = copy.deepcopy(stock_config)  # the Trainer adds fields to the config it trains with
    settings = stock_config.to_dict()
    settings.pop("output_path", None)
    key = settings_key(settings, sorted(s["audio_file"] for s in samples), seed)
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
    if run is None and warm_start is not None:
        weights, state = warm_start()
        fresh = _load_matching(model, weights)
        print(f"Base: going on from the weights given ({state['steps']} steps, {state['minutes']:.1f} min)"
              + (f"; new: {', '.join(fresh)}" if fresh else ""))
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
    if not Path(files[0]).is_file():  # warm-started from a base that already has the minutes asked for
        save_checkpoint(model, stock_config, folder, state["steps"])
        write_json(folder / "progress.json", state)
    return Base(folder, files, state["steps"], state["minutes"], state["history"], _last_run(folder))


def seen_speaker_check(samples: list[dict], speakers: int = 12, seed: int = 0, clips: int = 3):
    """A ``check`` for `train_base`: the base's seen-speaker EER (`coqui_meta.judging.identity.seen_speaker_eer`) on
    ``speakers`` of its training speakers, and the mean same- and other-speaker cosines."""

    def check(files: tuple[str, str]) -> dict[str, float]:
        from coqui_meta.formats.checkpoints import load_model
        from coqui_meta.judging.identity import seen_speaker_eer

        result = seen_speaker_eer(load_model(*files).model, samples, speakers=speakers, clips=clips, seed=seed)
        return {"seen_speaker_eer": result["eer"], "same_speaker_cosine": result["same_speaker_cosine"],
                "other_speaker_cosine": result["other_speaker_cosine"]}

    return check


def pitch_check(samples: list[dict], voices: int = 6, clips: int = 2, seed: int = 0):
    """A ``check`` for `train_base`: does the base speak at its voices' pitch
    (`coqui_meta.judging.pitch.rendition_pitch`'s summary: median pitch error, share on pitch, F0 range, buzz)."""

    def check(files: tuple[str, str]) -> dict[str, float]:
        from coqui_meta.formats.checkpoints import load_model
        from coqui_meta.judging.pitch import rendition_pitch

        return rendition_pitch(load_model(*files).model, samples, voices=voices, clips=clips, seed=seed)["summary"]

    return check


def history_table(history: list[dict], columns: dict[str, str]) -> str:
    """A base's checks as the Markdown table BENCHMARKS.md keeps: ``columns`` maps a check's key to its heading (a
    dash where a check did not measure that: older records, or another kind of base)."""
    lines = ["| steps | minutes | " + " | ".join(columns.values()) + " |", "|" + "---|" * (len(columns) + 2)]
    for row in history:
        cells = [f"{row[key]:.3f}" if isinstance(row.get(key), (int, float)) else "-" for key in columns]
        lines.append(f"| {row['steps']} | {row['minutes']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
