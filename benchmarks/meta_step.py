"""Cost of a meta-step, measured side by side in one run, through Coqui's own Trainer.train_step.

Prints:
  - one first-order meta-step (one task: ``--inner-steps`` steps on B support clips, one on B query clips) divided by
    ``inner_steps + 1`` plain Coqui train steps of a stock model on B clips: 1.0 means no overhead;
  - our torch backend divided by learn2learn's, for first- and second-order meta-steps;
  - the memory a plain step, a first-order and a second-order meta-step add at their peak over what the process already
    held (host RSS sampled every 2 ms; CUDA's own peak counter on a GPU), each in a fresh process; on a CPU also the
    peak of live tensor bytes within one step (``tensor``, from the profiler's allocation records, op by op): what
    the step's activations, saved tensors and gradients need, free of the allocator's caching that blurs host RSS,
    and the same bytes a GPU would allocate for them (``--memory-only`` skips the timings).

    python benchmarks/meta_step.py --model vits --data ../shared/data/speechocean762 --device cpu
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from coqui_meta_lab.quiet import quiet

ROOT = Path(__file__).resolve().parents[1]
MODES = ("plain", "fomaml", "maml", "maml+ckpt")  # +ckpt: meta.gradient_checkpointing (second order only)


def build(args, mode: str, backend: str = "torch"):
    """A Trainer around a stock (mode 'plain') or meta model, and one raw batch of its loader."""
    from trainer import Trainer, TrainerArgs
    from TTS.tts.datasets import load_tts_samples
    from TTS.tts.models.tacotron2 import Tacotron2
    from TTS.tts.models.vits import Vits

    from coqui_meta import MetaLearningConfig, MetaTacotron2, MetaTacotron2Config, MetaVits, MetaVitsConfig
    from coqui_meta_lab.presets import small_tacotron2_config, small_vits_config, speechocean_dataset

    make = small_vits_config if args.model == "vits" else small_tacotron2_config
    stock_config = make(
        speechocean_dataset(args.data), output_path=str(args.out / mode), max_audio_seconds=args.max_seconds + 0.1
    )
    if args.size == "recipe":
        recipe_size(stock_config, args)
    import soundfile

    samples, _ = load_tts_samples(stock_config, eval_split=False)
    by_speaker: dict[str, list] = {}
    for sample in samples:
        if soundfile.info(sample["audio_file"]).duration <= args.max_seconds:
            by_speaker.setdefault(sample["speaker_name"], []).append(sample)
    needed = 2 * args.batch + 4
    enough = sorted(name for name, clips in by_speaker.items() if len(clips) >= needed)
    if not enough:
        raise SystemExit(f"no speaker in {args.data} has {needed} clips of at most {args.max_seconds} s: "
                         "raise --max-seconds or lower --batch")
    speaker = enough[0]
    clips = by_speaker[speaker][:needed]
    stock_config.speakers = sorted(by_speaker)
    stock_config.batch_size = args.batch
    stock_config.run_eval = False
    stock_config.mixed_precision = False
    if mode == "plain":
        model = (Vits if args.model == "vits" else Tacotron2)(stock_config)
        config = stock_config
        stock_config.batch_group_size = 0
    else:
        meta = MetaLearningConfig(
            algorithm=mode.split("+")[0], inner_steps=args.inner_steps, inner_lr=1e-4, n_way=1, k_shot=args.batch,
            q_query=args.batch, meta_batch_size=1, backend=backend, episodes_per_epoch=1,
            gradient_checkpointing=mode.endswith("+ckpt"),
        )
        if args.model == "vits":
            config = MetaVitsConfig.from_config(stock_config, meta=meta)
            model = MetaVits(config)
        else:
            config = MetaTacotron2Config.from_config(stock_config, meta=meta)
            model = MetaTacotron2(config)
    trainer_args = TrainerArgs()
    trainer_args.use_accelerate = False
    trainer = Trainer(
        trainer_args, config, str(args.out / mode), model=model, train_samples=clips, parse_command_line_args=False,
        gpu=0 if args.device == "cuda" else None,
    )
    loader = trainer.get_train_dataloader(clips, verbose=False)
    batch = next(iter(loader))
    model.train()
    return trainer, batch


def recipe_size(config, args) -> None:
    """The model and audio at the size of Coqui's VCTK recipes (``recipes/vctk/vits/train_vits.py``: VitsArgs and
    the audio as they are, which coqui-tts 0.28 has as VitsConfig's defaults; ``recipes/vctk/tacotron2``: 22050 Hz,
    80 mels, its hop and FFT sizes)."""
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig

    if args.model == "vits":
        config.model_args = VitsArgs(use_speaker_embedding=True)
        config.audio = VitsConfig().audio
    else:
        audio = config.audio
        audio.sample_rate, audio.num_mels, audio.hop_length = 22050, 80, 256
        audio.fft_size = audio.win_length = 1024
        config.out_channels = config.decoder_output_dim = 80
    config.max_audio_len = int((args.max_seconds + 0.1) * config.audio.sample_rate)


def timed_step(trainer, batch, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    trainer.train_step(batch, 1, 0, time.time())
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure_memory(args, mode: str) -> dict:
    """Run in a fresh process: memory that two steps of ``mode`` add at their peak, over what the process held."""
    import threading

    import psutil

    trainer, batch = build(args, mode)
    timed_step(trainer, batch, args.device)  # optimizer state and caches exist after the first step
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak, done = [baseline], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        cuda_baseline = torch.cuda.memory_allocated()
    watcher.start()
    for _ in range(2):
        timed_step(trainer, batch, args.device)
    done.set()
    watcher.join()
    result = {"host_mib": (peak[0] - baseline) / 2**20}
    if args.device == "cuda":
        result["cuda_mib"] = (torch.cuda.max_memory_allocated() - cuda_baseline) / 2**20
    elif args.tensor_peak:
        result["tensor_mib"] = tensor_peak(lambda: timed_step(trainer, batch, args.device)) / 2**20
    return result


def tensor_peak(step) -> float:
    """Peak bytes of CPU tensors alive during ``step()`` beyond those alive before it: the profiler records each op's
    own allocations and frees, summed in the order the ops end."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        step()
    changes = sorted(
        (event.time_range.start if event.name == "[memory]" else event.time_range.end, event.self_cpu_memory_usage)
        for event in profiler.events()
    )
    live = peak = 0
    for _, change in changes:
        live += change
        peak = max(peak, live)
    return float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["vits", "tacotron2"], default="vits")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "speechocean762"))
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=4, help="clips in a plain step, and in the support and query sets")
    parser.add_argument("--inner-steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=3.0, help="longest clip used")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", choices=["small", "recipe"], default="small",
                        help="small: the project's CPU presets; recipe: the model and audio of Coqui's VCTK recipes")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_meta_step"))
    parser.add_argument("--second-order", action=argparse.BooleanOptionalAction, default=True,
                        help="include second-order MAML (--no-second-order: Tacotron2 on a CPU runs out of 24 GB)")
    parser.add_argument("--checkpointing", action="store_true",
                        help="also time and measure second-order meta-steps with meta.gradient_checkpointing")
    parser.add_argument("--memory-only", action="store_true", help="measure memory only, no timings")
    parser.add_argument("--tensor-peak", action=argparse.BooleanOptionalAction, default=True,
                        help="on a CPU, also profile one step for its tensor peak (the profiler's records of a "
                             "second-order Tacotron2 step need more memory than the step)")
    parser.add_argument("--memory-of", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    quiet(args.threads)
    import coqui_meta  # noqa: F401

    if args.memory_of:
        print(json.dumps(measure_memory(args, args.memory_of)))
        return

    meta_modes = ("fomaml", "maml") if args.second_order else ("fomaml",)
    checkpointed = ("maml+ckpt",) if args.checkpointing and args.second_order else ()
    modes = ("plain", *meta_modes, *checkpointed)
    memory = {}
    for mode in modes:
        command = [sys.executable, __file__, *sys.argv[1:], "--memory-of", mode]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        memory[mode] = json.loads(result.stdout.strip().splitlines()[-1])
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {args.threads} thread(s)"
    timing = "memory only" if args.memory_only else f"median of {args.repeats}"
    print(f"\nmeta_step.py: {args.model}, batch {args.batch}, inner_steps {args.inner_steps}, {device}, {timing}")
    print("| measure | value |\n|---|---|")
    for mode in modes:
        values = ", ".join(f"{key} {value:.0f}" for key, value in memory[mode].items())
        print(f"| peak memory added by a step, {mode} (MiB) | {values} |")
    if args.memory_only:
        return

    runs = {"plain": build(args, "plain")}
    for mode in meta_modes:
        for backend in ("torch", "learn2learn"):
            runs[f"{mode}/{backend}"] = build(args, mode, backend)
    for mode in checkpointed:
        runs[f"{mode}/torch"] = build(args, mode)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for name, (trainer, batch) in runs.items():  # warm-up
        timed_step(trainer, batch, args.device)
    for _ in range(args.repeats):  # interleaved, so drift hits every variant alike
        for name, (trainer, batch) in runs.items():
            times[name].append(timed_step(trainer, batch, args.device))
    median = {name: statistics.median(values) for name, values in times.items()}
    for name, value in median.items():
        print(f"| {name} step (s) | {value:.3f} |")
    plain = median["plain"] * (args.inner_steps + 1)
    print(f"| first-order meta-step / ({args.inner_steps}+1) plain steps | {median['fomaml/torch'] / plain:.2f} |")
    if args.second_order:
        print(f"| second-order meta-step / ({args.inner_steps}+1) plain steps | {median['maml/torch'] / plain:.2f} |")
    for mode in meta_modes:
        ratio = median[f"{mode}/torch"] / median[f"{mode}/learn2learn"]
        print(f"| {mode}: torch backend / learn2learn | {ratio:.2f} |")
    for mode in checkpointed:
        plain_mode = mode.split("+")[0]
        print(f"| {plain_mode}: time with gradient checkpointing / without | "
              f"{median[f'{mode}/torch'] / median[f'{plain_mode}/torch']:.2f} |")


if __name__ == "__main__":
    main()
