"""Learning from clips, the one skeleton of `coqui-meta adapt`: a new voice (`coqui_meta.adapting.new_voice`), a new
language (`coqui_meta.adapting.new_language`) and a new style (`coqui_meta.adapting.new_style`) go through the same
life; each fills in what differs (which checks, which clips, where the task starts, what the folder holds).

1. Check the request and that the output folder is new; load the checkpoint for the kind's tasks.
2. The kind's own checks, then its clips (``shots`` of them, drawn by the seed); each clip checked and prepared
   (resampled to the model's rate, down-mixed, silence trimmed as the config says): a problem names the file.
3. A `coqui_meta.algorithms.task.Task` started as the settings say, ``steps`` inner steps on the clips (a progress
   bar), the final support loss and a sample sentence.
4. The stock state dict and config, ``adapt.json`` (an `AdaptationResult`: what every kind records, and the kind's
   own fields), staged beside the target and renamed into place: the folder appears whole or not at all.

Example::

    info = NewVoice(model_path, config_path, data, shots=10, steps=20, out_path="voices/anna", speaker="anna").run()
    info.final_support_loss, info.speaker   # adapt.json holds info.to_dict()
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from tqdm.auto import tqdm

from coqui_meta.adapting.settings import AdaptationSettings, load_for_adaptation
from coqui_meta.adapting.voice_folder import write_voice
from coqui_meta.algorithms.task import Task
from coqui_meta.errors import RequestError
from coqui_meta.files import require_new_folder, staged_folder
from coqui_meta.formats.clips import load_clips, unknown_characters
from coqui_meta.seeds import draw


@dataclass(kw_only=True)
class AdaptationResult:
    """What ``adapt.json`` records of every kind's adaptation, in the order of the file; a kind's subclass adds its own
    fields, which come first. ``unchanged``: whether what the model already had is left as it was, under a key named
    for the kind (``old_speakers_unchanged``, ``old_voice_unchanged``, ``old_languages_unchanged``)."""

    base_model: str
    base_config: str
    model: str  # the stock model the folder holds: vits or tacotron2
    algorithm: str
    shots: int
    clips: list[str]
    steps: int
    # the adaptation's rates (`InnerOptimizer.record`): lr is None for learned rates, which ``rates`` lists
    inner_lr_mode: str
    lr: float | None
    lr_scale: float
    optimizer: str
    grad_clip: float | None
    rates: dict[str, list[float]]
    adapt_modules: list[str]
    unchanged: dict[str, bool] = field(default_factory=dict)
    vocoder: str = ""
    support_loss: list[float]
    final_support_loss: float
    seconds: float
    step_seconds: float | None
    seed: int
    device: str
    date: str
    extra: dict[str, Any] = field(default_factory=dict)  # keys of other versions, written back as they were

    def to_dict(self) -> dict[str, Any]:
        """The content of ``adapt.json``."""
        common = {item.name for item in fields(AdaptationResult)}
        own = {item.name: getattr(self, item.name) for item in fields(self) if item.name not in common}
        recorded = {}
        for item in fields(AdaptationResult):
            if item.name == "unchanged":
                recorded.update(self.unchanged)
            elif item.name != "extra":
                recorded[item.name] = getattr(self, item.name)
        return {**own, **recorded, **self.extra}

    @classmethod
    def from_dict(cls, info: dict[str, Any]) -> AdaptationResult:
        """The result of its dict: the fields ``cls`` has, the ``*_unchanged`` keys, and the rest in ``extra``."""
        names = {item.name for item in fields(cls)} - {"unchanged", "extra"}
        unchanged = {key: value for key, value in info.items() if key.endswith("_unchanged")}
        extra = {key: value for key, value in info.items() if key not in names and key not in unchanged}
        return cls(**{key: value for key, value in info.items() if key in names}, unchanged=unchanged, extra=extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> AdaptationResult:
        """The ``adapt.json`` at ``path`` (a voice folder's: ``NewVoice.Result.load(folder / "adapt.json")``)."""
        return cls.from_dict(json.loads(Path(path).read_text()))


class LearnFromClips:
    """The skeleton; a kind sets ``task_key``, ``Result`` and ``label`` and overrides the hooks below `run`."""

    task_key: str | None = None  # None: the checkpoint's own tasks (speakers)
    Result: type[AdaptationResult] = AdaptationResult  # a kind's subclass holds its own fields (`record`)

    def __init__(self, model_path: str, config_path: str, data: str, shots: int, steps: int, out_path: str,
                 settings: AdaptationSettings | None = None, progress: bool = True) -> None:
        self.model_path, self.config_path, self.data = str(model_path), str(config_path), str(data)
        self.shots, self.steps, self.out_path, self.progress = shots, steps, str(out_path), progress
        self.settings = settings or AdaptationSettings()
        self.loaded = None

    @property
    def model(self):
        return self.loaded.model

    @property
    def label(self) -> str:
        """The name of what is learned: the folder's new speaker (or language), and the progress bar's title."""
        raise NotImplementedError

    def run(self) -> AdaptationResult:
        """Learn from the clips and write the folder; returns what ``adapt.json`` holds."""
        started = time.perf_counter()
        if self.shots < 1 or self.steps < 0:
            raise RequestError(f"`shots` must be >= 1 and `steps` >= 0 (got {self.shots}, {self.steps})")
        require_new_folder(self.out_path)  # before any work, and again when the folder is put in place
        self.loaded = self.load()
        self.check()
        chosen = self.clips()
        with tempfile.TemporaryDirectory() as work:
            prepared = prepare_clips(chosen, self.model, Path(work))
            batch = support_batch(self.model, prepared)
            task = self.settings.start(self.model, batch, self.start_voice(prepared))
            stepping = time.perf_counter()
            losses = train(task, batch, self.steps, self.label, self.progress)
            step_seconds = (time.perf_counter() - stepping) / self.steps if self.steps else None
            final_loss = task.score(batch)[0]
            sample, rate = task.render(batch, 0)
        state, stock = self.stock_model(task, batch)
        stock.phoneme_cache_path = self.loaded.phoneme_cache_path
        info = self.Result(
            **self.record(task, chosen), base_model=self.model_path, base_config=self.config_path,
            model=stock.model, algorithm=self.loaded.algorithm, shots=self.shots,
            clips=[clip["audio_file"] for clip in chosen], steps=self.steps,
            **task.rates(),  # optimizer, lr (None for learned rates), lr_scale, inner_lr_mode, grad_clip, rates
            adapt_modules=task.adapted, unchanged=self.unchanged(task), vocoder=self.loaded.vocoder,
            support_loss=losses, final_support_loss=final_loss,
            seconds=round(time.perf_counter() - started, 2),
            step_seconds=None if step_seconds is None else round(step_seconds, 3), seed=self.settings.seed,
            device=str(self.settings.torch_device()), date=time.strftime("%Y-%m-%d %H:%M:%S"),
        )
        with staged_folder(self.out_path) as folder:
            write_voice(folder, state, stock, self.label, info.to_dict())
            soundfile.write(str(folder / "sample.wav"), np.clip(sample, -1.0, 1.0), rate)
            self.write_more(folder, task, state, info)
        return info

    # ------------------------------------------------------------------ what a kind fills in
    def load(self):
        """The checkpoint loaded for the kind's tasks (`load_for_adaptation`)."""
        return load_for_adaptation(self.model_path, self.config_path, self.settings, self.settings.torch_device(),
                                   task_key=self.task_key)

    def check(self) -> None:
        """The kind's checks of the model and the request, before any clip is read."""

    def clips(self) -> list[dict[str, Any]]:
        """The ``shots`` clips to learn from."""
        return choose_clips(self.data, self.shots, self.settings.seed)

    def start_voice(self, prepared: list[dict[str, Any]]):
        """The d-vector a d-vector model's task starts from (None: the task's own start)."""
        return None

    def stock_model(self, task: Task, batch: dict):
        """The stock state dict and config the folder holds."""
        raise NotImplementedError

    def record(self, task: Task, chosen: list[dict[str, Any]]) -> dict[str, Any]:
        """The kind's own fields of its ``Result`` (first in ``adapt.json``)."""
        return {}

    def unchanged(self, task: Task) -> dict[str, bool]:
        """Whether what the model already had is left as it was (a key named for the kind)."""
        return {}

    def write_more(self, folder: Path, task: Task, state: dict, info: AdaptationResult) -> None:
        """Files beside the model, config and sample (a d-vector file, a delta)."""


def prepare_clips(samples: list[dict[str, Any]], model, folder: Path) -> list[dict[str, Any]]:
    """Each clip as a mono wav at the model's sample rate, trimmed as the config says; text and length checked."""
    import librosa

    audio = model.config.audio
    prepared = []
    for index, sample in enumerate(samples):
        path = sample["audio_file"]
        unknown = sorted(unknown_characters(sample["text"], model))
        if unknown:
            raise ValueError(f"{path}: transcript has characters the model cannot read: {''.join(unknown)!r}")
        wav, rate = soundfile.read(path, dtype="float32", always_2d=True)
        wav = wav.mean(axis=1)
        if rate != audio.sample_rate:
            wav = librosa.resample(wav, orig_sr=rate, target_sr=audio.sample_rate)
        if audio.do_trim_silence:
            wav, _ = librosa.effects.trim(wav, top_db=audio.trim_db)
        seconds = len(wav) / audio.sample_rate
        if len(wav) < model.config.min_audio_len or len(wav) > model.config.max_audio_len:
            raise ValueError(
                f"{path}: {seconds:.2f} s after trimming; the config takes clips of "
                f"{model.config.min_audio_len / audio.sample_rate:.2f} to "
                f"{model.config.max_audio_len / audio.sample_rate:.2f} s"
            )
        target = folder / f"{index:04d}.wav"
        soundfile.write(str(target), wav, audio.sample_rate, subtype="PCM_16")
        prepared.append({**sample, "audio_file": str(target), "source_file": path, "seconds": seconds})
    return prepared


def support_batch(model, samples: list[dict[str, Any]]) -> dict:
    """All support clips as one batch of the model's own dataset and collate."""
    dataset = model.meta_stock_dataset(samples)
    if len(dataset.samples) != len(samples):
        raise ValueError("some clips were dropped by the model's dataset filters (text length); check the transcripts")
    collate = model.meta_episode_collate(dataset, len(samples), 0)
    return model.meta_prepare(collate.collate_task([dataset[i] for i in range(len(samples))]))


def train(task: Task, batch: dict, steps: int, label: str, progress: bool) -> list[float]:
    """The support loss of each of ``steps`` steps, shown on a progress bar."""
    losses = []
    bar = tqdm(range(steps), desc=f"adapt {label}", unit="step", disable=not progress)
    for _ in bar:
        losses += task.step(batch)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return losses


def choose_clips(data: str, shots: int, seed: int, speaker: str | None = None) -> list[dict[str, Any]]:
    """``shots`` clips of ``data`` (``speaker``'s only, when given), drawn by ``seed``; an error if there are fewer."""
    clips = load_clips(data, speaker=speaker)
    if len(clips) < shots:
        whose = f" of {speaker!r}" if speaker is not None else ""
        raise RequestError(f"`shots` {shots} but {data} has {len(clips)} clip(s){whose}")
    ordered = sorted(clips, key=lambda s: s["audio_file"])
    return sorted(draw(seed, "clips", speaker or "").sample(ordered, shots), key=lambda s: s["audio_file"])
