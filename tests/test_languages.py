"""Languages as tasks: a multilingual VITS (language embedding, espeak-ng phonemes) meta-trains with a task per
language, `adapt --language NEW` writes a model to which a language has been added and stock Coqui speaks it with
``--language_idx NEW``, and `evaluate --task_key language` measures held-out languages, meta and stock alike."""

import glob
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from conftest import first_meta_batch, run_cli, save_checkpoint

from coqui_meta import MetaLearningConfig, MetaVits, MetaVitsConfig

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (scripts/setup.sh)")

TRAINED = ["de", "es", "it"]
NEW = "pt"
SPEAKER = "espeak_m3"


@pytest.fixture(scope="module")
def languages(tmp_path_factory):
    from coqui_meta_lab.language_corpus import build_language_corpus

    folder = tmp_path_factory.mktemp("languages") / "languages"
    return build_language_corpus(folder, languages=[*TRAINED, NEW], clips_per_speaker=4, speakers=("m3", "f2"),
                                 progress=False)


def language_config(languages, output_path, **meta):
    from coqui_meta_lab.language_corpus import multilingual_vits_config

    stock = multilingual_vits_config(languages, TRAINED, output_path=str(output_path))
    settings = dict(algorithm="fomaml", task_key="language", inner_lr=0.01, n_way=2, k_shot=2, q_query=1,
                    meta_batch_size=2, episodes_per_epoch=2, eval_episodes=1)
    return MetaVitsConfig.from_config(stock, meta=MetaLearningConfig(**{**settings, **meta}))


@pytest.fixture(scope="module")
def multilingual_model(languages, tmp_path_factory):
    """A small random-init multilingual MetaVits of the training languages, saved with its meta and stock configs."""
    folder = tmp_path_factory.mktemp("multilingual")
    config = language_config(languages, folder)
    torch.manual_seed(0)
    return folder, save_checkpoint(folder, MetaVits(config))


def test_a_task_is_a_language_that_starts_from_the_mean_language_row(languages, multilingual_model):
    from TTS.tts.datasets import load_tts_samples

    _, model = multilingual_model
    assert model.meta_adapted_names()[0] == "emb_l.weight"
    assert {name.split(".")[0] for name in model.meta_adapted_names()} == {"emb_l", "text_encoder",
                                                                            "duration_predictor"}
    samples, _ = load_tts_samples(model.config, eval_split=False)
    tasks = first_meta_batch(model, samples, is_eval=False)["tasks"]
    for support, query in tasks:
        assert len(set(support["language_ids"].tolist() + query["language_ids"].tolist())) == 1
    initial = model.meta_task_init(dict(model.named_parameters()), model.meta_adapted_names())
    weight = model.emb_l.weight
    torch.testing.assert_close(initial["emb_l.weight"], weight.mean(0, keepdim=True).expand_as(weight))
    model.zero_grad(set_to_none=True)
    results = model.meta_algorithm.outer_backward(tasks, seeds=[1, 2])
    assert all(np.isfinite(r.query_loss) for r in results)
    assert model.emb_l.weight.grad is not None and model.emb_l.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def tts_language(folder, language, out, speaker=SPEAKER):
    import subprocess

    code = ("import sys, torch; torch.manual_seed(0); from TTS.bin.synthesize import main; sys.argv = sys.argv[1:]; "
            "main()")
    return subprocess.run(
        [sys.executable, "-c", code, "tts", "--model_path", str(folder / "model.pth"), "--config_path",
         str(folder / "config.json"), "--speaker_idx", speaker, "--language_idx", language, "--text",
         "uma casa grande", "--out_path", str(out)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600,
    )


def test_adapt_adds_a_language_that_stock_coqui_speaks(languages, multilingual_model, tmp_path):
    folder, _ = multilingual_model
    out = tmp_path / "pt"
    result = run_cli("adapt", "--model_path", str(folder / "model.pth"), "--config_path",
                     str(folder / "meta_config.json"), "--data", str(languages / NEW), "--language", NEW,
                     "--shots", "4", "--steps", "2", "--out_path", str(out), "--device", "cpu")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    info = json.loads((out / "adapt.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "vits" and config["languages"] == [*TRAINED, NEW]
    assert any(d["language"] == NEW and d["phonemizer"] == "espeak" for d in config["datasets"])
    state = torch.load(out / "model.pth", weights_only=True)["model"]
    base = torch.load(folder / "model.pth", weights_only=True)["model"]
    assert state["emb_l.weight"].shape[0] == len(TRAINED) + 1
    assert torch.equal(state["emb_l.weight"][: len(TRAINED)], base["emb_l.weight"]), "old languages' rows as they were"
    assert not torch.allclose(state["emb_l.weight"][-1], base["emb_l.weight"].mean(0)), "the steps moved the new row"
    assert len(info["support_loss"]) == 2 and info["language"] == NEW

    wavs = {}
    for language in (NEW, TRAINED[0]):
        spoken = tts_language(out, language, tmp_path / f"{language}.wav")
        assert spoken.returncode == 0, spoken.stderr[-2000:]
        wavs[language] = soundfile.read(tmp_path / f"{language}.wav")[0]
    assert wavs[NEW].size > 1000 and np.sqrt(np.mean(wavs[NEW] ** 2)) > 1e-3
    length = min(len(w) for w in wavs.values())
    assert not np.allclose(wavs[NEW][:length], wavs[TRAINED[0]][:length], atol=1e-3)


def test_a_wrong_language_is_refused_by_name_before_any_step(languages, multilingual_model, tiny_vits, tmp_path):
    folder, _ = multilingual_model

    def refused(model, config, language, match):
        out = tmp_path / language
        result = run_cli("adapt", "--model_path", str(model), "--config_path", str(config), "--data",
                         str(languages / NEW), "--language", language, "--shots", "2", "--steps", "1", "--out_path",
                         str(out), "--device", "cpu")
        assert result.returncode != 0 and match in result.stderr, result.stderr[-2000:]
        assert not out.exists()

    refused(folder / "model.pth", folder / "meta_config.json", "xx-nope",
            "espeak-ng does not know the language 'xx-nope'")
    refused(folder / "model.pth", folder / "meta_config.json", TRAINED[0], f"--language '{TRAINED[0]}' exists already")
    tiny, _ = tiny_vits
    refused(tiny / "model.pth", tiny / "meta_config.json", NEW, "MetaVits has no language embedding")


@pytest.mark.parametrize("config_name", ["meta_config.json", "stock_config.json"])
def test_evaluate_measures_a_held_out_language_for_meta_and_stock_checkpoints(languages, multilingual_model, tmp_path,
                                                                              config_name):
    from coqui_meta.judging.evaluation import evaluate

    folder, _ = multilingual_model
    report = evaluate(str(folder / "model.pth"), str(folder / config_name), str(languages), speakers=1, shots=2,
                      queries=2, steps=[0, 1], out_path=str(tmp_path / "eval"), similarity=False, progress=False,
                      task_key="language")
    assert report.task_key == "language" and report.speakers == [NEW]
    assert report.adapt_modules[0] == "emb_l.weight"
    assert all(np.isfinite(report.query_loss[step]) for step in (0, 1))
    assert report.query_loss[0] != report.query_loss[1]


@pytest.mark.slow
def test_coqui_meta_train_meta_trains_languages(languages, tmp_out):
    config = language_config(languages, tmp_out / "run", eval_tasks=[TRAINED[2]], n_way=1)
    config.save_json(str(tmp_out / "config.json"))
    result = run_cli("train", "--config_path", str(tmp_out / "config.json"), "--coqpit.epochs", "1", cwd=tmp_out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "held-out language values: it" in result.stdout + result.stderr
    run_dir = Path(glob.glob(str(tmp_out / "run" / "*" / "best_model.pth"))[0]).parent  # not a cache beside it
    state = torch.load(run_dir / "best_model.pth", map_location="cpu", weights_only=True)["model"]
    assert state["emb_l.weight"].shape[0] == len(TRAINED)


def test_training_refuses_a_dataset_language_espeak_does_not_know(languages, tmp_out):
    config = language_config(languages, tmp_out / "run", eval_tasks=[TRAINED[2]], n_way=1)
    config.datasets[0].language = "xx-nope"
    config.save_json(str(tmp_out / "config.json"))
    result = run_cli("train", "--config_path", str(tmp_out / "config.json"))
    assert result.returncode != 0
    assert f"dataset {TRAINED[0]}: espeak-ng does not know the language 'xx-nope'" in result.stderr, result.stderr
    assert not (tmp_out / "run").exists()


def yourtts_config(languages, d_vectors, output_path, **meta):
    """YourTTS's shape, small: a multilingual VITS whose voices are d-vectors of a speaker encoder (no speaker
    table)."""
    config = language_config(languages, output_path, **meta)
    for holder in (config, config.model_args):
        holder.use_speaker_embedding = False
        holder.use_d_vector_file = True
        holder.d_vector_file = [str(d_vectors)]
        holder.d_vector_dim = 16
    return config


@pytest.mark.slow
def test_the_yourtts_shape_learns_a_new_voice_and_a_new_language_that_stock_coqui_speaks(languages, coqui_encoder,
                                                                                          tmp_path):
    """A d-vector file of the multilingual corpus from Coqui's own encoder (`embed --encoder coqui`), a YourTTS-shaped
    model on it, then a new voice (speaker task) and a new language (language task), each spoken by stock Coqui."""
    d_vectors = tmp_path / "d_vectors.json"
    result = run_cli("embed", "--encoder", "coqui", "--encoder_model_path", coqui_encoder[0], "--encoder_config_path",
                     coqui_encoder[1], "--data", str(languages), "--out_path", str(d_vectors))
    assert result.returncode == 0, result.stderr[-2000:]
    entries = json.loads(d_vectors.read_text())
    assert f"{TRAINED[0]}#wavs/{SPEAKER}/{SPEAKER}_000" in entries, "keyed as each language's dataset keys its clips"
    config = yourtts_config(languages, d_vectors, tmp_path, task_key="speaker_name")
    config.model_args.speaker_encoder_model_path, config.model_args.speaker_encoder_config_path = coqui_encoder
    torch.manual_seed(0)
    save_checkpoint(tmp_path, MetaVits(config), config_name="config.json", stock_name=None)
    common = ["--model_path", str(tmp_path / "model.pth"), "--config_path", str(tmp_path / "config.json"),
              "--shots", "3", "--steps", "1", "--device", "cpu"]
    clips = tmp_path / "clips"  # a new voice: a corpus speaker's Italian clips, under a new name
    clips.mkdir()
    for index, wav in enumerate(sorted((languages / "it" / "wavs" / "espeak_f2").glob("*.wav"))[:3]):
        shutil.copy(wav, clips / f"{index}.wav")
        (clips / f"{index}.txt").write_text("una casa grande")
    result = run_cli("adapt", *common, "--data", clips, "--speaker", "zoe", "--out_path", tmp_path / "zoe")
    assert result.returncode != 0 and "the clips do not say theirs; give --language" in result.stderr
    result = run_cli("adapt", *common, "--data", str(clips), "--speaker", "zoe", "--language", "it", "--out_path",
                     str(tmp_path / "zoe"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert json.loads((tmp_path / "zoe" / "adapt.json").read_text())["voice_start"] == "coqui speaker encoder"
    spoken = tts_language(tmp_path / "zoe", "it", tmp_path / "zoe.wav", speaker="zoe")
    assert spoken.returncode == 0, spoken.stderr[-2000:]

    result = run_cli("adapt", *common, "--data", str(languages / NEW), "--language", NEW, "--out_path",
                     str(tmp_path / NEW))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    spoken = tts_language(tmp_path / NEW, NEW, tmp_path / "pt.wav")
    assert spoken.returncode == 0, spoken.stderr[-2000:]
    wav = soundfile.read(tmp_path / "pt.wav")[0]
    assert wav.size > 1000 and np.sqrt(np.mean(wav**2)) > 1e-3
