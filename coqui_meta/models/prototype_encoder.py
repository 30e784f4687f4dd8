"""A small speaker encoder for prototypes: log-mel frames in, one fixed-size embedding out.

Three 1-D convolutions (with layer norm) over time, then attentive statistics pooling (a learned weight per frame,
padding masked out, weighted mean and standard deviation) and a linear projection. About 0.3 M parameters at the
defaults, so it trains beside a TTS model on a CPU.

Example::

    encoder = PrototypeEncoder(num_mels=64, dim=64)
    embeddings = encoder(mels, lengths)   # mels [B, T, 64], lengths [B] -> [B, 64]
"""

from __future__ import annotations

import torch
from torch import nn


class _ConvBlock(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels_in, channels_out, kernel, padding=kernel // 2)
        self.norm = nn.LayerNorm(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        return torch.relu(self.norm(self.conv(x).transpose(1, 2))).transpose(1, 2)


class PrototypeEncoder(nn.Module):
    def __init__(self, num_mels: int = 64, channels: int = 128, dim: int = 64, kernel: int = 5) -> None:
        super().__init__()
        self.num_mels, self.dim = num_mels, dim
        self.convs = nn.Sequential(
            _ConvBlock(num_mels, channels, kernel),
            _ConvBlock(channels, channels, kernel),
            _ConvBlock(channels, channels, kernel),
        )
        self.attention = nn.Conv1d(channels, 1, 1)
        self.projection = nn.Linear(2 * channels, dim)

    def forward(self, mels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if mels.shape[-1] != self.num_mels:
            raise ValueError(f"PrototypeEncoder expects [B, T, {self.num_mels}] mels, got {tuple(mels.shape)}")
        hidden = self.convs(mels.transpose(1, 2))  # [B, C, T]
        mask = torch.arange(hidden.shape[2], device=mels.device)[None, :] < lengths[:, None]
        scores = self.attention(hidden).squeeze(1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1).unsqueeze(1)  # [B, 1, T]
        mean = (hidden * weights).sum(dim=2)
        std = ((hidden - mean[:, :, None]).pow(2) * weights).sum(dim=2).clamp_min(1e-6).sqrt()
        return self.projection(torch.cat([mean, std], dim=1))


def log_mel(wav, sample_rate: int, num_mels: int = 64, max_seconds: float | None = None) -> torch.Tensor:
    """``[T, num_mels]`` log-mel frames (10 ms hop) of a mono waveform, the encoder's input."""
    import torchaudio

    wav = torch.as_tensor(wav, dtype=torch.float32).reshape(-1)
    if max_seconds:
        wav = wav[: int(max_seconds * sample_rate)]
    transform = torchaudio.transforms.MelSpectrogram(
        sample_rate, n_fft=int(0.032 * sample_rate), hop_length=int(0.01 * sample_rate), n_mels=num_mels
    )
    return torch.log(transform(wav) + 1e-5).T
