"""The one table of the metrics an `evaluate` report may hold: ``report.md``, ``curves.png``, the HTML page and
``coqui-meta compare`` all read it, so every report shows the same metrics under the same names.

Each metric is a curve of the report (step -> mean over the held-out tasks); a report holds the ones it measured
(``mcd`` only with ``--mcd``, the style metrics only for style tasks).

Example::

    for metric in held([report]):
        print(metric.label, metric.format(report.curve(metric.key)[0]))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One curve of a report and how people see it."""

    key: str  # its field in `EvaluationReport` and its key in report.json
    label: str  # a column or plot title
    higher_is_better: bool
    per_task: bool = True  # each speaker's own curve is in ``per_speaker`` (an EER is over all trials at once)
    fmt: str = ".4g"

    def format(self, value: float | None) -> str:
        return "n/a" if value is None else format(value, self.fmt)


METRICS = (
    Metric("query_loss", "query loss", higher_is_better=False),
    Metric("speaker_similarity", "speaker similarity", higher_is_better=True),
    Metric("eer", "EER", higher_is_better=False, per_task=False),
    Metric("mcd", "MCD (dB)", higher_is_better=False),
    Metric("style_distance", "style distance", higher_is_better=False),
    Metric("style_eer", "style EER", higher_is_better=False, per_task=False),
)


def held(reports: Iterable[Any]) -> tuple[Metric, ...]:
    """The metrics that any of ``reports`` holds a curve of (a table's columns: a judge that was unavailable still
    shows, as n/a)."""
    reports = list(reports)
    return tuple(metric for metric in METRICS if any(report.curve(metric.key) is not None for report in reports))


def measured(reports: Iterable[Any]) -> tuple[Metric, ...]:
    """The metrics that any of ``reports`` has a value of (a plot's panels)."""
    reports = list(reports)
    return tuple(metric for metric in METRICS
                 if any(value is not None for report in reports for value in (report.curve(metric.key) or {}).values()))
