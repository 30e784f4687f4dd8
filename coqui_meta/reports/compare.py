"""Side-by-side adaptation curves of several `evaluate` reports, with steps-to-target against the first (baseline).

For each other report and each metric, the target is the baseline's value at its last step; steps-to-target is the
first step at which a report reaches it (as good or better: query loss at or below, similarity at or above; each
metric of `coqui_meta.reports.metrics` says which way is better), and the speed-up is the baseline's steps-to-target
divided by the report's.

Example::

    coqui-meta compare runs/stock/report.json runs/maml/report.json --out_path runs/compare
    # runs/compare/compare.json, compare.md, compare.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coqui_meta.files import write_atomic, write_json, write_text
from coqui_meta.reports.metrics import METRICS, Metric, held, measured
from coqui_meta.reports.report_json import EvaluationReport


def steps_to_target(curve: dict[int, float | None], target: float, lower_is_better: bool) -> int | None:
    """First step whose value reaches ``target``; None if none does."""
    for step in sorted(curve):
        value = curve[step]
        if value is not None and (value <= target if lower_is_better else value >= target):
            return step
    return None


def _algorithm(report: EvaluationReport) -> str:
    return report.algorithm or "plain"


def _final(curve: dict[int, float | None]) -> float | None:
    known = [step for step in sorted(curve) if curve[step] is not None]
    return curve[known[-1]] if known else None


def against_baseline(report: EvaluationReport, baseline: EvaluationReport, metric: Metric) -> dict[str, Any] | None:
    """One cell of the table: the report's final value of ``metric``, its steps to the baseline's final value and the
    speed-up; None if either lacks the curve."""
    curve, base_curve = report.curve(metric.key), baseline.curve(metric.key)
    target = _final(base_curve) if base_curve else None
    if not curve or target is None:
        return None
    reached = steps_to_target(curve, target, not metric.higher_is_better)
    base_reached = steps_to_target(base_curve, target, not metric.higher_is_better)
    speedup = None
    if reached is not None and base_reached is not None:
        speedup = float("inf") if reached == 0 else base_reached / reached
    return {"target": target, "final": _final(curve), "steps_to_target": reached,
            "baseline_steps_to_target": base_reached, "speedup": speedup}


def compare(reports: list[EvaluationReport]) -> dict[str, Any]:
    """The comparison table as a dict: per report and metric (those any report holds), its final value,
    steps-to-target and speed-up."""
    if len(reports) < 2:
        raise ValueError("compare needs a baseline report and at least one other")
    baseline, metrics = reports[0], held(reports)
    rows = [{"report": report.source, "model": report.model, "algorithm": _algorithm(report),
             **{metric.key: against_baseline(report, baseline, metric) for metric in metrics}} for report in reports]
    return {"baseline": baseline.source, "rows": rows, "differences": differences(reports)}


# settings that make two adaptation curves comparable
PROCEDURE = ("shots", "queries", "speakers", "optimizer", "lr", "inner_lr_mode", "lr_scale", "adapt_modules", "seed")


def differences(reports: list[EvaluationReport]) -> list[str]:
    """One line per setting in which a report's adaptation procedure differs from the baseline's (a setting an older
    report lacks is not compared)."""
    baseline, lines = reports[0], []
    for report in reports[1:]:
        for key in PROCEDURE:
            mine, theirs = getattr(report, key), getattr(baseline, key)
            if mine is not None and theirs is not None and mine != theirs:
                if isinstance(mine, list) and isinstance(theirs, list):
                    mine, theirs = f"{len(mine)} entries", f"{len(theirs)} entries"
                lines.append(f"{report.source}: {key} is {mine}, the baseline's is {theirs}")
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
            if metric.key not in row:
                continue
            cell, named = row[metric.key], f"| {row['report']} | {row['model']} | {row['algorithm']} | {metric.label} |"
            if cell is None:
                lines.append(f"{named} n/a | n/a | n/a |")
                continue
            lines.append(f"{named} {metric.format(cell['final'])} | {_cell(cell['steps_to_target'])} | "
                         f"{_cell(cell['speedup'])} |")
    if result.get("differences"):
        lines += ["", "Adaptation settings that differ from the baseline's:", ""]
        lines += [f"- {line}" for line in result["differences"]]
    return "\n".join(lines) + "\n"


def plot(reports: list[EvaluationReport], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = measured(reports)
    figure, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        for index, report in enumerate(reports):
            curve = {s: v for s, v in (report.curve(metric.key) or {}).items() if v is not None}
            if not curve:
                continue
            label = f"{report.model} ({_algorithm(report)})" + (" [baseline]" if index == 0 else "")
            steps = sorted(curve)
            axis.plot([max(s, 0.5) for s in steps], [curve[s] for s in steps], marker="o", label=label)
        axis.set_xscale("log")
        axis.set_xlabel("adaptation steps (0 drawn at 0.5)")
        axis.set_ylabel(metric.label)
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120, format="png")
    plt.close(figure)


def run(report_paths: list[str], out_path: str) -> dict[str, Any]:
    """Load, compare, and write ``compare.json``, ``compare.md``, ``compare.png`` and ``compare.html`` (the curves,
    the table and every kept rendition of every report, one page) into ``out_path``."""
    from coqui_meta.reports.html import write_html

    reports = [EvaluationReport.load(path) for path in report_paths]
    result = compare(reports)
    out = Path(out_path)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "compare.json", result)  # an infinite speed-up (target met at step 0) is written as null
    write_text(out / "compare.md", to_markdown(result))
    write_atomic(out / "compare.png", lambda p: plot(reports, p))
    sides = [(f"{Path(report.source).parent.name} ({row['algorithm']})", report, Path(report.source).parent / "samples")
             for row, report in zip(result["rows"], reports)]
    write_html(sides, out / "compare.html", curves=(out / "compare.png").read_bytes(),
               notes=[line for line in to_markdown(result).splitlines() if line.startswith("- ")])
    return result
