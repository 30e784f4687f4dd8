"""How well the speaker judge (Resemblyzer) separates real speakers: mean cosine of two clips of one speaker, of clips
of two speakers, and the EER of those trials. The reference for reading `evaluate`'s speaker_similarity and eer.

    python benchmarks/judge_calibration.py --data ../shared/data/speechocean762 --speakers 16 --clips 3
"""

from __future__ import annotations

import argparse
import itertools
import random
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "speechocean762"))
    parser.add_argument("--speakers", type=int, default=16)
    parser.add_argument("--clips", type=int, default=3, help="longest clips of each speaker")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from coqui_meta.voices.data import load_clips
    from coqui_meta.voices.judge import SpeakerJudge, cosine, equal_error_rate

    judge = SpeakerJudge.load()
    if judge is None:
        raise SystemExit(SpeakerJudge.unavailable)
    by_speaker: dict[str, list] = {}
    for sample in load_clips(args.data):
        by_speaker.setdefault(sample["speaker_name"], []).append(sample)
    names = sorted(random.Random(args.seed).sample(sorted(by_speaker), args.speakers))
    embeddings = {
        name: [judge.embed(*soundfile.read(s["audio_file"]))
               for s in sorted(by_speaker[name], key=lambda s: -s["seconds"])[: args.clips]]
        for name in names
    }
    same = [cosine(a, b) for name in names for a, b in itertools.combinations(embeddings[name], 2)]
    different = [cosine(embeddings[a][0], embeddings[b][1]) for a, b in itertools.permutations(names, 2)]
    eer = equal_error_rate(same + different, [True] * len(same) + [False] * len(different))
    print("| trials | count | mean cosine |\n|---|---|---|")
    print(f"| same speaker | {len(same)} | {np.mean(same):.3f} |")
    print(f"| different speakers | {len(different)} | {np.mean(different):.3f} |")
    print(f"\nEER {eer:.3f} ({args.speakers} speakers, {args.clips} clips each, seed {args.seed})")


if __name__ == "__main__":
    main()
