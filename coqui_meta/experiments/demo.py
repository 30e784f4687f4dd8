"""`coqui-meta demo`: the whole idea on any machine, from voices the machine has.

1. Builds a multi-voice corpus with the Debian voices (flite, festival, espeak-ng) saying sentences this module writes
   (one new sentence a clip, at least 200 in all), 16 kHz mono, in Coqui's ``coqui`` format.
2. Holds two voices out, trains a small stock VITS on the others as a shared start, then meta-trains a copy
   (first-order MAML) and gives the stock model as many clip-gradient evaluations (`coqui_meta.experiments.study`).
3. Adapts both to the held-out voices with the same procedure (`coqui-meta evaluate`; the stock model gets the better
   of two learning rates) and writes the `compare` table and plot, with audio before and after adaptation.

    make demo                      # sets up .venv and the voices, then runs this
    coqui-meta demo --out_path runs/demo [--quick]
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
# engine, voice; each a different synthetic speaker (flite slt and festival's slt HTS are one person: only one is used)
VOICES = [
    ("flite", "awb"), ("flite", "rms"), ("flite", "slt"), ("flite", "kal16"),
    ("festival", "voice_kal_diphone"), ("festival", "voice_ked_diphone"),
    ("espeak-ng", "en-us"), ("espeak-ng", "en-gb"), ("espeak-ng", "en-us+f3"), ("espeak-ng", "en-us+m7"),
    ("espeak-ng", "en-gb-scotland+f2"), ("espeak-ng", "en-029+m2"),
]
HELD_OUT = ("flite_rms", "festival_ked_diphone")
PACKAGES = ("flite", "festival", "festvox-kallpc16k", "festvox-kdlpc16k", "espeak-ng")
PROGRAMS = ("flite", "text2wave", "espeak-ng")

SUBJECTS = ["the old man", "a young girl", "my brother", "the teacher", "our neighbour", "the doctor", "a small dog",
            "the farmer", "her friend", "the baker", "his sister", "the captain"]
VERBS = ["found", "painted", "carried", "opened", "cleaned", "sold", "bought", "watched", "fixed", "moved"]
OBJECTS = ["a red box", "the blue door", "an old chair", "the green boat", "a heavy bag", "the wooden table",
           "a bright lamp", "the broken clock", "a warm coat", "the silver key"]
PLACES = ["this morning", "near the river", "after lunch", "in the garden", "before the rain", "at the station",
          "last week", "by the window", "on sunday", "at noon"]


def sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct sentences from the project's own word lists (12 000 possible)."""
    every = [f"{s} {v} {o} {p}." for s, v, o, p in itertools.product(SUBJECTS, VERBS, OBJECTS, PLACES)]
    return random.Random(seed).sample(every, count)


def voice_name(engine: str, voice: str) -> str:
    return f"{engine.split('-')[0]}_{voice.replace('+', '_').replace('-', '_')}".replace("voice_", "")


def missing_programs(programs: tuple[str, ...] = PROGRAMS) -> list[str]:
    return [p for p in programs if shutil.which(p) is None]


def install_voices(packages: tuple[str, ...] = PACKAGES, programs: tuple[str, ...] = PROGRAMS) -> None:
    """apt-get the Debian voices (``packages``, which give ``programs``) when they are missing (as root), else say
    how."""
    if not missing_programs(programs):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    install = [*sudo, "apt-get", "install", "-y", "-q", *packages]
    print("Installing the Debian voices:", " ".join(install))
    result = subprocess.run(install, capture_output=True, text=True)
    if result.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run([*sudo, "apt-get", "update", "-q"], capture_output=True, text=True)
        result = subprocess.run(install, capture_output=True, text=True)
    if result.returncode != 0 or missing_programs(programs):
        raise RuntimeError(
            f"the demo needs {', '.join(missing_programs(programs))}; install them with: sudo apt-get install "
            f"{' '.join(packages)}"
            f"\n{result.stderr[-500:]}"
        )


def _say(engine: str, voice: str, text: str, path: Path) -> None:
    if engine == "flite":
        command, stdin = ["flite", "-voice", voice, "-t", text, "-o", str(path)], None
    elif engine == "festival":
        command, stdin = ["text2wave", "-eval", f"({voice})", "-o", str(path)], text
    else:
        command, stdin = ["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], None
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)
    if result.returncode != 0 or not path.is_file():
        raise RuntimeError(f"{engine} voice {voice} failed on {text!r}: {result.stderr[-300:]}")


def voice_clip(engine: str, voice: str, text: str, target: Path) -> None:
    """``target``: ``voice`` of ``engine`` saying ``text``, 16 kHz mono, trimmed and normalised (the corpora's clip)."""
    import librosa
    import soundfile

    with tempfile.TemporaryDirectory() as work:
        raw = Path(work) / "raw.wav"
        _say(engine, voice, text, raw)
        wav, rate = soundfile.read(str(raw), dtype="float32", always_2d=True)
    wav = wav.mean(axis=1)
    if rate != SAMPLE_RATE:
        wav = librosa.resample(wav, orig_sr=rate, target_sr=SAMPLE_RATE)
    wav, _ = librosa.effects.trim(wav, top_db=40)
    wav = 0.9 * wav / max(float(np.abs(wav).max()), 1e-6)
    soundfile.write(str(target), wav, SAMPLE_RATE, subtype="PCM_16")


def build_corpus(folder: Path, clips_per_voice: int, seed: int = 0) -> Path:
    """``folder/metadata.csv`` + ``folder/wavs/<voice>/*.wav``: every voice says its own sentences."""
    from tqdm.auto import tqdm

    texts = sentences(len(VOICES) * clips_per_voice, seed)
    jobs = []
    for number, (engine, voice) in enumerate(VOICES):
        name = voice_name(engine, voice)
        (folder / "wavs" / name).mkdir(parents=True, exist_ok=True)
        for index in range(clips_per_voice):
            text = texts[number * clips_per_voice + index]
            jobs.append((engine, voice, text, folder / "wavs" / name / f"{name}_{index:03d}.wav", name))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        said = pool.map(lambda job: voice_clip(*job[:4]), jobs)
        list(tqdm(said, total=len(jobs), desc="corpus (Debian voices)", unit="clip"))
    lines = ["audio_file|text|speaker_name"] + [f"{p.relative_to(folder)}|{t}|{n}" for _, _, t, p, n in jobs]
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")
    return folder


ASSET = Path(__file__).resolve().parent / "assets" / "demo_base.safetensors"


def demo_config(corpus: Path, voices: list[str]):
    """The demo's stock model: the small VITS preset over the training voices, clips up to 4 s."""
    from coqui_meta.experiments.presets import small_vits_config, speechocean_dataset

    config = small_vits_config(speechocean_dataset(str(corpus)), max_audio_seconds=4.1, speakers=voices)
    config.run_eval, config.print_step = False, 10**9
    return config


def export_base(files: tuple[str, str], path: Path = ASSET, note: str = "", progress: dict | None = None) -> Path:
    """The base's weights (generator and discriminator) in half precision as ``path`` (safetensors), with its
    speakers and (to go on training it elsewhere) its ``progress`` record (steps, minutes, checks)."""
    import json

    import torch
    from safetensors.torch import save_file

    from coqui_meta.files import write_atomic
    from coqui_meta.voices.checkpoints import load_config_file

    state = torch.load(files[0], map_location="cpu", weights_only=True)["model"]
    config = load_config_file(files[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"speakers": json.dumps(list(config.speakers)), "note": note}
    if progress is not None:
        metadata["progress"] = json.dumps(progress)
    tensors = {k: v.half().contiguous() if v.is_floating_point() else v.contiguous() for k, v in state.items()}
    write_atomic(path, lambda temporary: save_file(tensors, str(temporary), metadata=metadata))
    return path


def read_asset(path: Path = ASSET) -> tuple[dict, dict]:
    """A shipped base's fp32 weights and its metadata (``speakers`` and ``progress`` decoded)."""
    import json

    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        metadata = dict(handle.metadata())
        state = {key: handle.get_tensor(key).float() for key in handle.keys()}
    metadata["speakers"] = json.loads(metadata["speakers"])
    metadata["progress"] = json.loads(metadata.get("progress", "null"))
    return state, metadata


def shipped_base(config, folder: Path, path: Path = ASSET):
    """The shipped base as a `coqui_meta.experiments.study.Base` in ``folder`` (fp32 weights, the demo's config)."""
    from TTS.tts.models import setup_model

    from coqui_meta.experiments.base_training import Base, save_checkpoint

    if not path.is_file():
        raise RuntimeError(f"the demo's base {path} is missing; train one with coqui-meta demo --train_base MINUTES")
    state, metadata = read_asset(path)
    speakers, note = metadata["speakers"], metadata.get("note", "")
    if speakers != list(config.speakers):
        raise RuntimeError(f"{path} was trained on the voices {speakers}, the corpus has {list(config.speakers)}; "
                           "train a base for it with coqui-meta demo --train_base MINUTES")
    model = setup_model(config)
    model.load_state_dict(state)
    files = save_checkpoint(model, config, folder, step=0)
    print(f"Base: the shipped {path.name} ({note})")
    return Base(folder, files, steps=0, minutes=0.0)


def run(
    out_path: str = "runs/demo", quick: bool = False, seed: int = 0, train_base_minutes: float | None = None
) -> Path:
    """The demo, as a story told on the console: corpus, base, the two branches, adaptation, the result."""
    from coqui_meta.experiments.base_training import seen_speaker_check, train_base
    from coqui_meta.voices.data import load_clips

    started = time.perf_counter()
    out = Path(out_path)
    install_voices()
    corpus = out / "corpus"
    print(f"1/5 Corpus: {len(VOICES)} Debian voices saying sentences this project writes, in {corpus}")
    if not (corpus / "metadata.csv").is_file():
        build_corpus(corpus, clips_per_voice=18, seed=seed)
    samples = [s for s in load_clips(corpus) if s["seconds"] <= 4.0]
    train = [s for s in samples if s["speaker_name"] not in HELD_OUT]
    print(f"    {len(samples)} clips; {', '.join(HELD_OUT)} are held out: neither model ever hears them")
    config = demo_config(corpus, sorted({s["speaker_name"] for s in train}))
    print("2/5 Base: a small multi-speaker VITS trained by plain Coqui steps on the other voices")
    if train_base_minutes:
        base = train_base(config, train, out, train_base_minutes, seed=seed, check=seen_speaker_check(train, 10, seed))
        if not quick:
            return base.folder
    else:
        base = shipped_base(config, out / "base")
    return _compare_branches(base, train, corpus, out, quick, seed, started)


def _compare_branches(base, train: list[dict], corpus: Path, out: Path, quick: bool, seed: int, started: float):
    import torch

    from coqui_meta import MetaLearningConfig
    from coqui_meta.experiments.study import clip_gradients_per_meta_step, evaluate_sides, train_branches
    from coqui_meta.voices.compare import run as compare

    shots, queries, inner_steps = (4, 2, 1) if quick else (5, 3, 2)
    steps = [0, 1, 2, 5] if quick else [0, 1, 2, 5, 10, 20]
    meta = MetaLearningConfig(algorithm="fomaml", inner_steps=inner_steps, inner_lr=0.003,
                              inner_lr_mode="per_tensor_step", inner_lr_lr=0.03, multi_step_loss=True, n_way=4,
                              k_shot=shots, q_query=queries, meta_batch_size=2 if quick else 4, episodes_per_epoch=50,
                              seed=seed)
    meta_steps = 3 if quick else 20
    print(f"3/5 Branches from the base, side by side: first-order MAML with learned inner rates for {meta_steps} "
          f"meta-steps, and plain Coqui training for as many clip-gradients "
          f"({meta_steps * clip_gradients_per_meta_step(meta)})")
    jobs = min(2, os.cpu_count() or 1)
    branches = train_branches(base, train, meta, out, meta_steps=meta_steps, jobs=jobs)
    print(f"    meta: {branches.meta_steps} meta-steps in {branches.seconds['meta'] / 60:.1f} min; plain: "
          f"{branches.plain_steps} steps in {branches.seconds['plain'] / 60:.1f} min")
    grid = [0.001, 0.003, 0.01]
    print(f"4/5 Adapting both to the held-out voices from {shots} clips each, the same way, at each rate of {grid}:")
    plain, meta_side = evaluate_sides([("plain", branches.plain_files, None),
                                       ("meta", branches.meta_files, meta.inner_lr)], grid, str(corpus),
                                      list(HELD_OUT), shots, queries, steps, seed, out, jobs=jobs)
    result = compare([str(out / "eval_plain" / "report.json"), str(out / "eval_meta" / "report.json")],
                     str(out / "compare"))
    print(f"5/5 Result on {', '.join(HELD_OUT)} (each side at its best rate by its final query loss):\n")
    print(f"| step | plain query loss (lr {plain.lr:g}) | meta query loss ({meta_side.lr:g}) | plain similarity | "
          "meta similarity |\n|---|---|---|---|---|")
    for step in steps:
        cells = [side.report[metric][step] for metric in ("query_loss", "speaker_similarity")
                 for side in (plain, meta_side)]
        print(f"| {step} | " + " | ".join("n/a" if v is None else f"{v:.3f}" for v in cells) + " |")
    row = result["rows"][1]["query_loss"]
    reached = "not reached" if row["steps_to_target"] is None else f"step {row['steps_to_target']}"
    print(f"\nPlain fine-tuning's final query loss ({row['target']:.3f}, step {steps[-1]}): meta reaches it at "
          f"{reached}. Lower is better for the loss, higher for the similarity (Resemblyzer cosine).")
    print("Read with care: the query loss is the generator's reconstruction terms, and the meta branch trains on\n"
          "those alone (meta.adversarial_outer off) while plain Coqui training adds its GAN terms. Much of the\n"
          "meta lead comes from that; BENCHMARKS.md compares against plain training on the same objective.")
    print(f"Demo done in {(time.perf_counter() - started) / 60:.1f} min on {torch.get_num_threads()} thread(s).")
    print(f"  open this:  {out / 'compare' / 'compare.html'} (curves, table, every rendition to listen to)")
    print(f"  comparison: {out / 'compare' / 'compare.md'} and compare.png")
    print(f"  curves:     {out / 'eval_meta' / 'curves.png'}, {out / 'eval_plain' / 'curves.png'}")
    print(f"  audio:      {out / 'eval_meta' / 'samples'} (step {steps[0]} = before, step {steps[-1]} = after)")
    return out / "compare"
