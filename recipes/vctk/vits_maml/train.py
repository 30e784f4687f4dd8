"""Meta-train a full-size multi-speaker VITS with second-order MAML on VCTK, on a GPU.

    python recipes/vctk/vits_maml/train.py --data /path/to/VCTK-Corpus-0.92 [--restore_path stock_vits_vctk.pth]

Uses Coqui's ``vctk`` formatter (wav48_silence_trimmed, mic1 FLACs) and Coqui's default VITS sizes at 22.05 kHz with
phonemes (espeak-ng must be installed). Eight speakers are held out for meta-validation. ``--restore_path`` starts
from a stock Coqui VITS checkpoint trained on the same speakers (same ``speakers`` list), so an existing model is
meta-trained further. Mixed precision (bf16) and the Trainer's distributed launcher work as for stock VITS.
"""

import argparse
import os

from trainer import TrainerArgs
from TTS.config.shared_configs import BaseAudioConfig, BaseDatasetConfig
from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
from TTS.tts.datasets import load_tts_samples

from coqui_meta import MetaLearningConfig, MetaVitsConfig
from coqui_meta.episodes import split_by_task
from coqui_meta.training import meta_trainer

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="VCTK-Corpus-0.92 folder")
    parser.add_argument("--output_path", default=os.path.join(HERE, "runs"))
    parser.add_argument("--restore_path", default="")
    parser.add_argument("--epochs", type=int, default=1000)
    args = parser.parse_args()

    dataset = BaseDatasetConfig(formatter="vctk", path=args.data, meta_file_train="", language="en-us")
    audio = BaseAudioConfig(
        sample_rate=22050, fft_size=1024, win_length=1024, hop_length=256, num_mels=80, mel_fmax=None
    )
    vits_config = VitsConfig(
        model_args=VitsArgs(use_speaker_embedding=True),
        audio=audio,
        run_name="vits_vctk_maml",
        batch_size=32,
        eval_batch_size=16,
        num_loader_workers=8,
        num_eval_loader_workers=4,
        run_eval=True,
        test_delay_epochs=-1,
        epochs=args.epochs,
        text_cleaner="english_cleaners",
        use_phonemes=True,
        phoneme_language="en-us",
        phoneme_cache_path=os.path.join(args.output_path, "phoneme_cache"),
        compute_input_seq_cache=True,
        print_step=25,
        mixed_precision=True,
        precision="bf16",
        max_audio_len=10 * 22050,
        datasets=[dataset],
        output_path=args.output_path,
        use_speaker_embedding=True,
    )
    config = MetaVitsConfig.from_config(
        vits_config,
        meta=MetaLearningConfig(
            algorithm="maml",
            inner_steps=3,
            inner_lr=3e-4,
            n_way=8,
            k_shot=8,
            q_query=4,
            meta_batch_size=8,
            episodes_per_epoch=500,
            eval_episodes=4,
        ),
    )

    samples, _ = load_tts_samples(config, eval_split=False)
    train_samples, eval_samples = split_by_task(samples, "speaker_name", count=8, seed=0)
    config.speakers = sorted({s["speaker_name"] for s in train_samples})

    trainer_args = TrainerArgs(restore_path=args.restore_path or None)
    meta_trainer(config, train_samples, eval_samples, args=trainer_args).fit()


if __name__ == "__main__":
    main()
