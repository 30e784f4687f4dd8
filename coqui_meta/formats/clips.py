"""Clips of new voices for `evaluate` and `adapt`: a Coqui ``coqui``-format folder or a folder of ``name.wav`` +
``name.txt``, checked before any work starts, with errors that name the file.

Example::

    samples = load_clips("data/new_voice", speaker="anna")     # wav + txt pairs, all of speaker "anna"
    samples = load_clips("../shared/data/speechocean762")      # metadata.csv: audio_file|text|speaker_name
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from coqui_meta.errors import RequestError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def coqui_dataset(path: str, formatter: str = "coqui"):
    """A Coqui dataset entry for a corpus in the ``coqui`` format (``metadata.csv``: audio_file|text|speaker_name)."""
    from TTS.config.shared_configs import BaseDatasetConfig

    return BaseDatasetConfig(formatter=formatter, path=path, meta_file_train="metadata.csv", dataset_name="corpus")


def _from_metadata(root: Path) -> list[dict[str, Any]]:
    from TTS.tts.configs.shared_configs import BaseTTSConfig
    from TTS.tts.datasets import load_tts_samples

    try:
        samples, _ = load_tts_samples(BaseTTSConfig(datasets=[coqui_dataset(str(root))]), eval_split=False)
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(
            f"{root / 'metadata.csv'} is not in Coqui's coqui format (audio_file|text|speaker_name): {error}"
        )
    return samples


def _from_language_folders(root: Path) -> list[dict[str, Any]]:
    """A multilingual corpus: one coqui-format folder per language (``root/<language>/metadata.csv``), each read as a
    Coqui dataset of that language (and its own ``dataset_name``: Coqui caches phonemes by clip name)."""
    from TTS.tts.configs.shared_configs import BaseTTSConfig
    from TTS.tts.datasets import load_tts_samples

    datasets = []
    for folder in sorted(p for p in root.iterdir() if (p / "metadata.csv").is_file()):
        dataset = coqui_dataset(str(folder))
        dataset.language = dataset.dataset_name = folder.name
        datasets.append(dataset)
    return load_tts_samples(BaseTTSConfig(datasets=datasets), eval_split=False)[0] if datasets else []


def _from_pairs(root: Path, speaker: str) -> list[dict[str, Any]]:
    samples = []
    for audio in sorted(p for p in root.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
        transcript = audio.with_suffix(".txt")
        if not transcript.is_file():
            raise ValueError(f"{audio} has no transcript: expected {transcript}")
        samples.append(
            {
                "text": transcript.read_text(encoding="utf-8").strip(),
                "audio_file": str(audio),
                "speaker_name": speaker,
                "root_path": str(root),
                "language": "",
                "audio_unique_name": f"{speaker}#{audio.stem}",
            }
        )
    return samples


class ClipError(ValueError):
    """A clip that cannot be used: the message names the file, ``reason`` the kind of problem."""

    def __init__(self, path: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{path}: {reason}{detail}")
        self.reason = reason


def check_clip(sample: dict[str, Any]) -> float:
    """Its duration in seconds (its sample rate goes in ``sample["sample_rate"]``); `FileNotFoundError` if the file is
    missing, `ClipError` (naming the file) if it is unreadable, empty or untranscribed."""
    import soundfile

    path = sample["audio_file"]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"audio file not found: {path}")
    if not str(sample.get("text", "")).strip():
        raise ClipError(path, "empty transcript")
    try:
        info = soundfile.info(path)
    except Exception as error:  # soundfile raises its own LibsndfileError / RuntimeError
        raise ClipError(path, "unreadable audio", f" ({error})") from None
    if info.frames == 0:
        raise ClipError(path, "empty audio", " (0 samples)")
    sample["sample_rate"] = info.samplerate
    return info.frames / info.samplerate


def require_sample_rate(clips: list[dict[str, Any]], rate: int) -> None:
    """`ValueError` naming a clip of ``clips`` (checked by `load_clips`) that is not at ``rate`` Hz. The models' own
    datasets read audio as it is: another rate would give wrong features, silently."""
    other = [clip for clip in clips if clip["sample_rate"] != rate]
    if other:
        raise ValueError(
            f"{other[0]['audio_file']} is at {other[0]['sample_rate']} Hz but the model at {rate} Hz "
            f"({len(other)} such "
            f"clip(s)); resample the corpus (coqui-meta adapt resamples its clips itself)"
        )


# columns that Coqui's coqui formatter fills in itself when the metadata lacks them (emotion_name: "neutral"), so a
# task of that key would silently see one value
FILLED_COLUMNS = ("emotion_name",)


def require_task_column(metadata_files: list[str | os.PathLike], task_key: str) -> None:
    """`ValueError` naming the first ``metadata_files`` (coqui format) whose header lacks ``task_key`` when Coqui's
    formatter would fill that column with one value for every clip."""
    if task_key not in FILLED_COLUMNS:
        return
    for path in metadata_files:
        with open(path, encoding="utf-8") as handle:
            header = handle.readline().strip().split("|")
        if task_key not in header:
            raise RequestError(
                f"{path} has no {task_key} column (its columns: {'|'.join(header)}), but the tasks are {task_key} "
                f"values (meta.task_key / `task_key`): add the column (Coqui's formatter would call every clip "
                "'neutral')")


def coqui_metadata_files(datasets) -> list[str]:
    """The metadata files of a config's ``coqui``-format datasets (the format whose columns can be named)."""
    return [os.path.join(d.path, d.meta_file_train) for d in datasets if d.formatter == "coqui" and d.meta_file_train]


def unknown_characters(text: str, model) -> set[str]:
    """Characters of ``text``, once cleaned as the model cleans it, that its vocabulary lacks (none with phonemes)."""
    if model.config.use_phonemes:
        return set()
    cleaner = model.tokenizer.text_cleaner
    return set(cleaner(text) if cleaner else text) - set(model.tokenizer.characters.vocab)


def load_clips(path: str | os.PathLike, speaker: str | None = None,
               task_key: str = "speaker_name") -> list[dict[str, Any]]:
    """Coqui samples of every clip under ``path``, each checked (see `check_clip`), with ``seconds`` set.

    ``speaker`` names the voice of a wav + txt folder (default: the folder's name) and, for a metadata.csv folder,
    keeps only that speaker's clips. A folder of language folders, each with a metadata.csv, is a multilingual
    corpus: each clip's ``language`` is its folder's name. ``task_key``: the column the clips are grouped by
    (`require_task_column`).
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    if (root / "metadata.csv").is_file():
        require_task_column([root / "metadata.csv"], task_key)
    languages = [] if (root / "metadata.csv").is_file() else _from_language_folders(root)
    if languages:
        samples = languages
    elif (root / "metadata.csv").is_file():
        samples = _from_metadata(root)
        if speaker is not None:
            names = sorted({s["speaker_name"] for s in samples})
            samples = [s for s in samples if s["speaker_name"] == speaker]
            if not samples:
                raise ValueError(
                    f"{root / 'metadata.csv'} has no clip of speaker {speaker!r} (it has {', '.join(names[:10])})"
                )
    else:
        samples = _from_pairs(root, speaker or root.resolve().name)
        if not samples:
            raise ValueError(
                f"{root} has neither a metadata.csv nor any {'/'.join(AUDIO_SUFFIXES)} clip with a .txt beside it"
            )
    for sample in samples:
        sample["seconds"] = check_clip(sample)
    return samples


def clip_problem(sample: dict[str, Any], model) -> str | None:
    """Why ``model`` cannot train on ``sample`` (a kind of problem, see `screen_samples`), or None."""
    config = model.config
    path, root = sample["audio_file"], sample.get("root_path")
    # a path in metadata.csv that climbs out of the dataset (``../``); symlinked folders inside it are fine
    if root and not os.path.normpath(os.path.abspath(path)).startswith(
        os.path.normpath(os.path.abspath(root)) + os.sep
    ):
        return "outside the dataset root"
    try:
        seconds = check_clip(sample)
    except FileNotFoundError:
        return "missing audio file"
    except ClipError as error:
        return error.reason
    rate = sample["sample_rate"]
    frames = round(seconds * rate)
    if rate != config.audio.sample_rate:
        frames = int(frames * config.audio.sample_rate / rate)
    if not config.min_audio_len <= frames <= config.max_audio_len:
        return "shorter or longer than the config's min_audio_len/max_audio_len"
    if unknown_characters(sample["text"], model):
        return "characters outside the model's vocabulary"
    return None


def screen_samples(samples: list[dict[str, Any]], model) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The samples the model can train on, and the others by reason (each reason -> the files).

    Reasons: a missing, unreadable or empty audio file, an empty transcript, characters outside the model's
    vocabulary, an audio path outside its dataset's root, a clip shorter or longer than the config allows.
    """
    kept, problems = [], {}
    for sample in samples:
        reason = clip_problem(sample, model)
        if reason:
            problems.setdefault(reason, []).append(sample["audio_file"])
        else:
            kept.append(sample)
    return kept, problems


def describe_problems(problems: dict[str, list[str]], total: int) -> str:
    skipped = sum(len(files) for files in problems.values())
    lines = [f"Skipping {skipped} of {total} clips:"]
    for reason, files in sorted(problems.items()):
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        lines.append(f"  {len(files)} {reason}: {shown}")
    return "\n".join(lines)
