"""What a new voice costs from Coqui's released models at their released sizes, on this machine.

For each released kind (VCTK VITS, YourTTS, LJSpeech VITS, Tacotron2-DDC), laid out in a Coqui cache (``TTS_HOME``)
as a download leaves it, with random weights at the released size (`tests/released_layout.py`), ``coqui-meta adapt
--model_name NAME`` runs in a fresh process on ``--shots`` clips of one speaker of ``--data`` for ``--steps`` steps.
Each run gives the seconds an adaptation step takes (``adapt.json``'s ``step_seconds``), the process's peak resident
set (``os.wait4``'s ``ru_maxrss`` of that child alone) and the command's wall time, and from them how many steps fit
in the goal's 5 minutes. Besides the default procedure, cheaper ones: the voice's own input alone (the speaker row
``emb_g``, or YourTTS's ``d_vector``), and the duration predictor and flow alone (no gradient goes back through the
waveform decoder); these run ``--fast-steps`` steps, enough for a step's time.

Random weights make similarity meaningless (a random model says noise whatever it adapts), so this measures cost only;
what the cheaper procedures cost in similarity needs trained weights (`benchmarks/voice_recovery.py` measures the
modules' recovery of a voice on the project's own trained base).

    nice python benchmarks/released_models.py --data ../shared/data/speechocean762 --threads 1 --out runs/released
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 300


def runs(steps: int, fast_steps: int) -> list[tuple[str, str, list[str], int]]:
    """(kind, released name, extra adapt flags, steps) of every run, the default procedure first for each kind."""
    from released_layout import LJSPEECH_VITS, TACOTRON2_DDC, VCTK, VOCODER, YOUR_TTS

    return [
        ("VCTK VITS", VCTK, [], steps),
        ("VCTK VITS", VCTK, ["--adapt_modules", "emb_g"], fast_steps),
        ("VCTK VITS", VCTK, ["--adapt_modules", "duration_predictor,flow"], fast_steps),
        ("YourTTS", YOUR_TTS, ["--language", "en"], steps),
        ("YourTTS", YOUR_TTS, ["--language", "en", "--adapt_modules", "d_vector"], fast_steps),
        ("LJSpeech VITS", LJSPEECH_VITS, [], steps),
        ("LJSpeech VITS", LJSPEECH_VITS, ["--adapt_modules", "duration_predictor,flow"], fast_steps),
        ("Tacotron2-DDC", TACOTRON2_DDC, ["--vocoder_name", VOCODER], steps),
    ]


def speaker_with(data: Path, shots: int) -> str:
    """The first speaker of ``data``'s metadata.csv (by name) with ``shots`` clips of at most 6 s."""
    import soundfile

    lines = (data / "metadata.csv").read_text().splitlines()[1:]
    counts: dict[str, int] = {}
    for line in lines:
        path, _, speaker = line.split("|")[:3]
        if soundfile.info(str(data / path)).duration <= 6.0:
            counts[speaker] = counts.get(speaker, 0) + 1
    return sorted(name for name, count in counts.items() if count >= shots)[0]


def adapt_once(home: Path, name: str, flags: list[str], data: Path, speaker: str, shots: int, steps: int,
               out: Path, threads: int) -> dict:
    """One ``coqui-meta adapt`` in a fresh process: its wall time, peak RSS and ``adapt.json``."""
    command = [sys.executable, "-m", "coqui_meta.cli", "adapt", "--model_name", name, "--data", str(data),
               "--speaker", speaker, "--shots", str(shots), "--steps", str(steps), "--out_path", str(out),
               "--device", "cpu", *flags]
    env = {**os.environ, "TTS_HOME": str(home), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-3000:]}")
    info = json.loads((out / "adapt.json").read_text())
    return {"wall_seconds": round(wall, 1), "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2),
            "step_seconds": info["step_seconds"], "adapted_tensors": len(info["adapt_modules"]),
            "vocoder": info.get("vocoder"), "steps": steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/speechocean762"),
                        help="a coqui-format corpus; its first speaker with --shots clips of at most 6 s is adapted to")
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20, help="steps of the default procedure's runs")
    parser.add_argument("--fast-steps", type=int, default=5, help="steps of the cheaper procedures' runs")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each run (1 when the CPU is shared)")
    parser.add_argument("--kinds", default="", help="comma-separated kinds to run (default: all), e.g. 'VCTK VITS'")
    parser.add_argument("--home", type=Path, default=None, help="the Coqui cache to lay the releases out in "
                        "(default: a temporary one; an existing layout is reused)")
    parser.add_argument("--out", type=Path, default=None, help="folder for released_models.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from released_layout import lay_out

    home = args.home or Path(tempfile.mkdtemp(prefix="released-home-"))
    speaker = speaker_with(args.data, args.shots)
    wanted = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for index, (kind, name, flags, steps) in enumerate(runs(args.steps, args.fast_steps)):
            if wanted and kind not in wanted:
                continue
            lay_out(home, name)
            result = adapt_once(home, name, flags, args.data, speaker, args.shots, steps, Path(work) / f"v{index}",
                                args.threads)
            modules = flags[flags.index("--adapt_modules") + 1] if "--adapt_modules" in flags else None
            procedure = f"--adapt_modules {modules}" if modules else "default"
            rows.append({"kind": kind, "model_name": name, "procedure": procedure, **result})
            print(_row(rows[-1]), flush=True)
    print(_table(rows, args))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "released_models.json").write_text(json.dumps({"rows": rows, "threads": args.threads,
                                                                    "shots": args.shots, "speaker": speaker,
                                                                    "date": time.strftime("%Y-%m-%d %H:%M")}, indent=2))
    return 0


def _fits(row: dict) -> int:
    """Steps of this procedure that fit in the goal's 5 minutes, the command's fixed cost (loading, clips, sample)
    included."""
    fixed = row["wall_seconds"] - row["steps"] * row["step_seconds"]
    return max(0, int((GOAL_SECONDS - fixed) // row["step_seconds"]))


def _row(row: dict) -> str:
    twenty = row["wall_seconds"] + (20 - row["steps"]) * row["step_seconds"]
    measured = "" if row["steps"] == 20 else f" (est. from {row['steps']} steps)"
    return (f"| {row['kind']} | {row['procedure']} | {row['adapted_tensors']} | {row['step_seconds']:.1f} | "
            f"{row['peak_rss_gb']:.2f} | {twenty / 60:.1f}{measured} | {_fits(row)} |")


def _table(rows: list[dict], args) -> str:
    head = ("| kind | procedure | adapted tensors | s/step | peak RSS (GB) | adapt, 10 clips 20 steps (min) | "
            "steps in 5 min |\n|---|---|---|---|---|---|---|")
    return (f"\n{head}\n" + "\n".join(_row(row) for row in rows) +
            f"\n\n{args.shots} clips, {args.threads} torch thread(s), CPU, random weights at the released sizes")


if __name__ == "__main__":
    raise SystemExit(main())
