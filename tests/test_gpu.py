"""The same meta-gradients and training steps on a GPU: second order through cuDNN-free RNNs, the prototype
algorithms, fp16 and bf16; `adapt` and `evaluate` with `--device cuda`.

Skipped without CUDA; run them on a GPU machine with `pytest -m gpu`.
"""

import json

import numpy as np
import pytest
import torch
from conftest import build_meta_model, first_meta_batch, pick, run_cli
from helpers import meta_gradient, relative_difference, speak, stock_tts, task_by_task_and_whole_loss_gradients

from coqui_meta import MetaLearningConfig

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.fixture()
def exact_cuda_math():
    """TF32 convolutions (on by default) round differently from run to run at the 1e-3 level."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.deterministic
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.deterministic = saved


@pytest.mark.parametrize(
    ("kind", "algorithm"), [("vits", "maml"), ("vits", "fomaml"), ("tacotron2", "maml"), ("tacotron2", "fomaml")]
)
def test_meta_gradient_on_cuda_matches_learn2learn(corpus_samples, exact_cuda_math, kind, algorithm):
    samples = pick(corpus_samples, speakers=3, clips=4, max_seconds=2.6, seed=1)
    meta = MetaLearningConfig(
        algorithm=algorithm, inner_steps=2, inner_lr=0.05, n_way=2, k_shot=1, q_query=1,
        meta_batch_size=2, eval_episodes=1,
    )
    speakers = sorted({s["speaker_name"] for s in samples})
    torch.manual_seed(0)
    model = build_meta_model(kind, meta, speakers, max_audio_seconds=3.0).cuda()
    tasks = first_meta_batch(model, samples)["tasks"]
    ours = meta_gradient(model, tasks, "torch")
    oracle = meta_gradient(model, tasks, "learn2learn")
    # Atomic adds in CUDA backward kernels (embedding, index) make two runs of the SAME backend differ slightly,
    # most in second order: the backends must agree to within that run-to-run noise.
    noise = relative_difference(meta_gradient(model, tasks, "torch"), ours)
    assert relative_difference(ours, oracle) < max(1e-5, 4 * noise)
    assert relative_difference(ours, oracle) < 1e-3
    # as on a CPU (test_oracle): the meta-gradient reaches the adapted tensors, the shared ones and the initial voice,
    # on the GPU, and second-order MAML differs from its first-order approximation
    adapted = set(model.meta_adapted_names())
    assert all(g.is_cuda for g in ours.values())
    assert any(n in adapted and g.abs().sum() > 0 for n, g in ours.items()), "adapted tensors get a meta-gradient"
    assert any(n not in adapted and g.abs().sum() > 0 for n, g in ours.items()), "so do the others"
    assert ours[model.meta_speaker_embedding].abs().sum() > 0, "the initial voice is meta-learned too"
    if algorithm == "maml":
        model.meta_algorithm.second_order = False
        assert relative_difference(meta_gradient(model, tasks, "torch"), ours) > 1e-4


@pytest.mark.parametrize(
    ("kind", "algorithm"), [("vits", "protonet"), ("vits", "proto_maml"), ("tacotron2", "proto_maml")]
)
def test_prototype_meta_gradient_on_cuda_equals_one_backward_of_the_whole_loss(
    corpus_samples, exact_cuda_math, kind, algorithm
):
    mine, expected = task_by_task_and_whole_loss_gradients(corpus_samples, kind, algorithm, first_order=False,
                                                          reconstruction_grad=True, device="cuda")
    assert relative_difference(mine, expected) < 1e-3
    encoder = [g for name, g in mine.items() if name.startswith("prototype_encoder.")]
    assert sum(float(g.abs().sum()) for g in encoder) > 0, "the prototypes' encoder gets a meta-gradient on the GPU"


@pytest.mark.parametrize(
    ("precision", "algorithm", "checkpointing"),
    [("fp16", "maml", False), ("bf16", "maml", False), ("fp16", "maml", True), ("fp16", "protonet", False),
     ("bf16", "protonet", False)],
)
def test_meta_training_steps_in_mixed_precision(corpus_samples, tmp_out, precision, algorithm, checkpointing):
    from trainer import Trainer, TrainerArgs

    train = pick(corpus_samples, speakers=4, clips=6, max_seconds=4.0, seed=2)
    held = pick(
        corpus_samples, speakers=2, clips=6, max_seconds=4.0, seed=3, exclude={s["speaker_name"] for s in train}
    )
    meta = MetaLearningConfig(algorithm=algorithm, inner_steps=2, n_way=2, k_shot=2, q_query=2, meta_batch_size=2,
                              episodes_per_epoch=4, eval_episodes=1, gradient_checkpointing=checkpointing)
    model = build_meta_model("vits", meta, sorted({s["speaker_name"] for s in train}), output_path=str(tmp_out),
                             epochs=1, mixed_precision=True, precision=precision)
    # the same meta-batch and seeds in full and in mixed precision: the same query losses up to rounding
    full, mixed = (query_losses(model.cuda(), train, precision if autocast else None) for autocast in (False, True))
    assert mixed == pytest.approx(full, rel=0.05), (precision, full, mixed)
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer = Trainer(TrainerArgs(), model.config, str(tmp_out), model=model, train_samples=train, eval_samples=held,
                      parse_command_line_args=False, gpu=0)
    trainer.fit()
    assert next(model.parameters()).is_cuda
    losses = trainer.keep_avg_eval.avg_values
    assert torch.isfinite(torch.tensor(losses["avg_query_loss_after_adaptation"]))
    # autocast computes in reduced precision, the weights it updates stay float32, and the steps moved them
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(p.detach(), initial[name]) for name, p in model.named_parameters())


def query_losses(model, samples, precision: str | None) -> list[float]:
    """The query loss of each task of the model's first meta-batch after its inner steps, under autocast to
    ``precision`` ("fp16", "bf16"; None: full precision), seeded."""
    tasks = first_meta_batch(model, samples)["tasks"]
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    with torch.autocast("cuda", dtype=dtype, enabled=precision is not None):
        results = model.meta_algorithm.outer_backward(tasks, seeds=[1, 2])
    model.zero_grad(set_to_none=True)
    return [float(r.query_loss) for r in results]


def test_adapt_and_evaluate_run_on_cuda_and_the_voice_loads_in_stock_coqui_on_a_cpu(tiny_vits, new_voice, corpus,
                                                                                    tmp_path):
    folder, known = tiny_vits
    model = ["--model_path", str(folder / "model.pth"), "--config_path", str(folder / "meta_config.json")]
    adapted = run_cli("adapt", *model, "--data", str(new_voice), "--speaker", "anna", "--shots", "3", "--steps", "3",
                      "--out_path", str(tmp_path / "anna"), "--device", "cuda")
    assert adapted.returncode == 0, adapted.stdout[-2000:] + adapted.stderr[-2000:]
    info = json.loads((tmp_path / "anna" / "adapt.json").read_text())
    assert info["device"].startswith("cuda") and info["final_support_loss"] < info["support_loss"][0]
    state = torch.load(tmp_path / "anna" / "model.pth", weights_only=True)["model"]
    assert all(t.device.type == "cpu" for t in state.values()), "a voice adapted on a GPU must load on a CPU"
    audio = speak(stock_tts(tmp_path / "anna"), "anna")
    assert np.isfinite(audio).all() and np.abs(audio).max() > 1e-3

    evaluated = run_cli("evaluate", *model, "--data", str(corpus), "--speakers", "2", "--shots", "2", "--queries", "2",
                        "--steps", "0,3", "--out_path", str(tmp_path / "report"), "--device", "cuda")
    assert evaluated.returncode == 0, evaluated.stdout[-2000:] + evaluated.stderr[-2000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["device"].startswith("cuda")
    assert report["query_loss"]["3"] < report["query_loss"]["0"], "adapting on the support clips lowers the query loss"
    assert all(v is not None for v in report["speaker_similarity"].values()), f"speaker judge: {report['judge']}"
