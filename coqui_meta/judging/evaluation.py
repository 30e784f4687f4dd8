"""`coqui-meta evaluate`: adaptation curves of a checkpoint on speakers it never saw.

For each of N unseen speakers, K support and Q query clips are drawn by seed. From the checkpoint, the voice is
learned on the support clips (a `coqui_meta.algorithms.task.Task`: meta-training's inner loop, the same for meta
and stock checkpoints, at the checkpoint's learned inner rates unless ``lr`` is given) and, at every listed
step, scored on the query clips: the teacher-forced reconstruction loss, and, with
Resemblyzer installed, the cosine similarity between the real query clip and the model's own rendition of its text,
the equal error rate of target against impostor trials, and (``mcd=True``) mel-cepstral distortion.

Example::

    report = evaluate("runs/maml/best_model.pth", "runs/maml/config.json", "../shared/data/speechocean762",
                      speakers=4, shots=5, queries=3, steps=[0, 1, 5, 10], out_path="runs/eval_maml",
                      settings=AdaptationSettings(lr_scale=1.0, seed=0))
    report.query_loss   # {0: 3.1, 1: 2.9, 5: 2.6, 10: 2.4}; report.json holds report.to_dict()
"""

from __future__ import annotations

import platform
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from coqui_meta.adapting.d_vector_voice import start_d_vector, start_kind
from coqui_meta.adapting.settings import AdaptationSettings, load_for_adaptation
from coqui_meta.algorithms.task import Task
from coqui_meta.errors import RequestError
from coqui_meta.files import write_atomic
from coqui_meta.formats.clips import load_clips, require_sample_rate
from coqui_meta.judging.judgement import Judgement, style_judge
from coqui_meta.judging.speaker_judge import SpeakerJudge, cosine, mel_cepstral_distortion
from coqui_meta.reports.evaluation_report import write_report
from coqui_meta.reports.html import sample_name
from coqui_meta.reports.report_json import EvaluationReport
from coqui_meta.seeds import draw

DEFAULT_STEPS = (0, 1, 2, 5, 10, 20, 50, 100)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def choose_speakers(samples, known: set[str], wanted: int | list[str], needed: int, seed: int,
                    task_key: str = "speaker_name") -> list[str]:
    """``wanted`` speakers (or values of ``task_key``: a count, drawn by seed among those the model never saw, or
    names) with ``needed`` clips."""
    counts: dict[str, int] = defaultdict(int)
    for sample in samples:
        counts[sample[task_key]] += 1
    if isinstance(wanted, list):
        for name in wanted:
            if counts[name] < needed:
                raise RequestError(
                    f"`speakers`: {name!r} has {counts[name]} usable clips in the data, needs `shots` + `queries` = "
                    f"{needed}"
                )
        return wanted
    unseen = sorted(name for name, count in counts.items() if count >= needed and name not in known)
    if len(unseen) < wanted:
        raise RequestError(
            f"`speakers` {wanted}: only {len(unseen)} speakers of the data are unknown to the model and have "
            f"`shots` + `queries` = {needed} usable clips"
        )
    return sorted(draw(seed, "speakers").sample(unseen, wanted))


def draw_clips(indices: list[int], speaker: str, count: int, seed: int) -> list[int]:
    """The ``count`` clips (of ``indices``) that ``evaluate`` takes for ``speaker``: support first, then query."""
    return draw(seed, "clips", speaker).sample(indices, count)


class SpeakerClips:
    """The support and query batches of one speaker, built with the model's own dataset and collate."""

    def __init__(self, model, dataset, indices: list[int], shots: int) -> None:
        collate = model.meta_episode_collate(dataset, shots, len(indices) - shots)
        raw_support, raw_query = collate([dataset[i] for i in indices])["tasks"][0]
        self.support_files = [s["audio_file"] for s in self._samples(dataset, indices, raw_support)]
        self.query_samples = self._samples(dataset, indices, raw_query)
        self.query_files = [s["audio_file"] for s in self.query_samples]
        self.support, self.query = model.meta_prepare(raw_support), model.meta_prepare(raw_query)

    @staticmethod
    def _samples(dataset, indices: list[int], raw: dict) -> list[dict]:
        """The sample of each row (collate may reorder rows: Tacotron2's sorts them by text length)."""
        by_name = {dataset.samples[i]["audio_unique_name"]: dataset.samples[i] for i in indices}
        return [by_name[name] for name in raw["audio_unique_names"]]


def score_step(
    model,
    voice: Task,
    clips: SpeakerClips,
    name: str,
    step: int,
    judgement: Judgement,
    real_query: list,
    real_embeddings: list,
    samples_dir: Path | None,
    keep_sample: bool,
) -> dict[str, float]:
    """The metrics of one speaker's voice at one step: query loss and, with the judge, similarity (and MCD)."""
    values = {"query_loss": voice.score(clips.query)[0]}
    if not judgement.active:
        return values
    similarity, distortion, styles = [], [], []
    for index, real in enumerate(real_query):
        wav, rate = voice.render(clips.query, index)
        if judgement.judge is not None:
            embedding = judgement.embed(wav, rate)
            similarity.append(cosine(embedding, real_embeddings[index]))
            judgement.renditions[step].append((name, embedding))
        if judgement.mcd:
            distortion.append(mel_cepstral_distortion(real, wav, rate))
        if judgement.style is not None:  # a style task: ``name`` is the style
            styles.append(judgement.style_distance(step, clips.query_samples[index], name, wav, rate))
        if samples_dir and index == 0 and keep_sample:
            _write_wav(samples_dir / sample_name(name, step), wav, rate)
    if similarity:
        values["speaker_similarity"] = float(np.mean(similarity))
    if distortion:
        values["mcd"] = float(np.mean(distortion))
    if styles:  # a rendition without a voiced frame has no prosody: as far as the farthest measured one
        measured = [d for d in styles if d is not None]
        values["style_distance"] = float(np.mean([d if d is not None else max(measured, default=np.nan)
                                                  for d in styles]))
    return values


def speaker_curve(model, clips: SpeakerClips, name: str, steps: list[int], settings: AdaptationSettings,
                  judgement: Judgement, samples_dir: Path | None, bar) -> tuple[dict[str, dict[int, float]], dict]:
    """Adapt one speaker's voice on its support clips and score it at every step of ``steps``."""
    real_query = [model.ap.load_wav(path) for path in clips.query_files] if judgement.active else []
    real_embeddings = []
    if judgement.judge is not None:
        judgement.references += [(name, judgement.embed(model.ap.load_wav(p), model.ap.sample_rate))
                                 for p in clips.support_files]
        real_embeddings = [judgement.embed(wav, model.ap.sample_rate) for wav in real_query]
    if samples_dir and real_query:  # what the renditions are heard against (report.html)
        _write_wav(samples_dir / sample_name(name, "real"), real_query[0], model.ap.sample_rate)
    start, _ = start_d_vector(model, model.config, "", clips.support_files, settings.encoder)
    voice = settings.start(model, clips.support, start)
    curve: dict[str, dict[int, float]] = defaultdict(dict)
    for step in range(max(steps) + 1):
        if step in steps:
            keep = True  # every judged step is heard in report.html
            for metric, value in score_step(model, voice, clips, name, step, judgement, real_query, real_embeddings,
                                            samples_dir, keep).items():
                curve[metric][step] = value
            bar.set_postfix(speaker=name, query_loss=f"{curve['query_loss'][step]:.3f}")
            bar.update(1)
        if step < max(steps):
            (curve["support_loss"][step],) = voice.step(clips.support)
            bar.update(1)
    return {key: dict(values) for key, values in curve.items()}, voice.rates()


def evaluate(
    model_path: str,
    config_path: str,
    data: str,
    speakers: int | list[str],
    shots: int,
    queries: int,
    steps: list[int],
    out_path: str | None,
    settings: AdaptationSettings | None = None,
    mcd: bool = False,
    similarity: bool = True,
    progress: bool | Callable[[int], Any] = True,
    task_key: str | None = None,
) -> EvaluationReport:
    """Adapt to each held-out speaker (or language, with ``task_key="language"``, or speaking style, with
    ``task_key="emotion_name"``: then ``speakers`` counts or names those) and score the query clips at every step of
    ``steps``; write the report. A style task is also judged by the style judge (``style_distance``, ``style_eer``,
    ``style_judged``: the share of renditions it could measure).
    ``progress``: a bar, none, or a callable that is given the count of each adaptation and judged step as it is done
    (a caller's own bar: a study's runs in worker processes)."""
    started = time.perf_counter()
    settings = settings or AdaptationSettings()
    steps = _checked_counts(shots, queries, steps)
    device = settings.torch_device()
    loaded = load_for_adaptation(model_path, config_path, settings, device, task_key)
    model = loaded.model
    task_key = model.config.meta.task_key
    voice_start = start_kind(model, loaded.config, settings.encoder)  # a wrong --encoder stops here
    dataset, by_speaker, known = corpus_of(loaded, data, task_key)
    names = choose_speakers(dataset.samples, known, speakers, shots + queries, settings.seed, task_key)
    judge = SpeakerJudge.load(str(device)) if similarity else None
    style_task = similarity and task_key == "emotion_name"
    judgement = Judgement(judge, mcd, style_judge(dataset.samples, model) if style_task else None)
    samples_dir = Path(out_path, "samples") if out_path else None
    if samples_dir:
        samples_dir.mkdir(parents=True, exist_ok=True)
    curves, clips_used, rates = {}, {}, {}
    bar = _StepReport(progress) if callable(progress) else tqdm(
        total=progress_steps(len(names), steps), desc="evaluate", unit="step", disable=not progress)
    for name in names:
        speaker_clips = SpeakerClips(model, dataset, draw_clips(by_speaker[name], name, shots + queries, settings.seed),
                                     shots)
        clips_used[name] = {"support": speaker_clips.support_files, "query": speaker_clips.query_files}
        curves[name], rates = speaker_curve(model, speaker_clips, name, steps, settings, judgement, samples_dir, bar)
    bar.close()
    report = EvaluationReport(
        model=loaded.model_name, stock_model=loaded.stock_name, algorithm=loaded.algorithm,
        model_path=str(model_path), config_path=str(config_path), data=str(data),
        shots=shots, queries=queries, task_key=task_key, speakers=names,
        speakers_seen_in_training=sorted(set(names) & known), steps=steps,
        **rates,  # optimizer, lr (or None for learned rates), lr_scale, inner_lr_mode, grad_clip, rates
        adapt_modules=model.meta_adapted_names(), seed=settings.seed, voice_start=voice_start,
        vocoder=loaded.vocoder,
        **_curves(curves, names, steps, judgement),
        judge="resemblyzer VoiceEncoder (GE2E)" if judge else (
            f"unavailable: {SpeakerJudge.unavailable}" if similarity else "not asked for"),
        per_speaker=curves, clips=clips_used, wall_seconds=round(time.perf_counter() - started, 2),
        device=device_name(device), date=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    if out_path:
        report.write(Path(out_path) / "report.json")
        write_report(report, Path(out_path))
    return report


def progress_steps(tasks: int, steps: list[int]) -> int:
    """The steps `evaluate` reports progress by: for each of ``tasks`` tasks, each adaptation step and each judged
    step of ``steps``."""
    return tasks * (max(steps) + len(set(steps)))


class _StepReport:
    """What `speaker_curve` asks of a progress bar, for a caller that keeps its own: each step's count goes to
    ``report``."""

    def __init__(self, report: Callable[[int], Any]):
        self.report = report

    def update(self, steps: int = 1) -> None:
        self.report(steps)

    def set_postfix(self, **_) -> None:
        pass

    def close(self) -> None:
        pass


def _checked_counts(shots: int, queries: int, steps: list[int]) -> list[int]:
    """``steps`` sorted, once each; an error naming the argument for a count that cannot be."""
    if shots < 1 or queries < 1:
        raise RequestError(f"`shots` and `queries` must be >= 1 (got {shots}, {queries})")
    if not steps or min(steps) < 0:
        raise RequestError(f"`steps` must be a list of steps >= 0 (got {steps})")
    return sorted(set(steps))


def corpus_of(loaded, data: str, task_key: str):
    """The corpus as the model's own dataset reads it, its clips by speaker (or ``task_key`` value), and the speakers
    (or languages) the model knows. A language the model lacks gets a row (`add_language`): a language task starts
    from the mean row whichever row it reads."""
    model = loaded.model
    clips = load_clips(data, task_key=task_key)
    require_sample_rate(clips, model.config.audio.sample_rate)
    if task_key == "language":
        from coqui_meta.formats.language_table import add_language

        known = set(model.language_manager.name_to_id)
        for language in sorted({clip["language"] for clip in clips} - known):
            add_language(model, language)
    elif task_key == "emotion_name":  # a style is no row of any table: name the held-out styles (speakers)
        known = set()
    else:
        known = set(model.speaker_manager.name_to_id) if model.speaker_manager is not None else set()
        known |= set(loaded.config.get("speakers") or [])  # a prototype model's training speakers (coqui-meta train)
    dataset = model.meta_stock_dataset(clips)
    by_speaker: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(dataset.samples):
        by_speaker[sample[task_key]].append(index)
    return dataset, by_speaker, known


def _curves(curves: dict, names: list[str], steps: list[int], judgement: Judgement) -> dict[str, dict]:
    """The report's mean curves over the speakers: query loss, similarity, EER (and MCD when measured)."""

    def mean_curve(metric: str) -> dict[int, float | None]:
        if not all(metric in curves[name] for name in names):
            return {step: None for step in steps}
        return {step: float(np.mean([curves[name][metric][step] for name in names])) for step in steps}

    means = {"query_loss": mean_curve("query_loss"), "speaker_similarity": mean_curve("speaker_similarity"),
             "eer": judgement.eer(steps)}
    if judgement.mcd:
        means["mcd"] = mean_curve("mcd")
    if judgement.style is not None:
        means["style_distance"], means["style_eer"] = mean_curve("style_distance"), judgement.style_eer(steps)
        means["style_feature_gap"] = judgement.style_feature_gaps(steps)
        means["style_judged"] = judgement.style_judged(steps)
    return means


def _write_wav(path: Path, wav: np.ndarray, rate: int) -> None:
    import soundfile

    peak = float(np.abs(wav).max()) if wav.size else 0.0
    wav = wav / peak * 0.9 if peak > 1.0 else wav
    write_atomic(path, lambda p: soundfile.write(str(p), wav, rate, format="WAV"))
