"""What the speechocean762 recipes share: their command line, the held-out split, and the Coqui Trainer run. Each
recipe (``recipes/speechocean762/<model>_<algorithm>/train.py``) writes its own stock config and meta block.

Example::

    args = recipe_arguments(__doc__, __file__)
    config = MetaVitsConfig.from_config(small_vits_config(speechocean_dataset(args.data)), meta=MetaLearningConfig())
    train_recipe(config)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def recipe_arguments(description: str, script: str) -> argparse.Namespace:
    """``--data`` (default: the shared speechocean762 beside the project), ``--output_path`` (default: ``runs``
    beside the recipe ``script``), ``--epochs``, ``--threads`` and ``--episodes`` (outer steps per epoch)."""
    import torch

    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "speechocean762"))
    parser.add_argument("--output_path", default=str(Path(script).resolve().parent / "runs"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=50, help="outer steps per epoch")
    args = parser.parse_args()
    args.data = os.path.abspath(args.data)
    torch.set_num_threads(args.threads)
    return args


def train_recipe(config, held_out: int = 4, seed: int = 0) -> None:
    """Train the model of ``config`` on its datasets with Coqui's Trainer (`coqui_meta.training.meta_trainer`),
    meta-validating on ``held_out`` speakers.
    The training speakers are recorded in ``config.speakers`` (the speaker table, or, for a prototype model, the
    speakers its encoder saw, which ``coqui-meta evaluate`` then leaves out)."""
    from TTS.tts.datasets import load_tts_samples

    from coqui_meta.training import meta_trainer

    samples, _ = load_tts_samples(config, eval_split=False)
    train_samples, eval_samples = recipe_split(config, samples, count=held_out, seed=seed)
    config.speakers = sorted({s["speaker_name"] for s in train_samples})
    meta_trainer(config, train_samples, eval_samples).fit()


def recipe_split(config, samples: list[dict], count: int = 4, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Training and meta-validation samples for a recipe: clips within the config's length limits, and ``count``
    whole speakers held out (`coqui_meta.episodes.split_by_task`) among those with ``k_shot + q_query`` such clips, so
    meta-validation has its tasks."""
    import soundfile

    from coqui_meta.episodes import split_by_task

    usable = [
        s for s in samples if config.min_audio_len <= soundfile.info(s["audio_file"]).frames <= config.max_audio_len
    ]
    return split_by_task(usable, "speaker_name", count=count, seed=seed,
                         needed=config.meta.k_shot + config.meta.q_query)
