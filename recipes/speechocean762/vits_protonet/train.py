"""Meta-train a small multi-speaker VITS as a prototypical network on speechocean762 (CPU-sized).

    python recipes/speechocean762/vits_protonet/train.py [--data ../shared/data/speechocean762] [--epochs 10]

The speaker table gives way to Coqui's d-vector input: each task's voice is the prototype (mean prototype-encoder
embedding) of its support clips, and the encoder learns with the model (query reconstruction loss plus the
prototypical classification loss; TensorBoard: prototype_loss, prototype_accuracy). A new voice then needs no
gradient step:

    coqui-meta adapt --model_path runs/.../best_model.pth --config_path runs/.../config.json \\
        --data my_clips/ --speaker anna --shots 10 --steps 0 --out_path voices/anna
    tts --model_path voices/anna/model.pth --config_path voices/anna/config.json --speaker_idx anna --text "Hello."
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

# ... plus one meta block; from_config switches the model to a 64-dimensional d-vector input.
config = MetaVitsConfig.from_config(
    vits_config,
    meta=MetaLearningConfig(
        algorithm="protonet",
        n_way=4,
        k_shot=4,
        q_query=2,
        meta_batch_size=4,
        episodes_per_epoch=args.episodes,
        eval_episodes=2,
        prototype_distance="euclidean",
        prototype_loss_weight=1.0,
    ),
)

samples, _ = load_tts_samples(config, eval_split=False)
train_samples, eval_samples = recipe_split(config, samples, count=4, seed=0)
config.speakers = sorted({s["speaker_name"] for s in train_samples})  # no table: recorded for evaluate and adapt

model = MetaVits.init_from_config(config)
trainer = Trainer(
    TrainerArgs(), config, config.output_path, model=model, train_samples=train_samples, eval_samples=eval_samples
)
trainer.fit()
