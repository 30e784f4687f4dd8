"""The speechocean762 VITS recipes run as flat scripts, one episode, and write a Coqui run folder."""

import glob
import json
from pathlib import Path

import pytest
import torch
from conftest import run_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["vits_maml", "vits_protonet"])
def test_a_recipe_trains_one_episode_with_meta_validation(corpus, recipe, tmp_path):
    script = ROOT / "recipes" / "speechocean762" / recipe / "train.py"
    result = run_script(script, "--data", corpus, "--output_path", tmp_path, "--epochs", "1", "--episodes", "1",
                        "--threads", "1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert meta_validation_losses(log), "meta-validation ran and logged a finite query loss after adaptation"
    run = Path(glob.glob(str(tmp_path / "*" / "best_model.pth"))[0]).parent
    config = json.loads((run / "config.json").read_text())
    state = torch.load(run / "best_model.pth", map_location="cpu", weights_only=True)["model"]
    everyone = {line.rsplit("|", 1)[-1] for line in (corpus / "metadata.csv").read_text().splitlines()[1:]}
    assert 40 < len(config["speakers"]) < len(everyone), "the training speakers are recorded, without the held-out"
    if recipe == "vits_protonet":
        assert config["model_args"]["use_d_vector_file"] and "prototype_accuracy" in log
        assert any(key.startswith("prototype_encoder.") for key in state)
    else:
        assert state["emb_g.weight"].shape[0] == len(config["speakers"])
        stock_model(run / "config.json").load_state_dict(state, strict=True)  # a stock VITS takes it as it is


def meta_validation_losses(log: str) -> list[float]:
    """The finite ``query_loss_after_adaptation`` values the Trainer's evaluation logged."""
    import math
    import re

    values = [float(v) for v in re.findall(r"query_loss_after_adaptation:\s*([-+0-9.eE]+)", log)]
    return [v for v in values if math.isfinite(v)]


def stock_model(config_path):
    from TTS.tts.models import setup_model

    from coqui_meta.formats.checkpoints import load_config_file

    return setup_model(load_config_file(str(config_path)).to_stock())


@pytest.mark.slow
def test_the_language_recipe_builds_its_corpus_and_meta_trains_on_languages(tmp_path):
    script = ROOT / "recipes" / "espeak_languages" / "vits_fomaml" / "train.py"
    result = run_script(script, "--corpus", tmp_path / "corpus", "--clips_per_speaker", "4", "--output_path",
                        tmp_path / "runs", "--epochs", "1", "--episodes", "1", "--threads", "1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert meta_validation_losses(result.stdout + result.stderr)
    run = Path(glob.glob(str(tmp_path / "runs" / "*" / "best_model.pth"))[0]).parent
    config = json.loads((run / "config.json").read_text())
    assert config["meta"]["task_key"] == "language" and "sv" not in config["languages"]
    state = torch.load(run / "best_model.pth", map_location="cpu", weights_only=True)["model"]
    assert state["emb_l.weight"].shape[0] == len(config["languages"]) == 9
