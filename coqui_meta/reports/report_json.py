"""``report.json`` of ``coqui-meta evaluate``, typed: `EvaluationReport`. In memory its curves are keyed by int step;
the file keys them by strings (JSON has no int keys) and is otherwise the dict `EvaluationReport.to_dict` gives, key
for key. `EvaluationReport.load` reads it back, older reports too (their missing keys are None, unknown ones kept in
``extra``).

Example::

    report = EvaluationReport.load("runs/eval_maml/report.json")
    report.query_loss[10], report.speakers
    report.write("runs/eval_copy/report.json")
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from coqui_meta.files import write_json

Curve = dict[int, Any]  # step -> a mean over the tasks (None where it could not be measured)

# the curves a report holds only when they were measured (--mcd, a style task): left out of the file otherwise
SOMETIMES = ("mcd", "style_distance", "style_eer", "style_feature_gap", "style_judged")
REQUIRED = ("model", "steps", "query_loss")


@dataclass(kw_only=True)
class EvaluationReport:
    """What one `evaluate` run measured and how; the fields in the order of the file. The keys DESIGN.md fixes are
    ``model``, ``algorithm``, ``shots``, ``queries``, ``speakers``, ``steps``, ``query_loss``, ``speaker_similarity``,
    ``eer``, ``wall_seconds`` and ``device``."""

    model: str
    stock_model: str | None = None
    algorithm: str | None = None
    model_path: str | None = None
    config_path: str | None = None
    data: str | None = None
    shots: int | None = None
    queries: int | None = None
    task_key: str | None = None
    speakers: list[str] = field(default_factory=list)
    speakers_seen_in_training: list[str] = field(default_factory=list)
    steps: list[int]
    # the adaptation's rates (`InnerOptimizer.record`): lr is None for learned rates, which ``rates`` lists
    inner_lr_mode: str | None = None
    lr: float | None = None
    lr_scale: float | None = None
    optimizer: str | None = None
    grad_clip: float | None = None
    rates: dict[str, list[float]] = field(default_factory=dict)
    adapt_modules: list[str] = field(default_factory=list)
    seed: int | None = None
    voice_start: str | None = None
    vocoder: str | None = None
    query_loss: Curve
    speaker_similarity: Curve | None = None
    eer: Curve | None = None
    mcd: Curve | None = None
    style_distance: Curve | None = None
    style_eer: Curve | None = None
    style_feature_gap: dict[int, dict[str, float] | None] | None = None
    style_judged: Curve | None = None
    judge: str | None = None
    per_speaker: dict[str, dict[str, Curve]] = field(default_factory=dict)  # task -> its own curves
    clips: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # task -> its support and query files
    wall_seconds: float | None = None
    device: str | None = None
    date: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys of other versions, written back as they were
    # where the report was read from, or what a comparison calls it; not in the file
    source: str | None = field(default=None, compare=False)

    def curve(self, key: str) -> Curve | None:
        """The step-keyed field named ``key``: a `coqui_meta.reports.metrics.Metric`'s curve, ``style_judged`` or
        ``style_feature_gap`` (None: not measured in this report)."""
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """The content of report.json (steps still int: `write_json` makes them strings)."""
        values = {item.name: getattr(self, item.name) for item in fields(self) if item.name not in ("extra", "source")}
        return {**{key: value for key, value in values.items() if not (key in SOMETIMES and value is None)},
                **self.extra}

    def write(self, path: str | os.PathLike) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, report: dict[str, Any], source: str | None = None) -> EvaluationReport:
        """A report from its dict (its steps int or strings); a clear error names ``source`` and what is wrong."""
        where = source or "report"
        missing = [key for key in REQUIRED if key not in report]
        if missing:
            raise ValueError(f"{where} lacks {', '.join(missing)}: is it a coqui-meta evaluate report?")
        names = {item.name for item in fields(cls)} - {"extra", "source"}
        known = {key: value for key, value in report.items() if key in names}
        for key in ("query_loss", "speaker_similarity", "eer", "mcd", "style_distance", "style_eer", "style_judged"):
            if known.get(key) is not None:
                known[key] = _numbers_by_step(known[key], f"{where}: {key}")
        if known.get("style_feature_gap") is not None:
            known["style_feature_gap"] = _by_step(known["style_feature_gap"], f"{where}: style_feature_gap")
        known["per_speaker"] = {task: {key: _by_step(curve, f"{where}: per_speaker {task} {key}")
                                       for key, curve in curves.items()}
                                for task, curves in (known.get("per_speaker") or {}).items()}
        extra = {key: value for key, value in report.items() if key not in names}
        return cls(**known, extra=extra, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> EvaluationReport:
        """``report.json`` at ``path``; a clear error names the file and what is wrong."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"report not found: {path}")
        try:
            report = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from error
        if not isinstance(report, dict):
            raise ValueError(f"{path} is not a coqui-meta evaluate report (not a JSON object)")
        return cls.from_dict(report, source=str(path))


def _by_step(curve: dict, where: str) -> dict[int, Any]:
    try:
        return {int(step): value for step, value in curve.items()}
    except (AttributeError, TypeError, ValueError) as error:
        raise ValueError(f"{where} must map steps to values ({error})") from error


def _numbers_by_step(curve: dict, where: str) -> Curve:
    try:
        return {step: None if value is None else float(value) for step, value in _by_step(curve, where).items()}
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where} must map steps to numbers ({error})") from error
