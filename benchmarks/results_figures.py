"""Draw the figures of docs/results.md from the tables of BENCHMARKS.md (no model is run; every point is a cell of a
table there, found by its section's heading).

    python benchmarks/results_figures.py            # writes benchmarks/figures/results_*.png

Needs matplotlib (not a dependency of the plugin: `pip install matplotlib`).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def section_tables(text: str, heading: str) -> list[list[list[str]]]:
    """The Markdown tables of the section whose heading starts with ``heading`` (up to the next heading; fenced code
    is skipped), each as rows of cells, the header row first and the ``|---|`` row left out."""
    lines = text.splitlines()
    in_code = False
    start = None
    for number, line in enumerate(lines):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#") and line.lstrip("#").strip().startswith(heading):
            start = number + 1
            break
    if start is None:
        raise SystemExit(f"no heading starting with {heading!r} in BENCHMARKS.md")
    tables, table, in_code = [], [], False
    for line in lines[start:]:
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        if re.match(r"#{1,6} ", line):
            break
        if line.startswith("|"):
            cells = [cell.strip().replace("**", "") for cell in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                table.append(cells)
        elif table:
            tables.append(table)
            table = []
    if table:
        tables.append(table)
    return tables


def column(table: list[list[str]], name: str) -> list[float | None]:
    index = table[0].index(name)
    values = []
    for row in table[1:]:
        match = re.match(r"-?\d+(\.\d+)?", row[index])
        values.append(float(match.group()) if match else None)
    return values


def steps(table: list[list[str]]) -> list[float]:
    return [max(float(row[0]), 0.5) for row in table[1:]]  # step 0 drawn at 0.5 on a log axis


def curves(axis, table, names, labels, styles, ylabel) -> None:
    for name, label, style in zip(names, labels, styles):
        axis.plot(steps(table), column(table, name), style, marker="o", label=label)
    axis.set(xscale="log", xlabel="adaptation steps (0 drawn at 0.5)", ylabel=ylabel)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)


def speakers(text: str, plt, out: Path) -> None:
    _, recon, coqui = section_tables(text, "All 13 held-out voices")
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for axis, (metric, ylabel) in zip(axes, (("query loss", "query loss"), ("similarity", "speaker similarity"),
                                             ("EER", "speaker EER"))):
        for table, objective, style in ((recon, "reconstruction", "-"), (coqui, "Coqui's VITS loss", "--")):
            curves(axis, table, [f"plain {metric}", f"meta {metric}"],
                   [f"plain, {objective}", f"meta, {objective}"], ["C0" + style, "C1" + style], ylabel)
    figure.suptitle("13 held-out voices of the many-voice corpus, 10 clips each; meta with the multi-step loss")
    figure.tight_layout()
    figure.savefig(out / "results_speakers.png", dpi=80)


def languages(text: str, plt, out: Path) -> None:
    table = section_tables(text, "The same base trained on to 100 minutes")[0]
    figure, axis = plt.subplots(figsize=(8, 4.5))
    names = table[0][1:]
    styles = ["C0-", "C0:", "C1-", "C0--", "C1--", "C7-"]
    curves(axis, table, names, names, styles, "query loss, mean of sv, ro, cs")
    axis.legend(fontsize=8, loc="center right")
    axis.set_title("held-out languages from the 100-minute base")
    figure.tight_layout()
    figure.savefig(out / "results_languages.png", dpi=80)


def prototypes(text: str, plt, out: Path) -> None:
    voices, real = section_tables(text, "The verdict on prototypes")[:2]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, (metric, ylabel) in zip(axes, (("similarity", "speaker similarity"), ("EER", "speaker EER"))):
        for table, who, style in ((voices, "13 held-out voices", "-"), (real, "6 real speakers", "--")):
            curves(axis, table, [f"plain {metric}", f"d-vector {metric}"],
                   [f"speaker table, fine-tuned ({who})", f"d-vector start, then fine-tuned ({who})"],
                   ["C0" + style, "C1" + style], ylabel)
        if metric == "similarity":
            target = column(voices, "plain similarity")[[row[0] for row in voices[1:]].index("20")]
            axis.axhline(target, color="grey", linestyle=":", linewidth=1, label="plain's step 20 (13 voices)")
            axis.legend(fontsize=7)
        else:
            axis.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    figure.suptitle("Zero-step voices: the d-vector base (step 0: Resemblyzer mean of 10 clips) against the "
                    "speaker-table base (step 0: the mean voice)")
    figure.tight_layout()
    figure.savefig(out / "results_prototypes.png", dpi=80)


def meta_step(text: str, plt, out: Path) -> None:
    runs = [("VITS, CPU", "VITS, CPU"), ("VITS, recipe size, CPU", "VITS at the size of Coqui's VCTK recipe"),
            ("Tacotron2, CPU", "Tacotron2, CPU"), ("VITS, H100", "VITS, GPU"), ("Tacotron2, H100", "Tacotron2, GPU")]
    first, second, memory = [], [], {}
    for label, heading in runs:
        table = section_tables(text, heading)[0]
        cells = {row[0]: row[1] for row in table[1:]}
        ratio = {order: next((float(value) for key, value in cells.items() if key.startswith(order)), None)
                 for order in ("first-order meta-step", "second-order meta-step")}
        first.append(ratio["first-order meta-step"])
        second.append(ratio["second-order meta-step"])
        if "H100" in label:
            memory[label] = [float(cells[f"peak memory added by a step, {kind} (MiB)"].split()[-1])
                             for kind in ("plain", "fomaml", "maml")]
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    positions = range(len(runs))
    left.bar([p - 0.2 for p in positions], first, 0.4, label="first-order MAML")
    left.bar([p + 0.2 for p in positions], [v if v is not None else 0 for v in second], 0.4,
             label="second-order MAML")
    for p, value in zip(positions, second):
        if value is None:
            left.annotate("second order:\nout of memory", (p + 0.2, 0.1), ha="center", fontsize=8)
    left.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    left.set_xticks(list(positions), [label for label, _ in runs], fontsize=8)
    left.set(ylabel="meta-step / its (inner + 1) plain steps")
    left.legend(fontsize=8)
    left.set_title("time of a meta-step against the plain steps of the same clips")
    kinds = ["plain", "fomaml", "maml"]
    for offset, (label, values) in zip((-0.2, 0.2), memory.items()):
        right.bar([k + offset for k in range(3)], values, 0.4, label=label)
    right.set_yscale("log")
    right.set_xticks(range(3), kinds)
    right.set(ylabel="peak CUDA memory a step adds (MiB)")
    right.legend(fontsize=8)
    right.set_title("memory on the H100, batch 4")
    figure.tight_layout()
    figure.savefig(out / "results_meta_step.png", dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "figures")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = args.benchmarks.read_text(encoding="utf-8")
    args.out.mkdir(parents=True, exist_ok=True)
    for draw in (speakers, languages, prototypes, meta_step):
        draw(text, plt, args.out)
        plt.close("all")
    print(f"wrote results_*.png to {args.out}")


if __name__ == "__main__":
    main()
