"""Trains (and goes on training) the GST Tacotron2 style base, ``assets/gst_style_base.safetensors``.

Coqui's Tacotron2 with global style tokens (`coqui_meta_lab.presets.gst_tacotron2_config`) over the style
corpus's 8 voices, trained by plain Coqui steps (batch 8) on the 6 training styles (the held-out ``high`` and
``emphatic`` never enter) until it has ``--minutes`` of training in all. Resumable: run it again with more minutes
and it goes on from its last Trainer checkpoint in ``--out``, or, on a machine without one, from the asset's weights
(fresh optimizers; its record of steps and checks goes on). Every ``--check-minutes`` it renders one neutral clip of
6 voices from the tokens' mean (where a style task starts) by Griffin-Lim and records the pitch error, the share on
pitch and the length ratio against the real clips (`coqui_meta_lab.gst_base.gst_check`); at the end it writes
the weights in half precision to ``--asset`` (default: ``lab/coqui_meta_lab/assets/gst_style_base.safetensors``)
with that record.

    python scripts/gst_base.py --minutes 120 --threads 2 --out runs/styles
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coqui_meta_lab.base_script import base_arguments, finish, parsed
from coqui_meta_lab.gst_base import GST_BASE
from coqui_meta_lab.quiet import quiet


def arguments() -> argparse.Namespace:
    return parsed(base_arguments(__doc__, out=Path("runs/styles"), check_minutes=10.0, asset=GST_BASE,
                                 asset_help="where the base is written (and gone on from on a machine without its "
                                            "--out folder)"))


#: the checks of the GST style base, as the columns of their table in BENCHMARKS.md
HISTORY_COLUMNS = {"pitch_error_semitones": "pitch error (semitones)", "on_pitch": "on pitch",
                   "length_ratio": "length ratio"}


def main() -> None:
    args = arguments()
    quiet(args.threads)

    from coqui_meta_lab.base_asset import NotABase, export_base
    from coqui_meta_lab.gst_base import style_training_clips, train_gst_base
    from coqui_meta_lab.style_corpus import build_style_corpus

    corpus = build_style_corpus(args.out / "corpus")
    train = style_training_clips(corpus)
    try:
        base = train_gst_base(corpus, train, args.out, args.minutes, seed=args.seed,
                              check_minutes=args.check_minutes, asset=args.asset)
    except NotABase as error:
        raise SystemExit(f"error: {error}; name another --asset, or move it away to train one from scratch") from None
    note = (f"GST Tacotron2, {base.steps} plain Coqui steps ({base.minutes:.0f} min) on the style corpus's "
            f"{len(train)} training-style clips; scripts/gst_base.py")
    progress = {"steps": base.steps, "minutes": base.minutes, "history": base.history}
    finish(base, HISTORY_COLUMNS, args, lambda: export_base(base.files, args.asset, note, progress))

if __name__ == "__main__":
    main()
