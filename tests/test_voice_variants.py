"""The grown many-voice corpus: voice variants written from a seed, spoken from the project's own espeak-ng data
folder (never the system's), screened by the judge (a near-duplicate goes), and the held-out voices as they were."""

import json
import shutil

import pytest

from coqui_meta_lab import voice_corpus, voice_variants

needs_voices = pytest.mark.skipif(
    any(shutil.which(p) is None for p in ("espeak-ng", "flite", "text2wave")),
    reason="the Debian voices are not installed (apt-get install espeak-ng flite festival festvox-kallpc16k ...)",
)


def test_variants_are_written_from_the_seed_alone():
    five = voice_variants.variants(5, seed=0)
    assert five == voice_variants.variants(5, seed=0) and voice_variants.variants(3, seed=0) == five[:3]
    assert len({v.name for v in five}) == 5 and len({v.text for v in five}) == 5
    assert not {v.text for v in voice_variants.variants(5, seed=1)} & {v.text for v in five}
    for one in five:
        keys = {line.split()[0] for line in one.text.splitlines() if line}
        assert {"pitch", "formant", "tone", "flutter", "roughness"} <= keys and f"name {one.name}" in one.text


def test_a_grown_corpus_keeps_the_held_out_voices_and_holds_out_every_fifth_variant(tmp_path):
    held, train = voice_corpus.held_out_voices(), voice_corpus.training_voices()
    assert len(held) == 13 and len(train) == 54
    kept = [f"espeak_en_us_cm0v{index:04d}" for index in range(12)]
    (tmp_path / "variants.json").write_text(json.dumps({"kept": kept}))
    grown_held, grown_train = voice_corpus.held_out_voices(tmp_path), voice_corpus.training_voices(tmp_path)
    assert grown_held[:13] == held and grown_train[:54] == train  # today's voices, as they were
    assert grown_held[13:] == voice_corpus.corpus_voices(tmp_path)[69::5] == [kept[2], kept[7]]  # the same rule
    assert sorted(grown_held + grown_train) == sorted(voice_corpus.corpus_voices(tmp_path))
    assert voice_corpus.held_out_voices(tmp_path / "today's corpus") == held


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_variants_are_spoken_from_the_projects_own_data_folder(tmp_path):
    import numpy as np
    import soundfile

    from coqui_meta_lab.debian_voices import voice_clip

    system = voice_variants.system_data()
    before = sorted(p.name for p in (system / "voices" / "!v").iterdir())
    chosen = voice_variants.variants(voice_variants.PER_OVERLAY + 1)
    data = voice_variants.espeak_data(tmp_path / "espeak", chosen)
    assert len(set(data.values())) == 2  # espeak-ng loses en-us past 349 voices: overlays of PER_OVERLAY at most
    assert sorted(p.name for p in (system / "voices" / "!v").iterdir()) == before
    first = chosen[0].name
    voice_clip("espeak-ng", f"en-us+{first}", "the old man found a red box.", tmp_path / "variant.wav",
               espeak_data=data[first])
    voice_clip("espeak-ng", "en-us", "the old man found a red box.", tmp_path / "plain.wav", espeak_data=data[first])
    variant, plain = (soundfile.read(tmp_path / f"{n}.wav")[0] for n in ("variant", "plain"))
    assert len(variant) != len(plain) or not np.allclose(variant, plain)
    with pytest.raises(FileNotFoundError, match="would speak the plain voice"):  # espeak-ng would not say so
        voice_clip("espeak-ng", "en-us+nosuch", "hello.", tmp_path / "x.wav", espeak_data=data[first])


@needs_voices
def test_screening_keeps_distinct_variants_and_drops_a_near_duplicate(tmp_path, monkeypatch):
    from coqui_meta.formats.clips import load_clips
    from coqui_meta.judging.speaker_judge import SpeakerJudge
    from coqui_meta_lab.voice_screening import read_embeddings

    if SpeakerJudge.load() is None:
        pytest.skip(SpeakerJudge.unavailable)
    written = voice_variants.variants(3)
    twin = voice_variants.Variant("cm0v0900", written[0].text.replace(written[0].name, "cm0v0900"))  # the same voice
    monkeypatch.setattr(voice_variants, "variants", lambda count, seed=0: [*written, twin][:count])
    chosen = [v for v in voice_corpus.voices() if v[0] in ("espeak_en_us_m1", "flite_awb")]
    corpus = voice_corpus.build_voice_corpus(tmp_path / "grown", clips_per_voice=3, chosen=chosen, variants=4,
                                             progress=False)
    record = json.loads((corpus / "variants.json").read_text())
    names = [f"espeak_en_us_{v.name}" for v in written]
    assert record["written"] == 4 and record["kept"] == names
    assert record["dropped"] == {"espeak_en_us_cm0v0900": names[0]}  # the later twin goes, naming the first
    assert sorted(p.name for p in (corpus / "variants").iterdir()) == [v.name for v in written]
    assert {s["speaker_name"] for s in load_clips(corpus)} == {"espeak_en_us_m1", "flite_awb", *names}
    assert not (corpus / "wavs" / "espeak_en_us_cm0v0900").exists() and not (corpus / "espeak").exists()
    assert record["eer"] <= 0.1 and record["closest_pair"]["pair_eer"] <= 0.1
    assert set(read_embeddings(corpus / "embeddings.npz")) == {"espeak_en_us_m1", "flite_awb", *names}
    assert voice_corpus.held_out_voices(corpus)[13:] == [names[2]]  # list position 69: every fifth
