"""The one skeleton of the scripts that train a base over several sessions (``scripts/voices_base.py``,
``scripts/gst_base.py``, ``scripts/prototype_base.py``): the flags they share, and the end they share (the record's
table, then the weights written as an asset unless ``--no-export``). Each script adds its own flags and fills in what
it trains.

    parser = base_arguments(__doc__, out=Path("runs/voices"), asset_help="...")
    parser.add_argument("--judge-speakers", type=int, default=12)
    args = parsed(parser)
    quiet(args.threads)
    base = train_base(...)
    finish(base, HISTORY_COLUMNS, args, lambda: export_base(base.files, args.asset, note, progress))
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable


def base_arguments(description: str, out: Path, check_minutes: float = 15.0, asset: Path | None = None,
                   asset_help: str = "where the base is written (and gone on from on a new machine)"):
    """An argument parser with the flags every base script takes: ``--minutes`` (in all, across sessions),
    ``--check-minutes``, ``--out``, ``--threads``, ``--seed``, ``--asset`` and ``--no-export``."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="training minutes the base should have in all")
    parser.add_argument("--check-minutes", type=float, default=check_minutes)
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--asset", type=Path, default=asset, help=asset_help)
    parser.add_argument("--no-export", action="store_true", help="train only; leave the asset as it is")
    return parser


def parsed(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, with the shared flags checked."""
    args = parser.parse_args()
    if args.minutes <= 0 or args.check_minutes <= 0:
        parser.error("--minutes and --check-minutes must be above 0")
    return args


def finish(base, columns: dict[str, str], args: argparse.Namespace, export: Callable[[], Path]) -> None:
    """The base's record as a table (`coqui_meta_lab.base_training.history_table`, ``columns`` its checks), then
    ``export()`` unless ``--no-export``."""
    from coqui_meta_lab.base_training import history_table

    print(history_table(base.history, columns))
    if not args.no_export:
        print("Written:", export())
