"""Trains (and goes on training) a prototype base on the many-voice corpus: a d-vector VITS or a protonet VITS.

``--kind d_vector``: a stock Coqui VITS that reads its voices from a d-vector file, as YourTTS does: Resemblyzer
d-vectors of every training clip, computed once and cached in ``OUT/d_vector/d_vectors/`` (Coqui's d-vector format,
`coqui_meta.adapting.embed`), plain Coqui steps (batch 4). ``--kind protonet``: a protonet MetaVits (the project's
prototype encoder; the vits_protonet recipe's meta block), meta-trained by Coqui's Trainer. Both are the small VITS
preset of the speaker-table base (`scripts/voices_base.py`) with d-vectors in place of its speaker table, trained by
the same machinery (`coqui_meta_lab.base_training.train_base`; `coqui_meta_lab.prototype_base`).

The corpus: ``--data DIR`` (a many-voice corpus already built, e.g. a grown one), else the corpus built (or reused) in
``OUT/corpus-variantsN`` with ``--variants N`` screened espeak-ng voice variants (``OUT/corpus`` without). Its
held-out voices (the 13 original ones and every fifth kept variant: `coqui_meta_lab.voice_corpus.held_out_voices`)
never enter training.

``--decoder-channels N`` makes the waveform decoder N channels wide (the preset's is 64; 256 took the speaker-table
base's seen-speaker EER from 0.27 to 0.17: BENCHMARKS.md, "A base with a wider waveform decoder"): another base, its
own settings folder and asset (default ``OUT/<kind>_base-decoderN.safetensors``), started with ``--start-from`` from
a narrower base's weights, all but the decoder (fresh).

Resumable: run it again with more ``--minutes`` and it goes on from its last Trainer checkpoint in ``OUT/<kind>/base``,
or, on a machine without one, from ``--asset`` (its weights and record of steps and checks; fresh optimizers). Every
``--check-minutes`` it records the seen-speaker EER (12 training voices) and the held-out zero-step EER and similarity
(the first ``--zero-step-voices`` held-out voices, the 13 original ones first: each spoken from the embedding or
prototype of ``--shots`` of its clips with no gradient step, judged by Resemblyzer against its real clips), and at the
end it writes the weights in half precision to ``--asset`` (default ``OUT/<kind>_base.safetensors``; never the
shipped speaker-table base: a prototype base is shipped only when it beats it) with that record.

    python scripts/prototype_base.py --kind protonet --data runs/voices_grown1000/corpus --minutes 120 --out runs/proto
    python scripts/prototype_base.py --kind d_vector --data runs/voices_grown1000/corpus --minutes 120 --out runs/proto
    python scripts/prototype_base.py --kind d_vector --data runs/voices_grown1000/corpus --minutes 120 \
        --out runs/proto --decoder-channels 256 --start-from runs/proto/d_vector_base.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coqui_meta_lab.base_asset import VOICES_BASE
from coqui_meta_lab.base_script import base_arguments, finish, parsed
from coqui_meta_lab.prototype_base import KINDS
from coqui_meta_lab.quiet import quiet


def arguments() -> argparse.Namespace:
    parser = base_arguments(__doc__, out=Path("runs/prototype_base"),
                            asset_help="where the base is written (and gone on from on a new machine); default "
                                       "OUT/<kind>_base.safetensors")
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--data", type=Path, default=None, help="a many-voice corpus already built (a grown one)")
    parser.add_argument("--variants", type=int, default=0,
                        help="without --data: build (or reuse) the corpus grown by this many voice variants in OUT")
    parser.add_argument("--judge-speakers", type=int, default=12, help="training voices of the seen-speaker EER")
    parser.add_argument("--zero-step-voices", type=int, default=13,
                        help="held-out voices of the zero-step EER: the corpus's first N (the 13 original ones first)")
    parser.add_argument("--shots", type=int, default=10, help="clips a zero-step voice is made from (the study's)")
    parser.add_argument("--queries", type=int, default=3, help="clips each zero-step voice is judged on")
    parser.add_argument("--start-from", type=Path, default=None,
                        help="on a machine with neither a checkpoint nor --asset: start from this base's weights "
                             "(e.g. the shipped speaker-table base: all but the speaker conditioning), a fresh record")
    parser.add_argument("--decoder-channels", type=int, default=None,
                        help="a waveform decoder this wide (the preset's: 64): another base, with its own asset")
    args = parsed(parser)
    if args.decoder_channels is not None and args.decoder_channels < 8:
        parser.error(f"--decoder-channels {args.decoder_channels}: the decoder halves its width at each of its "
                     "3 upsamplings; give at least 8")
    if args.data is not None and args.variants:
        parser.error("--variants builds a corpus; --data names one already built: give one of them")
    if args.data is not None and not (args.data / "metadata.csv").is_file():
        parser.error(f"--data {args.data}: no metadata.csv there (build one with --variants N)")
    args.data = args.data and args.data.resolve()
    if args.start_from is not None and not args.start_from.is_file():
        parser.error(f"--start-from {args.start_from}: no such file")
    if args.zero_step_voices < 2 or args.judge_speakers < 2:
        parser.error("--zero-step-voices and --judge-speakers must be at least 2 (an EER needs impostors)")
    wide = f"-decoder{args.decoder_channels}" if args.decoder_channels else ""
    args.asset = args.asset or args.out / f"{args.kind}_base{wide}.safetensors"
    if args.asset.resolve() == VOICES_BASE.resolve():
        parser.error("--asset is the shipped speaker-table base: name another file for a prototype base")
    return args


#: the checks of a prototype base, as the columns of their table in BENCHMARKS.md
HISTORY_COLUMNS = {"seen_speaker_eer": "seen-speaker EER", "same_speaker_cosine": "same-voice cosine",
                   "other_speaker_cosine": "other-voice cosine", "seen_speaker_similarity": "seen similarity",
                   "zero_step_eer": "held-out zero-step EER", "zero_step_similarity": "zero-step similarity",
                   "zero_step_query_loss": "zero-step query loss"}


def main() -> None:
    args = arguments()
    quiet(args.threads)

    from coqui_meta_lab.base_asset import NotABase
    from coqui_meta_lab.prototype_base import corpus_split, export_prototype_base, train_prototype_base
    from coqui_meta_lab.voice_corpus import build_voice_corpus

    corpus = args.data or build_voice_corpus(
        args.out / (f"corpus-variants{args.variants}" if args.variants else "corpus"), variants=args.variants)
    train, voices, held = corpus_split(corpus)
    print(f"Corpus {corpus}: {len(voices)} training voices ({len(train)} clips), {len(held)} held out; zero-step "
          f"check on {min(args.zero_step_voices, len(held))} of them")
    try:
        base = train_prototype_base(args.kind, corpus, train, held[:args.zero_step_voices], args.out, args.minutes,
                                    seed=args.seed, check_minutes=args.check_minutes, asset=args.asset,
                                    seen=args.judge_speakers, shots=args.shots, queries=args.queries,
                                    start_from=args.start_from, decoder_channels=args.decoder_channels)
    except NotABase as error:
        raise SystemExit(f"error: {error}; name another --asset, or move it away to train one from scratch") from None
    finish(base, HISTORY_COLUMNS, args,
           lambda: export_prototype_base(base, args.kind, args.asset, len(voices), f" ({corpus})"))

if __name__ == "__main__":
    main()
