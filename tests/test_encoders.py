"""Speaker encoders for d-vector models and `coqui-meta embed --encoder`: Coqui's own speaker encoder (a small one
this file initialises), Resemblyzer and a prototype model's encoder write d-vector files a stock Coqui VITS reads, and
an encoder of another dimension than the model's ``d_vector_dim`` is an error that names the file, with nothing
written."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from conftest import ENCODER_DIM, build_meta_model, pick

from coqui_meta import MetaLearningConfig
from coqui_meta.adapting.encoders import make_encoder, prototype_vectors, require_dim
from coqui_meta.cli import main
from coqui_meta_lab.presets import small_vits_config

DIM = ENCODER_DIM  # the d-vectors of the `coqui_encoder` fixture
DATASET = "sub"


@pytest.fixture(scope="module")
def sub_corpus(corpus, corpus_samples, tmp_path_factory) -> Path:
    """A coqui-format corpus of 3 speakers x 3 short clips: a metadata.csv beside a link to the shared audio."""
    folder = tmp_path_factory.mktemp("sub_corpus")
    lines = ["audio_file|text|speaker_name"]
    for sample in pick(corpus_samples, speakers=3, clips=3, max_seconds=3.5):
        lines.append(f"{Path(sample['audio_file']).relative_to(corpus)}|{sample['text']}|{sample['speaker_name']}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")
    (folder / "wavs").symlink_to(corpus / "wavs")
    return folder


def d_vector_vits_config(corpus: Path, d_vector_file, dim: int = DIM):
    """A small stock VITS that takes its voices from ``d_vector_file`` (YourTTS's shape), reading ``corpus``."""
    from TTS.config.shared_configs import BaseDatasetConfig

    dataset = BaseDatasetConfig(formatter="coqui", path=str(corpus), meta_file_train="metadata.csv",
                                dataset_name=DATASET)
    config = small_vits_config(dataset, output_path=str(corpus))
    for holder in (config, config.model_args):
        holder.use_speaker_embedding = False
        holder.use_d_vector_file = True
        holder.d_vector_file = [str(d_vector_file)]
        holder.d_vector_dim = dim
    return config


def embed_cli(*args):
    return main(["embed", *map(str, args), "--dataset_name", DATASET, "--device", "cpu"])


def test_coqui_encoder_writes_d_vectors_that_a_stock_vits_trains_on(sub_corpus, coqui_encoder, tmp_path):
    from TTS.tts.datasets import load_tts_samples
    from TTS.tts.models.vits import Vits

    out = tmp_path / "d_vectors.json"
    assert embed_cli("--encoder", "coqui", "--encoder_model_path", coqui_encoder[0], "--encoder_config_path",
                     coqui_encoder[1], "--data", sub_corpus, "--out_path", out) == 0
    data = json.loads(out.read_text())
    clips = {key: entry for key, entry in data.items() if not key.endswith("#mean")}
    assert len(clips) == 9 and len(data) == 9 + 3
    assert all(key.startswith(f"{DATASET}#wavs/") and len(e["embedding"]) == DIM for key, e in clips.items())
    vectors = np.array([entry["embedding"] for entry in clips.values()])
    assert np.abs(vectors[:, None] - vectors[None]).max(-1)[~np.eye(9, dtype=bool)].min() > 1e-4  # all differ

    # stock Coqui looks each clip's d-vector up in the file and trains on it
    config = d_vector_vits_config(sub_corpus, out)
    samples, _ = load_tts_samples(config, eval_split=False)
    model = Vits(config)
    loader = model.get_data_loader(config, is_eval=True, samples=samples, verbose=False)
    batch = model.format_batch_on_device(model.format_batch(next(iter(loader))))
    expected = [data[name]["embedding"] for name in batch["audio_unique_names"]]
    assert torch.allclose(batch["d_vectors"], torch.tensor(expected))
    _, losses = model.train_step(batch, model.get_criterion()[0], 0)  # the generator's forward, on the d-vectors
    assert torch.isfinite(losses["loss"])


def test_the_coqui_encoder_comes_from_the_config_or_a_named_error(coqui_encoder, tmp_path):
    config = small_vits_config()
    with pytest.raises(SystemExit, match="--encoder_model_path.*speaker_encoder_model_path"):
        embed_cli("--encoder", "coqui", "--data", tmp_path, "--out_path", tmp_path / "d.json")
    config.model_args.speaker_encoder_model_path, config.model_args.speaker_encoder_config_path = coqui_encoder
    assert make_encoder("coqui", config=config).dim == DIM
    config.model_args.speaker_encoder_model_path = str(tmp_path / "missing.pth")
    with pytest.raises(FileNotFoundError, match="missing.pth.*speaker_encoder_model_path"):
        make_encoder("coqui", config=config)


def test_resemblyzer_gives_256_dimensions_and_refuses_a_16_dimensional_config(sub_corpus, tmp_path):
    config_path = tmp_path / "config.json"
    d_vector_vits_config(sub_corpus, tmp_path / "unused.json").save_json(str(config_path))
    out = tmp_path / "resemblyzer.json"
    with pytest.raises(SystemExit) as error:
        embed_cli("--encoder", "resemblyzer", "--config_path", config_path, "--data", sub_corpus, "--out_path", out)
    assert all(part in str(error.value) for part in ("256", "d_vector_dim is 16", str(config_path)))
    assert not out.exists()

    assert embed_cli("--encoder", "resemblyzer", "--data", sub_corpus, "--out_path", out) == 0
    data = json.loads(out.read_text())
    assert len(data) == 9 + 3 and {len(entry["embedding"]) for entry in data.values()} == {256}


def test_a_config_without_d_vectors_gets_the_file_and_the_fields_to_set(sub_corpus, tmp_path, capsys):
    """YourTTS's route: embed first, then set the d-vector fields. A speaker-table config (d_vector_dim 0) is not
    refused: the file is written and the fields it must set are printed, which a stock VITS then reads."""
    from TTS.tts.models.vits import Vits

    config_path, out = tmp_path / "config.json", tmp_path / "resemblyzer.json"
    config = small_vits_config(speakers=["a", "b"])
    config.save_json(str(config_path))
    assert embed_cli("--encoder", "resemblyzer", "--config_path", config_path, "--data", sub_corpus,
                     "--out_path", out) == 0
    printed = capsys.readouterr().out
    assert f"{config_path} does not use d-vectors yet" in printed
    for field in ("use_d_vector_file=true", f'd_vector_file=["{out.resolve()}"]', "d_vector_dim=256",
                  "model_args.use_d_vector_file=true", "model_args.d_vector_dim=256"):
        assert field in printed, printed
    config.use_speaker_embedding = config.model_args.use_speaker_embedding = False
    config.use_d_vector_file = config.model_args.use_d_vector_file = True
    config.d_vector_file = config.model_args.d_vector_file = [str(out)]
    config.d_vector_dim = config.model_args.d_vector_dim = 256
    assert Vits.init_from_config(config).speaker_manager.embedding_dim == 256  # stock Coqui reads what was written


def test_embed_flags_are_checked_before_any_work(sub_corpus, tmp_path, capsys):
    out = tmp_path / "d.json"
    with pytest.raises(SystemExit, match="--encoder prototype needs --model_path"):
        embed_cli("--data", sub_corpus, "--out_path", out)
    with pytest.raises(SystemExit) as error:
        embed_cli("--encoder", "speechbrain", "--data", sub_corpus, "--out_path", out)
    assert error.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="prototype, resemblyzer, coqui"):
        make_encoder("speechbrain")
    assert not out.exists()


def test_the_prototype_encoder_embeds_files_at_any_rate_through_the_models_data_path(corpus_samples, tmp_path):
    import librosa

    model = build_meta_model("vits", MetaLearningConfig(algorithm="protonet", inner_lr=0.01), [],
                             output_path=str(tmp_path))
    encoder = make_encoder("prototype", model=model)
    require_dim(encoder, model.prototype_encoder.dim, "config.json")
    samples = [dict(s) for s in pick(corpus_samples, speakers=1, clips=2, max_seconds=3.5)]
    by_name, _ = prototype_vectors(model, samples)
    files = encoder.embed_files([s["audio_file"] for s in samples])
    assert files.shape == (2, encoder.dim)
    assert torch.allclose(files, torch.stack([by_name[s["audio_unique_name"]] for s in samples]), atol=1e-4)

    wav, _ = librosa.load(samples[0]["audio_file"], sr=22050)  # another rate: resampled to the model's
    soundfile.write(str(tmp_path / "22k.wav"), wav, 22050)
    resampled = encoder.embed_files([os.fspath(tmp_path / "22k.wav")])[0]
    assert torch.cosine_similarity(resampled, files[0], dim=0) > 0.95
