"""The GST Tacotron2 style base: Coqui's Tacotron2 with global style tokens
(`coqui_meta_lab.presets.gst_tacotron2_config`) over the style corpus's voices, trained from scratch by plain
Coqui steps on the training styles, its renditions' pitch and length checked as it goes. ``scripts/gst_base.py``
trains it (resumably, over several sessions) and writes it to ``assets/gst_style_base.safetensors``;
``benchmarks/style_adaptation.py --model tacotron2`` goes on from that asset.

Example::

    corpus = build_style_corpus("runs/styles/corpus")
    train = style_training_clips(corpus)
    base = train_gst_base(corpus, train, "runs/styles", minutes=120, asset=GST_BASE)  # goes on from the asset
"""

from __future__ import annotations

from pathlib import Path

import torch

GST_BASE = Path(__file__).resolve().parent / "assets" / "gst_style_base.safetensors"


def style_training_clips(corpus: Path) -> list[dict]:
    """The corpus's clips of its training styles, up to `MAX_SECONDS` (every base and study of styles uses these)."""
    from coqui_meta.formats.clips import load_clips
    from coqui_meta_lab.style_corpus import MAX_SECONDS, held_out_styles

    held = set(held_out_styles())
    return [s for s in load_clips(corpus, task_key="emotion_name")
            if s["seconds"] <= MAX_SECONDS and s["emotion_name"] not in held]


def gst_base_config(corpus: Path):
    """The base's stock config: the GST preset over the corpus's voices, clips up to `MAX_SECONDS`, no evaluation."""
    from coqui_meta_lab.presets import gst_tacotron2_config, speechocean_dataset
    from coqui_meta_lab.style_corpus import MAX_SECONDS, voice_names

    config = gst_tacotron2_config(speechocean_dataset(str(corpus)), max_audio_seconds=MAX_SECONDS + 0.1,
                                  speakers=voice_names())
    config.run_eval, config.print_step = False, 10**9
    return config


def gst_check(samples: list[dict], voices: int = 6):
    """A ``check`` for the base: one neutral clip of each of ``voices`` voices rendered from the tokens' mean (where a
    style task starts) against the real clip: the median pitch error (semitones), the share on pitch, and the median
    rendition-to-real length ratio (a Tacotron2 that has not learned to align runs to its step limit or stops early).
    The real clips' pitch is measured once, at the first check."""
    import numpy as np

    from coqui_meta.adapting.from_clips import support_batch
    from coqui_meta.algorithms.task import render
    from coqui_meta.formats.checkpoints import load_model
    from coqui_meta.judging.pitch import ON_PITCH_SEMITONES, pitch, pitch_error

    names = sorted({s["speaker_name"] for s in samples})[:voices]
    clips = [min((s for s in samples if s["speaker_name"] == name and s["emotion_name"] == "neutral"),
                 key=lambda s: s["audio_file"]) for name in names]
    real: dict[str, tuple[int, dict]] = {}  # audio file -> its length and pitch at the model's rate

    def check(files: tuple[str, str]) -> dict[str, float]:
        model = load_model(*files).model
        tokens = model.config.gst.gst_num_style_tokens
        errors, ratios = [], []
        for clip in clips:
            wav, rate = render(model, support_batch(model, [clip]), 0, seed=0,
                               style_weights=torch.full((tokens,), 1.0 / tokens))
            if clip["audio_file"] not in real:
                audio = model.ap.load_wav(clip["audio_file"])
                real[clip["audio_file"]] = (len(audio), pitch(audio, rate))
            length, real_pitch = real[clip["audio_file"]]
            errors.append(pitch_error(pitch(wav, rate), real_pitch))
            ratios.append(len(wav) / length)
        return {"pitch_error_semitones": float(np.median(errors)),
                "on_pitch": float(np.mean([e <= ON_PITCH_SEMITONES for e in errors])),
                "length_ratio": float(np.median(ratios))}

    return check


def train_gst_base(corpus: Path, train: list[dict], out: str | Path, minutes: float, seed: int = 0,
                   check_minutes: float = 10.0, asset: Path | None = GST_BASE, progress: bool = True):
    """The GST base of ``corpus`` under ``out/base/`` trained until it has ``minutes`` of training in all: gone on
    from its own Trainer checkpoint there, else from ``asset`` when that file exists (its weights and its record of
    steps, minutes and checks; fresh optimizers), else from scratch. An ``asset`` that is not a GST base of the
    corpus's voices with a record: `coqui_meta_lab.base_asset.NotABase`, before anything is written."""
    from coqui_meta_lab.base_asset import asset_start
    from coqui_meta_lab.base_training import train_base

    config = gst_base_config(corpus)
    start = None
    if asset is not None and asset.is_file():
        start = asset_start(asset, config.speakers, "a GST base of the style corpus's voices")
    return train_base(config, train, out, minutes, seed=seed, check_minutes=check_minutes, check=gst_check(train),
                      progress=progress, warm_start=start)
