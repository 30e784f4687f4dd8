"""Coqui's released models laid out offline, as ``ModelManager.download_model`` leaves a download in its cache, with
random weights: ``lay_out(home, "tts_models/en/vctk/vits")`` writes ``home/tts/tts_models--en--vctk--vits/`` and
``TTS_HOME=home`` makes Coqui (``tts --model_name``, ``TTS.api``) and ``coqui-meta --model_name`` read it there.

The configs are those under ``tests/released_configs/`` (shaped as the released ones, their file paths as released:
README there). Each folder holds what its release ships: ``model_file.pth`` (``{"model": state_dict}`` of the model
Coqui's ``setup_model`` builds from the config), ``config.json``, and beside them ``speaker_ids.json`` (VCTK VITS, 109
speakers), ``speakers.json`` + ``language_ids.json`` + ``model_se.pth`` + ``config_se.json`` (YourTTS) or
``scale_stats.npy`` (Tacotron2-DDC, which also gets its default vocoder's folder,
``vocoder_models--en--ljspeech--hifigan_v2``). ``reduced=True`` shrinks the VITS widths (and the vocoder's) for
speed; the layout and every config field stay as released.
"""

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

CONFIGS = Path(__file__).resolve().parent / "released_configs"
VCTK, YOUR_TTS = "tts_models/en/vctk/vits", "tts_models/multilingual/multi-dataset/your_tts"
LJSPEECH_VITS, TACOTRON2_DDC = "tts_models/en/ljspeech/vits", "tts_models/en/ljspeech/tacotron2-DDC"
VOCODER = "vocoder_models/en/ljspeech/hifigan_v2"
#: VCTK's speakers as the release's speaker_ids.json names them ("ED\n" first, a quirk of the release)
VCTK_SPEAKERS = ["ED\n"] + [f"p{n}" for n in (
    225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 236, 237, 238, 239, 240, 241, 243, 244, 245, 246, 247, 248, 249,
    250, 251, 252, 253, 254, 255, 256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 270, 271, 272,
    273, 274, 275, 276, 277, 278, 279, 280, 281, 282, 283, 284, 285, 286, 287, 288, 292, 293, 294, 295, 297, 298, 299,
    300, 301, 302, 303, 304, 305, 306, 307, 308, 310, 311, 312, 313, 314, 316, 317, 318, 323, 326, 329, 330, 333, 334,
    335, 336, 339, 340, 341, 343, 345, 347, 351, 360, 361, 362, 363, 364, 374, 376)]
YOUR_TTS_SPEAKERS = ["VCTK_p225", "VCTK_p226", "VCTK_p277", "LTTS_4398", "bernard", "ezwa"]
#: smaller VITS widths (model_args) for speed
REDUCED_VITS = {"hidden_channels": 32, "hidden_channels_ffn_text_encoder": 64, "num_layers_text_encoder": 1,
                "num_layers_posterior_encoder": 2, "num_layers_flow": 1, "upsample_initial_channel_decoder": 32}


def folder_name(name: str) -> str:
    return name.replace("/", "--")


def lay_out(home, name: str, reduced: bool = False, seed: int = 0, fields: dict | None = None) -> Path:
    """The cache folder of ``name`` under ``home/tts`` (made once; an existing one is kept, as ModelManager keeps
    it); for Tacotron2-DDC its default vocoder's folder too. ``fields``: top-level config values to change, e.g.
    ``{"max_decoder_steps": 100}`` (a random Tacotron2 never predicts its stop token: stock ``tts`` decodes to
    Coqui's 10000 steps, about 3 minutes on a CPU)."""
    folder = Path(home) / "tts" / folder_name(name)
    if folder.is_dir():
        return folder
    values = {**released_config(name, reduced), **(fields or {})}
    folder.mkdir(parents=True)
    torch.manual_seed(seed)
    try:
        local = _side_files(folder, name, values)  # the config's file fields pointing at them, to build the model
        _save_model(folder, _with_fields(values, local))
    except BaseException:
        shutil.rmtree(folder)  # a half-made folder would pass for a download
        raise
    (folder / "config.json").write_text(json.dumps(values, indent=4) + "\n")  # as released: its own paths
    if name == TACOTRON2_DDC:
        lay_out_vocoder(home, reduced)
    return folder


def released_config(name: str, reduced: bool = False) -> dict:
    """The config.json ``lay_out`` writes for ``name``: as released (its paths too), widths reduced if asked. (The
    cache's copy is rewritten by ModelManager once a ``--model_name`` has read it.)"""
    values = json.loads((CONFIGS / folder_name(name) / "config.json").read_text())
    if reduced and values["model"] == "vits":
        values["model_args"].update(REDUCED_VITS)
    return values


def _side_files(folder: Path, name: str, values: dict) -> dict:
    """The files the release ships beside its model; returns {config field: local path} for building it."""
    if name == VCTK:
        (folder / "speaker_ids.json").write_text(json.dumps({s: i for i, s in enumerate(VCTK_SPEAKERS)}, indent=4))
        return {"speakers_file": str(folder / "speaker_ids.json")}
    if name == YOUR_TTS:
        rng = np.random.default_rng(0)
        vectors = {f"{s}_{i:03d}.wav": {"name": s, "embedding": (v / np.linalg.norm(v)).tolist()}
                   for s in YOUR_TTS_SPEAKERS for i, v in enumerate(rng.standard_normal((2, 512)))}
        (folder / "speakers.json").write_text(json.dumps(vectors))
        (folder / "language_ids.json").write_text(json.dumps({"en": 0, "fr-fr": 1, "pt-br": 2}, indent=4))
        encoder_config = CONFIGS / folder_name(name) / "config_se.json"
        (folder / "config_se.json").write_text(encoder_config.read_text())
        _save_encoder(folder / "model_se.pth", folder / "config_se.json")
        return {"d_vector_file": str(folder / "speakers.json"), "language_ids_file": str(folder / "language_ids.json"),
                "speaker_encoder_model_path": str(folder / "model_se.pth"),
                "speaker_encoder_config_path": str(folder / "config_se.json")}
    if name == TACOTRON2_DDC:
        audio = values["audio"]
        mels, linear = audio["num_mels"], audio["fft_size"] // 2 + 1
        stats = {"mel_mean": np.zeros(mels), "mel_std": np.ones(mels), "linear_mean": np.zeros(linear),
                 "linear_std": np.ones(linear), "audio_config": dict(audio)}
        np.save(folder / "scale_stats.npy", stats, allow_pickle=True)
        return {"audio.stats_path": str(folder / "scale_stats.npy")}
    return {}


def _with_fields(values: dict, local: dict) -> dict:
    """A copy of ``values`` whose file fields (top level, and under model_args where it has them) are ``local``'s."""
    copy = json.loads(json.dumps(values))
    for field, path in local.items():
        for holder in (copy, copy.get("model_args") or {}):
            *head, last = field.split(".")
            for key in head:
                holder = holder.get(key, {})
            if last in holder:
                holder[last] = [path] if isinstance(holder[last], list) else path
    return copy


def _load(values: dict):
    """``values`` as a Coqui config (through a file, as Coqui reads a config.json)."""
    from TTS.config import load_config

    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "config.json"
        path.write_text(json.dumps(values))
        return load_config(str(path))


def _save_model(folder: Path, values: dict) -> None:
    from TTS.tts.models import setup_model

    model = setup_model(_load(values))
    torch.save({"model": model.state_dict()}, folder / "model_file.pth")


def _save_encoder(path: Path, config_path: Path) -> None:
    from TTS.config import load_config
    from TTS.encoder.utils.generic_utils import setup_encoder_model

    torch.save({"model": setup_encoder_model(load_config(str(config_path))).state_dict()}, path)


def lay_out_vocoder(home, reduced: bool = False) -> Path:
    """HiFiGAN v2's folder, the default vocoder of Tacotron2-DDC: its generator, saved in the release's format
    (``model`` the generator, ``model_disc`` beside it), which Coqui's Synthesizer loads for inference."""
    from TTS.vocoder.models import setup_generator

    folder = Path(home) / "tts" / folder_name(VOCODER)
    if folder.is_dir():
        return folder
    values = json.loads((CONFIGS / folder_name(VOCODER) / "config.json").read_text())
    if reduced:
        values["generator_model_params"]["upsample_initial_channel"] = 32
    folder.mkdir(parents=True)
    generator = setup_generator(_load(values))
    torch.save({"model": generator.state_dict(), "model_disc": {}}, folder / "model_file.pth")
    (folder / "config.json").write_text(json.dumps(values, indent=4) + "\n")
    return folder
