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

from coqui_meta import MetaLearningConfig, MetaVitsConfig
from coqui_meta_lab.presets import small_vits_config, speechocean_dataset
from coqui_meta_lab.recipes import recipe_arguments, train_recipe


def main() -> None:
    args = recipe_arguments(__doc__, __file__)
    # A stock Coqui VITS config, as a user would have it ...
    vits_config = small_vits_config(speechocean_dataset(args.data), output_path=args.output_path)
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
    train_recipe(config)


if __name__ == "__main__":
    main()
