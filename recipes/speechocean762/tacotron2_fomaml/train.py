"""Meta-train a multi-speaker Tacotron2 with first-order MAML on speechocean762 (CPU-sized data setup).

    python recipes/speechocean762/tacotron2_fomaml/train.py [--data ../shared/data/speechocean762] [--epochs 10]

Tacotron2's layer sizes are fixed by Coqui (about 29 M parameters here), so a step costs a few seconds on a CPU;
first-order MAML keeps memory at a plain training step's.
"""

import argparse
import os

import torch
from trainer import Trainer, TrainerArgs
from TTS.tts.datasets import load_tts_samples

from coqui_meta import MetaLearningConfig, MetaTacotron2, MetaTacotron2Config
from coqui_meta.presets import recipe_split, small_tacotron2_config, speechocean_dataset

HERE = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("--data", default=os.path.join(HERE, "../../../../shared/data/speechocean762"))
parser.add_argument("--output_path", default=os.path.join(HERE, "runs"))
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--episodes", type=int, default=50, help="outer steps per epoch")
args = parser.parse_args()
torch.set_num_threads(args.threads)

tacotron2_config = small_tacotron2_config(speechocean_dataset(os.path.abspath(args.data)), output_path=args.output_path)
tacotron2_config.epochs = args.epochs

config = MetaTacotron2Config.from_config(
    tacotron2_config,
    meta=MetaLearningConfig(
        algorithm="fomaml",
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

model = MetaTacotron2.init_from_config(config)
trainer = Trainer(
    TrainerArgs(), config, config.output_path, model=model, train_samples=train_samples, eval_samples=eval_samples
)
trainer.fit()
