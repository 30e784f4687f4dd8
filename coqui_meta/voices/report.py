"""The human side of an `evaluate` report: ``report.md`` (a table per step), ``curves.png`` (mean and per-speaker
curves of every metric against adaptation steps) and ``report.html`` (`coqui_meta.voices.html_report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coqui_meta.files import write_atomic, write_text

# metric -> (column title, lower is better)
METRICS = {
    "query_loss": ("query loss", True),
    "speaker_similarity": ("speaker similarity", False),
    "eer": ("EER", True),
    "mcd": ("MCD (dB)", True),
}


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def describe_rates(report: dict[str, Any]) -> str:
    """The adaptation's learning rates in words: one fixed rate, or the learned ones (their range)."""
    if report.get("lr") is not None:
        return f"lr {report['lr']:g}"
    values = [rate for rates in (report.get("rates") or {}).values() for rate in rates]
    spread = f", {min(values):.3g} to {max(values):.3g}" if values else ""
    return f"learned {report.get('inner_lr_mode', '')} rates x {report.get('lr_scale', 1.0):g}{spread}"


def to_markdown(report: dict[str, Any]) -> str:
    metrics = [m for m in METRICS if m in report]
    lines = [
        f"# Adaptation of {report['model']} ({report['algorithm']}) to {len(report['speakers'])} unseen speakers",
        "",
        f"- checkpoint: `{report['model_path']}`; data: `{report['data']}`",
        f"- {report['shots']} support and {report['queries']} query clips a speaker; {report['optimizer']} at "
        f"{describe_rates(report)} on {len(report['adapt_modules'])} tensors; seed {report['seed']}",
        f"- speakers: {', '.join(report['speakers'])}",
        f"- judge: {report['judge']}",
        f"- {report['wall_seconds']:.1f} s on {report['device']}, {report['date']}",
        "",
        "| step | " + " | ".join(METRICS[m][0] for m in metrics) + " |",
        "|---" * (len(metrics) + 1) + "|",
    ]
    for step in report["steps"]:
        lines.append(f"| {step} | " + " | ".join(_fmt(report[m].get(step)) for m in metrics) + " |")
    if report.get("speakers_seen_in_training"):
        lines += ["", f"Warning: the model was trained on {', '.join(report['speakers_seen_in_training'])}."]
    return "\n".join(lines) + "\n"


def plot_curves(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in METRICS if any(v is not None for v in (report.get(m) or {}).values())]
    figure, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    x = [max(step, 0.5) for step in report["steps"]]
    for axis, metric in zip(axes[0], metrics):
        for speaker, curves in report["per_speaker"].items():
            if metric in curves:
                axis.plot(x, [curves[metric][s] for s in report["steps"]], color="0.7", linewidth=0.8)
        axis.plot(x, [report[metric][s] for s in report["steps"]], marker="o", linewidth=2, label="mean")
        axis.set_xscale("log")
        axis.set_xlabel("adaptation steps (0 drawn at 0.5)")
        axis.set_title(METRICS[metric][0] + (" (grey: each speaker)" if metric != "eer" else ""))
        axis.grid(True, alpha=0.3)
    figure.suptitle(f"{report['model']} ({report['algorithm']}), {report['shots']}-shot", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110, format="png")
    plt.close(figure)


def write_report(report: dict[str, Any], out: Path) -> None:
    """``report.md``, ``curves.png`` and ``report.html`` (curves, table and the kept renditions in ``samples/``)."""
    from coqui_meta.voices.html_report import write_html

    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "report.md", to_markdown(report))
    write_atomic(out / "curves.png", lambda p: plot_curves(report, p))
    write_html([(report["algorithm"], report, out / "samples")], out / "report.html",
               curves=(out / "curves.png").read_bytes())
