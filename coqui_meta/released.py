"""Coqui's released models, by name or by folder, found as Coqui itself finds them.

``--model_name tts_models/en/vctk/vits`` is resolved by Coqui's own ``ModelManager``, as ``tts --model_name``
resolves it: downloaded into Coqui's cache when the machine is online, read from the cache when the model is already
there (``$TTS_HOME/tts``, else the user data dir such as ``~/.local/share/tts``; one folder a model, e.g.
``tts_models--en--vctk--vits/``). ``--model_path DIR`` takes such a folder, or a model file inside one.

A release's config names the files it ships beside the model (``speaker_ids.json``, ``speakers.json``/``.pth``,
``language_ids.json``, ``model_se.pth(.tar)`` + ``config_se.json``, ``scale_stats.npy``) by paths on the machine that
trained it (``/home/.../speaker_ids.json``). When a path the config names is not a file here, the config is read from
a working copy in which ModelManager's own rewrite (``_update_paths``, what it does to a fresh download) has pointed
those fields at the files in the model's folder. The user's folder is never written; the cache only by ModelManager.

Example::

    release = resolve(model_name="tts_models/en/ljspeech/tacotron2-DDC")
    release.model_file, release.config_path, release.default_vocoder  # ..., "vocoder_models/en/ljspeech/hifigan_v2"
"""

from __future__ import annotations

import atexit
import contextlib
import difflib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: the ``model`` of the configs the plugin meta-learns and adapts (their meta_ configs too)
KINDS = ("vits", "tacotron2")
#: name parts of released models of other kinds, refused before any download (the config's model decides otherwise)
OTHER_KINDS = {"xtts": "XTTS", "bark": "Bark", "tortoise": "Tortoise", "glow-tts": "GlowTTS", "fast_pitch": "FastPitch",
               "speedy-speech": "SpeedySpeech", "overflow": "OverFlow", "neural_hmm": "NeuralHMM"}
#: the config fields that name a file a release ships beside its model (each also under ``model_args``)
FILE_FIELDS = ("audio.stats_path", "d_vector_file", "speakers_file", "language_ids_file",
               "speaker_encoder_model_path", "speaker_encoder_config_path")
MODEL_FILES = ("model_file.pth", "model_file.pth.tar", "model.pth", "checkpoint.pth")  # ModelManager's names


@dataclass(frozen=True)
class Release:
    model_file: Path  # the checkpoint
    config_path: Path  # the config to read: the release's own, or a working copy naming the folder's files
    folder: Path  # the folder the model came from
    model: str  # the config's model: vits, tacotron2, meta_vits, meta_tacotron2
    name: str | None = None  # its model name, when it has one (given, or the cache folder's)
    default_vocoder: str | None = None  # the vocoder its models.json entry names (Tacotron2 releases)


def kinds_line() -> str:
    return ("it meta-learns and adapts vits and tacotron2 models only, e.g. tts_models/en/vctk/vits, "
            "tts_models/multilingual/multi-dataset/your_tts, tts_models/en/ljspeech/vits, "
            "tts_models/en/ljspeech/tacotron2-DDC")


def resolve(model_name: str | None = None, model_path: str | None = None, config_path: str | None = None) -> Release:
    """The release that ``--model_name`` or ``--model_path`` (+ ``--config_path``) names; errors say what to do."""
    if model_name and model_path:
        raise ValueError("give --model_name NAME or --model_path PATH, not both")
    if model_name:
        if config_path:
            raise ValueError("--model_name comes with its own config; leave out --config_path")
        return by_name(model_name)
    if not model_path:
        raise ValueError("give --model_name NAME (a released model, e.g. tts_models/en/vctk/vits) or --model_path "
                         "CHECKPOINT with --config_path CONFIG")
    return from_path(model_path, config_path)


def manager():
    from TTS.utils.manage import ModelManager

    return ModelManager(progress_bar=True)  # a bar only while it downloads, as `tts` shows one


def model_names(models_dict: dict) -> list[str]:
    """Every name ModelManager lists (``tts --list_models``), without its printing."""
    return [f"{kind}/{lang}/{data}/{model}" for kind, langs in models_dict.items() for lang, datasets in langs.items()
            for data, models in datasets.items() for model in models]


def check_name(name: str):
    """ModelManager, and an error unless ``name`` is a model Coqui lists of a kind the plugin meta-learns: said
    before any download."""
    models = manager()
    names = model_names(models.models_dict)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"; the closest names Coqui lists: {', '.join(close)}" if close else ""
        raise ValueError(f"--model_name {name!r} is not a model Coqui lists (tts --list_models){hint}")
    kind, _, dataset, model = name.split("/")
    other = next((label for part, label in OTHER_KINDS.items() if model.startswith(part)), None)
    if kind != "tts_models" or dataset == "fairseq" or other:
        what = other or ("a Fairseq (MMS) VITS" if dataset == "fairseq" else f"a {kind.removesuffix('_models')} model")
        raise ValueError(f"--model_name {name} is {what}, not a kind coqui-meta meta-learns: {kinds_line()}")
    return models


def by_name(name: str) -> Release:
    """A released model through ModelManager.download_model: the cache's copy, else a download."""
    import requests

    models = check_name(name)
    kind, lang, dataset, model = name.split("/")
    folder = Path(models.output_prefix) / name.replace("/", "--")
    item = models.models_dict[kind][lang][dataset][model]
    try:
        with _no_traceback():
            model_file, config, _ = models.download_model(name)
    except (requests.RequestException, OSError) as error:
        where = item.get("github_rls_url") or item.get("repo_id") or "Coqui's release"
        where = where if isinstance(where, str) else ", ".join(where)
        raise FileNotFoundError(
            f"--model_name {name}: not in Coqui's model cache and the download failed ({type(error).__name__}); "
            f"place the release's files ({where}, unpacked) in {folder}/ (Coqui's cache; TTS_HOME moves it), or give "
            "--model_path a folder that holds them") from None
    release = from_path(model_file, config)
    return Release(release.model_file, release.config_path, release.folder, release.model, name,
                   item.get("default_vocoder"))


@contextlib.contextmanager
def _no_traceback():
    """ModelManager logs the traceback of a failed download; the error this module raises says it in one line."""
    log = logging.getLogger("TTS.utils.manage")
    drop = logging.Filter()
    drop.filter = lambda record: not record.exc_info
    log.addFilter(drop)
    try:
        yield
    finally:
        log.removeFilter(drop)


def from_path(model_path: str | Path, config_path: str | Path | None = None) -> Release:
    """A model file and its config; a folder stands for its model file and its ``config.json``, as ModelManager
    finds them. Paths of the files shipped beside the model are taken from the folder where the config's are not
    files here."""
    path = Path(model_path)
    if path.is_dir():
        folder = path
        found = [folder / name for name in MODEL_FILES if (folder / name).is_file()]
        if not found:
            raise FileNotFoundError(f"--model_path {path}: no model file ({', '.join(MODEL_FILES)}) in this folder")
        path = found[0]
    elif not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path} (--model_path: a checkpoint or a release's folder)")
    folder = path.parent
    config = Path(config_path) if config_path else folder / "config.json"
    if config_path and not config.is_file():
        raise FileNotFoundError(f"--config_path {config}: no such file")
    if not config.is_file():
        raise FileNotFoundError(f"--model_path {model_path}: no config.json beside the model; give --config_path")
    try:
        values = json.loads(config.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{config} is not valid JSON: {error}") from None
    model = str(values.get("model"))
    if model.removeprefix("meta_") not in KINDS:
        raise ValueError(f"{config} is a {model} model, not a kind coqui-meta meta-learns: {kinds_line()}")
    name = _name_of(folder)
    vocoder = _models_entry(name).get("default_vocoder") if name else None
    return Release(path, _readable_config(config, folder, values), folder, model, name, vocoder)


def _readable_config(config: Path, folder: Path, values: dict) -> Path:
    """``config``, or when a file it names is not there, a working copy naming the folder's files instead."""
    if not _missing_files(values):
        return config
    from TTS.utils.manage import ModelManager

    import coqui_meta  # noqa: F401  (ModelManager reads the copy with load_config: meta configs need registering)

    work = Path(tempfile.mkdtemp(prefix=f"coqui-meta-{folder.name}-"))
    atexit.register(shutil.rmtree, work, True)
    copy = work / "config.json"
    shutil.copyfile(config, copy)
    ModelManager._update_paths(None, folder, copy)  # a static rewrite in all but name: it never reads self
    return copy


def _missing_files(values: dict) -> list[str]:
    """The file fields (top level and ``model_args``) whose value is set but not a file on this machine."""
    missing = []
    for field in FILE_FIELDS:
        for holder in (values, values.get("model_args") or {}):
            value = holder
            for key in field.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            for item in value if isinstance(value, list) else [value]:
                if item and not Path(item).is_file():
                    missing.append(field)
    return missing


def _name_of(folder: Path) -> str | None:
    """The model name of a folder named as ModelManager names its cache folders, if Coqui lists it."""
    name = folder.name.replace("--", "/")
    return name if name.count("/") == 3 and _models_entry(name) else None


def _models_entry(name: str) -> dict:
    kind, lang, dataset, model = name.split("/")
    return manager().models_dict.get(kind, {}).get(lang, {}).get(dataset, {}).get(model) or {}

