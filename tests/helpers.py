"""Helper functions more than one test module uses (fixtures are in conftest.py): a test module imports these, never
another test module."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from conftest import build_meta_model, first_meta_batch, pick

TEXT = "it was good for me"


# ---------------------------------------------------------------------------- stock Coqui speaking
def stock_tts(folder):
    """Stock Coqui's TTS API on ``folder``'s model.pth and config.json."""
    from TTS.api import TTS

    return TTS(model_path=str(folder / "model.pth"), config_path=str(folder / "config.json"), progress_bar=False)


def speak(tts, speaker, text: str = TEXT) -> np.ndarray:
    torch.manual_seed(0)
    return np.asarray(tts.tts(text=text, speaker=speaker), dtype=np.float32)


def subprocess_tts(folder, speaker, out, text: str = TEXT):
    """Stock Coqui's own command line (`tts`) speaking ``text`` in ``speaker``'s voice from ``folder``'s model.pth and
    config.json into ``out``, in a fresh process (seeded: VITS samples its durations and noise)."""
    code = (
        "import sys, torch; torch.manual_seed(0); from TTS.bin.synthesize import main; sys.argv = sys.argv[1:]; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "tts", "--model_path", str(folder / "model.pth"), "--config_path",
         str(folder / "config.json"), "--speaker_idx", speaker, "--text", text, "--out_path", str(out)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600,
    )


# ---------------------------------------------------------------------------- meta-gradients
def meta_gradient(model, tasks, backend: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """The meta-gradient of one meta-batch by ``backend`` ("torch" or "learn2learn"), the model's grads left empty."""
    model.zero_grad(set_to_none=True)
    model.meta_algorithm.meta.backend = backend
    torch.manual_seed(seed)  # VITS draws random segments, Tacotron2's prenet always uses dropout
    model.meta_algorithm.outer_backward(tasks)
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def relative_difference(a: dict, b: dict) -> float:
    """|a - b| / |b| over every tensor of two gradients (the same names, on any devices)."""
    assert a.keys() == b.keys()
    diff = torch.cat([(a[n].cpu() - b[n].cpu()).flatten() for n in a]).norm()
    return float(diff / torch.cat([b[n].cpu().flatten() for n in b]).norm())


def naive_outer_gradient(model, tasks, seeds, steps: int, second_order: bool, reconstruction_grad: bool):
    """The meta-gradient written as one loss and one backward: mean query loss conditioned on each task's prototype
    (after ``steps`` inner steps; cut from the encoder unless ``reconstruction_grad``) plus the weighted prototypical
    loss of the meta-batch."""
    from coqui_meta.algorithms.inner_loop import adapt, make_task_model
    from coqui_meta.algorithms.inner_rules import InnerOptimizer
    from coqui_meta.algorithms.prototypes import prototypes, prototypical_loss
    from coqui_meta.seeds import TaskSeeds, seeded

    algorithm = model.meta_algorithm
    model.zero_grad(set_to_none=True)
    support_embeddings = [model.meta_embed(support) for support, _ in tasks]
    query_embeddings = [model.meta_embed(query) for _, query in tasks]
    total = 0.0
    for (support, query), embeddings, seed in zip(tasks, support_embeddings, seeds):
        voice = embeddings.mean(0) if reconstruction_grad else embeddings.mean(0).detach().requires_grad_(True)
        task = make_task_model(model, "torch", algorithm.adapted, algorithm.second_order, {}, voice)
        optimizer = InnerOptimizer(model.meta_inner_lrs, model.config.meta.inner_update)
        adapt(task, support, steps, optimizer, second_order, TaskSeeds(seed))
        with seeded(TaskSeeds(seed).query()):
            total = total + task.loss(query, outer=True)[0] / len(tasks)
    labels = torch.arange(len(tasks), device=support_embeddings[0].device)
    support_labels = torch.cat([labels[i].repeat(len(e)) for i, e in enumerate(support_embeddings)])
    query_labels = torch.cat([labels[i].repeat(len(e)) for i, e in enumerate(query_embeddings)])
    protos = prototypes(torch.cat(support_embeddings), support_labels, len(tasks))
    total = total + model.config.meta.prototype_loss_weight * prototypical_loss(
        torch.cat(query_embeddings), protos, query_labels
    )
    total.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def task_by_task_and_whole_loss_gradients(corpus_samples, kind, algorithm, first_order, reconstruction_grad, device):
    """The meta-gradient of ``outer_backward`` and of `naive_outer_gradient` on one real meta-batch, on ``device``."""
    from coqui_meta import MetaLearningConfig

    samples = pick(corpus_samples, speakers=2, clips=3, max_seconds=2.5, seed=5)
    meta = MetaLearningConfig(algorithm=algorithm, n_way=2, k_shot=2, q_query=1, meta_batch_size=2, inner_steps=1,
                              inner_lr=0.01, first_order=first_order, prototype_loss_weight=0.5,
                              prototype_reconstruction_grad=reconstruction_grad)
    torch.manual_seed(0)
    # Tacotron2 at r = 6 (the preset's 2): a third of the decoder steps; the gradients' agreement does not hang on it
    model = build_meta_model(kind, meta, [], **({"r": 6} if kind == "tacotron2" else {})).to(device)
    model.train()
    tasks = first_meta_batch(model, samples, is_eval=False)["tasks"]
    seeds = [11, 12]
    model.zero_grad(set_to_none=True)
    results = model.meta_algorithm.outer_backward(tasks, seeds=seeds)
    assert not any(r.skipped for r in results)
    mine = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    assert 0 < model.meta_algorithm.step_logs["prototype_accuracy"] <= 1
    expected = naive_outer_gradient(
        model, tasks, seeds, model.meta_algorithm.inner_steps, not first_order, reconstruction_grad
    )
    assert mine.keys() == expected.keys()
    assert any(name.startswith("prototype_encoder.") for name in mine), "the encoder learns through the prototypes"
    assert all(g.device.type == torch.device(device).type for g in mine.values())
    return mine, expected


# ---------------------------------------------------------------------------- configs
def write_config(
    data: Path,
    speakers,
    folder: Path,
    output: Path,
    episodes: int = 5,
    epochs: int = 2,
    save_step: int = 3,
    keep: int = 10,
    run_eval: bool = False,
    **meta,
) -> Path:
    """A small meta_vits config; with ``run_eval`` the last 2 speakers are held out for meta-validation, else 1."""
    from coqui_meta import MetaLearningConfig, MetaVitsConfig
    from coqui_meta_lab.presets import small_vits_config, speechocean_dataset

    stock = small_vits_config(speechocean_dataset(str(data)),
                              output_path=str(output), max_audio_seconds=4.0)
    meta = {**dict(n_way=2, k_shot=2, q_query=1, meta_batch_size=2, episodes_per_epoch=episodes, eval_episodes=2,
                   eval_tasks=speakers[-2:] if run_eval else speakers[-1:]), **meta}
    # one period discriminator of the preset's two (each is 8 M of its 23 M parameters: a checkpoint with Adam's
    # moments, written at every step by one test, is 280 MB with both, 180 MB with one); what these tests check does
    # not depend on them. (Not none: Coqpit's parser of --coqpit.* overrides fails on an empty list in a config.)
    stock.model_args.periods_multi_period_discriminator = [2]
    config = MetaVitsConfig.from_config(stock, meta=MetaLearningConfig(**meta))
    config.epochs, config.save_step, config.print_step, config.save_n_checkpoints = epochs, save_step, 1, keep
    config.run_eval, config.lr_gen, config.lr_disc = run_eval, 1e-3, 1e-3
    config.save_json(str(folder / "config.json"))
    return folder / "config.json"
