"""Side-by-side adaptation curves of several `evaluate` reports, with steps-to-target against the first (baseline).

For each other report and each metric, the target is the baseline's value at its last step; steps-to-target is the
first step at which a report reaches it (query loss at or below, speaker similarity at or above), and the speed-up is
the baseline's steps-to-target divided by the report's.

Example::

    coqui-meta compare runs/stock/report.json runs/maml/report.json --out_path runs/compare
    # runs/compare/compare.json, compare.md, compare.png
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from coqui_meta.files import write_atomic, write_json, write_text
from coqui_meta.voices.html_report import METRICS as CURVE_NAMES

# metric -> True if lower is better
# each metric compared (steps to target, the plot) and whether lower is better
METRICS = {"query_loss": True, "speaker_similarity": False, "eer": True}
# every step-keyed curve a report may hold, as the HTML report names them (JSON keys them by strings; they are read
# back by int step)
CURVES = tuple(CURVE_NAMES)
REQUIRED = ("model", "steps", "query_loss")


def load_report(path: str | os.PathLike) -> dict[str, Any]:
    """A report.json with its curves keyed by int step; a clear error names the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"report not found: {path}")
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    missing = [key for key in REQUIRED if key not in report]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: is it a coqui-meta evaluate report?")
    for metric in CURVES:
        curve = report.get(metric)
        if curve is None:
            continue
        try:
            report[metric] = {int(step): (None if value is None else float(value)) for step, value in curve.items()}
        except (AttributeError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: {metric} must map steps to numbers ({error})") from error
    report["_path"] = str(path)
    return report


def steps_to_target(curve: dict[int, float | None], target: float, lower_is_better: bool) -> int | None:
    """First step whose value reaches ``target``; None if none does."""
    for step in sorted(curve):
        value = curve[step]
        if value is not None and (value <= target if lower_is_better else value >= target):
            return step
    return None


def _algorithm(report: dict[str, Any]) -> str:
    return report.get("algorithm") or "plain"


def _final(curve: dict[int, float | None]) -> float | None:
    known = [step for step in sorted(curve) if curve[step] is not None]
    return curve[known[-1]] if known else None


def compare(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The comparison table as a dict: per report and metric, its final value, steps-to-target and speed-up."""
    if len(reports) < 2:
        raise ValueError("compare needs a baseline report and at least one other")
    baseline = reports[0]
    rows = []
    for report in reports:
        row: dict[str, Any] = {"report": report["_path"], "model": report["model"], "algorithm": _algorithm(report)}
        for metric, lower in METRICS.items():
            curve, base_curve = report.get(metric), baseline.get(metric)
            target = _final(base_curve) if base_curve else None
            if not curve or target is None:
                row[metric] = None
                continue
            reached = steps_to_target(curve, target, lower)
            base_reached = steps_to_target(base_curve, target, lower)
            speedup = None
            if reached is not None and base_reached is not None:
                speedup = float("inf") if reached == 0 else base_reached / reached
            row[metric] = {
                "target": target,
                "final": _final(curve),
                "steps_to_target": reached,
                "baseline_steps_to_target": base_reached,
                "speedup": speedup,
            }
        rows.append(row)
    return {"baseline": baseline["_path"], "rows": rows, "differences": differences(reports)}


# settings that make two adaptation curves comparable
PROCEDURE = ("shots", "queries", "speakers", "optimizer", "lr", "inner_lr_mode", "lr_scale", "adapt_modules", "seed")


def differences(reports: list[dict[str, Any]]) -> list[str]:
    """One line per setting in which a report's adaptation procedure differs from the baseline's."""
    baseline, lines = reports[0], []
    for report in reports[1:]:
        for key in PROCEDURE:
            if key in baseline and key in report and report[key] != baseline[key]:
                mine, theirs = report[key], baseline[key]
                if isinstance(mine, list) and isinstance(theirs, list):
                    mine, theirs = f"{len(mine)} entries", f"{len(theirs)} entries"
                lines.append(f"{report['_path']}: {key} is {mine}, the baseline's is {theirs}")
    return lines


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "not reached"
    if isinstance(value, float):
        return "inf" if value == float("inf") else f"{value:.{digits}g}"
    return str(value)


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Adaptation speed against {result['baseline']}",
        "",
        "Target: the baseline's value at its last step. Steps-to-target: first step that reaches it. "
        "Speed-up: baseline's steps-to-target / this report's.",
        "",
        "| report | model | algorithm | metric | final | steps to target | speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        for metric in METRICS:
            cell = row[metric]
            if cell is None:
                lines.append(f"| {row['report']} | {row['model']} | {row['algorithm']} | {metric} | n/a | n/a | n/a |")
                continue
            lines.append(
                f"| {row['report']} | {row['model']} | {row['algorithm']} | {metric} | {_cell(cell['final'])} | "
                f"{_cell(cell['steps_to_target'])} | {_cell(cell['speedup'])} |"
            )
    if result.get("differences"):
        lines += ["", "Adaptation settings that differ from the baseline's:", ""]
        lines += [f"- {line}" for line in result["differences"]]
    return "\n".join(lines) + "\n"


def plot(reports: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in METRICS if any(r.get(m) for r in reports)]
    figure, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        for index, report in enumerate(reports):
            curve = {s: v for s, v in (report.get(metric) or {}).items() if v is not None}
            if not curve:
                continue
            label = f"{report['model']} ({_algorithm(report)})" + (" [baseline]" if index == 0 else "")
            steps = sorted(curve)
            axis.plot([max(s, 0.5) for s in steps], [curve[s] for s in steps], marker="o", label=label)
        axis.set_xscale("log")
        axis.set_xlabel("adaptation steps (0 drawn at 0.5)")
        axis.set_ylabel(metric.replace("_", " "))
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120, format="png")
    plt.close(figure)


def run(report_paths: list[str], out_path: str) -> dict[str, Any]:
    """Load, compare, and write ``compare.json``, ``compare.md``, ``compare.png`` and ``compare.html`` (the curves,
    the table and every kept rendition of every report, one page) into ``out_path``."""
    from coqui_meta.voices.html_report import write_html

    reports = [load_report(path) for path in report_paths]
    result = compare(reports)
    out = Path(out_path)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "compare.json", result)  # an infinite speed-up (target met at step 0) is written as null
    write_text(out / "compare.md", to_markdown(result))
    write_atomic(out / "compare.png", lambda p: plot(reports, p))
    sides = [(f"{Path(report['_path']).parent.name} ({row['algorithm']})", report,
              Path(report["_path"]).parent / "samples") for row, report in zip(result["rows"], reports)]
    write_html(sides, out / "compare.html", curves=(out / "compare.png").read_bytes(),
               notes=[line for line in to_markdown(result).splitlines() if line.startswith("- ")])
    return result
