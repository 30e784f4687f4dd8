"""The many-voice corpus the project makes itself: dozens of Debian voices (espeak-ng's voice variants, flite,
festival) each saying sentences this project writes, so that a small CPU base can learn to tell speakers apart and a
new voice can be judged by a speaker encoder.

Example::

    from coqui_meta.experiments.voice_corpus import build_voice_corpus, held_out_voices
    corpus = build_voice_corpus("runs/voices/corpus", clips_per_voice=30)   # metadata.csv + wavs/<voice>/*.wav
    held_out_voices()                                                     # never trained on, by any model

Voices: `CANDIDATES` is every voice tried; `DROPPED` the ones the speaker judge (Resemblyzer) could not tell from
another candidate on real clips (``benchmarks/judge_calibration.py --corpus voices --screen`` measures it, and
BENCHMARKS.md has the figures); `VOICES` the rest. Held out, by a fixed rule: every fifth voice of `VOICES`
(positions 4, 9, 14, ...), so the rule never looks at how a voice sounds or how a model does on it.

Layout: ``folder/metadata.csv`` (Coqui ``coqui`` format: audio_file|text|speaker_name), ``folder/wavs/<voice>/*.wav``
(16 kHz mono PCM16, trimmed, peak-normalised) and ``folder/corpus.json`` with the settings it was built with.
"""

from __future__ import annotations

from pathlib import Path

from coqui_meta.experiments.debian_voices import install_voices, sentences, staged_corpus, voice_name

# espeak-ng's voice variants (the File column of `espeak-ng --voices=variant`, without "!v/"), in American English.
# Left out before screening: "fast" (the default voice, faster).
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
    "klatt4", "klatt5", "klatt6", "croak", "whisper", "whisperf", "grandpa", "grandma", "adam", "Alex", "Alicia",
    "Andrea", "Andy", "Annie", "AnxiousAndy", "antonio", "aunty", "belinda", "benjamin", "boris", "caleb", "david",
    "Demonic", "Denis", "Diogo", "ed", "edward", "edward2", "Gene", "Gene2", "gustave", "announcer", "Henrique",
    "Hugo", "iven", "iven2", "iven3", "iven4", "Jacky", "john", "kaukovalta", "Lee", "linda", "marcelo", "Marco",
    "Mario", "max",
    "Michael", "michel", "miguel", "Mike", "Mr", "Nguyen", "norbert", "pablo", "paul", "pedro", "quincy",
    "RicishayMax", "RicishayMax2", "RicishayMax3", "rob", "robert", "robosoft", "robosoft2", "robosoft3", "robosoft4",
    "robosoft5", "robosoft6", "robosoft7", "robosoft8", "sandro", "shelby", "steph", "steph2", "steph3", "Storm",
    "Tweaky", "UniRobot", "zac", "anika", "anikaRobot", "travis", "victor",
)
CANDIDATES = (
    *(("espeak-ng", f"en-us+{variant}") for variant in ESPEAK_VARIANTS),
    ("flite", "awb"), ("flite", "rms"), ("flite", "slt"), ("flite", "kal16"),
    ("festival", "voice_kal_diphone"), ("festival", "voice_ked_diphone"),
)
PACKAGES = ("flite", "festival", "festvox-kallpc16k", "festvox-kdlpc16k", "espeak-ng")
# Measured by `python benchmarks/judge_calibration.py --corpus voices --screen --clips 6` (2026-12-05): each voice and
# the kept candidate the judge confuses it with (pair EER above 0.1 on 6 real clips each).
DROPPED: dict[str, str] = {
    'espeak_en_us_grandpa': 'espeak_en_us_Mr',
    'espeak_en_us_klatt': 'espeak_en_us_adam',
    'espeak_en_us_Mr': 'espeak_en_us_croak',
    'espeak_en_us_john': 'espeak_en_us_croak',
    'espeak_en_us_Alex': 'espeak_en_us_croak',
    'espeak_en_us_m8': 'espeak_en_us_robosoft4',
    'espeak_en_us_Mike': 'espeak_en_us_croak',
    'espeak_en_us_adam': 'espeak_en_us_caleb',
    'espeak_en_us_miguel': 'espeak_en_us_michel',
    'espeak_en_us_Michael': 'espeak_en_us_Mario',
    'espeak_en_us_iven4': 'espeak_en_us_iven3',
    'espeak_en_us_klatt6': 'espeak_en_us_caleb',
    'espeak_en_us_klatt5': 'espeak_en_us_klatt4',
    'espeak_en_us_m7': 'espeak_en_us_Denis',
    'espeak_en_us_m2': 'espeak_en_us_m5',
    'espeak_en_us_steph3': 'espeak_en_us_steph2',
    'espeak_en_us_robosoft5': 'espeak_en_us_robosoft4',
    'espeak_en_us_pedro': 'espeak_en_us_max',
    'espeak_en_us_linda': 'espeak_en_us_belinda',
    'espeak_en_us_iven3': 'espeak_en_us_iven2',
    'espeak_en_us_Henrique': 'espeak_en_us_Hugo',
    'espeak_en_us_gustave': 'espeak_en_us_Mario',
    'espeak_en_us_f4': 'espeak_en_us_aunty',
    'espeak_en_us_f2': 'espeak_en_us_f5',
    'festival_kal_diphone': 'flite_kal16',
    'espeak_en_us_anikaRobot': 'espeak_en_us_anika',
    'espeak_en_us_steph2': 'espeak_en_us_steph',
    'espeak_en_us_robosoft8': 'espeak_en_us_RicishayMax',
    'espeak_en_us_robosoft3': 'espeak_en_us_klatt4',
    'espeak_en_us_robert': 'espeak_en_us_rob',
    'espeak_en_us_RicishayMax3': 'espeak_en_us_RicishayMax2',
    'espeak_en_us_michel': 'espeak_en_us_Diogo',
    'espeak_en_us_iven2': 'espeak_en_us_iven',
    'espeak_en_us_Gene2': 'espeak_en_us_Gene',
    'espeak_en_us_edward2': 'espeak_en_us_benjamin',
    'espeak_en_us_caleb': 'espeak_en_us_klatt2',
    'espeak_en_us_croak': 'espeak_en_us_m4',
    'espeak_en_us_m6': 'espeak_en_us_m5',
    'espeak_en_us_m3': 'espeak_en_us_m1',
}
VERSION = 1  # bump when what a setting gives changes


def candidate_names() -> list[str]:
    return [voice_name(engine, voice) for engine, voice in CANDIDATES]


def voices() -> list[tuple[str, str, str]]:
    """(name, engine, voice) of every voice of the corpus: the candidates less `DROPPED`, in `CANDIDATES` order."""
    return [(voice_name(e, v), e, v) for e, v in CANDIDATES if voice_name(e, v) not in DROPPED]


def held_out_voices() -> list[str]:
    """The fixed rule: every fifth voice of the corpus (positions 4, 9, 14, ...), held out from every model."""
    return [name for position, (name, _, _) in enumerate(voices()) if position % 5 == 4]


def training_voices() -> list[str]:
    held = set(held_out_voices())
    return [name for name, _, _ in voices() if name not in held]


def _settings(chosen: list[tuple[str, str, str]], clips_per_voice: int, seed: int) -> dict:
    return {"version": VERSION, "voices": [name for name, _, _ in chosen], "clips_per_voice": clips_per_voice,
            "seed": seed, "sample_rate": 16000}


def build_voice_corpus(folder, clips_per_voice: int = 30, seed: int = 0, chosen=None, jobs: int = 2,
                       progress: bool = True) -> Path:
    """The corpus in ``folder`` (see the module's docstring): every voice of ``chosen`` (default `voices()`) says
    ``clips_per_voice`` sentences of its own. Built aside and renamed into place (`staged_corpus`); a complete one
    with the same settings is reused."""
    chosen = list(chosen if chosen is not None else voices())
    programs = tuple(sorted({"espeak-ng" if e == "espeak-ng" else "flite" if e == "flite" else "text2wave"
                             for _, e, _ in chosen}))

    def plan(work: Path) -> list[tuple]:
        texts = iter(sentences(len(chosen) * clips_per_voice, seed))
        lines, clips = ["audio_file|text|speaker_name"], []
        for name, engine, voice in chosen:
            (work / "wavs" / name).mkdir(parents=True)
            for index in range(clips_per_voice):
                text, relative = next(texts), f"wavs/{name}/{name}_{index:03d}.wav"
                lines.append(f"{relative}|{text}|{name}")
                clips.append((engine, voice, text, work / relative))
        (work / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return clips

    return staged_corpus(folder, _settings(chosen, clips_per_voice, seed), plan, "Debian voices", jobs, progress,
                         prepare=lambda: install_voices(PACKAGES, programs))


MAX_SECONDS = 4.0  # the clips the base and the studies use (nearly all of the corpus: its sentences are short)


def voices_config(corpus, speakers: list[str] | None = None):
    """The many-voice base's stock model: the small VITS preset over the training voices, clips up to `MAX_SECONDS`."""
    from coqui_meta.experiments.presets import small_vits_config, speechocean_dataset

    config = small_vits_config(speechocean_dataset(str(corpus)), max_audio_seconds=MAX_SECONDS + 0.1,
                               speakers=list(speakers if speakers is not None else training_voices()))
    config.run_eval, config.print_step = False, 10**9
    return config
