"""Can a VITS waveform decoder learn its voices' pitch on this machine? The probe that says which decoder a base needs.

`rendition_pitch.py` found that the shipped many-voice base renders no pitch, even when its decoder is given the
posterior latent of a real clip. This trains a waveform decoder alone, as a vocoder, and checks every
``--check-minutes`` whether its output has the real clip's pitch (pYIN with the style judge's settings) and how much
of its energy still sits on the decoder's frame-rate comb:

- ``--source posterior``: the decoder is given the base's posterior latent (frozen), sampled as in VITS's training path;
- ``--source posterior_mean``: the posterior's mean, without the sampling noise (the base's posterior is noisier than
  its mean varies: is it the noise that hides the pitch?);
- ``--source mel``: it is given the clip's log-mel spectrogram, a plain vocoder (no latent can have lost the pitch).

``--channels`` and ``--resblock`` set a new decoder (HiFi-GAN's ``upsample_initial_channel`` and resblock type;
type 1 takes V1/V2's kernels 3, 7, 11 and dilations 1, 3, 5); without them the base's own decoder is trained on.
The loss is Coqui's VITS mel loss (weight 45) plus a multi-resolution STFT loss (512, 1024, 2048), with no
discriminator: a regression that sees pitch directly in its finer spectra. ``--adversarial PERIODS`` adds VITS's own
discriminator (a scale discriminator and period discriminators of these periods, e.g. ``2,3,5,7,11`` as in HiFi-GAN)
with VITS's adversarial and feature-matching terms: the period discriminators are HiFi-GAN's answer to periodic
signals. ``--overfit`` trains on the probe clips only: a decoder that cannot learn their pitch there cannot learn it
anywhere::

    python benchmarks/decoder_pitch.py --out runs/voices/decoder_pitch                 # the shipped base's decoder
    python benchmarks/decoder_pitch.py --source mel --channels 256 --overfit --minutes 12 --out DIR

Writes ``OUT/decoder_pitch.json`` (every check) and prints one line a check.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from rendition_pitch import posterior

from coqui_meta.judging.pitch import frame_rate_share, pitch
from coqui_meta_lab.base_asset import add_base_asset_argument
from coqui_meta_lab.quiet import quiet

FFT_SIZES = (512, 1024, 2048)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", default=None, help="a stock VITS checkpoint (default: the shipped base)")
    add_base_asset_argument(parser)
    parser.add_argument("--config_path", default=None)
    parser.add_argument("--data", default=None, help="with --model_path: a corpus of voices in its speaker table")
    parser.add_argument("--out", type=Path, default=Path("runs/voices/decoder_pitch"))
    parser.add_argument("--source", choices=["posterior", "posterior_mean", "mel"], default="posterior")
    parser.add_argument("--channels", type=int, default=None, help="a new decoder of this width (default: the base's)")
    parser.add_argument("--resblock", choices=["1", "2"], default="2")
    parser.add_argument("--overfit", action="store_true", help="train on the probe clips only")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--check-minutes", type=float, default=5.0)
    parser.add_argument("--adversarial", default=None, metavar="PERIODS",
                        help="train against VITS's discriminator with these period discriminators, e.g. 2,3,5,7,11")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--frames", type=int, default=32, help="latent frames a training segment")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--probe-voices", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def new_decoder(model, source: str, channels: int | None, resblock: str) -> torch.nn.Module:
    """The base's own decoder (``channels`` None, a posterior source) or a new HiFi-GAN generator of that width."""
    from TTS.vocoder.models.hifigan_generator import HifiganGenerator

    args = model.args
    if channels is None and source != "mel":
        return model.waveform_decoder
    kernels, dilations = (([3, 7, 11], [[1, 3, 5]] * 3) if resblock == "1"
                          else (args.resblock_kernel_sizes_decoder, args.resblock_dilation_sizes_decoder))
    return HifiganGenerator(
        model.config.audio.num_mels if source == "mel" else args.hidden_channels, 1, resblock, dilations, kernels,
        args.upsample_kernel_sizes_decoder, channels or args.upsample_initial_channel_decoder,
        args.upsample_rates_decoder, inference_padding=0,
        cond_channels=0 if source == "mel" else model.embedded_speaker_dim,
        conv_pre_weight_norm=False, conv_post_weight_norm=False, conv_post_bias=False)


def log_mel(model, wav: torch.Tensor) -> torch.Tensor:
    from TTS.tts.models.vits import wav_to_mel

    audio = model.config.audio
    return wav_to_mel(wav, audio.fft_size, audio.num_mels, audio.sample_rate, audio.hop_length, audio.win_length,
                      audio.mel_fmin, audio.mel_fmax, center=False)


def decoder_input(model, wav: torch.Tensor, speaker: str, source: str):
    """What the decoder is given for a whole clip: (features [1, C, frames], speaker conditioning or None)."""
    if source == "mel":
        return (log_mel(model, wav[None]) + 5.0) / 3.0, None  # log-mel to about unit scale
    latent, mean, _, g = posterior(model, wav, speaker)
    return (mean if source == "posterior_mean" else latent), g


def spectral_loss(model, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Coqui VITS's mel loss (weight 45) plus log-magnitude and spectral-convergence losses at three FFT sizes."""
    loss = 45 * (log_mel(model, out) - log_mel(model, target)).abs().mean()
    for size in FFT_SIZES:
        window = torch.hann_window(size)
        got, want = (torch.stft(x, size, size // 4, window=window, return_complex=True).abs().clamp_min(1e-5)
                     for x in (out, target))
        loss = loss + (got.log() - want.log()).abs().mean() + torch.norm(want - got) / torch.norm(want)
    return loss


class Clips:
    """The clips as tensors, read once, with the decoder's input for a random segment of any of them."""

    def __init__(self, model, samples: list[dict], source: str, frames: int, seed: int):
        self.model, self.samples, self.source, self.frames = model, samples, source, frames
        self.wavs: dict[str, torch.Tensor] = {}
        self.random = np.random.default_rng(seed)

    def wav(self, sample: dict) -> torch.Tensor:
        if sample["audio_file"] not in self.wavs:
            wav = self.model.ap.load_wav(sample["audio_file"])
            self.wavs[sample["audio_file"]] = torch.tensor(wav, dtype=torch.float32)
        return self.wavs[sample["audio_file"]]

    def batch(self, size: int):
        hop = self.model.config.audio.hop_length
        features, conditions, targets = [], [], []
        for _ in range(100 * size):
            if len(targets) == size:
                break
            sample = self.samples[self.random.integers(len(self.samples))]
            wav = self.wav(sample)
            with torch.no_grad():
                x, g = decoder_input(self.model, wav, sample["speaker_name"], self.source)
            if x.shape[-1] < self.frames:
                continue
            start = int(self.random.integers(x.shape[-1] - self.frames + 1))
            features.append(x[..., start:start + self.frames])
            conditions.append(g)
            targets.append(wav[start * hop:(start + self.frames) * hop])
        if len(targets) < size:
            raise ValueError(f"the clips are too short for segments of {self.frames} frames; lower --frames")
        g = None if conditions[0] is None else torch.cat(conditions)
        return torch.cat(features), g, torch.stack(targets)


def probe(model, decoder, clips: Clips, probes: list[dict]) -> dict[str, dict]:
    """Each probe clip decoded whole: its pitch against the real clip's, and its energy on the frame-rate comb."""
    rate = model.config.audio.sample_rate
    frame_rate = rate / model.config.audio.hop_length
    decoder.eval()
    rows = {}
    with torch.no_grad():
        for sample in probes:
            wav = clips.wav(sample)
            x, g = decoder_input(model, wav, sample["speaker_name"], clips.source)
            out = decoder(x, g=g)[0, 0].numpy()
            rows[sample["speaker_name"]] = {"real": pitch(wav.numpy(), rate), "decoded": pitch(out, rate),
                                            "frame_rate_share": frame_rate_share(out, frame_rate, rate)}
    decoder.train()
    return rows


def posterior_noise(model, clips: Clips, probes: list[dict]) -> dict[str, float]:
    """How noisy the latent the decoder trains on is: the posterior's sampling std against the spread of its mean
    over a clip's frames (each averaged over channels and probe clips)."""
    noise, spread = [], []
    with torch.no_grad():
        for sample in probes:
            _, mean, log_std, _ = posterior(model, clips.wav(sample), sample["speaker_name"])
            noise.append(log_std.exp().mean().item())
            spread.append(mean[0].std(-1).mean().item())
    return {"noise_std": float(np.mean(noise)), "mean_spread": float(np.mean(spread))}


class Adversary:
    """VITS's discriminator and its GAN terms (least squares, feature matching at VITS's weight), trained in turn."""

    def __init__(self, periods: str, lr: float):
        from TTS.tts.layers.vits.discriminator import VitsDiscriminator

        try:
            self.net = VitsDiscriminator(periods=[int(p) for p in periods.split(",")])
        except ValueError:
            raise SystemExit(f"--adversarial: {periods!r} is not a list of periods such as 2,3,5,7,11") from None
        self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=lr, betas=(0.8, 0.99))

    def step(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Trains the discriminator on this batch and returns the generator's adversarial + feature-matching loss."""
        from TTS.tts.layers.losses import VitsDiscriminatorLoss, feature_loss, generator_loss

        real, _, fake, _ = self.net(target[:, None], out[:, None].detach())
        self.optimizer.zero_grad()
        VitsDiscriminatorLoss.discriminator_loss(real, fake)[0].backward()
        self.optimizer.step()
        _, real_features, fake, fake_features = self.net(target[:, None], out[:, None])
        return generator_loss(fake)[0] + feature_loss(real_features, fake_features)


def train(model, decoder, clips: Clips, args, on_check) -> None:
    """Adam on the decoder alone for ``args.minutes``, ``on_check(step, minutes, loss)`` every check and at the end;
    the loss logged is the spectral one, comparable with and without ``--adversarial``."""
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=args.lr, betas=(0.8, 0.99))
    adversary = Adversary(args.adversarial, args.lr) if args.adversarial else None
    start, step, losses, next_check = time.time(), 0, [], args.check_minutes
    on_check(0, 0.0, None)
    while (minutes := (time.time() - start) / 60) < args.minutes:
        features, g, target = clips.batch(args.batch)
        out = decoder(features, g=g)[:, 0]
        loss = spectral_loss(model, out, target)
        total = loss if adversary is None else loss + adversary.step(out, target)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        step, losses = step + 1, losses + [loss.item()]
        if minutes >= next_check:
            on_check(step, minutes, float(np.mean(losses[-100:])))
            next_check += args.check_minutes
    on_check(step, (time.time() - start) / 60, float(np.mean(losses[-100:])) if losses else None)


def main() -> None:
    args = arguments()
    torch.manual_seed(args.seed)
    quiet(args.threads, everything=True)
    from voice_recovery import base_files

    from coqui_meta.formats.checkpoints import load_model
    from coqui_meta.formats.clips import load_clips
    from coqui_meta.seeds import draw

    args.out.mkdir(parents=True, exist_ok=True)
    model_path, config_path, corpus = base_files(args)
    model = load_model(model_path, config_path).model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    decoder = new_decoder(model, args.source, args.channels, args.resblock).train()
    for parameter in decoder.parameters():
        parameter.requires_grad_(True)
    known = set(model.speaker_manager.name_to_id)
    samples = sorted((s for s in load_clips(str(corpus)) if s["speaker_name"] in known), key=lambda s: s["audio_file"])
    voices = sorted(draw(args.seed, "voices").sample(sorted({s["speaker_name"] for s in samples}), args.probe_voices))
    probes = [next(s for s in samples if s["speaker_name"] == name) for name in voices]
    clips = Clips(model, probes if args.overfit else samples, args.source, args.frames, args.seed)
    parameters = sum(p.numel() for p in decoder.parameters())
    result = {"settings": {**{k: str(v) for k, v in vars(args).items()}, "decoder_parameters": parameters},
              "checks": []}
    result["posterior"] = posterior_noise(model, clips, probes)
    print(f"decoder: {parameters} parameters; source {args.source}; {len(clips.samples)} training clips; the base's "
          f"posterior: sampling std {result['posterior']['noise_std']:.2f} against its mean's spread over frames "
          f"{result['posterior']['mean_spread']:.2f}")

    def on_check(step: int, minutes: float, loss: float | None) -> None:
        rows = probe(model, decoder, clips, probes)
        result["checks"].append({"step": step, "minutes": minutes, "loss": loss, "clips": rows})
        (args.out / "decoder_pitch.json").write_text(json.dumps(result, indent=1))
        cells = ", ".join(f"{name}: {row['real']['f0_hz']:.0f} -> {row['decoded']['f0_hz']:.0f} Hz "
                          f"(comb {row['frame_rate_share']:.2f})" for name, row in rows.items())
        print(f"step {step} ({minutes:.1f} min, loss {loss if loss is None else round(loss, 2)}): {cells}", flush=True)

    train(model, decoder, clips, args, on_check)


if __name__ == "__main__":
    main()
