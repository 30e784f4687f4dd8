"""The independent speaker judge: calibrated on real clips, and its EER and MCD on known inputs."""

import itertools
import random

import numpy as np
import pytest
import soundfile

from coqui_meta.voices.judge import SpeakerJudge, cosine, equal_error_rate, mel_cepstral_distortion


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
