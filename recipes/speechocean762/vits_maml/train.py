"""Meta-train a small multi-speaker VITS with second-order MAML on speechocean762 (CPU-sized).

    python recipes/speechocean762/vits_maml/train.py [--data ../shared/data/speechocean762] [--epochs 10]

Four speakers are held out for meta-validation: the Trainer's eval reports their query loss before and after the
inner steps (TensorBoard: query_loss_before_adaptation, query_loss_after_adaptation, loss_1).
"""

from coqui_meta import MetaLearningConfig, MetaVitsConfig
from coqui_meta_lab.presets import small_vits_config, speechocean_dataset
from coqui_meta_lab.recipes import recipe_arguments, train_recipe


def main() -> None:
    args = recipe_arguments(__doc__, __file__)
    # A stock Coqui VITS config, as a user would have it ...
    vits_config = small_vits_config(speechocean_dataset(args.data), output_path=args.output_path)
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
    train_recipe(config)


if __name__ == "__main__":
    main()
