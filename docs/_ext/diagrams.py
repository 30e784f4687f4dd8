"""The architecture page's generated parts: who imports whom (read from the source with `ast`) and two drawings
(matplotlib, SVG, no network and no Graphviz). `coqui_meta_docs` calls it at build time; run alone it writes the SVGs
into the current folder: ``python docs/_ext/diagrams.py``.

The layers are the import contract's (pyproject.toml's ``layers`` contract, which ``lint-imports`` keeps in
``make test``), each described by its modules' own docstrings; the imports between them are read from the code, so the
page shows what the code does, including any import that goes the wrong way.
"""

from __future__ import annotations

import ast
import collections
import io
import os
import re
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _first_sentence(root: str, member: str) -> str:
    """The first clause of a module's or package's docstring (``algorithms`` -> its ``__init__.py``'s), at most 70
    characters: a box's caption."""

    base = os.path.join(root, "coqui_meta", *member.split("."))
    path = os.path.join(base, "__init__.py") if os.path.isdir(base) else base + ".py"
    with open(path, encoding="utf-8") as handle:
        text = ast.get_docstring(ast.parse(handle.read(), path)) or ""
    sentence = " ".join(text.split()).split(". ")[0]
    short = re.split(r"[:;(]| -- ", sentence)[0].strip().rstrip(".,")
    return short if len(short) <= 70 else short[:67].rsplit(" ", 1)[0] + "..."


def contract_layers(root: str = ROOT) -> list[tuple[str, tuple[str, ...], str]]:
    """Bottom to top, (name, modules or packages, what it is) of each layer of pyproject.toml's ``layers`` contract;
    the package's ``__init__`` (``register()``) sits with ``registry``."""
    import re

    import tomllib

    with open(os.path.join(root, "pyproject.toml"), "rb") as handle:
        contracts = tomllib.load(handle)["tool"]["importlinter"]["contracts"]
    (layers,) = [contract["layers"] for contract in contracts if contract["type"] == "layers"]
    rows = []
    for entry in reversed(layers):
        members = tuple(part.strip().removeprefix("coqui_meta.") for part in re.split(r"[|:]", entry))
        what = "; ".join(f"{member}: {_first_sentence(root, member)}" for member in members)
        members += ("__init__",) if "registry" in members else ()
        rows.append((" / ".join(m for m in members if m != "__init__"), members, what))
    return rows


#: bottom to top: a layer may import the layers below it. (name, modules or packages, what it is)
LAYERS = contract_layers()
OUTSIDE = "lab and tools"
OUTSIDE_FOLDERS = ("lab/coqui_meta_lab", "benchmarks", "scripts", "recipes")


def _layer_of(module: str) -> str | None:
    """``coqui_meta.judging.speaker_judge`` -> the layer of ``judging``; a module outside the package -> OUTSIDE;
    others -> None."""
    parts = module.split(".")
    if parts[0] == "coqui_meta_lab":
        return OUTSIDE
    if parts[0] != "coqui_meta":
        return None
    head = parts[1] if len(parts) > 1 else "__init__"
    for name, members, _ in LAYERS:
        if head in members:
            return name
    return "unassigned"


def _sources(root: str):
    """(module name or folder, layer, path) of every Python file of the package and of the folders outside it."""
    package = os.path.join(root, "coqui_meta")
    for folder, _, files in sorted(os.walk(package)):
        for file_name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, file_name)
            module = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
            module = module.removesuffix(".__init__")
            yield module, _layer_of(module), path
    for outside in OUTSIDE_FOLDERS:
        for folder, _, files in sorted(os.walk(os.path.join(root, outside))):
            for file_name in sorted(f for f in files if f.endswith(".py")):
                yield outside, OUTSIDE, os.path.join(folder, file_name)


def _imported(module: str, tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package
                base = module.split(".")[: -node.level] if module.count(".") else [module]
                yield ".".join(base + ([node.module] if node.module else []))
            elif node.module:
                yield node.module


def import_graph(root: str) -> dict[tuple[str, str], int]:
    """(importing layer, imported layer) -> import statements, between different layers."""
    edges = collections.Counter()
    for module, layer, path in _sources(root):
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        for name in _imported(module, tree):
            if name == "coqui_meta":  # the package's face (register() and its names), as the import contract sees it
                continue
            target = _layer_of(name)
            if target and target != layer:
                edges[(layer, target)] += 1
    return dict(edges)


def _rank(layer: str) -> int:
    names = [name for name, _, _ in LAYERS]
    return names.index(layer) if layer in names else len(names)


def imports_table(root: str) -> str:
    edges = import_graph(root)
    lines = [
        "<!-- generated by docs/_ext/diagrams.py from the imports in the source -->",
        "",
        "| layer | modules | imports from (import statements) |",
        "|---|---|---|",
    ]
    rows = [(name, members) for name, members, _ in LAYERS] + [(OUTSIDE, OUTSIDE_FOLDERS)]
    for name, members in rows:
        targets = sorted((target for (source, target) in edges if source == name), key=_rank)
        cells = []
        for target in targets:
            note = ""
            if name != OUTSIDE and target == OUTSIDE:
                note = " (outside the package)"
            elif _rank(target) > _rank(name):
                note = " (upward)"
            cells.append(f"{target} ({edges[(name, target)]}){note}")
        shown = ", ".join(f"`{m}`" for m in members)
        lines.append(f"| {name} | {shown} | {', '.join(cells) or 'no other layer'} |")
    unassigned = sorted({module for module, layer, _ in _sources(root) if layer == "unassigned"})
    if unassigned:
        lines += ["", "Modules no layer names yet: " + ", ".join(f"`{m}`" for m in unassigned) + "."]
    return "\n".join(lines)


# -- drawings --------------------------------------------------------------------------------------------------------


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buffer.getvalue()


def _box(axes, x, y, width, height, title, body="", color="#e8eef7", wrap=60, size=9):
    from matplotlib.patches import FancyBboxPatch

    axes.add_patch(FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.02,rounding_size=0.08",
                                  facecolor=color, edgecolor="#34495e", linewidth=1))
    axes.text(x + width / 2, y + height - 0.08, title, ha="center", va="top", fontsize=size + 1, fontweight="bold")
    if body:
        axes.text(x + width / 2, y + (height - 0.25) / 2, "\n".join(textwrap.wrap(body, wrap)), ha="center",
                  va="center", fontsize=size, linespacing=1.3)


def _arrow(axes, start, end, text="", style="-|>", dashed=False):
    axes.annotate("", xy=end, xytext=start, arrowprops={
        "arrowstyle": style, "color": "#34495e", "linewidth": 1.2, "linestyle": "--" if dashed else "-",
        "shrinkA": 2, "shrinkB": 2})
    if text:
        axes.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, text, ha="center", fontsize=8,
                  color="#34495e")


def layers_drawing(root: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    edges = import_graph(root)
    height = 1.0
    figure, axes = pyplot.subplots(figsize=(11, 1.05 * len(LAYERS) + 0.6))
    for index, (name, members, what) in enumerate(LAYERS):
        y = index * (height + 0.25)
        below = sorted({t for (s, t) in edges if s == name and t != OUTSIDE}, key=_rank)
        body = f"{what}." + (f" Imports: {', '.join(below)}." if below else "")
        _box(axes, 0, y, 7.2, height, f"{name}", body, wrap=95, size=8.5)
        if index:
            _arrow(axes, (3.6, y + 0.02), (3.6, y - 0.27))
    top = len(LAYERS) * (height + 0.25) - 0.25
    _box(axes, 8.0, 0, 3.0, top, OUTSIDE,
         "lab/coqui_meta_lab: corpus builders, study drivers, shipped bases. benchmarks/, scripts/, recipes/ "
         "(and tests/): they import the package; the package's layers do not import them "
         "(the demo command loads the lab when it runs)", color="#f4ecdc", wrap=30, size=8.5)
    _arrow(axes, (8.0, top / 2), (7.25, top / 2), "uses")
    axes.text(-0.55, top / 2, "imports point down", rotation=90, ha="center", va="center", fontsize=8,
              color="#34495e")
    axes.set_xlim(-0.8, 11.2)
    axes.set_ylim(-0.2, top + 0.2)
    axes.axis("off")
    svg = _svg(figure)
    pyplot.close(figure)
    return svg


STEP_BOXES = [
    ("episodes", "SpeakerEpisodeSampler draws meta-batch t from (meta.seed, t): meta_batch_size tasks of k_shot "
     "support + q_query query clips, one task value (speaker) each"),
    ("start", "the task's voice: the mean speaker row, its prototype (protonet, proto_maml), its d-vector, or the "
     "mean language row"),
    ("inner loop", "inner_steps steps on the support clips through torch.func.functional_call on a dict of task "
     "tensors (adapt_modules); create_graph for second-order MAML"),
    ("query loss", "the adapted voice on the query clips; backward for this task alone (one task's graph in memory "
     "at a time)"),
    ("outer update", "gradients averaged over the kept tasks (and ranks), then Coqui's optimizer, grad scaler, "
     "clipping and scheduler, in the Trainer's optimize() hook; VITS: the discriminator's own step"),
]


def outer_step_drawing() -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.patches import FancyBboxPatch

    figure, axes = pyplot.subplots(figsize=(13, 3.9))
    width, gap, height = 2.3, 0.45, 2.3
    for index, (title, body) in enumerate(STEP_BOXES):
        x = index * (width + gap)
        color = "#e3f1e6" if 1 <= index <= 3 else "#e8eef7"
        _box(axes, x, 0, width, height, title, body, color=color, wrap=27, size=7.5)
        if index:
            _arrow(axes, (x - gap, height / 2), (x, height / 2))
    left, right = 1 * (width + gap) - 0.15, 3 * (width + gap) + width + 0.15
    axes.add_patch(FancyBboxPatch((left, -0.3), right - left, height + 0.75, boxstyle="round,pad=0.02",
                                  facecolor="none", edgecolor="#27ae60", linewidth=1, linestyle="--"))
    axes.text((left + right) / 2, height + 0.22, "for each task of the meta-batch (skipped and counted if its loss is "
              "not finite or grows ten-fold)", ha="center", fontsize=8.5, color="#1e8449")
    axes.set_xlim(-0.2, 5 * (width + gap))
    axes.set_ylim(-0.45, height + 0.7)
    axes.axis("off")
    svg = _svg(figure)
    pyplot.close(figure)
    return svg


def drawings(root: str) -> dict[str, str]:
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "coqui-meta-docs"  # the same SVG from the same code
    return {"layers.svg": layers_drawing(root), "outer_step.svg": outer_step_drawing()}


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    for name, text in drawings(os.path.dirname(os.path.dirname(here))).items():
        with open(name, "w", encoding="utf-8") as handle:
            handle.write(text)
        print("written", name)
