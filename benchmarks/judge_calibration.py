"""How well the speaker judge (Resemblyzer) separates real speakers: mean cosine of two clips of one speaker, of clips
of two speakers, and the EER of those trials. The reference for reading `evaluate`'s speaker_similarity and eer.

    python benchmarks/judge_calibration.py --data ../shared/data/speechocean762 --speakers 16 --clips 3
    python benchmarks/judge_calibration.py --corpus voices --out runs/voices            # the many-voice corpus
    python benchmarks/judge_calibration.py --corpus voices --screen --clips 6 --out runs/voices/screen
    python benchmarks/judge_calibration.py --corpus voices --variants 400 --clips 30 --out runs/voices  # grown
    python benchmarks/judge_calibration.py --corpus styles --out runs/styles           # the style judge
    python benchmarks/judge_calibration.py --corpus styles --griffin-lim --out runs/styles  # ... through Griffin-Lim

``--corpus voices`` builds (or reuses) the project's many-voice corpus in ``OUT/corpus`` and reports the EER over its
voices and over its held-out voices. ``--screen`` builds ``--clips`` clips of every candidate voice instead and drops
the voices the judge confuses (`coqui_meta_lab.voice_screening`): what it prints is `DROPPED` of
`coqui_meta_lab.voice_corpus`. ``--corpus styles`` builds (or reuses) the style corpus in ``OUT/corpus`` and
calibrates the style judge (`coqui_meta.judging.style_judge`) on its real clips: each style's centroid (prosody
relative to the voice's neutral clips) and the style EER with each clip left out of the judge that scores it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]


def real_speakers(args) -> None:
    from coqui_meta.formats.clips import load_clips
    from coqui_meta.judging.speaker_judge import SpeakerJudge, cosine, equal_error_rate

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


def voices_corpus(args) -> None:
    from coqui_meta_lab import voice_corpus
    from coqui_meta_lab.voice_screening import embed_corpus, screen_voices

    if args.screen:
        chosen = [(voice_corpus.voice_name(e, v), e, v) for e, v in voice_corpus.CANDIDATES]
        corpus = voice_corpus.build_voice_corpus(args.out / "corpus", args.clips, args.seed, chosen=chosen)
        order, held = [name for name, _, _ in chosen], []
    else:
        folder = args.out / (f"corpus-variants{args.variants}" if args.variants else "corpus")
        corpus = voice_corpus.build_voice_corpus(folder, args.clips, args.seed, variants=args.variants,
                                                 max_pair_eer=args.max_pair_eer)
        order, held = voice_corpus.corpus_voices(corpus), voice_corpus.held_out_voices(corpus)
    embeddings = embed_corpus(corpus)
    result = screen_voices(embeddings, order, held, max_pair_eer=args.max_pair_eer if args.screen else 1.0)
    (args.out / "judge_calibration.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(order)} voices, {args.clips} clips each: EER {result['eer']:.3f} over the "
          f"{len(result['kept'])} kept (same-voice cosine {result['same_voice_cosine']:.3f}, other voices "
          f"{result['other_voice_cosine']:.3f})")
    if result["held_out_eer"] is not None:
        print(f"held-out voices ({len(held)}): EER {result['held_out_eer']:.3f}")
    if args.screen:
        print(f"pairs the judge confuses (pair EER > {args.max_pair_eer}): {len(result['confused_pairs'])}")
        for pair, eer in result["confused_pairs"].items():
            print(f"  {pair}: {eer}")
        print("DROPPED = {\n" + "".join(f"    {k!r}: {v!r},\n" for k, v in result["dropped"].items()) + "}")


def styles_corpus(args) -> None:
    import csv

    from coqui_meta.judging.style_judge import FEATURES, StyleJudge, clip_features
    from coqui_meta_lab.style_corpus import build_style_corpus, held_out_styles

    corpus = build_style_corpus(args.out / "corpus", seed=args.seed)
    with open(corpus / "metadata.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="|"))
    real = [(row["speaker_name"], row["emotion_name"], clip_features(str(corpus / row["audio_file"]), row["text"]))
            for row in rows]
    judge = StyleJudge.fit(real)
    eer, held = judge.calibration(), held_out_styles()
    print("| style | " + " | ".join(FEATURES) + " |\n|---" + "|---" * len(FEATURES) + "|")
    for style, centroid in judge.centroids.items():
        print(f"| {style}{' (held out)' if style in held else ''} | " + " | ".join(f"{v:+.2f}" for v in centroid)
              + " |")
    print("| within-style spread | " + " | ".join(f"{v:.2f}" for v in judge.scale) + " |")
    print(f"\nstyle EER {eer:.3f}: {len(real)} real clips ({len(judge.references)} voices, {len(judge.centroids)} "
          "styles), each scored by a judge fitted without it")
    result = {"eer": eer, "clips": len(real), "centroids": {k: v.tolist() for k, v in judge.centroids.items()},
              "scale": judge.scale.tolist(), "features": list(FEATURES), "held_out": held}
    if args.griffin_lim:
        result["griffin_lim"] = through_griffin_lim(judge, corpus, rows, real)
    (args.out / "style_judge_calibration.json").write_text(json.dumps(result, indent=1) + "\n")


def through_griffin_lim(judge, corpus: Path, rows: list[dict], real: list) -> dict:
    """The real clips as the GST style study hears its renditions: their mels (`gst_tacotron2_config`'s frames)
    turned back to audio by Griffin-Lim, scored by the judge fitted on the real clips: the style EER, and each
    feature's mean shift from the clip's own (in within-style spreads), with F0 searched within each voice's own
    pitch (`StyleJudge.f0_bounds`, as the judge hears renditions) and, side by side, over any voice's range."""
    from tqdm.auto import tqdm
    from TTS.utils.audio.processor import AudioProcessor

    from coqui_meta.judging.pitch import F0_SEARCH_HZ
    from coqui_meta.judging.style_judge import FEATURES, prosody_features
    from coqui_meta_lab.presets import gst_tacotron2_config

    audio = AudioProcessor(gst_tacotron2_config().audio)
    heard = {"voice_bounds": [], "any_voice": []}  # (voice, style, features heard, the real clip's features)
    np.random.seed(0)  # Griffin-Lim's random starting phases
    for row, (_, _, own) in zip(tqdm(rows, desc="Griffin-Lim", unit="clip"), real):
        wav = audio.load_wav(str(corpus / row["audio_file"]))
        back = audio.inv_melspectrogram(audio.melspectrogram(wav))
        voice, style, text = row["speaker_name"], row["emotion_name"], row["text"]
        for search, bounds in (("voice_bounds", judge.f0_bounds(voice)), ("any_voice", F0_SEARCH_HZ)):
            try:
                heard[search].append((voice, style, prosody_features(back, audio.sample_rate, text, bounds), own))
            except ValueError:  # no voiced frame in the search range: unjudged, as a rendition would be
                pass
    result = {}
    for search, clips in heard.items():
        eer = judge.eer([clip[:3] for clip in clips])
        shifts = np.array([(features - own) / judge.scale for _, _, features, own in clips])
        jumps = int((np.abs([features[0] - own[0] for _, _, features, own in clips]) > 6).sum())
        print(f"through Griffin-Lim (the GST study's frames), F0 searched within {search.replace('_', ' ')}: style "
              f"EER {eer:.3f} over {len(clips)} of {len(rows)} clips (the rest have no voiced frame there); mean "
              "shift from the real clip, in within-style spreads: " + ", ".join(
                  f"{name} {value:+.2f}" for name, value in zip(FEATURES, shifts.mean(axis=0)))
              + f"; clips whose F0 median moved over 6 semitones: {jumps}")
        result[search] = {"eer": eer, "judged": len(clips), "shift": dict(zip(FEATURES, shifts.mean(axis=0).tolist())),
                          "f0_jumps_over_6_semitones": jumps}
    return {**result["voice_bounds"], "any_voice": result["any_voice"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "speechocean762"))
    parser.add_argument("--corpus", choices=["voices", "styles"], default=None,
                        help="the project's many-voice corpus, or its style corpus (the style judge)")
    parser.add_argument("--screen", action="store_true", help="with --corpus voices: every candidate voice")
    parser.add_argument("--max-pair-eer", type=float, default=0.1,
                        help="--screen and --variants: the most a kept pair may have")
    parser.add_argument("--variants", type=int, default=0,
                        help="with --corpus voices: the corpus grown by this many screened espeak-ng voice variants "
                             "(in OUT/corpus-variantsN; coqui_meta_lab.voice_variants)")
    parser.add_argument("--out", type=Path, default=Path("runs/voices"))
    parser.add_argument("--speakers", type=int, default=16)
    parser.add_argument("--clips", type=int, default=3, help="clips of each speaker or voice")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--griffin-lim", action="store_true",
                        help="with --corpus styles: also score the clips turned to mels and back by Griffin-Lim")
    args = parser.parse_args()
    if args.griffin_lim and args.corpus != "styles":
        parser.error("--griffin-lim scores the style judge: use it with --corpus styles")
    if args.screen and args.corpus != "voices":
        parser.error("--screen screens the many-voice corpus's candidates: use it with --corpus voices")
    {"voices": voices_corpus, "styles": styles_corpus, None: real_speakers}[args.corpus](args)


if __name__ == "__main__":
    main()
