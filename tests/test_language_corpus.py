"""The multilingual espeak-ng corpus: layout, Coqui loading with languages, the clips, refusals, and a multilingual
VITS that computes a loss on a real batch of it."""

import json
import math
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng); the language corpus is made with it",
)

LANGUAGES = ["de", "fr-fr", "cs"]  # cs: espeak-ng writes combining marks (r̝) that Coqui's default IPA set lacks


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from coqui_meta_lab.language_corpus import build_language_corpus

    folder = tmp_path_factory.mktemp("languages") / "corpus"
    return build_language_corpus(folder, LANGUAGES, clips_per_speaker=2, speakers=["m3", "f2"], progress=False)


def test_layout_settings_and_reuse(corpus):
    from coqui_meta_lab.language_corpus import build_language_corpus

    assert sorted(p.name for p in corpus.iterdir()) == sorted([*LANGUAGES, "corpus.json"])
    for language in LANGUAGES:
        lines = (corpus / language / "metadata.csv").read_text(encoding="utf-8").splitlines()
        assert lines[0] == "audio_file|text|speaker_name" and len(lines) == 5
        assert sorted(p.name for p in (corpus / language / "wavs").iterdir()) == ["espeak_f2", "espeak_m3"]
    assert json.loads((corpus / "corpus.json").read_text())["languages"] == LANGUAGES
    before = (corpus / "de" / "metadata.csv").stat().st_mtime_ns
    build_language_corpus(corpus, LANGUAGES, clips_per_speaker=2, speakers=["m3", "f2"], progress=False)
    assert (corpus / "de" / "metadata.csv").stat().st_mtime_ns == before  # same settings: reused, not rebuilt
    assert not list(corpus.parent.glob(".corpus.building-*"))


def test_coqui_loads_every_language_with_its_clips(corpus):
    import soundfile
    from TTS.tts.configs.shared_configs import BaseTTSConfig
    from TTS.tts.datasets import load_tts_samples

    from coqui_meta_lab.language_corpus import language_datasets

    samples, _ = load_tts_samples(BaseTTSConfig(datasets=language_datasets(corpus)), eval_split=False)
    assert len(samples) == 12
    for sample in samples:
        assert sample["language"] == Path(sample["root_path"]).name
        info = soundfile.info(sample["audio_file"])
        assert info.samplerate == 16000 and info.channels == 1 and info.duration > 0.5
    assert len({s["text"] for s in samples}) == 12  # a new sentence every clip
    assert {s["speaker_name"] for s in samples} == {"espeak_m3", "espeak_f2"}
    assert len({s["audio_unique_name"] for s in samples}) == 12  # the phoneme cache's names, apart across languages


def test_an_unknown_language_is_refused_before_any_clip(tmp_path):
    from coqui_meta_lab.language_corpus import build_language_corpus, check_languages

    with pytest.raises(ValueError, match=r"xx-nope.*espeak-ng --voices"):
        check_languages(["xx-nope"])
    with pytest.raises(ValueError, match="xx-nope"):
        build_language_corpus(tmp_path / "corpus", ["de", "xx-nope"], clips_per_speaker=1, progress=False)
    with pytest.raises(ValueError, match="q9"):
        build_language_corpus(tmp_path / "corpus", ["de"], clips_per_speaker=1, speakers=["q9"], progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_build_leaves_no_half_corpus(tmp_path, monkeypatch):
    from coqui_meta_lab import debian_voices, language_corpus

    def fail(engine, voice, text, target, prosody=None):
        raise RuntimeError(f"{voice} failed")

    monkeypatch.setattr(debian_voices, "voice_clip", fail)  # what staged_corpus says each clip with
    with pytest.raises(RuntimeError, match="failed"):
        language_corpus.build_language_corpus(tmp_path / "corpus", ["de"], clips_per_speaker=1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_multilingual_vits_computes_a_finite_loss_on_a_real_batch(corpus, tmp_path):
    import torch
    from TTS.tts.datasets import load_tts_samples
    from TTS.tts.models.vits import Vits

    from coqui_meta_lab.language_corpus import multilingual_vits_config

    config = multilingual_vits_config(corpus, output_path=str(tmp_path))
    assert config.phonemizer == "multi_phonemizer" and config.model_args.use_language_embedding
    samples, _ = load_tts_samples(config, eval_split=False)
    torch.manual_seed(0)
    model = Vits(config)
    assert model.language_manager.name_to_id == {"cs": 0, "de": 1, "fr-fr": 2}  # the folders, sorted
    assert model.speaker_manager.num_speakers == 2
    loader = model.get_data_loader(config, is_eval=True, samples=samples, verbose=False)
    batch = model.format_batch_on_device(model.format_batch(next(iter(loader))))
    names = batch["language_names"]
    assert batch["language_ids"].tolist() == [model.language_manager.name_to_id[name] for name in names]
    assert len(list((tmp_path / "phoneme_cache").iterdir())) == 12  # one cache file per clip, none shared
    criteria = model.get_criterion()
    model.train_step(batch, criteria[0], 0)  # the discriminator pass caches the generator's outputs
    _, losses = model.train_step(batch, criteria[1], 1)
    assert math.isfinite(float(losses["loss"]))
    # Czech ř keeps its mark (r̝) through the shared symbol set rather than being dropped as an unknown character
    assert "\u031d" in model.tokenizer.decode(model.tokenizer.text_to_ids("Dřevěný stůl.", language="cs"))
