"""The human side of an `evaluate` report: ``report.md`` (a table per step), ``curves.png`` (mean and per-speaker
curves of every metric against adaptation steps) and ``report.html`` (`coqui_meta.reports.html`); their metrics are
`coqui_meta.reports.metrics.METRICS`."""

from __future__ import annotations

from pathlib import Path

from coqui_meta.files import write_atomic, write_text
from coqui_meta.reports.metrics import held, measured
from coqui_meta.reports.report_json import EvaluationReport


def describe_rates(report: EvaluationReport) -> str:
    """The adaptation's learning rates in words: one fixed rate, or the learned ones (their range)."""
    if report.lr is not None:
        return f"lr {report.lr:g}"
    values = [rate for rates in report.rates.values() for rate in rates]
    spread = f", {min(values):.3g} to {max(values):.3g}" if values else ""
    scale = 1.0 if report.lr_scale is None else report.lr_scale
    return f"learned {report.inner_lr_mode or ''} rates x {scale:g}{spread}"


def to_markdown(report: EvaluationReport) -> str:
    metrics = held([report])
    lines = [
        f"# Adaptation of {report.model} ({report.algorithm}) to {len(report.speakers)} unseen speakers",
        "",
        f"- checkpoint: `{report.model_path}`; data: `{report.data}`",
        f"- {report.shots} support and {report.queries} query clips a speaker; {report.optimizer} at "
        f"{describe_rates(report)} on {len(report.adapt_modules)} tensors; seed {report.seed}",
        f"- speakers: {', '.join(report.speakers)}",
        f"- judge: {report.judge}",
        f"- {report.wall_seconds or 0.0:.1f} s on {report.device}, {report.date}",
        "",
        "| step | " + " | ".join(metric.label for metric in metrics) + " |",
        "|---" * (len(metrics) + 1) + "|",
    ]
    for step in report.steps:
        lines.append(f"| {step} | " + " | ".join(m.format(report.curve(m.key).get(step)) for m in metrics) + " |")
    if report.speakers_seen_in_training:
        lines += ["", f"Warning: the model was trained on {', '.join(report.speakers_seen_in_training)}."]
    return "\n".join(lines) + "\n"


def plot_curves(report: EvaluationReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = measured([report])
    figure, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    x = [max(step, 0.5) for step in report.steps]
    for axis, metric in zip(axes[0], metrics):
        for curves in report.per_speaker.values():
            if metric.key in curves:
                axis.plot(x, [curves[metric.key].get(s) for s in report.steps], color="0.7", linewidth=0.8)
        mean = report.curve(metric.key)
        axis.plot(x, [mean.get(s) for s in report.steps], marker="o", linewidth=2, label="mean")
        axis.set_xscale("log")
        axis.set_xlabel("adaptation steps (0 drawn at 0.5)")
        axis.set_title(metric.label + (" (grey: each speaker)" if metric.per_task else ""))
        axis.grid(True, alpha=0.3)
    figure.suptitle(f"{report.model} ({report.algorithm}), {report.shots}-shot", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110, format="png")
    plt.close(figure)


def write_report(report: EvaluationReport, out: Path) -> None:
    """``report.md``, ``curves.png`` and ``report.html`` (curves, table and the kept renditions in ``samples/``)."""
    from coqui_meta.reports.html import write_html

    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "report.md", to_markdown(report))
    write_atomic(out / "curves.png", lambda p: plot_curves(report, p))
    write_html([(report.algorithm, report, out / "samples")], out / "report.html",
               curves=(out / "curves.png").read_bytes())
