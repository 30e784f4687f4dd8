"""A multilingual corpus the project makes itself: espeak-ng says sentences this project writes
(`coqui_meta_lab.language_sentences`) in a dozen languages, each with the same few voice variants, so that a
task can be a language (``MetaLearningConfig.task_key = "language"``) and the speakers are shared.

Example::

    from coqui_meta_lab.language_corpus import build_language_corpus, multilingual_vits_config
    corpus = build_language_corpus("runs_lang/corpus", clips_per_speaker=10)   # runs_lang/corpus/<lang>/metadata.csv
    config = multilingual_vits_config(corpus, output_path="runs_lang/vits")    # small VITS, espeak per language

Layout: ``folder/<lang>/metadata.csv`` (Coqui ``coqui`` format: audio_file|text|speaker_name) and
``folder/<lang>/wavs/espeak_<variant>/*.wav`` (16 kHz mono PCM16), with ``folder/corpus.json`` holding the settings.
Speakers are espeak-ng voice variants (``de+f2``): synthetic and alike, but one set across every language.
MBROLA voices (more natural, several per language) are not used: Debian ships them in contrib/non-free, and the
archives this project installs from are main only (``apt-cache policy mbrola mbrola-de1``: no candidate).
"""

from __future__ import annotations

import itertools
import random
import subprocess
from pathlib import Path

from coqui_meta_lab.debian_voices import install_voices, staged_corpus
from coqui_meta_lab.language_sentences import WORDS

LANGUAGES = tuple(WORDS)  # en-us, de, fr-fr, es, it, nl, pt, pl, sv, cs, fi, ro: espeak-ng's (and Coqui's) names
SPEAKERS = ("m3", "m7", "f2", "f4")  # espeak-ng variants: two male, two female pitch and formant settings
# Combining marks espeak-ng writes for Czech (ř = r̝, syllabic r̩, voiceless r̝̊) that Coqui's default IPA set lacks:
# without them the tokenizer drops them with a warning and ř becomes r.
EXTRA_PHONEMES = "\u031d\u0329\u030a"
VERSION = 1  # bump when the corpus a setting gives changes


def sentences(language: str, count: int, seed: int = 0) -> list[str]:
    """``count`` distinct sentences in ``language`` from the project's word lists (about 7 000 possible)."""
    lists = [[word.strip() for word in words.split(",")] for words in WORDS[language]]
    every = [" ".join(parts) for parts in itertools.product(*lists)]
    if count > len(every):
        raise ValueError(f"{language}: {count} clips asked for, the word lists give {len(every)} sentences")
    return [s[0].upper() + s[1:] + "." for s in random.Random(f"{seed}:{language}").sample(every, count)]


def _espeak_names(option: str, column: int) -> set[str]:
    lines = subprocess.run(["espeak-ng", option], capture_output=True, text=True, check=True).stdout.splitlines()
    return {line.split()[column] for line in lines[1:] if len(line.split()) > column}


def check_languages(languages, speakers=()) -> None:
    """`ValueError` naming any language (or voice variant) espeak-ng does not know, by the names that Coqui's espeak
    phonemizer accepts too (``fr-fr``, not ``fr``)."""
    install_voices(("espeak-ng",), ("espeak-ng",))
    known = _espeak_names("--voices", 1)
    unknown = [language for language in languages if language not in known]
    if unknown:
        raise ValueError(f"espeak-ng does not know the language(s) {', '.join(unknown)}; "
                         "see the Language column of `espeak-ng --voices`")
    variants = {name.removeprefix("!v/") for name in _espeak_names("--voices=variant", 4)}
    unknown = [variant for variant in speakers if variant not in variants]
    if unknown:
        raise ValueError(f"espeak-ng has no voice variant(s) {', '.join(unknown)}; "
                         "see the File column of `espeak-ng --voices=variant` (m3 for !v/m3)")


def _settings(languages, clips_per_speaker: int, speakers, seed: int) -> dict:
    return {"version": VERSION, "languages": list(languages), "speakers": list(speakers),
            "clips_per_speaker": clips_per_speaker, "seed": seed, "sample_rate": 16000}


def _language_jobs(root: Path, language: str, clips_per_speaker: int, speakers, seed: int) -> list[tuple]:
    """Writes ``root/<language>/metadata.csv`` and makes its speaker folders; the clips to say, one sentence each."""
    texts = iter(sentences(language, clips_per_speaker * len(speakers), seed))
    lines, jobs = ["audio_file|text|speaker_name"], []
    for variant in speakers:
        name = f"espeak_{variant}"
        (root / language / "wavs" / name).mkdir(parents=True)
        for index in range(clips_per_speaker):
            text, relative = next(texts), f"wavs/{name}/{name}_{index:03d}.wav"
            lines.append(f"{relative}|{text}|{name}")
            jobs.append(("espeak-ng", f"{language}+{variant}", text, root / language / relative))
    (root / language / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return jobs


def build_language_corpus(folder, languages=LANGUAGES, clips_per_speaker: int = 10, speakers=SPEAKERS, seed: int = 0,
                          jobs: int = 2, progress: bool = True) -> Path:
    """The corpus in ``folder`` (see the module's docstring), built aside and renamed into place (`staged_corpus`);
    a complete one with the same settings is reused."""
    def plan(work: Path) -> list[tuple]:
        return [job for language in languages for job in _language_jobs(work, language, clips_per_speaker, speakers,
                                                                         seed)]

    return staged_corpus(folder, _settings(languages, clips_per_speaker, speakers, seed), plan, "espeak-ng languages",
                         jobs, progress, prepare=lambda: check_languages(languages, speakers))


def language_datasets(folder, languages=None) -> list:
    """One Coqui dataset entry per language folder (all with a metadata.csv when ``languages`` is None): its
    ``language`` goes into every sample, ``dataset_name`` keeps the phoneme cache's names apart across languages
    (their clips share relative paths), ``phonemizer`` is what ``multi_phonemizer`` uses for it."""
    from TTS.config.shared_configs import BaseDatasetConfig

    folder = Path(folder)
    if languages is None:
        languages = sorted(p.parent.name for p in folder.glob("*/metadata.csv"))
    missing = [str(folder / language / "metadata.csv") for language in languages
               if not (folder / language / "metadata.csv").is_file()]
    if missing or not languages:
        raise FileNotFoundError(f"no language corpus: {', '.join(missing) or folder / '<lang>/metadata.csv'} missing")
    return [BaseDatasetConfig(formatter="coqui", path=str(folder / language), meta_file_train="metadata.csv",
                              language=language, phonemizer="espeak", dataset_name=language) for language in languages]


def corpus_speakers(datasets) -> list[str]:
    """The speaker names in the datasets' metadata files, sorted."""
    names = set()
    for dataset in datasets:
        lines = (Path(dataset.path) / dataset.meta_file_train).read_text(encoding="utf-8").splitlines()
        names.update(line.rsplit("|", 1)[-1] for line in lines[1:] if line.strip())
    return sorted(names)


def multilingual_vits_config(folder, languages=None, output_path: str = "runs/multilingual",
                             max_audio_seconds: float = 6.0, language_dim: int = 8):
    """The project's small stock VITS over the corpus's languages: espeak phonemes for each language through
    Coqui's ``multi_phonemizer``, one shared IPA symbol set, a language embedding and the corpus's speakers."""
    from TTS.tts.configs.shared_configs import CharactersConfig
    from TTS.tts.utils.text.characters import IPAPhonemes

    from coqui_meta_lab.presets import small_vits_config

    datasets = language_datasets(folder, languages)
    config = small_vits_config(None, output_path=output_path, max_audio_seconds=max_audio_seconds,
                               speakers=corpus_speakers(datasets))
    config.datasets = datasets
    config.use_phonemes, config.phonemizer = True, "multi_phonemizer"
    config.phoneme_cache_path = str(Path(output_path) / "phoneme_cache")
    config.text_cleaner = "multilingual_phoneme_cleaners"  # no English number expansion, keeps the case espeak reads
    ipa = IPAPhonemes()
    config.characters = CharactersConfig(
        characters_class="TTS.tts.utils.text.characters.IPAPhonemes", characters=ipa.characters + EXTRA_PHONEMES,
        punctuations=ipa.punctuations, pad=ipa.pad, eos=ipa.eos, bos=ipa.bos, blank=ipa.blank, phonemes=None,
        is_unique=False, is_sorted=True)
    config.model_args.use_language_embedding = True
    config.model_args.embedded_language_dim = language_dim
    config.languages = [dataset.language for dataset in datasets]
    return config
