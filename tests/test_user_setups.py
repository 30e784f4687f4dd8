"""What a Coqui user's own set-up meets before the first step: a split of clips made one of tasks (or an error
that names the fix), target_loss as Coqui means it, a model without speaker input, a speaker encoder at a URL this
machine cannot read, ``--coqpit.*`` overrides on empty dicts, and files with an ordinary mode."""

import os
import stat

import pytest
import torch


def clips(speakers: dict[str, int]) -> list[dict]:
    return [{"speaker_name": name, "audio_file": f"{name}/{i}.wav"} for name, count in speakers.items()
            for i in range(count)]


def meta(**values):
    from coqui_meta import MetaLearningConfig

    return MetaLearningConfig(**{"n_way": 2, "k_shot": 2, "q_query": 1, **values})


def test_a_split_of_clips_becomes_a_split_of_whole_speakers():
    from coqui_meta.models.validation_split import meta_validation_split

    every = clips({"a": 5, "b": 5, "c": 5, "d": 5, "e": 2})
    held = [every[0], every[5]]  # one clip each of a and b, which also train
    train = [s for s in every if s not in held]
    new_train, new_held, note = meta_validation_split(train, held, meta())
    assert {s["speaker_name"] for s in new_held} == {"a", "b"} and len(new_held) == 10  # every clip of a and b
    assert not {s["speaker_name"] for s in new_train} & {"a", "b"} and len(new_train) == 12
    assert "a, b" in note and "meta.eval_tasks" in note


def test_eval_clips_that_cannot_form_tasks_give_way_to_speakers_chosen_by_seed():
    from coqui_meta.models.validation_split import meta_validation_split

    every = clips({"a": 5, "b": 5, "c": 5, "d": 5, "e": 2})
    held = [s for s in every if s["speaker_name"] == "e"][:1]  # e has 2 clips: no task of k_shot + q_query = 3
    train = [s for s in every if s not in held]
    first = meta_validation_split(train, held, meta(seed=1))
    again = meta_validation_split(train, held, meta(seed=1))
    assert first == again and "chosen by meta.seed" in first[2]
    chosen = {s["speaker_name"] for s in first[1]}
    assert len(chosen) == 2 and chosen <= {"a", "b", "c", "d"}


def test_a_split_that_cannot_form_tasks_is_an_error_naming_the_fix():
    from coqui_meta.models.validation_split import SplitError, meta_validation_split

    with pytest.raises(SplitError, match="meta.eval_tasks"):  # disjoint, but one held-out speaker for n_way 2
        meta_validation_split(clips({"a": 5, "b": 5}), clips({"c": 5}), meta())
    with pytest.raises(SplitError, match="Lower meta.n_way"):  # shared, and too few speakers to hold two out
        every = clips({"a": 5, "b": 5, "c": 5})
        meta_validation_split(every[1:], every[:1], meta())


def test_meta_configs_keep_the_stock_target_loss_and_an_unlogged_one_is_refused_before_training(tmp_path):
    from trainer import Trainer, TrainerArgs
    from TTS.tts.configs.tacotron2_config import Tacotron2Config
    from TTS.tts.configs.vits_config import VitsConfig

    from coqui_meta import MetaTacotron2Config, MetaVitsConfig
    from coqui_meta.models.target_loss import check_target_loss, logged_names

    assert MetaVitsConfig().target_loss == VitsConfig().target_loss
    assert MetaTacotron2Config().target_loss == Tacotron2Config().target_loss
    from conftest import build_meta_model

    model = build_meta_model("vits", meta(), ["a", "b"], output_path=str(tmp_path))
    assert logged_names(model, 2, run_eval=True) == {"loss_1"}
    assert logged_names(model, 2, run_eval=False) == {"loss_0", "loss_1"}
    model.config.target_loss = "loss_1"
    check_target_loss(model, model.config, 2)  # YourTTS's setting: fine
    model.config.target_loss = "loss_0"
    with pytest.raises(ValueError, match="target_loss 'loss_0'.*loss_1"):
        Trainer(TrainerArgs(), model.config, str(tmp_path), model=model, train_samples=[], eval_samples=[],
                parse_command_line_args=False)


def test_a_model_without_speaker_input_says_so(tmp_path):
    from coqui_meta import MetaVits, MetaVitsConfig
    from coqui_meta_lab.presets import small_vits_config

    stock = small_vits_config(output_path=str(tmp_path))
    stock.use_speaker_embedding = stock.model_args.use_speaker_embedding = False
    model = MetaVits(MetaVitsConfig.from_config(stock, meta=meta()))  # built: coqui-meta adapt fine-tunes its voice
    assert model.meta_single_voice and "emb_g.weight" not in model.meta_adapted_names()
    with pytest.raises(ValueError, match="no speaker input.*use_speaker_embedding=true.*d_vector_file"):
        model.meta_check_trainable()  # meta-training refuses it, when the Trainer is set up


def test_a_speaker_encoder_at_a_url_is_left_out_when_another_start_is_asked_for(tmp_path):
    import json

    from coqui_meta import MetaVits, MetaVitsConfig
    from coqui_meta.formats.checkpoints import load_model
    from coqui_meta_lab.presets import small_vits_config

    d_vectors = tmp_path / "d_vectors.json"
    d_vectors.write_text(json.dumps({f"#{n}": {"name": n, "embedding": [0.1 * i] * 16}
                                     for i, n in enumerate(["a", "b"])}))
    stock = small_vits_config(output_path=str(tmp_path))
    for holder in (stock, stock.model_args):
        holder.use_speaker_embedding, holder.use_d_vector_file, holder.d_vector_dim = False, True, 16
        holder.d_vector_file = [str(d_vectors)]
    config = MetaVitsConfig.from_config(stock, meta=meta())
    torch.save({"model": MetaVits(config).state_dict()}, tmp_path / "model.pth")
    config.model_args.speaker_encoder_model_path = "https://example.invalid/model_se.pth.tar"
    config.model_args.speaker_encoder_config_path = "https://example.invalid/config_se.json"
    config.save_json(str(tmp_path / "config.json"))
    files = (str(tmp_path / "model.pth"), str(tmp_path / "config.json"))
    with pytest.raises(ValueError, match="URL this machine could not read.*pass encoder resemblyzer"):
        load_model(*files)
    loaded = load_model(*files, encoder="mean")
    assert loaded.model.meta_voice_is_d_vector and loaded.config.model_args.speaker_encoder_model_path is None


def test_overrides_keep_empty_dicts_and_lists():
    from coqui_meta import MetaVitsConfig
    from coqui_meta.cli.train import apply_overrides

    config = MetaVitsConfig()
    config.weighted_sampler_attrs = {"speaker_name": 1.0}
    apply_overrides(config, ["--coqpit.epochs", "3", "--coqpit.meta.inner_steps", "4"])
    assert config.epochs == 3 and config.meta.inner_steps == 4
    assert config.weighted_sampler_multipliers == {} and config.lr_scheduler_params == {}  # not None
    assert config.meta.adapt_modules == [] and config.weighted_sampler_attrs == {"speaker_name": 1.0}


def test_atomically_written_files_get_an_ordinary_mode(tmp_path):
    from coqui_meta.files import write_atomic, write_json

    write_atomic(tmp_path / "model.pth", lambda path: torch.save({"x": 1}, path))
    write_json(tmp_path / "report.json", {"x": 1})
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.pth", "report.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
