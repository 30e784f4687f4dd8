"""Reproduces the demo's shipped base, ``coqui_meta/assets/demo_base.safetensors``.

The small VITS preset trained by Coqui's Trainer (plain steps, batch 4) on the demo corpus's 10 training voices
(`coqui-meta demo` builds the corpus from the Debian voices and sentences the project writes; 2 voices held out) for
``--minutes`` of training, resumable: run it again with more minutes to go on. Every ``--check-minutes`` it records
the seen-speaker EER (the base's renditions of its training voices against their real clips). At the end it writes
the weights (generator and discriminator) in half precision to the asset.

    python scripts/demo_base.py --minutes 60 --out runs/demo_base [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--check-minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("runs/demo_base"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-export", action="store_true", help="train only; leave the shipped asset as it is")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore", message="In 2.9, this function's implementation")  # torchaudio.load

    from coqui_meta.experiments.base_training import seen_speaker_check, train_base
    from coqui_meta.experiments.demo import ASSET, HELD_OUT, build_corpus, demo_config, export_base, install_voices
    from coqui_meta.voices.data import load_clips

    install_voices()
    corpus = args.out / "corpus"
    if not (corpus / "metadata.csv").is_file():
        build_corpus(corpus, clips_per_voice=18, seed=args.seed)
    samples = [s for s in load_clips(corpus) if s["seconds"] <= 4.0]
    train = [s for s in samples if s["speaker_name"] not in HELD_OUT]
    config = demo_config(corpus, sorted({s["speaker_name"] for s in train}))
    base = train_base(config, train, args.out, args.minutes, seed=args.seed,
                      check=seen_speaker_check(train, speakers=10, seed=args.seed), check_minutes=args.check_minutes)
    print("| steps | minutes | seen-speaker EER | same-speaker cosine | other-speaker cosine |\n|---|---|---|---|---|")
    for row in base.history:
        print(f"| {row['steps']} | {row['minutes']:.1f} | {row['seen_speaker_eer']:.3f} | "
              f"{row['same_speaker_cosine']:.3f} | {row['other_speaker_cosine']:.3f} |")
    if not args.no_export:
        last = base.history[-1]
        note = (f"small VITS, {base.steps} plain Coqui steps ({base.minutes:.0f} CPU min) on the demo corpus; "
                f"seen-speaker EER {last['seen_speaker_eer']:.3f}; scripts/demo_base.py")
        print("Written:", export_base(base.files, ASSET, note))


if __name__ == "__main__":
    main()
