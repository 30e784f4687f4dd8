"""Coqui's released models through ``--model_name`` (and their folders through ``--model_path``), offline: a
temporary Coqui cache (``TTS_HOME``) holds folders laid out as ``ModelManager`` leaves a download
(`released_layout`), and stock Coqui speaks what ``adapt`` writes. Bad input is refused before anything is
written."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from conftest import corpus_subset, pick, run_cli
from released_layout import (
    LJSPEECH_VITS,
    TACOTRON2_DDC,
    VCTK,
    VCTK_SPEAKERS,
    VOCODER,
    YOUR_TTS,
    folder_name,
    released_config,
)

from coqui_meta.cli import main

pytestmark = pytest.mark.skipif(not shutil.which("espeak-ng") and not shutil.which("espeak"),
                                reason="the released VITS configs phonemize with espeak (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def clips(tmp_path_factory, corpus_samples):
    """Three short clips of one corpus speaker as name.wav + name.txt."""
    folder = tmp_path_factory.mktemp("clips")
    for index, sample in enumerate(pick(corpus_samples, 1, 3, 3.0, seed=1)):
        wav, rate = soundfile.read(sample["audio_file"], dtype="float32")
        soundfile.write(str(folder / f"clip{index}.wav"), wav, rate)
        (folder / f"clip{index}.txt").write_text(sample["text"] + "\n")
    return folder


@pytest.fixture()
def cache(monkeypatch, released_home):
    """``cache(NAME, reduced=True)``: TTS_HOME set to a cache holding NAME; returns the model's folder."""

    def holding(name, reduced=True):
        home = released_home(name, reduced)
        monkeypatch.setenv("TTS_HOME", str(home))
        return home / "tts" / folder_name(name)

    return holding


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def stock_tts(out: Path, *flags) -> np.ndarray:
    """Stock Coqui's ``tts`` command on the folder ``adapt`` wrote: the wav it speaks."""
    wav = out / "stock.wav"
    command = [str(Path(sys.executable).parent / "tts"), "--model_path", str(out / "model.pth"), "--config_path",
               str(out / "config.json"), "--text", "it was good for me", "--out_path", str(wav), *flags]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return soundfile.read(wav)[0]


def audible(wav) -> bool:
    return wav.size > 1000 and float(np.sqrt(np.mean(np.square(wav)))) > 1e-4


def test_vctk_vits_at_its_released_size_adapts_by_name_and_stock_coqui_speaks_the_voice(cache, clips, tmp_path):
    folder = cache(VCTK, reduced=False)
    out = tmp_path / "anna"
    assert main(["adapt", "--model_name", VCTK, "--data", str(clips), "--speaker", "anna", "--shots", "2", "--steps",
                 "1", "--out_path", str(out), "--device", "cpu"]) == 0
    info = json.loads((out / "adapt.json").read_text())
    assert info["base_model"] == str(folder / "model_file.pth") and info["steps"] == 1
    assert json.loads((folder / "config.json").read_text())["model_args"]["hidden_channels"] == 192  # released size
    assert audible(stock_tts(out, "--speaker_idx", "anna"))

    from TTS.api import TTS

    tts = TTS(model_path=str(out / "model.pth"), config_path=str(out / "config.json"), progress_bar=False)
    assert tts.speakers == VCTK_SPEAKERS + ["anna"]
    torch.manual_seed(0)
    assert audible(np.asarray(tts.tts(text="it was good for me", speaker="anna"), dtype=np.float32))


def test_your_tts_by_name_starts_the_voice_from_the_encoder_in_its_folder_offline(cache, clips, tmp_path):
    folder = cache(YOUR_TTS)
    out = tmp_path / "bea"
    assert main(["adapt", "--model_name", YOUR_TTS, "--encoder", "coqui", "--language", "en", "--data", str(clips),
                 "--speaker", "bea", "--shots", "2", "--steps", "1", "--out_path", str(out), "--device", "cpu"]) == 0
    info = json.loads((out / "adapt.json").read_text())
    assert info["voice_start"] == "coqui speaker encoder" and info["language"] == "en"
    # the encoder and the files ModelManager found in the cache folder, not the paths the release's config names
    config = json.loads((out / "config.json").read_text())
    assert config["model_args"]["speaker_encoder_model_path"] == str(folder / "model_se.pth")
    assert audible(stock_tts(out, "--speaker_idx", "bea", "--language_idx", "en"))


def test_a_release_folder_is_read_whatever_paths_its_config_names_and_is_left_as_it_was(released_home, tmp_path):
    from coqui_meta.formats.checkpoints import load_model
    from coqui_meta.released import resolve

    mine = tmp_path / "my_your_tts"  # a release's folder outside the cache, its config as the release ships it
    shutil.copytree(released_home(YOUR_TTS) / "tts" / folder_name(YOUR_TTS), mine)
    (mine / "config.json").write_text(json.dumps(released_config(YOUR_TTS, reduced=True)))
    shipped = json.loads((mine / "config.json").read_text())
    assert shipped["d_vector_file"].startswith("/raid/") and not Path(shipped["d_vector_file"]).exists()
    before = {name: (mine / name).read_bytes() for name in files_under(mine)}

    release = resolve(model_path=str(mine))
    assert release.model_file == mine / "model_file.pth" and release.config_path.parent != mine
    loaded = load_model(release.model_file, release.config_path, encoder="coqui")
    assert loaded.model.meta_voice_is_d_vector
    read = json.loads(release.config_path.read_text())
    assert read["d_vector_file"] == str(mine / "speakers.json")
    assert read["model_args"]["language_ids_file"] == str(mine / "language_ids.json")
    assert read["model_args"]["speaker_encoder_config_path"] == str(mine / "config_se.json")
    assert {name: (mine / name).read_bytes() for name in files_under(mine)} == before  # nothing written there

    # a model file inside such a folder, and a Tacotron2 release's default vocoder as models.json names it
    assert resolve(model_path=str(mine / "model_file.pth")).model_file == mine / "model_file.pth"
    tacotron = released_home(TACOTRON2_DDC) / "tts" / folder_name(TACOTRON2_DDC)
    assert resolve(model_path=str(tacotron)).default_vocoder == VOCODER


def resampled_corpus(samples, folder: Path, rate: int) -> Path:
    """The clips of ``samples`` at ``rate`` (the release's; the shared corpus is at 16 kHz) as a coqui-format corpus."""
    import librosa

    (folder / "wavs").mkdir(parents=True)
    lines = ["audio_file|text|speaker_name"]
    for index, sample in enumerate(samples):
        wav, source = soundfile.read(sample["audio_file"], dtype="float32")
        soundfile.write(str(folder / "wavs" / f"{index}.wav"), librosa.resample(wav, orig_sr=source, target_sr=rate),
                        rate)
        lines.append(f"wavs/{index}.wav|{sample['text']}|{sample['speaker_name']}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_evaluate_by_name(cache, corpus_samples, tmp_path):
    cache(VCTK)
    chosen = pick(corpus_samples, 2, 2, 3.0, seed=2)
    speakers = sorted({s["speaker_name"] for s in chosen})
    data = resampled_corpus(chosen, tmp_path / "data", 22050)
    out = tmp_path / "eval"
    assert main(["evaluate", "--model_name", VCTK, "--data", str(data), "--speakers", "2", "--shots", "1",
                 "--queries", "1", "--steps", "0,1", "--out_path", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == "vits" and sorted(report["speakers"]) == speakers
    assert sorted(int(step) for step in report["query_loss"]) == [0, 1]


def test_train_meta_trains_a_released_model_by_name_into_a_checkpoint_stock_coqui_loads(
    cache, corpus, corpus_samples, tmp_path
):
    from conftest import run_cli
    from TTS.tts.models.vits import Vits

    from coqui_meta import MetaVitsConfig

    folder = cache(VCTK)
    speakers = sorted({s["speaker_name"] for s in pick(corpus_samples, 4, 3, 3.0, seed=3)})
    data = corpus_subset(corpus, speakers, tmp_path / "data")
    meta = {"meta": {"algorithm": "fomaml", "n_way": 2, "k_shot": 1, "q_query": 1, "meta_batch_size": 1,
                     "episodes_per_epoch": 1, "inner_steps": 1},
            "datasets": [{"formatter": "coqui", "path": str(data), "meta_file_train": "metadata.csv"}],
            "output_path": str(tmp_path / "run"), "epochs": 2, "phoneme_cache_path": str(tmp_path / "phonemes"),
            "test_sentences": [], "max_audio_len": 4 * 22050, "num_loader_workers": 0, "num_eval_loader_workers": 0}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    result = run_cli("train", "--model_name", VCTK, "--config_path", str(tmp_path / "meta.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "starting fresh: disc, emb_g" in result.stdout  # the rest from the release
    run_dir = next((tmp_path / "run").glob("meta-vctk-vits-*/best_model.pth")).parent
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["model"] == "meta_vits" and saved["epochs"] == 2 and saved["meta"]["n_way"] == 2
    release = json.loads((folder / "config.json").read_text())
    assert saved["model_args"]["hidden_channels"] == release["model_args"]["hidden_channels"]  # the release's model
    assert saved["audio"]["sample_rate"] == release["audio"]["sample_rate"] == 22050
    checkpoint = torch.load(run_dir / "best_model.pth", map_location="cpu", weights_only=True)
    assert checkpoint["step"] == 2  # one meta-step an epoch, two epochs

    config = MetaVitsConfig()
    config.from_dict(saved)
    stock = Vits.init_from_config(config.to_stock())
    stock.load_checkpoint(config.to_stock(), str(run_dir / "best_model.pth"), strict=True)
    base = torch.load(folder / "model_file.pth", map_location="cpu", weights_only=True)["model"]
    assert base.keys() <= stock.state_dict().keys()


def test_bad_names_and_kinds_are_refused_before_anything_is_written(cache, clips, tmp_path):
    cache(YOUR_TTS)
    home = cache(VCTK).parent
    before = files_under(home)
    out = tmp_path / "out"

    def refused(*args, speaker="new"):
        result = run_cli("adapt", *args, "--data", clips, "--speaker", speaker, "--shots", "2", "--out_path", out)
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert not out.exists() and files_under(home) == before
        return result.stderr

    unknown = refused("--model_name", "tts_models/en/vctk/vitz")
    assert "not a model Coqui lists" in unknown and "tts_models/en/vctk/vits" in unknown
    for name in ("tts_models/multilingual/multi-dataset/xtts_v2", "tts_models/en/ljspeech/glow-tts",
                 "tts_models/multilingual/multi-dataset/bark", "vocoder_models/en/ljspeech/hifigan_v2"):
        message = refused("--model_name", name)
        assert "vits and tacotron2 models only" in message and len(message.strip().splitlines()) == 1
    glow = tmp_path / "glow"  # a folder whose config is of another kind
    glow.mkdir()
    (glow / "model_file.pth").write_bytes(b"")
    (glow / "config.json").write_text(json.dumps({"model": "glow_tts"}))
    assert "glow_tts model" in refused("--model_path", glow)
    assert "exists already" in refused("--model_name", VCTK, speaker="p225")  # a row of its speaker table
    assert "already a voice" in refused("--model_name", YOUR_TTS, "--language", "en", speaker="VCTK_p225")  # a d-vector
    assert "--model_name NAME or --model_path" in refused("--model_name", VCTK, "--model_path", glow)
    train = run_cli("train", "--model_name", "tts_models/en/ljspeech/glow-tts", "--config_path", clips / "x")
    assert train.returncode != 0 and "vits and tacotron2" in train.stderr
    train = run_cli("train", "--model_name", VCTK, "--config_path", tmp_path / "missing.json")
    assert train.returncode != 0 and "needs --config_path meta.json" in train.stderr


def test_offline_without_a_cached_copy_names_the_folder_to_place_the_files_in(monkeypatch, clips, tmp_path):
    home = tmp_path / "empty_cache"
    monkeypatch.setenv("TTS_HOME", str(home))
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")  # a closed port: the download fails at once, no network
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "out"
    result = run_cli("adapt", "--model_name", LJSPEECH_VITS, "--data", clips, "--speaker", "me", "--out_path", out)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    place = home.resolve() / "tts" / folder_name(LJSPEECH_VITS)
    assert f"in {place}/" in result.stderr and "download failed" in result.stderr and "TTS_HOME" in result.stderr
    assert not place.exists() and not out.exists()
