"""YourTTS-shaped models: a VITS that reads its voices from a d-vector file (no speaker table) meta-trains with
defaults that fit it, a task's voice is a d-vector the inner loop adapts, and bad d-vector files stop training."""

import glob
import json
from pathlib import Path

import pytest
import torch
from conftest import ENCODER_DIM, corpus_subset, first_meta_batch, pick, run_cli, save_checkpoint
from helpers import subprocess_tts

from coqui_meta import MetaLearningConfig, MetaVits, MetaVitsConfig
from coqui_meta.algorithms.inner_loop import D_VECTOR
from coqui_meta_lab.presets import small_vits_config, speechocean_dataset

DIM = ENCODER_DIM  # the `coqui_encoder` fixture's: the model's encoder makes its voices


def write_d_vectors(samples, path: Path, dim: int = DIM, seed: int = 0) -> Path:
    """One d-vector per clip, keyed as Coqui keys clips: a vector per speaker plus a little per-clip noise (what a
    speaker encoder gives, in miniature)."""
    generator, by_speaker, entries = torch.Generator().manual_seed(seed), {}, {}
    for sample in samples:
        base = by_speaker.setdefault(sample["speaker_name"], torch.randn(dim, generator=generator))
        vector = base + 0.1 * torch.randn(dim, generator=generator)
        entries[sample["audio_unique_name"]] = {"name": sample["speaker_name"], "embedding": vector.tolist()}
    path.write_text(json.dumps(entries))
    return path


def d_vector_config(d_vector_file, meta, output_path="runs", dim: int = DIM, dataset=None):
    """The issue's config: a small VITS switched to d-vectors of ``dim``, no speaker table."""
    stock = small_vits_config(dataset, output_path=str(output_path))
    for holder in (stock, stock.model_args):
        holder.use_speaker_embedding = False
        holder.use_d_vector_file = True
        holder.d_vector_dim = dim
        holder.d_vector_file = [str(d_vector_file)]
    return MetaVitsConfig.from_config(stock, meta=meta)


@pytest.fixture(scope="module")
def four_speakers(corpus_samples, tmp_path_factory):
    samples = pick(corpus_samples, speakers=4, clips=4, max_seconds=3.0, seed=3)
    return samples, write_d_vectors(samples, tmp_path_factory.mktemp("dvec") / "d_vectors.json")


def test_the_defaults_adapt_the_d_vector_and_the_decoder_side(four_speakers):
    samples, path = four_speakers
    model = MetaVits(d_vector_config(path, MetaLearningConfig(algorithm="fomaml")))
    names = model.meta_adapted_names()
    assert names[0] == D_VECTOR and not any(name.startswith("emb_g") for name in names)
    assert any(name.startswith("flow.") for name in names) and "waveform_decoder.cond_layer.weight" in names


@pytest.mark.parametrize("start", ["task", "mean"])
def test_a_task_starts_from_its_own_d_vectors_or_the_files_mean(four_speakers, start):
    samples, path = four_speakers
    meta = MetaLearningConfig(algorithm="fomaml", d_vector_start=start, n_way=2, k_shot=2, q_query=1,
                              meta_batch_size=2)
    model = MetaVits(d_vector_config(path, meta))
    support, _ = first_meta_batch(model, samples, is_eval=False)["tasks"][0]
    entries = json.loads(path.read_text())
    own = torch.tensor([entries[name]["embedding"] for name in support["audio_unique_names"]]).mean(0)
    every = torch.tensor([entry["embedding"] for entry in entries.values()]).mean(0)
    torch.testing.assert_close(model.meta_start_voice(support).detach(), own if start == "task" else every)


def test_the_maml_meta_gradient_through_an_adapted_d_vector_equals_a_hand_computation(four_speakers):
    """Second-order MAML, one inner step on the d-vector and one flow layer, written out with functional_call on the
    model's own loss: the voice is every clip's ``d_vectors`` input, the support mean at the start."""
    from torch.func import functional_call

    from coqui_meta.algorithms.inner_loop import _CallMethod
    from coqui_meta.seeds import TaskSeeds, seeded

    samples, path = four_speakers
    meta = MetaLearningConfig(algorithm="maml", inner_steps=1, inner_lr=0.05, n_way=1, k_shot=2, q_query=1,
                              meta_batch_size=1, adapt_modules=["d_vector", "flow.flows.0.post"])
    torch.manual_seed(0)
    model = MetaVits(d_vector_config(path, meta))
    tasks = first_meta_batch(model, samples, is_eval=False)["tasks"][:1]
    model.zero_grad(set_to_none=True)
    (result,) = model.meta_algorithm.outer_backward(tasks, seeds=[7])
    mine = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}

    model.zero_grad(set_to_none=True)
    support, query = tasks[0]
    seeds, params = TaskSeeds(7), dict(model.named_parameters())
    adapted = [name for name in params if name.startswith("flow.flows.0.post")]

    call = _CallMethod(model, "meta_task_loss")

    def loss(batch, voice, tensors, outer=False):
        batch = {**batch, "d_vectors": voice.expand(batch["tokens"].shape[0], -1)}
        prefixed = {f"model.{name}": tensor for name, tensor in tensors.items()}
        return functional_call(call, prefixed, (batch,), {"outer": outer}, strict=False)

    voice = support["d_vectors"].mean(0).clone().requires_grad_(True)
    model.train()
    with seeded(seeds.support(0)):
        support_loss = loss(support, voice, {n: params[n] for n in adapted})[0]
    grads = torch.autograd.grad(support_loss, [voice] + [params[n] for n in adapted], create_graph=True)
    moved = {n: params[n] - 0.05 * g for n, g in zip(adapted, grads[1:])}
    with seeded(seeds.query()):
        query_loss = loss(query, voice - 0.05 * grads[0], moved, outer=True)[0]
    query_loss.backward()
    assert result.query_loss == pytest.approx(float(query_loss), rel=1e-5)
    assert {n for n, p in model.named_parameters() if p.grad is not None} == set(mine)
    for name, param in model.named_parameters():
        if param.grad is not None:
            torch.testing.assert_close(mine[name], param.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_d_vector_tacotron2_meta_trains_its_d_vector_too(four_speakers):
    from coqui_meta import MetaTacotron2, MetaTacotron2Config
    from coqui_meta_lab.presets import small_tacotron2_config

    samples, path = four_speakers
    stock = small_tacotron2_config()
    stock.use_speaker_embedding, stock.use_d_vector_file = False, True
    stock.d_vector_dim, stock.d_vector_file = DIM, [str(path)]
    stock.r = 6  # the preset's 2: a third of the decoder steps; what is checked does not hang on it
    meta = MetaLearningConfig(algorithm="fomaml", n_way=1, k_shot=2, q_query=1, meta_batch_size=1, inner_lr=0.01)
    torch.manual_seed(0)
    model = MetaTacotron2(MetaTacotron2Config.from_config(stock, meta=meta))
    names = model.meta_adapted_names()
    assert names[0] == D_VECTOR and not any(name.startswith("speaker_embedding") for name in names)
    tasks = first_meta_batch(model, samples, is_eval=False)["tasks"]
    (result,) = model.meta_algorithm.outer_backward(tasks, seeds=[3])
    assert not result.skipped and len(result.support_losses) == 1
    assert model.decoder.linear_projection.linear_layer.weight.grad.abs().sum() > 0


def test_a_d_vector_model_on_the_learn2learn_backend_is_refused_by_name(four_speakers):
    _, path = four_speakers
    with pytest.raises(ValueError, match="meta.backend = 'learn2learn': a d-vector voice"):
        MetaVits(d_vector_config(path, MetaLearningConfig(algorithm="fomaml", backend="learn2learn")))


@pytest.mark.slow
def test_coqui_meta_train_meta_trains_a_d_vector_vits_that_stock_coqui_loads(corpus, corpus_samples, tmp_out):
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.datasets import load_tts_samples
    from TTS.tts.models.vits import Vits

    speakers = sorted({s["speaker_name"] for s in pick(corpus_samples, 4, 6, 4.0, seed=8)})
    dataset = speechocean_dataset(str(corpus_subset(corpus, speakers, tmp_out / "data")))
    samples, _ = load_tts_samples(small_vits_config(dataset), eval_split=False)
    d_vectors = write_d_vectors(samples, tmp_out / "d_vectors.json")
    meta = MetaLearningConfig(algorithm="fomaml", n_way=2, k_shot=2, q_query=1, meta_batch_size=2,
                              eval_tasks=speakers[2:], episodes_per_epoch=2, eval_episodes=1)
    d_vector_config(d_vectors, meta, tmp_out / "run", dataset=dataset).save_json(str(tmp_out / "config.json"))
    result = run_cli("train", "--config_path", str(tmp_out / "config.json"), "--coqpit.epochs", "1", cwd=tmp_out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = Path(glob.glob(str(tmp_out / "run" / "*" / "best_model.pth"))[0]).parent  # not a cache beside it
    state = torch.load(run_dir / "best_model.pth", map_location="cpu", weights_only=True)["model"]
    stock = VitsConfig()
    stock.load_json(str(run_dir / "config.json"))
    stock.model = "vits"
    Vits(stock).load_state_dict({k: v for k, v in state.items() if not k.startswith("meta_")}, strict=True)

    # a d-vector file that lacks a clip, or has another dimension: a clear error before training, nothing written
    entries = json.loads(d_vectors.read_text())
    for name, broken in [("lacking.json", dict(list(entries.items())[1:])),
                         ("wide.json", {k: {**v, "embedding": v["embedding"] + [0.0]} for k, v in entries.items()})]:
        (tmp_out / name).write_text(json.dumps(broken))
        out = tmp_out / f"run_{name}"
        d_vector_config(tmp_out / name, meta, out, dataset=dataset).save_json(str(tmp_out / f"{name}.config.json"))
        result = run_cli("train", "--config_path", str(tmp_out / f"{name}.config.json"))
        assert result.returncode != 0
        message = "no d-vector for 1 of" if name == "lacking.json" else f"has {DIM + 1} dimensions but the config's"
        assert name in result.stderr and message in result.stderr, result.stderr[-2000:]
        assert not out.exists()


@pytest.fixture(scope="module")
def d_vector_voice_model(four_speakers, coqui_encoder, tmp_path_factory):
    """A small random-init d-vector VITS saved as a checkpoint, its config naming a Coqui speaker encoder (of the
    d-vectors' dimension) as YourTTS's does; and a wav + txt folder of clips of a speaker it never saw."""
    import soundfile

    samples, d_vectors = four_speakers
    folder = tmp_path_factory.mktemp("dvec_model")
    config = d_vector_config(d_vectors, MetaLearningConfig(algorithm="fomaml", inner_lr=0.01), folder)
    config.model_args.speaker_encoder_model_path, config.model_args.speaker_encoder_config_path = coqui_encoder
    torch.manual_seed(0)
    save_checkpoint(folder, MetaVits(config), config_name="config.json", stock_name=None)
    clips = folder / "clips"
    clips.mkdir()
    for index, sample in enumerate(samples[:3]):  # speaker 0's clips, under a new name
        soundfile.write(str(clips / f"{index}.wav"), soundfile.read(sample["audio_file"])[0], 16000)
        (clips / f"{index}.txt").write_text(sample["text"])
    return folder, clips, sorted({s["speaker_name"] for s in samples})


def adapt_cli(folder, clips, out, *extra, speaker="zoe"):
    """``coqui-meta adapt`` on the model."""
    return run_cli("adapt", "--model_path", str(folder / "model.pth"), "--config_path", str(folder / "config.json"),
                   "--data", str(clips), "--speaker", speaker, "--shots", "3", "--out_path", str(out), "--device",
                   "cpu", *extra)


def test_adapt_starts_a_new_voice_from_the_configs_coqui_encoder_and_stock_coqui_speaks_it(
    d_vector_voice_model, coqui_encoder, tmp_path
):
    import numpy as np
    import soundfile

    from coqui_meta.adapting.encoders import make_encoder

    folder, clips, speakers = d_vector_voice_model
    result = adapt_cli(folder, clips, tmp_path / "zoe0", "--steps", "0")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    info = json.loads((tmp_path / "zoe0" / "adapt.json").read_text())
    assert info["voice_start"] == "coqui speaker encoder" and info["adapt_modules"][0] == D_VECTOR
    written = json.loads((tmp_path / "zoe0" / "d_vectors.json").read_text())
    base_entries = json.loads(Path(json.loads((folder / "config.json").read_text())["model_args"]["d_vector_file"][0])
                              .read_text())
    assert set(written) == set(base_entries) | {"zoe"}, "the new voice beside every voice of the file"
    encoder = make_encoder("coqui", encoder_model_path=coqui_encoder[0], encoder_config_path=coqui_encoder[1])
    expected = encoder.embed_files(sorted(str(p) for p in clips.glob("*.wav"))).mean(0)
    assert torch.nn.functional.cosine_similarity(torch.tensor(written["zoe"]["embedding"]), expected, dim=0) > 0.99

    result = adapt_cli(folder, clips, tmp_path / "zoe", "--steps", "2")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    moved = json.loads((tmp_path / "zoe" / "d_vectors.json").read_text())["zoe"]["embedding"]
    assert not np.allclose(moved, written["zoe"]["embedding"]), "the steps move the voice"
    wavs = {}
    for name in ("zoe", speakers[1]):
        spoken = subprocess_tts(tmp_path / "zoe", name, tmp_path / f"{name}.wav")
        assert spoken.returncode == 0, spoken.stderr[-2000:]
        wavs[name] = soundfile.read(tmp_path / f"{name}.wav")[0]
    assert wavs["zoe"].size > 1000 and np.sqrt(np.mean(wavs["zoe"] ** 2)) > 1e-3
    length = min(len(w) for w in wavs.values())
    assert not np.allclose(wavs["zoe"][:length], wavs[speakers[1]][:length], atol=1e-3)


def test_adapt_starts_from_the_files_mean_and_refuses_an_encoder_of_another_dimension(d_vector_voice_model, tmp_path):
    folder, clips, speakers = d_vector_voice_model
    result = adapt_cli(folder, clips, tmp_path / "mean", "--steps", "0", "--encoder", "mean")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    config = json.loads((folder / "config.json").read_text())
    entries = json.loads(Path(config["model_args"]["d_vector_file"][0]).read_text())
    mean = torch.tensor([entry["embedding"] for entry in entries.values()]).mean(0)
    written = json.loads((tmp_path / "mean" / "d_vectors.json").read_text())["zoe"]["embedding"]
    torch.testing.assert_close(torch.tensor(written), mean)

    result = adapt_cli(folder, clips, tmp_path / "wide", "--steps", "1", "--encoder", "resemblyzer")
    assert result.returncode != 0 and not (tmp_path / "wide").exists()
    assert "256-dimensional" in result.stderr and f"d_vector_dim is {DIM}" in result.stderr
    assert str(folder / "config.json") in result.stderr
    taken = adapt_cli(folder, clips, tmp_path / "taken", "--steps", "0", speaker=speakers[0])
    assert taken.returncode != 0 and "is already a voice of the d-vector file" in taken.stderr
    assert not (tmp_path / "taken").exists()


def test_evaluate_starts_unseen_voices_as_adapt_does(d_vector_voice_model, corpus, corpus_samples, tmp_path):
    from coqui_meta.adapting.settings import AdaptationSettings
    from coqui_meta.judging.evaluation import evaluate

    folder, _, known = d_vector_voice_model
    others = sorted({s["speaker_name"] for s in corpus_samples} - set(known))[:2]
    data = corpus_subset(corpus, others, tmp_path / "data")
    reports = {}
    for encoder in (None, "mean"):
        reports[encoder] = evaluate(str(folder / "model.pth"), str(folder / "config.json"), str(data), speakers=1,
                                    shots=2, queries=1, steps=[0, 1], out_path=None, similarity=False,
                                    progress=False, settings=AdaptationSettings(device="cpu", encoder=encoder))
    assert reports[None].voice_start == "coqui" and reports["mean"].voice_start == "mean"
    assert reports[None].speakers == reports["mean"].speakers and reports[None].speakers[0] in others
    assert reports[None].query_loss[0] != reports["mean"].query_loss[0], "another start, another voice"
