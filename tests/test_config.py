"""Registration through Coqui's own functions, JSON round trips, validation that names the field."""

import json

import pytest
from TTS.config import load_config
from TTS.tts.configs.tacotron2_config import Tacotron2Config
from TTS.tts.configs.vits_config import VitsConfig
from TTS.tts.models import setup_model
from TTS.tts.models.tacotron2 import Tacotron2
from TTS.tts.models.vits import Vits

import coqui_meta
from coqui_meta import MetaLearningConfig, MetaTacotron2, MetaTacotron2Config, MetaVits, MetaVitsConfig
from coqui_meta_lab.presets import small_tacotron2_config, small_vits_config


def test_register_is_idempotent_and_coqui_finds_the_models(tmp_path):
    coqui_meta.register()
    coqui_meta.register()
    config = MetaVitsConfig.from_config(small_vits_config(speakers=["a", "b"]), meta=MetaLearningConfig(inner_steps=3))
    path = tmp_path / "config.json"
    config.save_json(str(path))
    loaded = load_config(str(path))
    assert isinstance(loaded, MetaVitsConfig)
    assert loaded.meta.inner_steps == 3
    model = setup_model(loaded)
    assert type(model) is MetaVits


def test_config_json_round_trip_keeps_every_field(tmp_path):
    meta = MetaLearningConfig(
        algorithm="reptile",
        inner_steps=4,
        inner_lr=0.01,
        adapt_modules=["speaker_embedding", "postnet.convolutions.0"],
        n_way=3,
        k_shot=7,
        q_query=2,
        meta_batch_size=6,
        task_key="accent",  # any sample field (a style task, emotion_name, needs GST on a Tacotron2)
        backend="learn2learn",
        seed=9,
    )
    config = MetaTacotron2Config.from_config(small_tacotron2_config(speakers=["a", "b"]), meta=meta)
    path = tmp_path / "config.json"
    config.save_json(str(path))
    raw = json.loads(path.read_text())
    assert raw["model"] == "meta_tacotron2"
    assert raw["meta"]["adapt_modules"] == ["speaker_embedding", "postnet.convolutions.0"]
    loaded = load_config(str(path))
    assert isinstance(loaded, MetaTacotron2Config)
    assert loaded.meta.to_dict() == meta.to_dict()
    assert loaded.to_dict() == config.to_dict()
    assert type(setup_model(loaded)) is MetaTacotron2


def test_from_config_copies_the_stock_config_and_to_stock_undoes_it():
    stock = small_vits_config(speakers=["a", "b"])
    stock.lr_gen = 1.234e-4
    meta_config = MetaVitsConfig.from_config(stock)
    assert meta_config.model == "meta_vits" and meta_config.lr_gen == 1.234e-4
    assert meta_config.model_args.hidden_channels == stock.model_args.hidden_channels
    back = meta_config.to_stock()
    assert type(back) is VitsConfig and back.model == "vits"
    assert back.to_dict() == stock.to_dict()
    t2 = MetaTacotron2Config.from_config(small_tacotron2_config(speakers=["a"])).to_stock()
    assert type(t2) is Tacotron2Config and t2.model == "tacotron2"


@pytest.mark.parametrize(
    ("field", "value"),
    [("algorithm", "sgd"), ("k_shot", 0), ("q_query", 0), ("n_way", 0), ("inner_steps", 0), ("inner_lr", 0.0),
     ("backend", "jax"), ("meta_batch_size", 0), ("adapt_modules", "emb_g"), ("inner_lr_mode", "per_layer"),
     ("inner_lr_lr", 0.0)],
)
def test_bad_meta_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"meta.{field}"):
        MetaLearningConfig(**{field: value})


def test_learned_rates_and_the_multi_step_loss_name_the_algorithms_they_are_for():
    for field, value in (("inner_lr_mode", "per_tensor"), ("multi_step_loss", True)):
        with pytest.raises(ValueError, match=f"meta.{field}: .* not reptile"):
            MetaLearningConfig(algorithm="reptile", **{field: value})
    MetaLearningConfig(algorithm="fomaml", inner_lr_mode="per_tensor_step", multi_step_loss=True)


def test_the_inner_optimizer_is_adam_unless_maml_differentiates_through_its_steps():
    assert MetaLearningConfig().inner_update == "adam" and MetaLearningConfig().inner_lr == 0.001
    assert MetaLearningConfig(algorithm="maml").inner_update == "sgd"  # second order: SGD, differentiable
    assert MetaLearningConfig(algorithm="maml", first_order=True).inner_update == "adam"
    assert MetaLearningConfig(algorithm="reptile", inner_optimizer="sgd").inner_update == "sgd"
    with pytest.raises(ValueError, match="meta.inner_optimizer: .*second-order maml would be first-order"):
        MetaLearningConfig(algorithm="maml", inner_optimizer="adam")
    with pytest.raises(ValueError, match="meta.inner_optimizer: must be one of adam, sgd"):
        MetaLearningConfig(inner_optimizer="rmsprop")


def test_vits_adapts_everything_speaker_conditioned_by_default():
    model = MetaVits(MetaVitsConfig.from_config(small_vits_config(speakers=["a", "b"])))
    tops = {name.split(".")[0] for name in model.meta_adapted_names()}
    assert tops == {"emb_g", "duration_predictor", "flow", "waveform_decoder"}


def test_bad_value_in_a_json_config_is_caught_when_the_model_is_built(tmp_path):
    config = MetaVitsConfig.from_config(small_vits_config(speakers=["a", "b"]))
    raw = config.to_dict()
    raw["meta"]["k_shot"] = 0
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="meta.k_shot"):
        setup_model(load_config(str(path)))


def test_the_config_checks_itself_wherever_a_value_comes_from():
    """A field set in code is checked at once; ``--coqpit.meta.*`` overrides and a checkpoint's meta overrides are
    checked as Coqpit takes them, relations between fields included: no caller has to remember check_values()."""
    from coqui_meta.cli.train import apply_overrides
    from coqui_meta.formats.checkpoints import as_meta_config

    config = MetaVitsConfig.from_config(small_vits_config(speakers=["a", "b"]))
    with pytest.raises(ValueError, match="meta.k_shot: must be an integer >= 1"):
        config.meta.k_shot = 0
    with pytest.raises(ValueError, match="meta.inner_lr: must be > 0"):
        config.meta.inner_lr = "fast"
    assert config.meta.k_shot == 5 and config.meta.inner_lr == 1e-3  # a refused value is not kept
    config.meta.algorithm = "maml"  # fields that must change together can be set one after the other
    config.meta.inner_optimizer = "sgd"
    with pytest.raises(ValueError, match="meta.inner_lr_mode: learned rates are for .* not reptile"):
        apply_overrides(config, ["--coqpit.meta.algorithm", "reptile", "--coqpit.meta.inner_lr_mode", "per_tensor"])
    with pytest.raises(ValueError, match="meta.n_way: must be an integer >= 1"):
        apply_overrides(MetaVitsConfig.from_config(small_vits_config(speakers=["a"])), ["--coqpit.meta.n_way", "0"])
    with pytest.raises(ValueError, match="meta.multi_step_loss: is for .* not reptile"):
        as_meta_config(MetaVitsConfig.from_config(small_vits_config(speakers=["a"])),
                       {"algorithm": "reptile", "multi_step_loss": True})
    stock = as_meta_config(small_vits_config(speakers=["a"]), {"adapt_modules": ["emb_g"]})
    assert stock.meta.adapt_modules == ["emb_g"] and stock.meta.algorithm == "fomaml"


def test_coqui_meta_train_refuses_a_bad_meta_value_or_override_in_one_line(tmp_path):
    from conftest import run_cli

    config = MetaVitsConfig.from_config(small_vits_config(speakers=["a", "b"]))
    config.model_args.periods_multi_period_discriminator = []  # a field left empty whose default is not
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    config.save_json(str(good))
    raw = config.to_dict()
    raw["meta"]["inner_lr"] = -1
    bad.write_text(json.dumps(raw))
    for args, message in ((["--config_path", bad], f"{bad}: meta.inner_lr: must be > 0"),
                          (["--config_path", good, "--coqpit.meta.k_shot", "0"], "meta.k_shot: must be an integer"),
                          (["--config_path", good, "--coqpit.model_args.periods_multi_period_discriminator.0", "3"],
                           "periods_multi_period_discriminator is empty, so it has no item to override")):
        result = run_cli("train", *args, "--coqpit.output_path", tmp_path / "runs")
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "runs").exists()


def test_adapt_modules_that_match_nothing_name_the_pattern():
    config = MetaVitsConfig.from_config(
        small_vits_config(speakers=["a", "b"]), meta=MetaLearningConfig(adapt_modules=["emb_g", "no_such_module"])
    )
    with pytest.raises(ValueError, match="no_such_module"):
        MetaVits(config)


def test_default_adapted_parameters_follow_weight_norm_names():
    model = MetaVits(MetaVitsConfig.from_config(small_vits_config(speakers=["a", "b"])))
    names = model.meta_adapted_names()
    assert "emb_g.weight" in names
    assert any(n.endswith("parametrizations.weight.original0") for n in names)
    assert set(names) <= {n for n, _ in model.named_parameters()}


@pytest.mark.parametrize("kind", ["vits", "tacotron2"])
def test_meta_state_dict_is_the_stock_one(kind):
    if kind == "vits":
        stock_config = small_vits_config(speakers=["a", "b", "c"])
        meta_model, stock_model = MetaVits(MetaVitsConfig.from_config(stock_config)), Vits(stock_config)
    else:
        stock_config = small_tacotron2_config(speakers=["a", "b", "c"])
        meta_model, stock_model = MetaTacotron2(MetaTacotron2Config.from_config(stock_config)), Tacotron2(stock_config)
    stock_model.load_state_dict(meta_model.state_dict(), strict=True)
    assert meta_model.state_dict().keys() == stock_model.state_dict().keys()


def test_the_tacotron2_preset_trains_at_its_rate_from_the_first_step():
    """Coqui's Tacotron2Config warms its rate up over 4000 scheduler steps (NoamLR) taken once an epoch, so a recipe
    or study on the preset would train at about 1e-3 * epoch / 4000; the preset keeps its rate where the Trainer
    builds the scheduler (the model's own ``get_scheduler``)."""
    config = MetaTacotron2Config.from_config(small_tacotron2_config(speakers=["a", "b"]))
    model = MetaTacotron2(config)
    optimizer = model.get_optimizer()
    model.get_scheduler([optimizer])  # NoamLR would set the rate of its step 0 here (Coqui passes a list)
    assert [group["lr"] for group in optimizer.param_groups] == [config.lr] * len(optimizer.param_groups)
    stock = Tacotron2Config(speakers=["a", "b"], use_speaker_embedding=True)
    warming = Tacotron2(stock)
    stock_optimizer = warming.get_optimizer()
    warming.get_scheduler([stock_optimizer])
    assert stock_optimizer.param_groups[0]["lr"] < stock.lr / 100, "Coqui's default still warms up (else drop this)"
