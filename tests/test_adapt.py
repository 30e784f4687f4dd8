"""`coqui-meta adapt` and `apply-delta`: few-shot voices from real clips that STOCK Coqui loads and speaks with."""

import json
import os

import numpy as np
import pytest
import soundfile
import torch
from conftest import run_cli
from helpers import speak, stock_tts

from coqui_meta.adapting.delta import apply_delta
from coqui_meta.adapting.new_voice import adapt
from coqui_meta.adapting.settings import AdaptationSettings

CPU = AdaptationSettings(device="cpu")


def test_a_meta_checkpoint_adapts_to_a_voice_that_stock_coqui_speaks(tiny_vits, new_voice, tmp_path):
    folder, known = tiny_vits
    out = tmp_path / "anna"
    info = adapt(str(folder / "model.pth"), str(folder / "meta_config.json"), str(new_voice), "anna", shots=3, steps=3,
                 out_path=str(out), save_delta=True, progress=False, settings=CPU)
    assert sorted(p.name for p in out.iterdir()) == ["adapt.json", "config.json", "model.pth", "sample.wav",
                                                      "speakers.json", "voice.safetensors"]
    assert json.loads((out / "config.json").read_text())["model"] == "vits"
    assert json.loads((out / "speakers.json").read_text()) == {
        **{n: i for i, n in enumerate(known)},
        "anna": len(known),
    }
    assert len(info.support_loss) == 3 and info.final_support_loss < info.support_loss[0]
    assert not info.unchanged["old_speakers_unchanged"]  # the default modules (flow, decoder conditioning) are shared
    sample, rate = soundfile.read(out / "sample.wav")
    assert rate == 16000 and np.abs(sample).max() > 1e-3

    tts = stock_tts(out)
    assert tts.speakers == known + ["anna"]
    wav = speak(tts, "anna")
    assert wav.size > 1000 and np.sqrt(np.mean(wav**2)) > 1e-3, "non-silent audio with the new speaker"

    # the delta is small and rebuilds the adapted checkpoint exactly
    assert (out / "voice.safetensors").stat().st_size < (out / "model.pth").stat().st_size / 20
    apply_delta(
        str(folder / "model.pth"),
        str(folder / "meta_config.json"),
        str(out / "voice.safetensors"),
        str(tmp_path / "again"),
    )
    adapted = torch.load(out / "model.pth", weights_only=True)["model"]
    rebuilt = torch.load(tmp_path / "again" / "model.pth", weights_only=True)["model"]
    assert adapted.keys() == rebuilt.keys() and all(torch.equal(adapted[k], rebuilt[k]) for k in adapted)
    assert (tmp_path / "again" / "config.json").read_text() == (out / "config.json").read_text()


def test_a_stock_checkpoint_adapts_its_speaker_embedding_and_old_speakers_stay_as_they_were(
    tiny_vits, new_voice, tmp_path
):
    folder, known = tiny_vits
    out = tmp_path / "bob"
    info = adapt(str(folder / "model.pth"), str(folder / "stock_config.json"), str(new_voice), "bob", shots=4, steps=2,
                 out_path=str(out), progress=False,
                 settings=AdaptationSettings(adapt_modules=["emb_g"], optimizer="adam", lr=0.01, device="cpu"))
    assert info.algorithm == "finetune" and info.unchanged["old_speakers_unchanged"]
    (tmp_path / "base").mkdir()
    os.link(folder / "model.pth", tmp_path / "base" / "model.pth")
    (tmp_path / "base" / "config.json").write_text((folder / "stock_config.json").read_text())
    before, after = stock_tts(tmp_path / "base"), stock_tts(out)
    assert np.array_equal(speak(before, known[1]), speak(after, known[1])), "an old speaker's output is unchanged"
    assert np.sqrt(np.mean(speak(after, "bob") ** 2)) > 1e-3


def test_a_delta_refuses_another_base(tiny_vits, new_voice, tmp_path):
    folder, known = tiny_vits
    adapt(str(folder / "model.pth"), str(folder / "meta_config.json"), str(new_voice), "cleo", shots=2, steps=1,
          out_path=str(tmp_path / "cleo"), save_delta=True, progress=False, settings=CPU)
    other = tmp_path / "other"
    other.mkdir()
    torch.manual_seed(1)
    from conftest import build_meta_model

    from coqui_meta import MetaLearningConfig

    model = build_meta_model("vits", MetaLearningConfig(), known)
    torch.save({"model": model.state_dict()}, other / "model.pth")
    with pytest.raises(ValueError, match="another base checkpoint"):
        apply_delta(
            str(other / "model.pth"),
            str(folder / "meta_config.json"),
            str(tmp_path / "cleo" / "voice.safetensors"),
            str(tmp_path / "x"),
        )
    assert not (tmp_path / "x").exists()


def test_bad_input_is_refused_before_training_and_leaves_no_folder(tiny_vits, new_voice, tmp_path):
    folder, known = tiny_vits
    config = str(folder / "meta_config.json")

    def refused(data, match, speaker="dana", shots=2, model=str(folder / "model.pth")):
        out = tmp_path / "out"
        with pytest.raises((ValueError, FileNotFoundError, FileExistsError), match=match):
            adapt(
                model, config, str(data), speaker, shots=shots, steps=1, out_path=str(out), progress=False, settings=CPU
            )
        assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]

    def clips(name, broken):
        data = tmp_path / name
        data.mkdir()
        for path in new_voice.iterdir():
            (data / path.name).write_bytes(path.read_bytes())
        broken(data)
        return data

    refused(clips("no_text", lambda d: (d / "clip1.txt").unlink()), r"clip1\.wav has no transcript")
    refused(clips("empty_text", lambda d: (d / "clip2.txt").write_text("  \n")), r"clip2\.wav: empty transcript")
    refused(
        clips("garbage", lambda d: (d / "clip3.wav").write_bytes(b"RIFF....garbage")), r"clip3\.wav: unreadable audio"
    )
    refused(clips("empty", lambda d: soundfile.write(str(d / "clip0.wav"), np.zeros(0, np.float32), 16000)),
            r"clip0\.wav: empty audio")
    refused(
        clips("odd_chars", lambda d: (d / "clip1.txt").write_text("hello \u00e9\u00e9 world")),
        r"clip1\.wav.*characters",
    )
    # the library says what is wrong in its own terms (its arguments); the command line in its flags (below)
    refused(new_voice, r"^shots 9 but .* 4 clip", shots=9)
    refused(new_voice, rf"^speaker '{known[0]}' exists already", speaker=known[0])
    refused(new_voice, "checkpoint not found", model=str(tmp_path / "missing.pth"))
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="exists already"):
        adapt(str(folder / "model.pth"), config, str(new_voice), "dana", 2, 1, str(tmp_path / "taken"), progress=False)

    # on the command line: one line naming the problem, no traceback, non-zero exit
    result = run_cli(
        "adapt",
        "--model_path",
        str(folder / "model.pth"),
        "--config_path",
        config,
        "--data",
        str(new_voice),
        "--speaker",
        "dana",
        "--shots",
        "9",
        "--out_path",
        str(tmp_path / "cli"),
    )
    assert result.returncode != 0 and "--shots 9 but" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "cli").exists()
