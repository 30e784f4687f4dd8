"""Coqui's one-speaker releases as users have them (`released_layout`: a Coqui cache with random weights, LJSpeech's
VITS and Tacotron2-DDC at reduced widths, their layout and config fields as released): ``coqui-meta adapt
--model_name`` fine-tunes the one voice to the clips' and the result stays one-speaker, spoken by stock ``tts``
(no ``--speaker_idx``) and loaded by ``TTS.api``; a Tacotron2's sample and ``evaluate``'s renditions are spoken
through the vocoder the user names (or the release's default, as ``tts --model_name`` does), Griffin-Lim only when
none is, and both say which."""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from released_layout import LJSPEECH_VITS, TACOTRON2_DDC, VOCODER, lay_out

TTS_BIN = Path(sys.executable).parent / "tts"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A Coqui cache holding LJSpeech's VITS and Tacotron2-DDC (with HiFiGAN v2). The Tacotron2's random stopnet is
    set to stop at once, as a trained one stops, so that stock ``tts`` does not run to max_decoder_steps."""
    folder = tmp_path_factory.mktemp("tts_home")
    lay_out(folder, LJSPEECH_VITS, reduced=True)
    tacotron2 = lay_out(folder, TACOTRON2_DDC, reduced=True) / "model_file.pth"
    state = torch.load(tacotron2, weights_only=True)
    for name in ("decoder.stopnet.1.linear_layer.bias", "coarse_decoder.stopnet.1.linear_layer.bias"):
        state["model"][name] = torch.full_like(state["model"][name], 10.0)
    torch.save(state, tacotron2)
    return folder


@pytest.fixture()
def cache(home, monkeypatch):
    monkeypatch.setenv("TTS_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def new_speaker(corpus_samples) -> str:
    return sorted({s["speaker_name"] for s in corpus_samples})[-1]


@pytest.fixture(scope="module")
def corpus_22k(corpus_samples, new_speaker, tmp_path_factory) -> Path:
    """Two short clips of ``new_speaker`` at the releases' 22050 Hz, as a coqui-format corpus (`evaluate` takes a
    corpus at the model's rate)."""
    import librosa
    import soundfile

    folder = tmp_path_factory.mktemp("corpus_22k")
    clips = sorted((s for s in corpus_samples if s["speaker_name"] == new_speaker), key=lambda s: s["seconds"])[:2]
    lines = ["audio_file|text|speaker_name"]
    for index, sample in enumerate(clips):
        wav, _ = librosa.load(sample["audio_file"], sr=22050)
        soundfile.write(str(folder / f"clip{index}.wav"), wav, 22050)
        lines.append(f"clip{index}.wav|{sample['text']}|{new_speaker}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")
    return folder


def run_stock_tts(try_line: str, wav: Path) -> None:
    """The ``Try: tts ...`` line adapt printed, run as printed, into ``wav``."""
    words = shlex.split(try_line.split("Try: ", 1)[1])
    words[words.index("--out_path") + 1] = str(wav)
    result = subprocess.run([str(TTS_BIN), *words[1:]], capture_output=True, text=True, timeout=600,
                            env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(wav.parent)})
    assert result.returncode == 0 and wav.is_file(), result.stderr[-3000:]


def test_a_one_speaker_vits_is_fine_tuned_to_the_new_voice_and_stays_one_speaker(cache, corpus, new_speaker, tmp_path):
    out = tmp_path / "me"
    result = run_cli("adapt", "--model_name", LJSPEECH_VITS, "--data", corpus, "--speaker", new_speaker,
                         "--shots", "2", "--steps", "1", "--out_path", out, "--device", "cpu")
    assert result.returncode == 0, result.stderr[-3000:]
    try_line = next(line for line in result.stdout.splitlines() if line.startswith("Try: tts"))
    assert "--speaker_idx" not in try_line and "--vocoder" not in try_line
    info = json.loads((out / "adapt.json").read_text())
    assert info["single_speaker"] and info["voice_start"] == "the model's one voice" and info["step_seconds"] > 0
    assert info["vocoder"] == "the model's own waveform decoder"
    assert not any(name.startswith("emb_g") for name in info["adapt_modules"])
    assert {name.split(".")[0] for name in info["adapt_modules"]} == {"duration_predictor", "flow", "waveform_decoder"}
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "vits" and not config["use_speaker_embedding"]
    assert not config["model_args"]["use_speaker_embedding"] and not (out / "speakers.json").exists()
    base = torch.load(cache / "tts" / "tts_models--en--ljspeech--vits" / "model_file.pth", weights_only=True)["model"]
    voice = torch.load(out / "model.pth", weights_only=True)["model"]
    moved = [name for name in info["adapt_modules"] if not torch.equal(voice[name], base[name])]
    assert moved and all(torch.equal(voice[name], base[name]) for name in base if name.startswith("text_encoder."))

    run_stock_tts(try_line, tmp_path / "hello.wav")
    from TTS.api import TTS

    assert len(TTS(model_path=str(out / "model.pth"), config_path=str(out / "config.json")).tts("Hello there.")) > 0


def test_a_tacotron2_speaks_through_the_vocoder_named_and_stock_coqui_speaks_it(cache, corpus, corpus_22k,
                                                                                  new_speaker, tmp_path):
    out = tmp_path / "me"
    result = run_cli("adapt", "--model_name", TACOTRON2_DDC, "--data", corpus, "--speaker", new_speaker,
                         "--shots", "2", "--steps", "1", "--out_path", out, "--device", "cpu")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Sample spoken through: {VOCODER} (hifigan)" in result.stdout  # the release's default, as tts does
    info = json.loads((out / "adapt.json").read_text())
    assert info["vocoder"] == f"{VOCODER} (hifigan)" and info["single_speaker"]
    try_line = next(line for line in result.stdout.splitlines() if line.startswith("Try: tts"))
    assert "--vocoder_path" in try_line and "--vocoder_config_path" in try_line and "--speaker_idx" not in try_line
    run_stock_tts(try_line, tmp_path / "hello.wav")

    folder = cache / "tts" / "tts_models--en--ljspeech--tacotron2-DDC"  # by folder: no release, no default vocoder
    griffin = run_cli("adapt", "--model_path", folder, "--data", corpus, "--speaker", new_speaker, "--shots", "1",
                          "--steps", "0", "--out_path", tmp_path / "gl", "--device", "cpu")
    assert griffin.returncode == 0 and "Sample spoken through: griffin-lim" in griffin.stdout, griffin.stderr[-3000:]

    vocoder = cache / "tts" / "vocoder_models--en--ljspeech--hifigan_v2"
    report = tmp_path / "eval"
    evaluated = run_cli("evaluate", "--model_path", folder, "--vocoder_path", vocoder / "model_file.pth",
                            "--vocoder_config_path", vocoder / "config.json", "--data", corpus_22k, "--speakers", "1",
                            "--shots", "1", "--queries", "1", "--steps", "0", "--out_path", report, "--device", "cpu")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert f"Renditions spoken through: {vocoder / 'model_file.pth'} (hifigan)" in evaluated.stdout
    assert json.loads((report / "report.json").read_text())["vocoder"] == f"{vocoder / 'model_file.pth'} (hifigan)"


def test_a_vocoder_is_refused_for_vits_and_an_unknown_name_names_the_released_ones(cache, corpus, tmp_path):
    for flags, message in ((["--model_name", LJSPEECH_VITS, "--vocoder_name", VOCODER], "its own waveform decoder"),
                           (["--model_name", TACOTRON2_DDC, "--vocoder_name", "vocoder_models/en/ljspeech/nope"],
                            "not one of Coqui's released vocoders")):
        result = run_cli("adapt", *flags, "--data", corpus, "--speaker", "x", "--shots", "1", "--steps", "0",
                             "--out_path", tmp_path / "v", "--device", "cpu")
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert not (tmp_path / "v").exists()


def test_a_one_speaker_vits_meta_trained_gains_a_speaker_table_and_starts_as_its_old_voice(corpus_samples, tmp_path):
    """Meta-training on speaker tasks needs a speaker input: a one-speaker VITS gains Coqui's speaker table of the
    training speakers, its speaker-conditioning layers at zero, so with the one-speaker weights loaded every row
    speaks exactly as the old model did (coqui_meta.models.one_speaker)."""
    from conftest import pick
    from TTS.tts.models.vits import Vits

    from coqui_meta import MetaLearningConfig, MetaVitsConfig
    from coqui_meta.cli.train import restore_release
    from coqui_meta.training import prepare
    from coqui_meta_lab.presets import small_vits_config

    stock = small_vits_config(output_path=str(tmp_path))
    stock.use_speaker_embedding = stock.model_args.use_speaker_embedding = False
    torch.manual_seed(1)
    old = Vits.init_from_config(stock).eval()
    torch.save({"model": old.state_dict()}, tmp_path / "one_speaker.pth")
    samples = pick(corpus_samples, speakers=2, clips=3, max_seconds=3.0)
    model, _, _ = prepare(MetaVitsConfig.from_config(stock, meta=MetaLearningConfig(n_way=2, k_shot=1, q_query=1)),
                          samples, [])
    restore_release(model, str(tmp_path / "one_speaker.pth"))
    model.eval().meta_check_trainable()  # it has a speaker input now
    assert sorted(model.speaker_manager.name_to_id) == sorted({s["speaker_name"] for s in samples})
    tokens = torch.tensor([old.tokenizer.text_to_ids("hello there")])
    torch.manual_seed(0)
    before = old.inference(tokens)["model_outputs"]
    for row in (0, 1):
        torch.manual_seed(0)
        after = model.inference(tokens, aux_input={"speaker_ids": torch.tensor([row])})["model_outputs"]
        assert torch.allclose(before, after, atol=1e-5), row
