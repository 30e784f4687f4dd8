"""Meta-train a small multi-speaker VITS with second-order MAML on speechocean762 (CPU-sized).

    python recipes/speechocean762/vits_maml/train.py [--data ../shared/data/speechocean762] [--epochs 10]

Four speakers are held out for meta-validation: the Trainer's eval reports their query loss before and after the
inner steps (TensorBoard: query_loss_before_adaptation, query_loss_after_adaptation, loss_1).
"""

import argparse
import os

import torch
from trainer import Trainer, TrainerArgs
from TTS.tts.datasets import load_tts_samples

from coqui_meta import MetaLearningConfig, MetaVits, MetaVitsConfig
from coqui_meta.presets import recipe_split, small_vits_config, speechocean_dataset

HERE = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("--data", default=os.path.join(HERE, "../../../../shared/data/speechocean762"))
parser.add_argument("--output_path", default=os.path.join(HERE, "runs"))
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--episodes", type=int, default=50, help="outer steps per epoch")
args = parser.parse_args()
torch.set_num_threads(args.threads)

# A stock Coqui VITS config, as a user would have it ...
vits_config = small_vits_config(speechocean_dataset(os.path.abspath(args.data)), output_path=args.output_path)
vits_config.epochs = args.epochs

# ... plus one meta block.
config = MetaVitsConfig.from_config(
    vits_config,
    meta=MetaLearningConfig(
        algorithm="maml",
        inner_steps=2,
        inner_lr=1e-3,
        n_way=4,
        k_shot=4,
        q_query=2,
        meta_batch_size=4,
        episodes_per_epoch=args.episodes,
        eval_episodes=2,
    ),
)

samples, _ = load_tts_samples(config, eval_split=False)
train_samples, eval_samples = recipe_split(config, samples, count=4, seed=0)
config.speakers = sorted({s["speaker_name"] for s in train_samples})

model = MetaVits.init_from_config(config)
trainer = Trainer(
    TrainerArgs(), config, config.output_path, model=model, train_samples=train_samples, eval_samples=eval_samples
)
trainer.fit()
