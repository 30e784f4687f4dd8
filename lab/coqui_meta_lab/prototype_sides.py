"""The prototype side of the adaptation study (``benchmarks/adaptation_speed.py --corpus voices --algorithm
d_vector|protonet|proto_maml``, issue 40): a prototype base's zero-step voice, then the default procedure, against
plain fine-tuning of the speaker-table base, with the same clips, clip-gradient budget and learning-rate grid.

- ``d_vector``: the d-vector base as it is shipped (`coqui_meta_lab.prototype_base.PROTOTYPE_BASES`, or the asset
  given) against the shipped speaker-table base as it is: a stock d-vector VITS has nothing to meta-train, so neither
  side trains here (a budget of 0 clip-gradients on both). Its voice starts from the Resemblyzer mean of the support
  clips.
- ``protonet`` and ``proto_maml``: the protonet base meta-trained on with that algorithm
  (`coqui_meta_lab.study.meta_branch`, with the base's own prototype settings) against the speaker-table base trained
  on with plain Coqui steps for the same clip-gradients (`coqui_meta_lab.study.plain_branch`). The voice starts from
  the prototype of the support clips.

Example::

    branches, encoders = prototype_branches("d_vector", asset, base, train, corpus, out)
    sides = [("plain", branches.plain_files, None), ("meta", branches.meta_files, None)]
    evaluate_sides(sides, grid, data, speakers, ..., encoders=encoders)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

#: the study's prototype algorithms and the kind of prototype base each starts from
PROTOTYPE_ALGORITHMS = {"d_vector": "d_vector", "protonet": "protonet", "proto_maml": "protonet"}


def prototype_asset(algorithm: str, given: Path | None) -> Path:
    """The prototype base a prototype ``algorithm`` starts from: ``given``, else the shipped one of its kind; a
    `FileNotFoundError` that says how to make one when neither is there, `coqui_meta_lab.base_asset.NotABase` naming
    the file for an asset of another kind or a d-vector base without its d-vector file (`complete_asset`, before
    its weights are read)."""
    from coqui_meta_lab.prototype_base import PROTOTYPE_BASES, complete_asset

    kind = PROTOTYPE_ALGORITHMS[algorithm]
    path = Path(given or PROTOTYPE_BASES[kind])
    if not path.is_file():
        raise FileNotFoundError(
            f"--algorithm {algorithm} starts from a {kind} prototype base and none is shipped ({path}): train one with "
            f"`python scripts/prototype_base.py --kind {kind} ...` and give it as --prototype-base FILE")
    complete_asset(path, kind)
    return path


def prototype_branches(algorithm: str, asset: Path, base, train: list[dict], corpus, out: Path, meta=None,
                       meta_steps: int | None = None, meta_seconds: float | None = None,
                       plain_objective: str = "stock"):
    """(`coqui_meta_lab.study.Branches` whose meta side is the d-vector base, or the protonet base's meta branch, and
    whose plain side is ``base`` or its plain branch of the same clip-gradients; the sides' voice starts by label).
    ``meta``: the meta branch's ``MetaLearningConfig`` (``protonet`` and ``proto_maml``; its prototype settings are
    taken from the base, whose encoder they describe)."""
    from coqui_meta.formats.checkpoints import load_config_file
    from coqui_meta_lab.prototype_base import ENCODER, asset_base
    from coqui_meta_lab.study import Branches, meta_branch, plain_branch

    kind = PROTOTYPE_ALGORITHMS[algorithm]
    prototype = asset_base(asset, kind, corpus, Path(out) / "base" / Path(asset).stem)
    encoders = {"meta": ENCODER} if kind == "d_vector" else {}
    if algorithm == "d_vector":
        folder = Path(out) / "prototype" / f"{algorithm}-{Path(asset).stem}"
        folder.mkdir(parents=True, exist_ok=True)
        return Branches(folder, tuple(base.files), tuple(prototype.files), 0, 0, 0,
                        {"meta": 0.0, "plain": 0.0}), encoders
    if meta is None or meta.algorithm != algorithm:
        raise ValueError(f"{algorithm} branches need a MetaLearningConfig with algorithm {algorithm}")
    own = load_config_file(prototype.files[1]).meta
    meta = replace(meta, **{name: getattr(own, name) for name in vars(own) if name.startswith("prototype_")})
    record = meta_branch(prototype, train, meta, out, meta_steps, meta_seconds)
    plain_steps = round(record["clip_gradients"] / load_config_file(base.files[1]).batch_size)
    plain = plain_branch(base, train, plain_steps, out, meta.seed, objective=plain_objective)
    return Branches(Path(record["files"][0]).parents[1], tuple(plain["files"]), tuple(record["files"]),
                    record["steps"], plain_steps, record["clip_gradients"],
                    {"meta": record["seconds"], "plain": plain["seconds"]}), encoders
