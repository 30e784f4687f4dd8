"""`protonet` and `proto_maml` on MetaVits and MetaTacotron2: config, meta-gradients, and training with Coqui's
Trainer."""

import glob
import json
from pathlib import Path

import pytest
import torch
from conftest import build_meta_model, corpus_subset, first_meta_batch, pick, run_cli

from coqui_meta import MetaLearningConfig, MetaVits, MetaVitsConfig
from coqui_meta.algorithms.inner_loop import D_VECTOR, adapt, make_task_model
from coqui_meta.algorithms.inner_rules import InnerOptimizer
from coqui_meta.algorithms.prototypes import prototypes, prototypical_loss
from coqui_meta.seeds import TaskSeeds, seeded
from coqui_meta_lab.presets import small_vits_config


def test_from_config_switches_to_the_d_vector_input_and_bad_configs_name_the_field():
    config = MetaVitsConfig.from_config(
        small_vits_config(speakers=["a", "b"]), meta=MetaLearningConfig(algorithm="protonet")
    )
    assert config.model_args.use_d_vector_file and not config.model_args.use_speaker_embedding
    assert config.model_args.d_vector_dim == 64
    model = MetaVits(config)
    assert model.prototype_encoder.dim == 64 and not hasattr(model, "emb_g")
    assert model.meta_adapted_names()[0] == D_VECTOR

    table = MetaVitsConfig.from_config(small_vits_config(speakers=["a", "b"]))
    table.meta.algorithm = "proto_maml"
    with pytest.raises(ValueError, match="use_d_vector_file"):
        MetaVits(table)
    with pytest.raises(ValueError, match="meta.backend"):
        MetaLearningConfig(algorithm="protonet", backend="learn2learn")
    with pytest.raises(ValueError, match="meta.prototype_distance"):
        MetaLearningConfig(algorithm="protonet", prototype_distance="manhattan")


def naive_outer_gradient(model, tasks, seeds, steps: int, second_order: bool, reconstruction_grad: bool):
    """The meta-gradient written as one loss and one backward: mean query loss conditioned on each task's prototype
    (after ``steps`` inner steps; cut from the encoder unless ``reconstruction_grad``) plus the weighted prototypical
    loss of the meta-batch."""
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


@pytest.mark.parametrize(
    ("kind", "algorithm", "first_order", "reconstruction_grad"),
    [("vits", "protonet", False, True), ("vits", "protonet", False, False), ("vits", "proto_maml", False, True),
     ("tacotron2", "proto_maml", True, False)],
)
def test_the_task_by_task_meta_gradient_equals_one_backward_of_the_whole_loss(
    corpus_samples, kind, algorithm, first_order, reconstruction_grad
):
    mine, expected = task_by_task_and_whole_loss_gradients(corpus_samples, kind, algorithm, first_order,
                                                          reconstruction_grad, device="cpu")
    for name in expected:
        assert torch.allclose(mine[name], expected[name], rtol=1e-3, atol=1e-6), name


def task_by_task_and_whole_loss_gradients(corpus_samples, kind, algorithm, first_order, reconstruction_grad, device):
    """The meta-gradient of ``outer_backward`` and of `naive_outer_gradient` on one real meta-batch, on ``device``."""
    samples = pick(corpus_samples, speakers=2, clips=3, max_seconds=2.5, seed=5)
    meta = MetaLearningConfig(algorithm=algorithm, n_way=2, k_shot=2, q_query=1, meta_batch_size=2, inner_steps=1,
                              inner_lr=0.01, first_order=first_order, prototype_loss_weight=0.5,
                              prototype_reconstruction_grad=reconstruction_grad)
    torch.manual_seed(0)
    model = build_meta_model(kind, meta, []).to(device)
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


@pytest.mark.slow
def test_cli_trains_protonet_then_evaluates_and_makes_a_zero_step_voice_from_the_checkpoint(
    corpus, corpus_samples, tmp_out
):
    from TTS.api import TTS

    speakers = sorted({s["speaker_name"] for s in pick(corpus_samples, 6, 6, 4.0, seed=6)})
    stock_config = small_vits_config(output_path=str(tmp_out / "run"), speakers=speakers)
    from coqui_meta_lab.presets import speechocean_dataset

    stock_config.datasets = [speechocean_dataset(str(corpus_subset(corpus, speakers, tmp_out / "data")))]
    config = MetaVitsConfig.from_config(
        stock_config, meta=MetaLearningConfig(algorithm="protonet", n_way=2, k_shot=2, q_query=1, meta_batch_size=2,
                                              eval_tasks=speakers[4:], episodes_per_epoch=2, eval_episodes=1),
    )
    config.save_json(str(tmp_out / "config.json"))
    result = run_cli("train", "--config_path", str(tmp_out / "config.json"), "--coqpit.epochs", "1", cwd=tmp_out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = Path(glob.glob(str(tmp_out / "run" / "*" / "best_model.pth"))[0]).parent  # not a cache beside it
    state = torch.load(run_dir / "best_model.pth", map_location="cpu", weights_only=True)["model"]
    assert any(key.startswith("prototype_encoder.") for key in state) and "emb_g.weight" not in state
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["speakers"] == speakers[:4], "the training speakers are recorded"
    assert "prototype_accuracy" in result.stdout + result.stderr

    # evaluate: step 0 is the prototype voice; only speakers the encoder never saw
    result = run_cli(
        "evaluate",
        "--model_path",
        str(run_dir / "best_model.pth"),
        "--config_path",
        str(run_dir / "config.json"),
        "--data",
        str(tmp_out / "data"),
        "--speakers",
        "1",
        "--shots",
        "2",
        "--queries",
        "1",
        "--steps",
        "0,1",
        "--out_path",
        str(tmp_out / "eval"),
        cwd=tmp_out,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_out / "eval" / "report.json").read_text())
    assert report["algorithm"] == "protonet" and report["speakers"][0] in speakers[4:]
    assert set(report["query_loss"]) == {"0", "1"}

    # a zero-step voice; the other voices are the training speakers' prototypes, from the config's corpus
    import soundfile

    new = speakers[5]
    clips = tmp_out / "clips"
    clips.mkdir()
    for index, sample in enumerate(s for s in corpus_samples if s["speaker_name"] == new and s["seconds"] < 4.0):
        soundfile.write(str(clips / f"{index}.wav"), soundfile.read(sample["audio_file"])[0], 16000)
        (clips / f"{index}.txt").write_text(sample["text"])
    result = run_cli(
        "adapt",
        "--model_path",
        str(run_dir / "best_model.pth"),
        "--config_path",
        str(run_dir / "config.json"),
        "--data",
        str(clips),
        "--speaker",
        new,
        "--shots",
        "3",
        "--steps",
        "0",
        "--out_path",
        str(tmp_out / "voice"),
        cwd=tmp_out,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "d_vectors.json" in result.stdout
    tts = TTS(model_path=str(tmp_out / "voice" / "model.pth"), config_path=str(tmp_out / "voice" / "config.json"),
              progress_bar=False)
    assert sorted(tts.speakers) == sorted(speakers[:4] + [new])
    torch.manual_seed(0)
    wav = torch.tensor(tts.tts(text="it was good for me", speaker=new))
    assert wav.numel() > 1000 and wav.pow(2).mean().sqrt() > 1e-3
