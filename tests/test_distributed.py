"""Meta-training over several processes (gloo, CPU): the tasks of a meta-batch split across ranks give the same
update as one process running the whole meta-batch, in `optimize()` and through `torchrun ... coqui-meta train` (with
meta-validation averaged over the ranks); Coqui's launcher without GPUs is refused clearly; non-finite tasks are
skipped and counted."""

import os
import re
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import build_meta_model, corpus_subset, first_meta_batch, pick, run_cli
from helpers import write_config

from coqui_meta import MetaLearningConfig

# SGD inner steps: Adam's first step is about the sign of each gradient element, so the float-level difference
# between one process's sums and two ranks' all-reduce flips the step of elements whose gradient is near zero; the
# equivalence of the two runs is checked where a step is continuous in the gradient.
META = dict(algorithm="fomaml", inner_steps=1, inner_lr=1e-3, inner_optimizer="sgd", n_way=2, k_shot=2, q_query=2,
            meta_batch_size=2)


def coqui_optimizers(model):
    """What optimize() reads from Coqui's Trainer, with the model's own Coqui optimizers."""
    optimizers = model.get_optimizer()
    optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
    return SimpleNamespace(optimizer=optimizers, scaler=None, use_amp_scaler=False, config=model.config,
                           scheduler=[None] * len(optimizers), _stepped_optimizers=set())


def make_model(speakers, meta_batch_size: int = 2):
    torch.manual_seed(0)
    model = build_meta_model("vits", MetaLearningConfig(**{**META, "meta_batch_size": meta_batch_size}), speakers)
    model.train()
    return model


def one_rank(rank, world, store, batch_file, speakers, out_file):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        batch = torch.load(batch_file, weights_only=False)
        model = make_model(speakers, len(batch["tasks"]))
        mine = {"tasks": batch["tasks"][rank::world]}  # the sampler's split when n_way = ranks: r, r + R, ...
        model.optimize(mine, coqui_optimizers(model))
        if rank == 0:
            torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, out_file)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module", params=[2, 4], ids=["one task a rank", "two tasks a rank"])
def setting(request, corpus_samples, tmp_path_factory):
    samples = pick(corpus_samples, speakers=4, clips=4, max_seconds=3.0, seed=7)
    speakers = sorted({s["speaker_name"] for s in samples})
    model = make_model(speakers, request.param)
    batch = first_meta_batch(model, samples, is_eval=False)
    assert len(batch["tasks"]) == request.param
    folder = tmp_path_factory.mktemp("dist")
    torch.save(batch, folder / "batch.pt")
    return speakers, batch, folder


def test_two_gloo_ranks_make_the_same_update_as_one_process(setting):
    speakers, batch, folder = setting
    model = make_model(speakers, len(batch["tasks"]))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.optimize(batch, coqui_optimizers(model))
    single = model.state_dict()

    # forked from this worker (torch and the plugin already imported, one thread): ranks start in milliseconds
    mp.start_processes(one_rank, args=(2, str(folder / "store"), str(folder / "batch.pt"), speakers,
                                       str(folder / "rank0.pt")), nprocs=2, join=True, start_method="fork")
    split = torch.load(folder / "rank0.pt", weights_only=True)
    changed = [k for k in single if not torch.equal(single[k], before[k])]
    assert len(changed) > 10, "the step updated the generator and the discriminator"
    for key in single:
        torch.testing.assert_close(split[key], single[key], rtol=1e-5, atol=1e-6, msg=key)


def test_a_task_with_a_non_finite_loss_is_skipped_and_counted(setting):
    speakers, batch, _ = setting
    model = make_model(speakers, len(batch["tasks"]))
    poisoned = with_nan_supports(batch, [0])
    trainer = coqui_optimizers(model)
    _, loss_dict = model.optimize(poisoned, trainer)
    assert loss_dict["skipped_tasks"] == 1 and torch.isfinite(torch.tensor(loss_dict["loss"]))
    assert all(torch.isfinite(p).all() for p in model.parameters()), "the update stays finite"

    # past meta.max_skipped_share, training stops with a message that says what to check (meta-batches whose every
    # task is skipped: the share passes it as soon as 20 tasks are counted, without training the others)
    model.config.meta.max_skipped_share = 0.1
    every = with_nan_supports(batch, range(len(batch["tasks"])))
    with pytest.raises(RuntimeError, match="max_skipped_share"):
        for _ in range(12):
            model.optimize(every, trainer)


def with_nan_supports(batch, indices):
    """``batch`` with the support clips of the tasks at ``indices`` made of NaN samples."""
    poisoned = {"tasks": [tuple(dict(part) for part in task) for task in batch["tasks"]]}
    for index in indices:
        support = poisoned["tasks"][index][0]
        for key in ("waveform", "spec", "mel"):
            support[key] = support[key].clone().fill_(float("nan"))
    return poisoned


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_torchrun_with_two_cpu_ranks_trains_like_one_process(corpus, corpus_samples, tmp_out):
    speakers = sorted({s["speaker_name"] for s in pick(corpus_samples, 5, 5, 4.0, seed=11)})
    data = corpus_subset(corpus, speakers, tmp_out / "data")
    for name in ("one", "two"):
        (tmp_out / name).mkdir()
        # 2 meta-steps, a checkpoint after the second: the ranks' update checked where one process's is
        write_config(data, speakers, tmp_out / name, tmp_out / name / "run", episodes=2, epochs=1, save_step=1, keep=1,
                     run_eval=True, meta_batch_size=4,  # 2 episodes of 2 tasks: each rank runs a task of each
                     inner_optimizer="sgd")  # as META says why
    one = run_cli("train", "--config_path", str(tmp_out / "one" / "config.json"), cwd=tmp_out)
    assert one.returncode == 0, one.stdout[-3000:] + one.stderr[-3000:]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2", "--master_port",
         str(free_port()), "-m", "coqui_meta.cli", "train", "--config_path", str(tmp_out / "two" / "config.json")],
        cwd=tmp_out, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert two.returncode == 0, two.stdout[-3000:] + two.stderr[-3000:]
    train_batches = r"Train episodes: [^\n]*?(\d+) meta-batches of (\d+) tasks"
    assert re.findall(train_batches, one.stdout) == [("2", "4")]
    assert re.findall(train_batches, two.stdout) == [("2", "2")] * 2, "each rank runs half of every meta-batch"

    # meta-validation: the ranks' shares of the held-out tasks, averaged, are the whole meta-batch's numbers up to
    # the weights' rounding noise (below), which the adapted decoder carries to the loss: on an AMD EPYC 1e-5 of it,
    # on an Intel Xeon 1.2e-4 (there one process on 2 threads instead of 1 differs by 4e-5 too); a task missed or
    # counted twice moves it by percents
    for key in ("avg_query_loss_before_adaptation", "avg_query_loss_after_adaptation"):
        single, split = ([float(v) for v in re.findall(rf"{key}: (\S+)", run.stdout + run.stderr)]
                         for run in (one, two))
        assert len(single) == 1 and split == pytest.approx(single, rel=1e-3), key

    checkpoints = [list((tmp_out / name / "run").glob("*/checkpoint_1.pth")) for name in ("one", "two")]
    assert [len(found) for found in checkpoints] == [1, 1], "one checkpoint per run (rank 0 saves)"
    single, split = (torch.load(found[0], weights_only=True)["model"] for found in checkpoints)
    # The attention's key bias gets a gradient that is zero but for rounding (softmax ignores a shift that all keys
    # share); summed in another order over the ranks, that noise differs, and AdamW makes lr-sized steps of it. Other
    # tensors have such near-zero gradient elements too (the weight-norm directions most): on an AMD EPYC the
    # generator agreed element by element to 1e-5 after 3 steps; on an Intel Xeon its tensors differ by up to 9e-4 of
    # their norm (one process on 2 threads against 1: elements up to 4e-3 apart). So each tensor is compared as a whole.
    # (Those figures are of 3 steps; the runs now take 2, which leave the noise less time to grow.)
    for key in (key for key in single if not key.endswith("conv_k.bias")):
        assert float((split[key] - single[key]).norm() / single[key].norm().clamp_min(1e-12)) < 3e-3, key


@pytest.mark.skipif(torch.cuda.is_available(), reason="with GPUs the Trainer distributes")
def test_coquis_launcher_without_gpus_is_refused_with_a_clear_message(tmp_out):
    # the arguments `python -m trainer.distribute --script $(which coqui-meta) train ...` gives each rank
    result = run_cli("--continue_path=", "--restore_path=", "--group_id=group_1", "--use_ddp=true", "train",
                     "--config_path", str(tmp_out / "config.json"), "--rank=0", cwd=tmp_out)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "needs GPUs" in result.stderr and "torchrun --nproc_per_node" in result.stderr
