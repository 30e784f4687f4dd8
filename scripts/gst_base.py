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
import logging
import warnings
from pathlib import Path

import torch

from coqui_meta_lab.gst_base import GST_BASE


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="training minutes the base should have in all")
    parser.add_argument("--check-minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("runs/styles"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--asset", type=Path, default=GST_BASE,
                        help="where the base is written (and gone on from on a machine without its --out folder)")
    parser.add_argument("--no-export", action="store_true", help="train only; leave the asset as it is")
    args = parser.parse_args()
    if args.minutes <= 0 or args.check_minutes <= 0:
        parser.error("--minutes and --check-minutes must be above 0")
    return args


def main() -> None:
    args = arguments()
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore", message="In 2.9, this function's implementation")  # torchaudio.load

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
    print("| steps | minutes | pitch error (semitones) | on pitch | length ratio |\n|---|---|---|---|---|")
    for row in base.history:
        print(f"| {row['steps']} | {row['minutes']:.1f} | {row['pitch_error_semitones']:.2f} | {row['on_pitch']:.2f} "
              f"| {row['length_ratio']:.2f} |")
    if not args.no_export:
        note = (f"GST Tacotron2, {base.steps} plain Coqui steps ({base.minutes:.0f} min) on the style corpus's "
                f"{len(train)} training-style clips; scripts/gst_base.py")
        progress = {"steps": base.steps, "minutes": base.minutes, "history": base.history}
        print("Written:", export_base(base.files, args.asset, note, progress))


if __name__ == "__main__":
    main()
