"""Trains (and goes on training) the many-voice base, ``lab/coqui_meta_lab/assets/voices_base.safetensors``.

The small VITS preset trained by Coqui's Trainer (plain steps, batch 4) on the training voices of the project's
many-voice corpus (`coqui_meta_lab.voice_corpus`: the held-out voices never enter) until it has ``--minutes``
of training. Resumable: run it again with more minutes and it goes on from its last Trainer checkpoint in ``--out``,
or, on a machine without one, from the shipped asset's weights (fresh optimizers; its record of steps and checks goes
on). Every ``--check-minutes`` it records the seen-speaker EER (its renditions of 12 training voices with their own
rows, judged against their real clips) and whether it speaks at its voices' pitch (`pitch_check`: 6 voices' renditions
against their real clips' F0), and at the end it writes the weights in half precision to the asset with that record.

``--decoder-channels N`` makes the waveform decoder N channels wide (HiFi-GAN V3's 256 against the preset's 64: the
preset's renders every voice on a buzz at its frame rate; see BENCHMARKS.md, "Can the decoder learn pitch at all?").
That is another base: its own settings folder, everything but the decoder warm-started from the shipped base, and
written to ``--asset`` (it goes on from there on a machine without its folder), never over the shipped base.

    python scripts/voices_base.py --minutes 120 --out runs/voices [--threads 1] [--lr 5e-5]
    python scripts/voices_base.py --minutes 360 --decoder-channels 256 --asset ASSET --out runs/voices

``--variants N`` trains on the grown corpus (``OUT/corpus-variantsN``: the corpus and N espeak-ng voice variants,
screened by the judge; `coqui_meta_lab.voice_corpus`), its training voices and kept training variants: another base,
from scratch, written to its own ``--asset``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coqui_meta_lab.base_asset import VOICES_BASE as SHIPPED
from coqui_meta_lab.base_script import base_arguments, finish, parsed
from coqui_meta_lab.quiet import quiet


def arguments() -> argparse.Namespace:
    parser = base_arguments(__doc__, out=Path("runs/voices"),
                            asset_help="where the base is written (and gone on from on a new machine); default: the "
                                       "shipped one")
    parser.add_argument("--judge-speakers", type=int, default=12)
    parser.add_argument("--lr", type=float, default=None,
                        help="the generator's and discriminator's rate from here on (default: the preset's 2e-4); "
                             "a new rate is a new settings folder, warm-started from the shipped asset")
    parser.add_argument("--decoder-channels", type=int, default=None,
                        help="a waveform decoder this wide (the preset's: 64); needs --asset")
    parser.add_argument("--pitch-voices", type=int, default=6)
    parser.add_argument("--variants", type=int, default=0,
                        help="the corpus grown by this many screened voice variants (another base: needs --asset)")
    args = parsed(parser)
    if args.variants and (args.asset is None or args.asset.resolve() == SHIPPED.resolve()):
        parser.error("--variants makes another base: name its own --asset (the shipped base stays as it is)")
    if args.decoder_channels is not None and (args.asset is None or args.asset.resolve() == SHIPPED.resolve()):
        parser.error("--decoder-channels makes another base: name its own --asset (the shipped base stays as it is)")
    if args.decoder_channels is not None and args.decoder_channels < 8:
        parser.error(f"--decoder-channels {args.decoder_channels}: the decoder halves its width at each of its "
                     "3 upsamplings; give at least 8")
    args.asset = args.asset or SHIPPED
    return args


#: the checks of the many-voice base, as the columns of their table in BENCHMARKS.md
HISTORY_COLUMNS = {"seen_speaker_eer": "seen-speaker EER", "same_speaker_cosine": "same-voice cosine",
                   "other_speaker_cosine": "other-voice cosine", "pitch_error_semitones": "pitch error (semitones)",
                   "on_pitch": "on pitch", "rendition_range_semitones": "F0 range (semitones)",
                   "buzz_share": "buzz share"}


def main() -> None:
    args = arguments()
    asset = args.asset
    quiet(args.threads)

    from coqui_meta.formats.clips import load_clips
    from coqui_meta_lab.base_asset import NotABase, asset_start, export_base
    from coqui_meta_lab.base_training import pitch_check, seen_speaker_check, train_base
    from coqui_meta_lab.voice_corpus import (
        MAX_SECONDS,
        build_voice_corpus,
        training_voices,
        voices_config,
    )

    corpus = build_voice_corpus(args.out / (f"corpus-variants{args.variants}" if args.variants else "corpus"),
                                variants=args.variants)
    voices = set(training_voices(corpus))
    train = [s for s in load_clips(corpus) if s["seconds"] <= MAX_SECONDS and s["speaker_name"] in voices]
    config = voices_config(corpus)
    if args.lr is not None:
        config.lr_gen = config.lr_disc = args.lr
    if args.decoder_channels is not None:
        config.model_args.upsample_initial_channel_decoder = args.decoder_channels
    start = asset if asset.is_file() or args.variants else SHIPPED  # a new wide base starts from the shipped one
    try:
        warm_start = asset_start(start, config.speakers, "a base of these voices") if start.is_file() else None
    except NotABase as error:
        raise SystemExit(f"error: {error}; move it away to train one from scratch") from None
    speakers = seen_speaker_check(train, speakers=args.judge_speakers, seed=args.seed)
    pitches = pitch_check(train, voices=args.pitch_voices, seed=args.seed)
    base = train_base(config, train, args.out, args.minutes, seed=args.seed,
                      check=lambda files: {**speakers(files), **pitches(files)},
                      check_minutes=args.check_minutes, warm_start=warm_start)
    last = base.history[-1]
    wide = f", a {args.decoder_channels}-channel waveform decoder" if args.decoder_channels else ""
    note = (f"small VITS{wide}, {base.steps} plain Coqui steps ({base.minutes:.0f} min) on the many-voice corpus's "
            f"{len(voices)} training voices{f' (grown by {args.variants} variants)' if args.variants else ''}; "
            f"seen-speaker EER {last['seen_speaker_eer']:.3f}; scripts/voices_base.py")
    progress = {"steps": base.steps, "minutes": base.minutes, "history": base.history}
    finish(base, HISTORY_COLUMNS, args, lambda: export_base(base.files, asset, note, progress))

if __name__ == "__main__":
    main()
