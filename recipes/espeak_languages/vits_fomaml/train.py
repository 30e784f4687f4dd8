"""Meta-train a small multilingual VITS with first-order MAML where a task is a language, on the project's espeak-ng
corpus (12 languages, the same 4 speakers in each, sentences the project writes; built on first use).

    python recipes/espeak_languages/vits_fomaml/train.py [--corpus runs/language_corpus] [--held_out sv,ro,cs]

The ``--held_out`` languages are left out of the model altogether (adapt to them afterwards with
``coqui-meta adapt --language``); two training languages are kept for meta-validation, whose query loss before and
after the inner steps the Trainer reports (query_loss_before_adaptation, query_loss_after_adaptation).
"""

import argparse
from pathlib import Path

from coqui_meta import MetaLearningConfig, MetaVitsConfig
from coqui_meta_lab.language_corpus import LANGUAGES, build_language_corpus, multilingual_vits_config


def arguments() -> argparse.Namespace:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="runs/language_corpus", help="built there unless it is there already")
    parser.add_argument("--held_out", default="sv,ro,cs", help="languages no model trains on")
    parser.add_argument("--clips_per_speaker", type=int, default=10)
    parser.add_argument("--output_path", default=str(Path(__file__).resolve().parent / "runs"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=50, help="outer steps per epoch")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def main() -> None:
    from TTS.tts.datasets import load_tts_samples

    from coqui_meta.episodes import split_by_task
    from coqui_meta.training import meta_trainer

    args = arguments()
    corpus = build_language_corpus(Path(args.corpus), clips_per_speaker=args.clips_per_speaker)
    held_out = args.held_out.split(",")
    training = [language for language in LANGUAGES if language not in held_out]
    # A stock multilingual Coqui VITS config (language embedding, espeak-ng phonemes per dataset) ...
    vits_config = multilingual_vits_config(corpus, training, output_path=args.output_path)
    vits_config.epochs = args.epochs
    # ... plus one meta block: a task is a language.
    config = MetaVitsConfig.from_config(
        vits_config,
        meta=MetaLearningConfig(algorithm="fomaml", task_key="language", inner_steps=2, inner_lr=0.01, n_way=2,
                                k_shot=10, q_query=5, meta_batch_size=2, episodes_per_epoch=args.episodes,
                                eval_episodes=1, eval_tasks=training[-2:]),
    )
    samples, _ = load_tts_samples(config, eval_split=False)
    train_samples, eval_samples = split_by_task(samples, "language", eval_tasks=config.meta.eval_tasks)
    meta_trainer(config, train_samples, eval_samples).fit()


if __name__ == "__main__":
    main()
