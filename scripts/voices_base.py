"""Trains (and goes on training) the many-voice base, ``coqui_meta/experiments/assets/voices_base.safetensors``.

The small VITS preset trained by Coqui's Trainer (plain steps, batch 4) on the training voices of the project's
many-voice corpus (`coqui_meta.experiments.voice_corpus`: the held-out voices never enter) until it has ``--minutes``
of training. Resumable: run it again with more minutes and it goes on from its last Trainer checkpoint in ``--out``,
or, on a machine without one, from the shipped asset's weights (fresh optimizers; its record of steps and checks goes
on). Every ``--check-minutes`` it records the seen-speaker EER (its renditions of 12 training voices with their own
rows, judged against their real clips), and at the end it writes the weights in half precision to the asset with
that record.

    python scripts/voices_base.py --minutes 120 --out runs/voices [--threads 1] [--lr 5e-5]
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="training minutes the base should have in all")
    parser.add_argument("--check-minutes", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=Path("runs/voices"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--judge-speakers", type=int, default=12)
    parser.add_argument("--lr", type=float, default=None,
                        help="the generator's and discriminator's rate from here on (default: the preset's 2e-4); "
                             "a new rate is a new settings folder, warm-started from the shipped asset")
    parser.add_argument("--no-export", action="store_true", help="train only; leave the shipped asset as it is")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore", message="In 2.9, this function's implementation")  # torchaudio.load

    from coqui_meta.experiments.base_asset import VOICES_BASE as ASSET
    from coqui_meta.experiments.base_asset import export_base, read_asset
    from coqui_meta.experiments.base_training import seen_speaker_check, train_base
    from coqui_meta.experiments.voice_corpus import (
        MAX_SECONDS,
        build_voice_corpus,
        training_voices,
        voices_config,
    )
    from coqui_meta.voices.data import load_clips

    corpus = build_voice_corpus(args.out / "corpus")
    voices = set(training_voices())
    train = [s for s in load_clips(corpus) if s["seconds"] <= MAX_SECONDS and s["speaker_name"] in voices]
    config = voices_config(corpus)
    if args.lr is not None:
        config.lr_gen = config.lr_disc = args.lr

    def from_asset():
        weights, metadata = read_asset(ASSET)
        if metadata["speakers"] != list(config.speakers) or metadata["progress"] is None:
            raise SystemExit(f"{ASSET} is not a base of these voices; move it away to train one from scratch")
        return weights, metadata["progress"]

    base = train_base(config, train, args.out, args.minutes, seed=args.seed,
                      check=seen_speaker_check(train, speakers=args.judge_speakers, seed=args.seed),
                      check_minutes=args.check_minutes, warm_start=from_asset if ASSET.is_file() else None)
    print("| steps | minutes | seen-speaker EER | same-voice cosine | other-voice cosine |\n|---|---|---|---|---|")
    for row in base.history:
        print(f"| {row['steps']} | {row['minutes']:.1f} | {row['seen_speaker_eer']:.3f} | "
              f"{row['same_speaker_cosine']:.3f} | {row['other_speaker_cosine']:.3f} |")
    if not args.no_export:
        last = base.history[-1]
        note = (f"small VITS, {base.steps} plain Coqui steps ({base.minutes:.0f} min) on the many-voice corpus's "
                f"{len(voices)} training voices; seen-speaker EER {last['seen_speaker_eer']:.3f}; "
                "scripts/voices_base.py")
        progress = {"steps": base.steps, "minutes": base.minutes, "history": base.history}
        print("Written:", export_base(base.files, ASSET, note, progress))


if __name__ == "__main__":
    main()
