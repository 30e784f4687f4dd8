"""Zero-step voices and `coqui-meta embed`: a prototype model's voices as Coqui d-vector files that stock Coqui
reads."""

import json

import numpy as np
import pytest
import soundfile
import torch
from conftest import corpus_subset, run_cli, save_tiny_checkpoint
from helpers import subprocess_tts

from coqui_meta import MetaLearningConfig
from coqui_meta.adapting.embed import embed
from coqui_meta.adapting.new_voice import adapt
from coqui_meta.adapting.settings import AdaptationSettings

CPU = AdaptationSettings(device="cpu")

@pytest.fixture(scope="module")
def tiny_protonet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_protonet")
    save_tiny_checkpoint(folder, "vits", [], meta=MetaLearningConfig(algorithm="protonet", inner_lr=0.01))
    return folder


@pytest.fixture(scope="module")
def two_speakers(corpus, corpus_samples, tmp_path_factory):
    """A coqui-format corpus of two speakers, and a wav + txt folder of 4 short clips of a third."""
    names = sorted({s["speaker_name"] for s in corpus_samples})
    root = tmp_path_factory.mktemp("voices")
    subset = corpus_subset(corpus, names[10:12], root / "corpus")
    clips = root / "clips"
    clips.mkdir()
    short = sorted(
        (s for s in corpus_samples if s["speaker_name"] == names[13] and s["seconds"] < 4.0),
        key=lambda s: s["audio_file"],
    )
    for index, sample in enumerate(short[:4]):
        soundfile.write(str(clips / f"{index}.wav"), soundfile.read(sample["audio_file"])[0], 16000)
        (clips / f"{index}.txt").write_text(sample["text"])
    return subset, clips, names[10:12]


def test_embed_writes_d_vectors_that_a_stock_coqui_vits_reads_for_its_batches(tiny_protonet, two_speakers, tmp_path):
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.datasets import load_tts_samples
    from TTS.tts.models.vits import Vits
    from TTS.tts.utils.speakers import SpeakerManager

    corpus, _, speakers = two_speakers
    out = tmp_path / "d_vectors.json"
    info = embed(str(tiny_protonet / "model.pth"), str(tiny_protonet / "meta_config.json"), str(corpus), str(out),
                 dataset_name="corpus", progress=False, device="cpu")
    assert info["speakers"] == 2 and info["d_vector_dim"] == 64
    data = json.loads(out.read_text())
    assert len(data) == info["clips"] + 2
    for name in speakers:
        clips = np.array([e["embedding"] for k, e in data.items() if e["name"] == name and not k.endswith("#mean")])
        assert np.allclose(data[f"{name}#mean"]["embedding"], clips.mean(0), atol=1e-5)
    manager = SpeakerManager(d_vectors_file_path=str(out))
    assert sorted(manager.speaker_names) == speakers
    assert np.allclose(manager.get_mean_embedding(speakers[0]), data[f"{speakers[0]}#mean"]["embedding"], atol=1e-5)

    # any stock Coqui model trains on them: the stock VITS looks its batches' d-vectors up in the file
    stock = VitsConfig()
    stock.load_json(str(tiny_protonet / "stock_config.json"))
    stock.d_vector_file = stock.model_args.d_vector_file = str(out)
    from coqui_meta_lab.presets import speechocean_dataset

    stock.datasets = [speechocean_dataset(str(corpus))]
    model = Vits(stock)
    samples, _ = load_tts_samples(stock, eval_split=False)
    loader = model.get_data_loader(stock, is_eval=True, samples=samples, verbose=False)
    batch = model.format_batch(next(iter(loader)))
    expected = [data[name]["embedding"] for name in batch["audio_unique_names"]]
    assert torch.allclose(batch["d_vectors"], torch.tensor(expected))


def test_embed_refuses_a_model_without_prototypes_and_a_non_json_file(tiny_vits, tiny_protonet, two_speakers, tmp_path):
    folder, _ = tiny_vits
    corpus, _, _ = two_speakers
    with pytest.raises(ValueError, match="protonet or proto_maml"):
        embed(
            str(folder / "model.pth"),
            str(folder / "meta_config.json"),
            str(corpus),
            str(tmp_path / "d.json"),
            progress=False,
        )
    with pytest.raises(ValueError, match=r"\.json"):
        embed(
            str(tiny_protonet / "model.pth"),
            str(tiny_protonet / "meta_config.json"),
            str(corpus),
            str(tmp_path / "d.pt"),
        )


def test_a_zero_step_voice_from_real_clips_speaks_in_stock_coqui(tiny_protonet, two_speakers, tmp_path):
    corpus, clips, speakers = two_speakers
    others = tmp_path / "others.json"
    embed(str(tiny_protonet / "model.pth"), str(tiny_protonet / "meta_config.json"), str(corpus), str(others),
          progress=False, device="cpu")
    result = run_cli("adapt", "--model_path", str(tiny_protonet / "model.pth"), "--config_path",
                     str(tiny_protonet / "meta_config.json"), "--data", str(clips), "--speaker", "zoe", "--shots", "4",
                     "--steps", "0", "--d_vectors", str(others), "--out_path", str(tmp_path / "zoe"), "--device", "cpu")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    voice = tmp_path / "zoe"
    assert sorted(p.name for p in voice.iterdir()) == [
        "adapt.json",
        "config.json",
        "d_vectors.json",
        "model.pth",
        "sample.wav",
    ]
    config = json.loads((voice / "config.json").read_text())
    assert config["model"] == "vits" and config["model_args"]["use_d_vector_file"]
    assert config["model_args"]["d_vector_file"] == str((voice / "d_vectors.json").resolve())
    state = torch.load(voice / "model.pth", weights_only=True)["model"]
    base = torch.load(tiny_protonet / "model.pth", weights_only=True)["model"]
    assert not any(k.startswith("prototype_encoder.") for k in state)
    assert all(torch.equal(state[k], base[k]) for k in state), "no step: the weights are the base's"

    # the voice is the prototype: the mean of the encoder's embeddings of the clips (as embed computes them)
    clip_vectors = tmp_path / "clips.json"
    embed(str(tiny_protonet / "model.pth"), str(tiny_protonet / "meta_config.json"), str(clips), str(clip_vectors),
          progress=False, device="cpu")
    written = np.array(json.loads((voice / "d_vectors.json").read_text())["zoe"]["embedding"])
    assert np.allclose(written, json.loads(clip_vectors.read_text())["clips#mean"]["embedding"], atol=0.03)

    # stock Coqui's own command line speaks with it, and the voice is not ignored (another voice sounds different)
    wavs = {}
    for name in ("zoe", speakers[0]):
        result = subprocess_tts(voice, name, tmp_path / f"{name}.wav")
        assert result.returncode == 0, result.stderr[-2000:]
        wavs[name], rate = soundfile.read(tmp_path / f"{name}.wav")
        assert rate == 16000
    assert wavs["zoe"].size > 1000 and np.sqrt(np.mean(wavs["zoe"] ** 2)) > 1e-3, "non-silent"
    length = min(len(w) for w in wavs.values())
    assert not np.allclose(wavs["zoe"][:length], wavs[speakers[0]][:length], atol=1e-3)


def test_steps_move_the_prototype_and_the_adapted_modules(tiny_protonet, two_speakers, tmp_path):
    corpus, clips, _ = two_speakers
    others = tmp_path / "others.json"
    embed(
        str(tiny_protonet / "model.pth"),
        str(tiny_protonet / "meta_config.json"),
        str(corpus),
        str(others),
        progress=False,
    )
    info = adapt(str(tiny_protonet / "model.pth"), str(tiny_protonet / "meta_config.json"), str(clips), "zoe", shots=3,
                 steps=2, out_path=str(tmp_path / "zoe"), d_vectors=[str(others)], progress=False, settings=CPU)
    assert info.adapt_modules[0] == "d_vector" and len(info.support_loss) == 2
    state = torch.load(tmp_path / "zoe" / "model.pth", weights_only=True)["model"]
    base = torch.load(tiny_protonet / "model.pth", weights_only=True)["model"]
    assert not torch.equal(state["waveform_decoder.cond_layer.weight"], base["waveform_decoder.cond_layer.weight"])
    zero = adapt(str(tiny_protonet / "model.pth"), str(tiny_protonet / "meta_config.json"), str(clips), "zoe", shots=3,
                 steps=0, out_path=str(tmp_path / "zoe0"), d_vectors=[str(others)], progress=False, settings=CPU)
    moved = json.loads((tmp_path / "zoe" / "d_vectors.json").read_text())["zoe"]["embedding"]
    prototype = json.loads((tmp_path / "zoe0" / "d_vectors.json").read_text())["zoe"]["embedding"]
    assert zero.clips == info.clips and not np.allclose(moved, prototype)


def test_a_voice_alone_is_refused_with_what_to_do(tiny_protonet, two_speakers, tmp_path):
    _, clips, _ = two_speakers
    with pytest.raises(ValueError, match="give d_vectors FILE with other voices"):
        adapt(str(tiny_protonet / "model.pth"), str(tiny_protonet / "meta_config.json"), str(clips), "zoe", shots=2,
              steps=0, out_path=str(tmp_path / "zoe"), progress=False, settings=CPU)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        adapt(str(tiny_protonet / "model.pth"), str(tiny_protonet / "meta_config.json"), str(clips), "zoe", shots=2,
              steps=0, out_path=str(tmp_path / "zoe"), d_vectors=[str(tmp_path / "nope.json")], progress=False)
    assert not (tmp_path / "zoe").exists()


def test_a_d_vector_model_without_a_d_vector_file_is_refused_by_name(tiny_protonet, two_speakers, tmp_path):
    from coqui_meta.judging.evaluation import evaluate

    corpus, _, _ = two_speakers
    with pytest.raises(ValueError, match="stock_config.json: use_d_vector_file is set but no d_vector_file"):
        evaluate(str(tiny_protonet / "model.pth"), str(tiny_protonet / "stock_config.json"), str(corpus), speakers=1,
                 shots=2, queries=1, steps=[0], out_path=None, progress=False)


def test_evaluate_starts_a_tacotron2_proto_maml_voice_from_its_prototype(corpus, tmp_path):
    from coqui_meta.judging.evaluation import evaluate

    save_tiny_checkpoint(
        tmp_path, "tacotron2", [], meta=MetaLearningConfig(algorithm="proto_maml", first_order=True, inner_lr=0.01)
    )
    report = evaluate(str(tmp_path / "model.pth"), str(tmp_path / "meta_config.json"), str(corpus), speakers=1, shots=2,
                      queries=1, steps=[0, 1], out_path=str(tmp_path / "eval"), progress=False, settings=CPU)
    assert report.algorithm == "proto_maml" and report.adapt_modules[0] == "d_vector"
    assert report.query_loss[0] != report.query_loss[1]
    if report.speaker_similarity[0] is not None:  # rendered through the prototype d-vector (Griffin-Lim)
        assert -1 <= report.speaker_similarity[0] <= 1
