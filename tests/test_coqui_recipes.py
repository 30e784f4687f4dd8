"""Coqui's own VCTK recipes (VITS, Tacotron2, YourTTS) as a user runs them with a meta block: their data handling
kept (Coqui's eval split of clips, the speaker manager and tokenizer they build, the YourTTS target loss, weighted
sampler fields and a speaker encoder named by URL), tiny sizes, two epochs through a checkpoint on a VCTK-layout
corpus of real speech."""

import logging
import os
import stat
from pathlib import Path

import pytest

ENCODER_URL = "https://github.com/coqui-ai/TTS/releases/download/speaker_encoder_model/"


@pytest.fixture(scope="module")
def vctk(corpus_samples, tmp_path_factory) -> Path:
    """6 speakers x 6 short clips (at most 3 s: Tacotron2's decoder takes a step for every frame or two) of the
    shared corpus in VCTK 0.92's layout (flac + one txt per clip), which Coqui's ``vctk`` formatter reads."""
    import soundfile
    from conftest import pick

    root = tmp_path_factory.mktemp("vctk") / "VCTK"
    for index, sample in enumerate(pick(corpus_samples, speakers=6, clips=6, max_seconds=3.0, seed=3)):
        speaker, clip = sample["speaker_name"], f"{sample['speaker_name']}_{index:03d}"
        (root / "txt" / speaker).mkdir(parents=True, exist_ok=True)
        (root / "wav48_silence_trimmed" / speaker).mkdir(parents=True, exist_ok=True)
        (root / "txt" / speaker / f"{clip}.txt").write_text(sample["text"].lower() + "\n")
        wav, rate = soundfile.read(sample["audio_file"])
        soundfile.write(str(root / "wav48_silence_trimmed" / speaker / f"{clip}_mic1.flac"), wav, rate)
    return root


def tiny_meta():
    from coqui_meta import MetaLearningConfig

    # no adaptation-gain log: it costs a query pass per task (a sixth of a Tacotron2 step); tested in test_training
    return MetaLearningConfig(algorithm="fomaml", inner_steps=1, inner_lr=0.003, n_way=2, k_shot=1, q_query=1,
                              meta_batch_size=2, episodes_per_epoch=1, eval_episodes=1, log_adaptation_gain=False)


def recipe_shape(config, vctk: Path, out: Path):
    """What Coqui's VCTK recipes set around the model: the vctk dataset, Coqui's eval split, two epochs, a checkpoint
    every step, the preset's small audio and characters."""
    from TTS.config.shared_configs import BaseDatasetConfig

    from coqui_meta_lab.presets import _common

    _common(config, BaseDatasetConfig(formatter="vctk", meta_file_train="", language="en-us", path=str(vctk)),
            str(out), 4.1, 16000)
    config.epochs, config.save_step, config.eval_split_size, config.run_eval = 2, 1, 4, True
    config.test_delay_epochs, config.print_step = -1, 1
    return config


def run_as_the_recipe(config, model_class, out: Path):
    """The recipe's own lines (coqui-tts 0.28: load_tts_samples takes the config), with the meta model swapped in."""
    from trainer import Trainer, TrainerArgs
    from TTS.tts.datasets import load_tts_samples
    from TTS.tts.utils.speakers import SpeakerManager
    from TTS.tts.utils.text.tokenizer import TTSTokenizer
    from TTS.utils.audio import AudioProcessor

    ap = AudioProcessor(config.audio)  # 0.28: AudioProcessor.init_from_config is gone
    tokenizer, config = TTSTokenizer.init_from_config(config)
    train_samples, eval_samples = load_tts_samples(config, eval_split=True, eval_split_size=config.eval_split_size)
    speaker_manager = SpeakerManager()
    speaker_manager.set_ids_from_data(train_samples + eval_samples, parse_key="speaker_name")
    config.num_speakers = speaker_manager.num_speakers
    if hasattr(config, "model_args"):
        config.model_args.num_speakers = speaker_manager.num_speakers
    model = model_class(config, ap, tokenizer, speaker_manager)
    shared = {s["speaker_name"] for s in eval_samples} & {s["speaker_name"] for s in train_samples}
    assert shared, "Coqui's eval split holds out clips of training speakers"
    Trainer(TrainerArgs(), config, str(out), model=model, train_samples=train_samples,
            eval_samples=eval_samples).fit()
    return next(out.glob("*/config.json")).parent


def assert_checkpoints(run: Path) -> None:
    best = sorted(run.glob("best_model*.pth"))
    steps = sorted(run.glob("checkpoint_*.pth"))
    assert best and steps, sorted(p.name for p in run.iterdir())
    umask = os.umask(0)
    os.umask(umask)
    for path in best + steps:  # the Trainer's own modes, not mkstemp's private 0600
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


@pytest.mark.slow
def test_the_vctk_vits_recipe_with_its_eval_split_meta_trains_two_epochs(vctk, tmp_out, caplog):
    from TTS.tts.configs.vits_config import VitsConfig

    from coqui_meta import MetaVits, MetaVitsConfig
    from coqui_meta_lab.presets import small_vits_config

    small = small_vits_config()
    stock = VitsConfig(audio=small.audio, model_args=small.model_args, run_name="vits_vctk",
                       use_speaker_embedding=True)
    stock.model_args.use_speaker_embedding = True
    config = MetaVitsConfig.from_config(recipe_shape(stock, vctk, tmp_out), meta=tiny_meta())
    assert config.target_loss is None  # the stock default: a JSON that leaves it out picks the mean of the losses
    with caplog.at_level(logging.WARNING, logger="coqui_meta"):
        run = run_as_the_recipe(config, MetaVits, tmp_out)
    held = [r.getMessage() for r in caplog.records if "meta-validation holds out" in r.getMessage()]
    assert held and "whole" in held[0]
    assert_checkpoints(run)


@pytest.mark.slow
def test_the_vctk_tacotron2_recipe_with_its_eval_split_meta_trains_two_epochs(vctk, tmp_out, caplog):
    from TTS.tts.configs.tacotron2_config import Tacotron2Config

    from coqui_meta import MetaTacotron2, MetaTacotron2Config
    from coqui_meta_lab.presets import small_tacotron2_config

    small = small_tacotron2_config()
    # r = 6 (the preset's 2, Coqui's VCTK recipe's 2): a decoder step for every 6 frames instead of 2, a third of the
    # steps; what this test checks (the recipe's data handling, two epochs through checkpoints) does not depend on it
    stock = Tacotron2Config(audio=small.audio, out_channels=small.out_channels, use_speaker_embedding=True,
                            r=6, gradual_training=None, double_decoder_consistency=False)
    stock.decoder_output_dim, stock.speaker_embedding_dim = small.decoder_output_dim, 64
    config = MetaTacotron2Config.from_config(recipe_shape(stock, vctk, tmp_out), meta=tiny_meta())
    with caplog.at_level(logging.WARNING, logger="coqui_meta"):
        run = run_as_the_recipe(config, MetaTacotron2, tmp_out)
    assert any("meta-validation holds out" in r.getMessage() for r in caplog.records)
    assert_checkpoints(run)


@pytest.mark.slow
def test_the_yourtts_recipe_shape_embeds_offline_and_trains_from_json_with_overrides(vctk, tmp_out):
    """YourTTS: d-vectors of the corpus (`embed --config_path`, Coqui's vctk formatter, keys as Coqui's), the speaker
    encoder named by URL (unreachable here), target_loss loss_1, the weighted sampler's empty dicts, and `coqui-meta
    train --config_path` with `--coqpit.*` overrides."""
    import json

    from TTS.config import load_config
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.datasets import load_tts_samples

    from coqui_meta import MetaVitsConfig
    from coqui_meta.cli import main
    from coqui_meta_lab.presets import small_vits_config

    small = small_vits_config()
    args = small.model_args
    args.use_speaker_embedding, args.use_d_vector_file, args.d_vector_dim = False, True, 256
    args.speaker_encoder_model_path = ENCODER_URL + "model_se.pth.tar"
    args.speaker_encoder_config_path = ENCODER_URL + "config_se.json"
    stock = VitsConfig(audio=small.audio, model_args=args, run_name="YourTTS-EN-VCTK", target_loss="loss_1",
                       use_weighted_sampler=True, weighted_sampler_attrs={"speaker_name": 1.0},
                       weighted_sampler_multipliers={}, speaker_encoder_loss_alpha=9.0)
    config = MetaVitsConfig.from_config(recipe_shape(stock, vctk, tmp_out), meta=tiny_meta())
    config.epochs = 1  # the override below makes it two
    path = tmp_out / "config.json"
    config.save_json(str(path))
    d_vectors = tmp_out / "d_vectors.json"
    assert main(["embed", "--encoder", "resemblyzer", "--config_path", str(path), "--out_path", str(d_vectors)]) == 0
    entries = json.loads(d_vectors.read_text())
    coqui_keys = {s["audio_unique_name"] for s in load_tts_samples(config, eval_split=False)[0]}
    assert {key for key in entries if not key.endswith("#mean")} == coqui_keys and len(coqui_keys) == 36
    saved = json.loads(path.read_text())
    saved["model_args"]["d_vector_file"] = [str(d_vectors)]
    path.write_text(json.dumps(saved))
    assert main(["train", "--config_path", str(path), "--coqpit.epochs", "2", "--coqpit.meta.n_way", "2"]) == 0
    run = next(tmp_out.glob("YourTTS-EN-VCTK*/config.json")).parent
    trained = load_config(str(run / "config.json"))
    assert trained.epochs == 2 and trained.weighted_sampler_multipliers == {}
    assert_checkpoints(run)
