"""Meta-train a multi-speaker Tacotron2 with proto-MAML on speechocean762 (CPU-sized data setup).

    python recipes/speechocean762/tacotron2_proto_maml/train.py [--data ../shared/data/speechocean762] [--epochs 10]

Each task's voice starts as the prototype of its support clips (Coqui's d-vector input), then one first-order MAML
step adapts it together with the decoder's output side (``meta.adapt_modules`` default: d_vector,
decoder.linear_projection, decoder.stopnet, postnet). First order keeps memory at a plain step's: Tacotron2's layer
sizes are fixed by Coqui (about 29 M parameters).
"""

from coqui_meta import MetaLearningConfig, MetaTacotron2Config
from coqui_meta_lab.presets import small_tacotron2_config, speechocean_dataset
from coqui_meta_lab.recipes import recipe_arguments, train_recipe


def main() -> None:
    args = recipe_arguments(__doc__, __file__)
    tacotron2_config = small_tacotron2_config(speechocean_dataset(args.data), output_path=args.output_path)
    tacotron2_config.epochs = args.epochs
    config = MetaTacotron2Config.from_config(
        tacotron2_config,
        meta=MetaLearningConfig(
            algorithm="proto_maml",
            first_order=True,
            inner_steps=1,
            inner_lr=1e-3,
            n_way=4,
            k_shot=4,
            q_query=2,
            meta_batch_size=4,
            episodes_per_epoch=args.episodes,
            eval_episodes=2,
        ),
    )
    train_recipe(config)


if __name__ == "__main__":
    main()
