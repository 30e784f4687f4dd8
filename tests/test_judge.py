"""The independent speaker judge: calibrated on real clips, and its EER and MCD on known inputs."""

import itertools
import random

import numpy as np
import pytest
import soundfile

from coqui_meta.judging.speaker_judge import SpeakerJudge, cosine, equal_error_rate, mel_cepstral_distortion


def benchmark(name: str):
    """A script of benchmarks/ as a module, its own folder importable (the scripts import each other)."""
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def judge():
    judge = SpeakerJudge.load()
    assert judge is not None, SpeakerJudge.unavailable  # scripts/setup.sh installs it
    return judge


def test_two_clips_of_one_speaker_score_higher_than_clips_of_two_speakers(judge, corpus_samples):
    by_speaker = {}
    for sample in corpus_samples:
        by_speaker.setdefault(sample["speaker_name"], []).append(sample)
    names = sorted(random.Random(0).sample(sorted(by_speaker), 12))
    embeddings = {
        name: [
            judge.embed(*soundfile.read(s["audio_file"]))
            for s in sorted(by_speaker[name], key=lambda s: -s["seconds"])[:2]
        ]
        for name in names
    }
    same = [cosine(*embeddings[name]) for name in names]
    different = [cosine(embeddings[a][0], embeddings[b][1]) for a, b in itertools.permutations(names, 2)]
    assert np.mean(same) > np.mean(different) + 0.1, (np.mean(same), np.mean(different))
    # most same-speaker pairs beat most different-speaker pairs
    eer = equal_error_rate(same + different, [True] * len(same) + [False] * len(different))
    assert eer < 0.25, eer


def test_equal_error_rate_on_hand_made_trials():
    # separable scores: no threshold error
    assert equal_error_rate([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 0.0
    # reversed scores: every trial wrong
    assert equal_error_rate([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 1.0
    # one impostor above one target among two of each: at threshold 0.5 FAR = FRR = 1/2
    assert equal_error_rate([0.9, 0.3, 0.6, 0.1], [True, True, False, False]) == pytest.approx(0.5)
    assert equal_error_rate([0.9], [True]) is None


def test_mel_cepstral_distortion_is_zero_for_the_same_clip_and_grows_for_another_speaker(corpus_samples):
    clips = sorted(corpus_samples, key=lambda s: (s["speaker_name"], -s["seconds"]))
    first = [s for s in clips if s["speaker_name"] == clips[0]["speaker_name"]][:2]
    other = next(s for s in clips if s["speaker_name"] != clips[0]["speaker_name"])
    wav, rate = soundfile.read(first[0]["audio_file"])
    assert mel_cepstral_distortion(wav, wav, rate) == 0.0
    same_speaker = mel_cepstral_distortion(wav, soundfile.read(first[1]["audio_file"])[0], rate)
    other_speaker = mel_cepstral_distortion(wav, soundfile.read(other["audio_file"])[0], rate)
    assert 0 < same_speaker and 0 < other_speaker < 50


def test_the_pitch_probe_hears_a_voice_under_a_frame_rate_buzz_once_the_comb_is_notched(tmp_path):
    """coqui_meta.judging.pitch's measures (and rendition_pitch.py's notch) on a made-up clip: a 200 Hz voice (three
    harmonics, a slow glide) under a louder buzz at a decoder's 125 Hz frame rate and its harmonics."""
    from coqui_meta.judging.pitch import frame_rate_share, pitch

    probe = benchmark("rendition_pitch")
    rate, seconds = 16000, 1.5
    t = np.arange(int(rate * seconds)) / rate
    phase = 2 * np.pi * np.cumsum(200 + 10 * np.sin(2 * np.pi * t)) / rate
    voice = sum(np.sin(k * phase) / k for k in (1, 2, 3)).astype(np.float32) * 0.2
    buzz = sum(np.sin(2 * np.pi * 125 * k * t) for k in range(1, 20)).astype(np.float32) * 0.1
    assert abs(pitch(voice, rate)["f0_hz"] - 200) < 10
    assert abs(pitch(voice + buzz, rate)["f0_hz"] - 125) < 5  # what pYIN hears in the base's renditions
    assert abs(pitch(probe.notched(voice + buzz, 125, rate), rate)["f0_hz"] - 200) < 10
    assert frame_rate_share(voice + buzz, 125, rate) > 0.5 > 0.05 > frame_rate_share(voice, 125, rate)
    out = tmp_path / "pitch"  # the probe's picture and audio: a voice, and the same voice under the buzz
    heard = {"made-up": {"real": voice, "rendition": voice + buzz, "resynthesis": voice}}
    probe.plot(heard, {"voices": {"made-up": [{"real": pitch(voice, rate)}]}}, rate, out)
    assert (out / "rendition_pitch.png").stat().st_size > 10_000
    assert soundfile.read(out / "audio" / "made-up_rendition.wav")[0].shape == voice.shape


def test_the_pitch_check_compares_each_rendition_with_its_real_clip(tiny_vits, corpus_samples):
    """coqui_meta.judging.pitch.rendition_pitch (the base's pitch check): renditions of the model's own voices, each
    against the real clip it renders, summed up as the median pitch error in semitones."""
    from coqui_meta.formats.checkpoints import load_model
    from coqui_meta.judging.pitch import pitch_error, rendition_pitch

    assert pitch_error({"f0_hz": 200.0}, {"f0_hz": 100.0}) == pytest.approx(12.0)
    assert pitch_error({"f0_hz": float("nan")}, {"f0_hz": 100.0}) == float("inf")  # no pitch: never on pitch
    folder, speakers = tiny_vits
    model = load_model(folder / "model.pth", folder / "stock_config.json").model
    result = rendition_pitch(model, corpus_samples, voices=2, clips=1)
    assert len(result["voices"]) == 2 and set(result["voices"]) <= set(speakers)
    clips = [clip for rows in result["voices"].values() for clip in rows]
    assert all(np.isfinite(clip["real"]["f0_hz"]) for clip in clips), "real speech has a pitch"
    summary = result["summary"]
    assert summary["pitch_error_semitones"] == np.median([pitch_error(c["rendition"], c["real"]) for c in clips])
    assert 0.0 <= summary["on_pitch"] <= 1.0 and 0.0 <= summary["buzz_share"] <= 1.0
    assert result["frame_rate_hz"] == model.config.audio.sample_rate / model.config.audio.hop_length


def test_the_decoder_probe_trains_on_aligned_segments_and_its_loss_falls(tiny_vits, corpus_samples):
    """benchmarks/decoder_pitch.py on a small VITS: each segment's target is the waveform its latent (or log-mel)
    frames describe, the decoder's output matches it sample for sample, and Adam on the probe's loss lowers it, for
    the model's own decoder on the posterior latent and for new decoders on its mean and on the log-mel."""
    import torch

    from coqui_meta.formats.checkpoints import load_model

    probe = benchmark("decoder_pitch")
    folder, speakers = tiny_vits
    model = load_model(folder / "model.pth", folder / "stock_config.json").model
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    clip = sorted((s for s in corpus_samples if s["speaker_name"] == speakers[0]), key=lambda s: s["seconds"])[-1:]
    hop = model.config.audio.hop_length
    for source, channels in (("posterior", None), ("posterior_mean", 16), ("mel", 16)):
        torch.manual_seed(0)
        decoder = probe.new_decoder(model, source, channels, "2").train()
        assert (decoder is model.waveform_decoder) == (source == "posterior")
        for parameter in decoder.parameters():
            parameter.requires_grad_(True)
        features, g, target = probe.Clips(model, clip, source, frames=16, seed=0).batch(2)
        assert target.shape == (2, 16 * hop) and features.shape[-1] == 16 and (g is None) == (source == "mel")
        optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-3)
        losses = []
        for _ in range(15):
            loss = probe.spectral_loss(model, decoder(features, g=g)[:, 0], target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[-1] < 0.9 * losses[0], (source, losses)
    with pytest.raises(ValueError, match="--frames"):  # segments longer than every clip: said, not an endless loop
        probe.Clips(model, clip, "mel", frames=10**5, seed=0).batch(2)
    wav = model.ap.load_wav(clip[0]["audio_file"])  # rendition_pitch.py's resynthesis: the same path, a whole clip
    resynthesis = benchmark("rendition_pitch").resynthesize(model, wav, speakers[0])
    assert abs(len(resynthesis) - len(wav)) <= model.config.audio.fft_size and np.isfinite(resynthesis).all()
