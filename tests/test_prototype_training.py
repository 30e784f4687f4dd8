"""`protonet` and `proto_maml` on MetaVits and MetaTacotron2: config, meta-gradients, and training with Coqui's
Trainer."""

import glob
import json
from pathlib import Path

import pytest
import torch
from conftest import corpus_subset, pick, run_cli
from helpers import task_by_task_and_whole_loss_gradients

from coqui_meta import MetaLearningConfig, MetaVits, MetaVitsConfig
from coqui_meta.algorithms.inner_loop import D_VECTOR
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
