"""Can adaptation recover a voice the base knows? For training voices of the many-voice base, take away their rows
(every procedure starts a voice from the mean row, as for a new voice), adapt from ``--shots`` of their clips and
judge the renditions at each step against the ceiling: the same voice rendered from its own trained row, on the same
query clips. This says whether the procedure or the base holds voices back, and which procedure gets closest, fastest.

Each procedure is `coqui-meta evaluate`'s procedure (`coqui_meta.judging.evaluation.evaluate`) with one optimizer,
rate and set of adapted modules:

    python benchmarks/voice_recovery.py --corpus voices --out runs/voices/recovery \\
        --optimizers adam:0.01,adam:0.003,adam:0.001,sgd:0.01 --modules cond,speaker,flow,emb_g --voices 4

``--modules``: ``emb_g`` (the speaker row alone), ``cond`` (the row and the speaker conditioning layers of the
duration predictor, the flow and the waveform decoder), ``flow`` (the row, the flow, the decoder's conditioning: VITS's
default before this diagnosis), ``speaker`` (everything speaker-conditioned: the row, the duration predictor, the flow
and the whole waveform decoder; VITS's default since). Writes ``OUT/recovery.json`` and prints the table for
BENCHMARKS.md, with the step at which each procedure reaches 90 % and 100 % of the ceiling's similarity.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from coqui_meta_lab.base_asset import add_base_asset_argument
from coqui_meta_lab.quiet import quiet

MODULES = {
    "emb_g": ["emb_g"],
    "cond": ["emb_g", "duration_predictor.cond", "flow.flows.*.enc.cond_layer*", "waveform_decoder.cond_layer"],
    "flow": ["emb_g", "flow", "waveform_decoder.cond_layer"],  # VITS's default until this diagnosis
    "speaker": ["emb_g", "duration_predictor", "flow", "waveform_decoder"],  # the default it chose
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=["voices"], default="voices")
    parser.add_argument("--model_path", default=None, help="a stock VITS checkpoint (default: the shipped base)")
    add_base_asset_argument(parser)
    parser.add_argument("--config_path", default=None)
    parser.add_argument("--data", default=None, help="with --model_path: the corpus it trained on (default: the "
                        "many-voice corpus); the voices are drawn from its speakers in the config's speaker table")
    parser.add_argument("--out", type=Path, default=Path("runs/voices/recovery"))
    parser.add_argument("--voices", type=int, default=4, help="training voices recovered (drawn by --seed)")
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--steps", default="0,1,2,5,10,20,50,100,200")
    parser.add_argument("--optimizers", default="adam:0.01,adam:0.003,adam:0.001,sgd:0.01",
                        help="optimizer:rate pairs tried with every module set")
    parser.add_argument("--modules", default="cond,speaker,flow,emb_g", help=f"of {', '.join(MODULES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def base_files(args) -> tuple[str, str, Path]:
    """The checkpoint to diagnose (the shipped base, or ``--base-asset``, unless ``--model_path``) and the corpus."""
    from coqui_meta_lab.base_asset import VOICES_BASE, shipped_base
    from coqui_meta_lab.voice_corpus import build_voice_corpus, voices_config

    if args.model_path:
        return args.model_path, args.config_path, Path(args.data or build_voice_corpus(args.out.parent / "corpus"))
    corpus = build_voice_corpus(args.out.parent / "corpus")
    base = shipped_base(voices_config(corpus), args.out / "base", path=args.base_asset or VOICES_BASE)
    return base.files[0], base.files[1], corpus


def steps_to(curve: dict, target: float) -> int | None:
    return next((step for step in sorted(curve) if curve[step] is not None and curve[step] >= target), None)


def main() -> None:
    args = arguments()
    quiet(args.threads)

    from coqui_meta.adapting.settings import AdaptationSettings
    from coqui_meta.formats.checkpoints import load_model
    from coqui_meta.judging.evaluation import evaluate
    from coqui_meta.judging.identity import own_row_ceiling
    from coqui_meta_lab.voice_corpus import training_voices

    args.out.mkdir(parents=True, exist_ok=True)
    model_path, config_path, corpus = base_files(args)
    from coqui_meta.formats.checkpoints import load_config_file
    from coqui_meta.formats.clips import load_clips

    known = set(load_config_file(config_path).speakers) & {s["speaker_name"] for s in load_clips(corpus)}
    pool = sorted(known & set(training_voices())) if not args.data else sorted(known)
    names = sorted(random.Random(args.seed).sample(pool, args.voices))
    steps = [int(step) for step in args.steps.split(",")]
    path = args.out / "recovery.json"
    result = json.loads(path.read_text()) if path.is_file() else {"voices": names, "procedures": {}}
    if "ceiling" not in result:
        result["ceiling"] = own_row_ceiling(load_model(model_path, config_path), str(corpus), names, args.shots,
                                            args.queries, args.seed)
        path.write_text(json.dumps(result, indent=1))
    for modules in args.modules.split(","):
        for pair in args.optimizers.split(","):
            optimizer, rate = pair.split(":")
            key = f"{modules} {optimizer} {rate}"
            if key in result["procedures"]:
                continue  # measured by an earlier run: kept, so a crash loses only the run under way
            settings = AdaptationSettings(device="cpu", optimizer=optimizer, lr=float(rate),
                                          adapt_modules=list(MODULES[modules]), seed=args.seed)
            try:
                report = evaluate(model_path, config_path, str(corpus), names, args.shots, args.queries, steps,
                                  str(args.out / key.replace(" ", "_")), settings, progress=True)
                result["procedures"][key] = {m: report.curve(m) for m in ("query_loss", "speaker_similarity", "eer")}
            except FloatingPointError as error:  # the adaptation diverged at this rate: a result too
                result["procedures"][key] = {"diverged": str(error)}
            path.write_text(json.dumps(result, indent=1))
    print_table(result, steps)


def print_table(result: dict, steps: list[int]) -> None:
    ceiling = result["ceiling"]
    print(f"Ceiling (own rows): similarity {ceiling['speaker_similarity']:.3f}, EER {ceiling['eer']:.3f}; "
          f"voices {', '.join(result['voices'])}\n")
    print("| procedure | " + " | ".join(f"sim. {s}" for s in steps) + " | EER 20 | EER at last | steps to 90 % / "
          "100 % of the ceiling |")
    print("|---" * (len(steps) + 4) + "|")
    full = ceiling["speaker_similarity"]
    for key, curves in result["procedures"].items():
        if "diverged" in curves:
            print(f"| {key} | diverged: {curves['diverged'][:60]} |")
            continue
        similarity = {int(k): v for k, v in curves["speaker_similarity"].items()}
        eer = {int(k): v for k, v in curves["eer"].items()}
        cells = " | ".join(f"{similarity[s]:.3f}" for s in steps)
        reached = [steps_to(similarity, share * full) for share in (0.9, 1.0)]
        print(f"| {key} | {cells} | {eer.get(20, float('nan')):.3f} | {eer[steps[-1]]:.3f} | "
              + " / ".join("not reached" if step is None else str(step) for step in reached) + " |")


if __name__ == "__main__":
    main()
