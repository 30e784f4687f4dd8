"""The many-voice corpus: the voices, the fixed held-out rule, the layout Coqui reads, reuse, and the judge's
screening (which drops the voice it confuses, and tells real voices of the corpus apart)."""

import json
import shutil

import numpy as np
import pytest

needs_voices = pytest.mark.skipif(
    any(shutil.which(p) is None for p in ("espeak-ng", "flite", "text2wave")),
    reason="the Debian voices are not installed (apt-get install espeak-ng flite festival festvox-kallpc16k ...)",
)


def test_the_corpus_has_forty_voices_and_a_fixed_held_out_rule():
    from coqui_meta_lab import voice_corpus

    names = [name for name, _, _ in voice_corpus.voices()]
    held, train = voice_corpus.held_out_voices(), voice_corpus.training_voices()
    assert len(names) == len(set(names)) >= 40 and len(held) >= 10
    assert held == names[4::5]  # every fifth voice, whatever it sounds like
    assert sorted(held + train) == sorted(names) and not set(held) & set(train)
    candidates = set(voice_corpus.candidate_names())
    assert set(voice_corpus.DROPPED) <= candidates and not set(voice_corpus.DROPPED) & set(names)
    assert set(voice_corpus.DROPPED.values()) <= candidates  # each names the candidate it is confused with


def test_screening_drops_the_voice_the_judge_confuses():
    from coqui_meta_lab.voice_screening import screen_voices

    rng = np.random.default_rng(0)

    def clips(centre, spread=0.05):
        vectors = centre + spread * rng.normal(size=(6, 16))
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    centres = np.eye(16)
    embeddings = {"a": clips(centres[0]), "b": clips(centres[1]), "c": clips(centres[2]),
                  "a_again": clips(centres[0])}  # another voice the judge hears as "a"
    result = screen_voices(embeddings, ["a", "b", "a_again", "c"], held_out=["b", "c"])
    assert result["dropped"] == {"a_again": "a"}  # the later of the two goes, and names the one it sounds like
    assert result["kept"] == ["a", "b", "c"]
    assert result["eer"] == 0.0 and result["held_out_eer"] == 0.0
    assert list(result["confused_pairs"]) == ["a / a_again"]


@needs_voices
def test_a_small_corpus_is_built_read_by_coqui_reused_and_told_apart(tmp_path):
    import soundfile

    from coqui_meta.formats.clips import load_clips
    from coqui_meta.judging.speaker_judge import SpeakerJudge
    from coqui_meta_lab.voice_corpus import build_voice_corpus, voices
    from coqui_meta_lab.voice_screening import embed_corpus, screen_voices

    wanted = ("espeak_en_us_m1", "espeak_en_us_f5", "flite_awb", "festival_ked_diphone")
    chosen = [v for v in voices() if v[0] in wanted]
    assert len(chosen) == 4
    corpus = build_voice_corpus(tmp_path / "corpus", clips_per_voice=3, chosen=chosen, progress=False)
    samples = load_clips(corpus)
    assert len(samples) == 12 and len({s["text"] for s in samples}) == 12  # every clip a sentence of its own
    assert {s["speaker_name"] for s in samples} == {name for name, _, _ in chosen}
    for sample in samples:
        info = soundfile.info(sample["audio_file"])
        assert info.samplerate == 16000 and info.channels == 1 and 0.8 < info.duration < 6
    settings = json.loads((corpus / "corpus.json").read_text())
    assert settings["voices"] == [name for name, _, _ in chosen] and settings["clips_per_voice"] == 3
    before = (corpus / "metadata.csv").stat().st_mtime_ns
    build_voice_corpus(corpus, clips_per_voice=3, chosen=chosen, progress=False)
    assert (corpus / "metadata.csv").stat().st_mtime_ns == before  # same settings: reused
    assert not list(tmp_path.glob(".corpus.building-*"))
    if SpeakerJudge.load() is None:
        pytest.skip(SpeakerJudge.unavailable)
    result = screen_voices(embed_corpus(corpus, progress=False), [name for name, _, _ in chosen])
    assert result["eer"] <= 0.1 and result["same_voice_cosine"] > result["other_voice_cosine"] + 0.1


def test_a_folder_that_is_not_a_corpus_is_refused(tmp_path):
    from coqui_meta_lab.voice_corpus import build_voice_corpus

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="no corpus.json"):
        build_voice_corpus(tmp_path / "mine", clips_per_voice=1, progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
