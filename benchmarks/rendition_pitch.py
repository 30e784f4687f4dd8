"""Do a base's renditions carry their voice's pitch? The style judge reads F0 (pYIN), so a base whose renditions do not
carry pitch cannot give a style verdict, whatever the adaptation does.

For ``--voices`` training voices of the base (drawn by ``--seed``), ``--clips`` of their clips are rendered with the
voice's own row (no adaptation) and compared with the real clips: pYIN's F0 median and 10-90 % range over voiced
frames, with the style judge's settings, and the share of frames it calls voiced; the same for the rendition with
its decoder's frame rate (sample rate / hop length) and every harmonic of it notched out, in case a buzz at that rate
hides the voice's own pitch; the real clip resynthesised (the waveform decoder given the posterior encoder's latent of
the real clip: if this has no pitch either, the decoder is what loses it, not the text-to-latent prior); and the share
of each clip's spectral energy within 3 Hz of those harmonics::

    python benchmarks/rendition_pitch.py --out runs/voices/pitch            # the shipped many-voice base
    python benchmarks/rendition_pitch.py --model_path M --config_path C --data CORPUS --out DIR

Writes ``OUT/rendition_pitch.json``, ``OUT/rendition_pitch.png`` (spectrograms to 1 kHz: real clip, rendition,
resynthesis) with the audio in ``OUT/audio/``, and prints the table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from coqui_meta.judging.pitch import comb, pitch
from coqui_meta_lab.base_asset import add_base_asset_argument
from coqui_meta_lab.quiet import quiet


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=["voices"], default="voices")
    parser.add_argument("--model_path", default=None, help="a stock VITS checkpoint (default: the shipped base)")
    add_base_asset_argument(parser)
    parser.add_argument("--config_path", default=None)
    parser.add_argument("--data", default=None, help="with --model_path: a corpus of voices in its speaker table")
    parser.add_argument("--out", type=Path, default=Path("runs/voices/pitch"))
    parser.add_argument("--voices", type=int, default=6)
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def notched(wav: np.ndarray, frame_rate: float, sample_rate: int) -> np.ndarray:
    """``wav`` with a narrow notch (Q 30) at the frame rate and each of its harmonics."""
    from scipy.signal import filtfilt, iirnotch

    out = wav.astype(np.float64)
    for frequency in comb(frame_rate, sample_rate):
        b, a = iirnotch(frequency, 30, fs=sample_rate)
        out = filtfilt(b, a, out)
    return out.astype(np.float32)


def posterior(model, wav: torch.Tensor, speaker: str):
    """The posterior of a whole clip of a voice the model has: (sampled latent, mean, log std) [1, C, frames], and
    the voice's conditioning ``g``."""
    from TTS.tts.models.vits import wav_to_spec

    audio = model.config.audio
    spec = wav_to_spec(wav[None], audio.fft_size, audio.hop_length, audio.win_length, center=False)
    g = model.emb_g(torch.tensor([model.speaker_manager.name_to_id[speaker]])).unsqueeze(-1)
    latent, mean, log_std, _ = model.posterior_encoder(spec, torch.tensor([spec.shape[-1]]), g=g)
    return latent, mean, log_std, g


def resynthesize(model, wav: np.ndarray, speaker: str) -> np.ndarray:
    """The real clip through the posterior encoder and the waveform decoder (VITS's training path, no text)."""
    with torch.no_grad():
        latent, _, _, g = posterior(model, torch.tensor(wav, dtype=torch.float32), speaker)
        return model.waveform_decoder(latent, g=g)[0, 0].numpy()


def measure(model, corpus: Path, voices: int, clips: int, seed: int) -> tuple[dict, dict]:
    """`coqui_meta.judging.pitch.rendition_pitch`, with each rendition notched and each real clip resynthesised; and
    the first clip of each voice as audio (real, rendition, resynthesis) for the plot."""
    from coqui_meta.formats.clips import load_clips
    from coqui_meta.judging.pitch import rendition_pitch

    audio = model.config.audio
    rate, frame_rate = audio.sample_rate, audio.sample_rate / audio.hop_length
    heard: dict[str, dict[str, np.ndarray]] = {}

    def more(name: str, wav: np.ndarray, real: np.ndarray) -> dict:
        again = resynthesize(model, real, name)
        heard.setdefault(name, {"real": real, "rendition": wav, "resynthesis": again})
        return {"notched": pitch(notched(wav, frame_rate, rate), rate), "resynthesis": pitch(again, rate)}

    return rendition_pitch(model, load_clips(str(corpus)), voices, clips, seed, more=more), heard


def plot(heard: dict[str, dict[str, np.ndarray]], result: dict, rate: int, out: Path) -> None:
    """``out/rendition_pitch.png``: each voice's real clip, rendition and resynthesis as spectrograms up to 1 kHz,
    where a voice's harmonics (rising and falling lines) and a frame-rate buzz (flat lines at its multiples) differ at
    a glance; and the same as ``out/audio/VOICE_KIND.wav``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile

    (out / "audio").mkdir(parents=True, exist_ok=True)
    kinds = ("real", "rendition", "resynthesis")
    figure, axes = plt.subplots(len(heard), 3, figsize=(12, 2.2 * len(heard)), squeeze=False)
    for row, (name, clips) in enumerate(heard.items()):
        for column, kind in enumerate(kinds):
            wav = clips[kind]
            soundfile.write(str(out / "audio" / f"{name}_{kind}.wav"), wav, rate)
            axis = axes[row][column]
            axis.specgram(wav, NFFT=2048, Fs=rate, noverlap=1792, cmap="magma")
            axis.set_ylim(0, 1000)
            axis.set_title(f"{name} {kind}" + (f" (F0 {result['voices'][name][0]['real']['f0_hz']:.0f} Hz)"
                                               if kind == "real" else ""), fontsize=8)
            axis.tick_params(labelsize=7)
    figure.supylabel("Hz")
    figure.tight_layout()
    figure.savefig(out / "rendition_pitch.png", dpi=60)
    plt.close(figure)


def print_table(result: dict) -> None:
    print(f"Decoder frame rate {result['frame_rate_hz']:g} Hz\n")
    print("| voice | real F0 Hz / range st / voiced | rendition F0 Hz / range st / voiced | notched rendition "
          "F0 Hz / range st / voiced | resynthesis F0 Hz / range st / voiced "
          "| frame-rate energy share: real / rendition |")
    print("|---|---|---|---|---|---|")

    def cell(values: dict) -> str:
        return f"{values['f0_hz']:.0f} / {values['range_semitones']:.1f} / {values['voiced']:.2f}"

    for name, clips in result["voices"].items():
        for clip in clips:
            cells = " | ".join(cell(clip[key]) for key in ("real", "rendition", "notched", "resynthesis"))
            print(f"| {name} | {cells} | "
                  f"{clip['real']['frame_rate_share']:.3f} / {clip['rendition']['frame_rate_share']:.3f} |")
    summary = result["summary"]
    print(f"\nRenditions: median pitch error {summary['pitch_error_semitones']:.1f} semitones, "
          f"{summary['on_pitch']:.0%} on pitch, F0 range {summary['rendition_range_semitones']:.1f} semitones, "
          f"buzz share {summary['buzz_share']:.2f}")


def main() -> None:
    args = arguments()
    quiet(args.threads, everything=True)
    from voice_recovery import base_files

    from coqui_meta.formats.checkpoints import load_model

    args.out.mkdir(parents=True, exist_ok=True)
    model_path, config_path, corpus = base_files(args)
    model = load_model(model_path, config_path).model
    result, heard = measure(model, corpus, args.voices, args.clips, args.seed)
    (args.out / "rendition_pitch.json").write_text(json.dumps(result, indent=1))
    plot(heard, result, model.config.audio.sample_rate, args.out)
    print_table(result)
    print(f"Spectrograms: {args.out / 'rendition_pitch.png'}; audio: {args.out / 'audio'}")


if __name__ == "__main__":
    main()
