"""Learned inner learning rates (Meta-SGD per tensor, MAML++ per tensor and step): their meta-gradient is the
derivative of the query loss, the outer optimizer trains them, and they stay out of the stock state dict."""

from pathlib import Path

import pytest
import torch
from conftest import build_meta_model, first_meta_batch, pick

from coqui_meta import MetaLearningConfig
from coqui_meta.algorithms.inner_rules import InnerOptimizer, InnerRates
from coqui_meta.formats.checkpoints import stock_state_dict


def query_loss_and_rate_gradient(model, tasks, seeds):
    model.zero_grad(set_to_none=True)
    results = model.meta_algorithm.outer_backward(tasks, seeds=seeds)
    gradient = model.meta_inner_lrs.log_lr.grad.detach().clone()
    model.zero_grad(set_to_none=True)
    return sum(r.query_loss for r in results) / len(results), gradient


def rate_model(corpus_samples, algorithm, mode, inner_steps):
    samples = pick(corpus_samples, speakers=2, clips=3, max_seconds=2.6, seed=1)
    meta = MetaLearningConfig(algorithm=algorithm, inner_steps=inner_steps, inner_lr=0.05, inner_lr_mode=mode,
                              adapt_modules=["emb_g", "flow.flows.0"], n_way=1, k_shot=2, q_query=1, meta_batch_size=1)
    torch.manual_seed(0)
    model = build_meta_model("vits", meta, sorted({s["speaker_name"] for s in samples}), max_audio_seconds=3.0)
    return model, first_meta_batch(model, samples, is_eval=False)["tasks"]


@pytest.mark.parametrize(("algorithm", "mode", "inner_steps"), [
    ("maml", "per_tensor_step", 2),   # the last step's rates: no second-order term in their derivative
    ("fomaml", "per_tensor", 1),      # first order with one step: its rate gradient is the exact derivative
])
def test_the_meta_gradient_of_the_rates_is_the_finite_difference_of_the_query_loss(corpus_samples, algorithm, mode,
                                                                                     inner_steps):
    model, tasks = rate_model(corpus_samples, algorithm, mode, inner_steps)
    seeds = [5]
    _, gradient = query_loss_and_rate_gradient(model, tasks, seeds)
    assert gradient.shape == (inner_steps if mode == "per_tensor_step" else 1, len(model.meta_inner_lrs.names))
    row, eps = gradient.shape[0] - 1, 5e-3
    for column in gradient[row].abs().argsort(descending=True)[:3].tolist():
        losses = []
        for sign in (1, -1):
            with torch.no_grad():
                model.meta_inner_lrs.log_lr[row, column] += sign * eps
            losses.append(query_loss_and_rate_gradient(model, tasks, seeds)[0])
            with torch.no_grad():
                model.meta_inner_lrs.log_lr[row, column] -= sign * eps
        finite_difference = (losses[0] - losses[1]) / (2 * eps)
        name = model.meta_inner_lrs.names[column]
        assert finite_difference == pytest.approx(float(gradient[row, column]), rel=0.01, abs=1e-3), name


def test_second_order_rate_gradients_match_learn2learn(corpus_samples):
    """Through earlier steps the rates' derivative has second-order terms; a finite difference cannot check those in
    float32 (the L1 mel loss's gradient flips sign at its kinks), so the learn2learn backend, an independent inner
    loop (cloned modules and maml_update instead of functional_call), is the oracle."""
    model, tasks = rate_model(corpus_samples, "maml", "per_tensor_step", 2)
    gradients = {}
    for backend in ("torch", "learn2learn"):
        model.meta_algorithm.meta.backend = backend
        gradients[backend] = query_loss_and_rate_gradient(model, tasks, [5])[1]
    assert gradients["torch"][0].abs().max() > 0, "the first step's rates get a gradient through the second step"
    assert torch.allclose(gradients["torch"], gradients["learn2learn"], rtol=1e-4, atol=1e-6)


def test_rates_past_the_trained_steps_repeat_the_last_and_scale_multiplies_them():
    rates = InnerRates(["a", "b"], mode="per_tensor_step", inner_lr=0.01, steps=2)
    with torch.no_grad():
        rates.log_lr.copy_(torch.tensor([[1.0, 0.5], [2.0, 3.0]]).log())
        assert [float(rates.at(step)["a"]) for step in range(4)] == pytest.approx([1.0, 2.0, 2.0, 2.0])
        assert float(rates.at(5, scale=0.5)["b"]) == pytest.approx(1.5)
    assert rates.at(0, fixed=0.1) == {"a": 0.1, "b": 0.1}
    assert InnerOptimizer(rates, scale=2.0).record()["rates"] == {"a": pytest.approx([2.0, 4.0]),
                                                                  "b": pytest.approx([1.0, 6.0])}
    fixed = InnerRates(["a"], mode="fixed", inner_lr=0.01)
    assert list(fixed.parameters()) == [] and fixed.at(3) == {"a": 0.01}


def test_the_outer_optimizer_trains_the_rates_in_their_own_group_and_stock_vits_loads_the_rest(corpus_samples):
    from TTS.tts.models.vits import Vits

    samples = pick(corpus_samples, speakers=2, clips=3, max_seconds=2.6, seed=1)
    meta = MetaLearningConfig(algorithm="fomaml", inner_lr_mode="per_tensor", inner_lr_lr=0.05, n_way=1, k_shot=2,
                              q_query=1, meta_batch_size=1)
    model = build_meta_model("vits", meta, sorted({s["speaker_name"] for s in samples}), max_audio_seconds=3.0)
    generator = model.get_optimizer()[model.meta_optimizer_index]
    groups = [g for g in generator.param_groups if g.get("meta_inner_lrs")]
    assert len(groups) == 1 and groups[0]["lr"] == 0.05 and groups[0]["weight_decay"] == 0.0
    assert groups[0]["params"] == [model.meta_inner_lrs.log_lr]
    assert not any(p is model.meta_inner_lrs.log_lr for g in generator.param_groups if g is not groups[0]
                   for p in g["params"])
    state = model.state_dict()
    assert "meta_inner_lrs.log_lr" in state
    stock = Vits(model.config.to_stock())
    stock.load_state_dict(stock_state_dict(state), strict=True)


@pytest.mark.slow
def test_learned_rates_are_trained_logged_saved_and_used_by_evaluate_and_adapt(corpus, corpus_samples, tmp_out):
    import glob
    import json

    from trainer import Trainer, TrainerArgs
    from TTS.tts.models.vits import Vits

    from coqui_meta.adapting.new_voice import adapt
    from coqui_meta.adapting.settings import AdaptationSettings
    from coqui_meta.judging.evaluation import evaluate

    train = pick(corpus_samples, speakers=4, clips=5, max_seconds=3.0, seed=2)
    seen = sorted({s["speaker_name"] for s in train})
    held_out = pick(corpus_samples, speakers=2, clips=4, max_seconds=3.0, seed=3, exclude=seen)
    meta = MetaLearningConfig(algorithm="fomaml", inner_steps=2, inner_lr=0.01, inner_lr_mode="per_tensor_step",
                              inner_lr_lr=0.05, n_way=2, k_shot=2, q_query=1, meta_batch_size=2,
                              episodes_per_epoch=3, eval_episodes=1)
    model = build_meta_model("vits", meta, seen, output_path=str(tmp_out), epochs=1, max_audio_seconds=3.1)
    initial = model.meta_inner_lrs.log_lr.detach().clone()
    trainer = Trainer(TrainerArgs(), model.config, str(tmp_out), model=model, train_samples=train,
                      eval_samples=held_out, parse_command_line_args=False)
    trainer.fit()
    assert not torch.equal(model.meta_inner_lrs.log_lr.detach(), initial), "the outer optimizer moved the rates"
    assert {"avg_inner_lr_emb_g", "avg_inner_lr_flow"} <= trainer.keep_avg_train.avg_values.keys()

    run = Path(glob.glob(str(tmp_out / "*" / "config.json"))[0]).parent
    checkpoint = sorted(run.glob("best_model*.pth"))[-1]
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    saved_rates = state["meta_inner_lrs.log_lr"].exp()
    stock = Vits(model.config.to_stock())
    stock.load_state_dict(stock_state_dict(state), strict=True)

    common = dict(data=str(corpus), speakers=[held_out[0]["speaker_name"]], shots=2, queries=1, steps=[0, 3],
                  out_path=None, progress=False, similarity=False)
    learned = evaluate(str(checkpoint), str(run / "config.json"), settings=AdaptationSettings(device="cpu"), **common)
    assert learned.inner_lr_mode == "per_tensor_step" and learned.lr is None
    names = model.meta_inner_lrs.names
    assert learned.rates == {n: pytest.approx(saved_rates[:, i].tolist()) for i, n in enumerate(names)}
    fixed = evaluate(str(checkpoint), str(run / "config.json"), settings=AdaptationSettings(lr=0.01, device="cpu"),
                     **common)
    assert fixed.rates == {} and fixed.lr == 0.01 and fixed.query_loss != learned.query_loss
    # rates learned for emb_g and flow.flows.0 do not carry over to other modules: a rate must be given for them
    with pytest.raises(ValueError, match=r"^adapt_modules: .* learned its inner rates .*; give lr for these modules"):
        evaluate(str(checkpoint), str(run / "config.json"), **common,
                 settings=AdaptationSettings(adapt_modules=["emb_g"], device="cpu"))
    other = evaluate(str(checkpoint), str(run / "config.json"), **common,
                     settings=AdaptationSettings(adapt_modules=["emb_g"], lr=0.01, device="cpu"))
    assert other.rates == {} and other.lr == 0.01 and other.adapt_modules == ["emb_g.weight"]

    voice, clips = tmp_out / "voice", tmp_out / "clips"
    clips.mkdir()
    (clips / "wavs").symlink_to(corpus / "wavs")
    name = held_out[0]["speaker_name"]
    lines = [f"{Path(s['audio_file']).relative_to(corpus)}|{s['text']}|{name}" for s in held_out
             if s["speaker_name"] == name]
    (clips / "metadata.csv").write_text("\n".join(["audio_file|text|speaker_name", *lines]) + "\n")
    info = adapt(str(checkpoint), str(run / "config.json"), str(clips), name, shots=2,
                 steps=2, out_path=str(voice), progress=False, settings=AdaptationSettings(device="cpu"))
    assert info.inner_lr_mode == "per_tensor_step" and set(info.rates) == set(names)
    assert json.loads((voice / "adapt.json").read_text())["rates"] == info.rates
    voice_state = torch.load(voice / "model.pth", weights_only=True)["model"]
    assert not any(k.startswith("meta_inner_lrs.") for k in voice_state)


def test_the_multi_step_loss_is_the_mean_query_loss_before_and_after_each_step(corpus_samples):
    from coqui_meta.algorithms.inner_loop import TorchTaskModel, adapt
    from coqui_meta.seeds import TaskSeeds, seeded

    model, tasks = rate_model(corpus_samples, "maml", "per_tensor_step", 2)
    model.config.meta.multi_step_loss = True
    support, query = tasks[0]
    model.zero_grad(set_to_none=True)
    (result,) = model.meta_algorithm.outer_backward(tasks, seeds=[5])
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}

    model.zero_grad(set_to_none=True)
    seeds, task = TaskSeeds(5), TorchTaskModel(model, model.meta_adapted_names(), second_order=True)
    losses = []
    for step in range(3):
        with seeded(seeds.query()):
            losses.append(task.loss(query, outer=True)[0])
        if step < 2:
            adapt(task, support, 1, model.meta_algorithm.inner_optimizer(), True, seeds, first=step)
    (sum(losses) / 3).backward()
    assert result.query_loss == pytest.approx(float(losses[-1]), rel=1e-6)
    assert {n for n, p in model.named_parameters() if p.grad is not None} == set(grads)
    for name, param in model.named_parameters():
        if param.grad is not None:
            torch.testing.assert_close(grads[name], param.grad, rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize(("optimizer", "inner_lr"), [("sgd", 0.05), ("adam", 0.005)])
def test_proto_maml_learns_the_rate_of_its_voice_too(corpus_samples, optimizer, inner_lr):
    """The d-vector (the prototype the task starts from) has a learned rate like the adapted modules: with one
    first-order step its gradient is the exact derivative of the query loss, for SGD's step and for Adam's (whose
    direction is a constant of the outer step, so the rate's gradient is still exact)."""
    samples = pick(corpus_samples, speakers=2, clips=3, max_seconds=2.6, seed=1)
    meta = MetaLearningConfig(algorithm="proto_maml", first_order=True, inner_steps=1, inner_lr=inner_lr,
                              inner_optimizer=optimizer,
                              inner_lr_mode="per_tensor", prototype_loss_weight=0.0, n_way=2, k_shot=2, q_query=1,
                              meta_batch_size=2)
    torch.manual_seed(0)
    model = build_meta_model("vits", meta, [], max_audio_seconds=3.0)
    tasks = first_meta_batch(model, samples, is_eval=False)["tasks"]
    column = model.meta_inner_lrs.names.index("d_vector")
    _, gradient = query_loss_and_rate_gradient(model, tasks, [3, 4])
    assert gradient[0, column] != 0
    losses = []
    for sign in (1, -1):  # 0.05 in log-rate: the losses are float32, a step of 5e-3 was 4% rounding on a Xeon
        with torch.no_grad():
            model.meta_inner_lrs.log_lr[0, column] += sign * 5e-2
        losses.append(query_loss_and_rate_gradient(model, tasks, [3, 4])[0])
        with torch.no_grad():
            model.meta_inner_lrs.log_lr[0, column] -= sign * 5e-2
    assert (losses[0] - losses[1]) / 1e-1 == pytest.approx(float(gradient[0, column]), rel=0.01, abs=1e-3)
