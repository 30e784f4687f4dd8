"""What a Coqui user does first with coqui-meta installed into their own environment: meta-train a small VITS with
`coqui-meta train` on a few speakers of a coqui-format corpus, adapt it to a speaker it never saw with `coqui-meta
adapt`, and speak the new voice with stock Coqui's `tts`. Run by scripts/user_env.sh with that environment's Python;
it uses nothing but coqui_meta and Coqui (the lab is not installed there).

    python scripts/user_env_run.py --data ../shared/data/speechocean762 --out /tmp/user-run
"""

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path


def subset(data: Path, out: Path, names: list[str], clips: int = 6) -> list[str]:
    """A coqui-format corpus of ``clips`` clips of each speaker in ``names``: a filtered metadata.csv beside a link to
    the audio (Coqui wants the clips under the dataset's folder)."""
    with open(data / "metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="|"))
    chosen = [row for name in names for row in [r for r in rows if r["speaker_name"] == name][:clips]]
    out.mkdir(parents=True, exist_ok=True)
    (out / "wavs").symlink_to(data.resolve() / "wavs")
    with open(out / "metadata.csv", "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="|")
        writer.writerow(["audio_file", "text", "speaker_name"])
        writer.writerows([r["audio_file"], r["text"], r["speaker_name"]] for r in chosen)
    return names


def speakers_of(data: Path, count: int) -> list[str]:
    with open(data / "metadata.csv", newline="") as handle:
        return sorted({row["speaker_name"] for row in csv.DictReader(handle, delimiter="|")})[:count]


def config(data: Path, out: Path, speakers: list[str]) -> Path:
    """A small multi-speaker VitsConfig with a `meta` block, as a user would write it."""
    from TTS.config.shared_configs import BaseAudioConfig, BaseDatasetConfig
    from TTS.tts.configs.shared_configs import CharactersConfig
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig

    from coqui_meta import MetaLearningConfig, MetaVitsConfig

    audio = BaseAudioConfig(sample_rate=16000, fft_size=512, win_length=512, hop_length=128, num_mels=64)
    args = VitsArgs(hidden_channels=32, hidden_channels_ffn_text_encoder=64, num_layers_text_encoder=1,
                    num_layers_posterior_encoder=2, num_layers_flow=1, spec_segment_size=16, out_channels=257,
                    use_sdp=False, resblock_type_decoder="2", resblock_kernel_sizes_decoder=[3],
                    resblock_dilation_sizes_decoder=[[1, 3]], upsample_rates_decoder=[8, 4, 4],
                    upsample_kernel_sizes_decoder=[16, 8, 8], upsample_initial_channel_decoder=32,
                    periods_multi_period_discriminator=[2], use_speaker_embedding=True, speaker_embedding_channels=16)
    characters = CharactersConfig(characters_class="TTS.tts.models.vits.VitsCharacters", pad="<PAD>", eos="<EOS>",
                                  bos="<BOS>", blank="<BLNK>", characters="abcdefghijklmnopqrstuvwxyz0123456789",
                                  punctuations=" !'(),-.:;?\"", phonemes=None)
    stock = VitsConfig(audio=audio, model_args=args, use_speaker_embedding=True, speakers=speakers,
                       datasets=[BaseDatasetConfig(formatter="coqui", path=str(data), meta_file_train="metadata.csv")],
                       output_path=str(out / "runs"), use_phonemes=False, text_cleaner="basic_cleaners",
                       characters=characters, batch_size=2, eval_batch_size=2, num_loader_workers=0,
                       num_eval_loader_workers=0, max_audio_len=5 * 16000, test_delay_epochs=1000, test_sentences=[],
                       epochs=1, print_step=1, mixed_precision=False)
    meta = MetaLearningConfig(algorithm="fomaml", inner_steps=1, n_way=2, k_shot=2, q_query=1, meta_batch_size=1,
                              episodes_per_epoch=2, eval_tasks=speakers[-2:])
    path = out / "config.json"
    MetaVitsConfig.from_config(stock, meta=meta).save_json(str(path))
    return path


def run(*command: str) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    *speakers, new = speakers_of(data, 6)
    subset(data, out / "data", speakers)
    subset(data, out / "clips", [new])
    bin_dir = Path(sys.executable).parent
    run(str(bin_dir / "coqui-meta"), "train", "--config_path", str(config(out / "data", out, speakers)))
    (best,) = (out / "runs").glob("*/best_model.pth")
    run(str(bin_dir / "coqui-meta"), "adapt", "--model_path", str(best),
        "--config_path", str(best.parent / "config.json"), "--data", str(out / "clips"), "--speaker", new,
        "--shots", "2", "--steps", "2",
        "--out_path", str(out / "voice"))
    run(str(bin_dir / "tts"), "--model_path", str(out / "voice" / "model.pth"), "--config_path",
        str(out / "voice" / "config.json"), "--speaker_idx", new, "--text", "hello there.",
        "--out_path", str(out / "voice.wav"))
    size = os.path.getsize(out / "voice.wav")
    print(json.dumps({"trained": str(best), "adapted": str(out / "voice"), "wav_bytes": size}))
    return 0 if size > 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
