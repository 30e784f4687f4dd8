"""Compute-matched training of a plain Coqui model and a meta model, shared by the demo and the adaptation benchmark.

A stock multi-speaker model is trained with Coqui's Trainer (its own ``train_step`` on its own loader) for a shared
start; from there a meta model is meta-trained for a time budget, and the stock model continues with plain steps until
it has used as many clip-gradient evaluations (a gradient on c clips counts c; a meta-step of T tasks costs
``T * (inner_steps * k_shot + q_query)``). The meta run starts with the plain run's optimizer state.

Example::

    runs = compute_matched(stock_config, train_samples, meta, "runs/study", start_seconds=300, meta_seconds=150)
    runs.plain_files, runs.meta_files   # (model.pth, config.json) of each
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm


def clip_gradients_per_meta_step(meta) -> int:
    return meta.meta_batch_size * (meta.inner_steps * meta.k_shot + meta.q_query)


def make_trainer(config, model, samples, out: Path):
    from trainer import Trainer, TrainerArgs

    args = TrainerArgs()
    args.use_accelerate = False
    return Trainer(args, config, str(out), model=model, train_samples=samples, parse_command_line_args=False,
                   gpu=0 if torch.cuda.is_available() else None)


def _batches(trainer, samples):
    loader = trainer.get_train_dataloader(samples, verbose=False)  # one loader: each pass draws new episodes/shuffles
    while True:
        yield from loader


def train_steps(trainer, samples, desc: str, steps: int | None = None, seconds: float | None = None) -> tuple[int, float]:
    """Coqui's ``Trainer.train_step`` for ``steps`` steps or ``seconds``; returns (steps done, seconds)."""
    trainer.model.train()
    start, done = time.perf_counter(), 0
    bar = tqdm(total=steps, desc=desc, unit="step")
    for batch in _batches(trainer, samples):
        if (steps is not None and done >= steps) or (seconds is not None and time.perf_counter() - start >= seconds):
            break
        _, loss_dict = trainer.train_step(batch, 1, done, time.time())
        done += 1
        bar.update(1)
        loss = loss_dict.get("loss", loss_dict.get("loss_1"))
        if loss is not None:
            bar.set_postfix(loss=f"{float(loss):.3f}")
    bar.close()
    return done, time.perf_counter() - start


def save_checkpoint(model, config, folder: Path, step: int) -> tuple[str, str]:
    """``folder/model.pth`` (written atomically) and ``folder/config.json``."""
    from coqui_meta.files import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "step": step, "epoch": 0}
    write_atomic(folder / "model.pth", lambda p: torch.save(state, p))
    config.save_json(str(folder / "config.json"))
    return str(folder / "model.pth"), str(folder / "config.json")


@dataclass
class MatchedRuns:
    start_files: tuple[str, str]
    plain_files: tuple[str, str]
    meta_files: tuple[str, str]
    start_steps: int
    meta_steps: int
    plain_steps: int
    clip_gradients: int
    seconds: dict[str, float]


def compute_matched(stock_config, train_samples, meta, out: str | Path, start_seconds: float, meta_seconds: float,
                    choose_inner_lr=None) -> MatchedRuns:
    """Train the shared start, the meta branch and the compute-matched plain branch; save all three.

    ``choose_inner_lr(start_files)``, if given, returns the meta inner learning rate picked on the shared start.
    """
    from coqui_meta.config import MetaTacotron2Config, MetaVitsConfig
    from coqui_meta.models import MetaTacotron2, MetaVits
    from TTS.tts.models import setup_model

    out = Path(out)
    stock_config.output_path = str(out / "plain")
    plain = setup_model(stock_config)
    plain_trainer = make_trainer(stock_config, plain, train_samples, out / "plain")
    start_steps, start_time = train_steps(plain_trainer, train_samples, "shared start (plain)", seconds=start_seconds)
    start_files = save_checkpoint(plain, stock_config, out / "start", start_steps)
    if choose_inner_lr is not None:
        meta.inner_lr = choose_inner_lr(start_files)

    config_cls, model_cls = (MetaVitsConfig, MetaVits) if stock_config.model == "vits" else (MetaTacotron2Config, MetaTacotron2)
    meta_config = config_cls.from_config(stock_config, meta=meta)
    meta_config.output_path = str(out / "meta")
    meta_model = model_cls(meta_config)
    meta_model.load_state_dict(plain.state_dict())
    meta_trainer = make_trainer(meta_config, meta_model, train_samples, out / "meta")
    for mine, theirs in zip(meta_trainer.optimizer, plain_trainer.optimizer):
        mine.load_state_dict(theirs.state_dict())
    meta_steps, meta_time = train_steps(meta_trainer, train_samples, f"meta branch ({meta.algorithm})", seconds=meta_seconds)
    clip_gradients = meta_steps * clip_gradients_per_meta_step(meta)
    plain_steps = round(clip_gradients / stock_config.batch_size)
    _, plain_time = train_steps(plain_trainer, train_samples, "plain branch (same clip-gradients)", steps=plain_steps)
    return MatchedRuns(
        start_files=start_files,
        plain_files=save_checkpoint(plain, stock_config, out / "plain_model", start_steps + plain_steps),
        meta_files=save_checkpoint(meta_model, meta_config, out / "meta_model", start_steps + meta_steps),
        start_steps=start_steps, meta_steps=meta_steps, plain_steps=plain_steps, clip_gradients=clip_gradients,
        seconds={"start": start_time, "meta": meta_time, "plain": plain_time},
    )


def probe_inner_lr(start_files, data: str, speakers: list[str], shots: int, queries: int, inner_steps: int,
                   grid: list[float], seed: int) -> tuple[float, dict[float, float]]:
    """The grid learning rate that adapts the shared start best on training speakers: lowest query loss after
    ``inner_steps`` SGD steps. Chosen before meta-training, never on held-out speakers."""
    from coqui_meta.evaluation import evaluate

    losses = {
        lr: evaluate(*start_files, data, speakers, shots, queries, [inner_steps], None, lr=lr, seed=seed,
                     progress=False, similarity=False)["query_loss"][inner_steps]
        for lr in grid
    }
    return min(losses, key=losses.get), losses
