"""The many-voice corpus the project makes itself: dozens of Debian voices (espeak-ng's voice variants, flite,
festival) each saying sentences this project writes, so that a small CPU base can learn to tell speakers apart and a
new voice can be judged by a speaker encoder.

Example::

    from coqui_meta_lab.voice_corpus import build_voice_corpus, held_out_voices
    corpus = build_voice_corpus("runs/voices/corpus", clips_per_voice=30)   # metadata.csv + wavs/<voice>/*.wav
    held_out_voices()                                                     # never trained on, by any model

Voices: `CANDIDATES` is every voice tried; `DROPPED` the ones the speaker judge (Resemblyzer) could not tell from
another candidate on real clips (``benchmarks/judge_calibration.py --corpus voices --screen`` measures it, and
BENCHMARKS.md has the figures); `VOICES` the rest. Held out, by a fixed rule: every fifth voice of `VOICES`
(positions 4, 9, 14, ...), so the rule never looks at how a voice sounds or how a model does on it.

Grown (``build_voice_corpus(..., variants=N)``): N espeak-ng voice variants the project writes
(`coqui_meta_lab.voice_variants`) join the voices, screened by the judge on their clips against every other voice
(a variant it confuses with any goes, `VOICES` never do: no near-copy of a held-out voice can train a model). The kept
ones follow `VOICES` in the list, and the same rule holds every fifth voice of that list out: today's 13 held-out
voices stay as they are, and every fifth kept variant joins them. `held_out_voices(corpus)` and
`training_voices(corpus)` read what a grown corpus kept (``variants.json``); without ``variants`` the corpus is
today's, byte for byte.

Layout: ``folder/metadata.csv`` (Coqui ``coqui`` format: audio_file|text|speaker_name), ``folder/wavs/<voice>/*.wav``
(16 kHz mono PCM16, trimmed, peak-normalised) and ``folder/corpus.json`` with the settings it was built with.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from coqui_meta_lab.debian_voices import install_voices, sentences, staged_corpus, voice_name

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


def corpus_voices(corpus=None) -> list[str]:
    """Every voice of a corpus in its fixed order: `voices()`, then the variants a grown ``corpus`` kept."""
    record = None if corpus is None else Path(corpus) / "variants.json"
    kept = json.loads(record.read_text())["kept"] if record is not None and record.is_file() else []
    return [name for name, _, _ in voices()] + kept


def held_out_voices(corpus=None) -> list[str]:
    """The fixed rule: every fifth voice of the corpus (positions 4, 9, 14, ...), held out from every model
    (the variants a grown ``corpus`` kept continue the list, so today's held-out voices stay the same)."""
    return corpus_voices(corpus)[4::5]


def training_voices(corpus=None) -> list[str]:
    held = set(held_out_voices(corpus))
    return [name for name in corpus_voices(corpus) if name not in held]


def _settings(chosen: list[tuple[str, str, str]], clips_per_voice: int, seed: int) -> dict:
    return {"version": VERSION, "voices": [name for name, _, _ in chosen], "clips_per_voice": clips_per_voice,
            "seed": seed, "sample_rate": 16000}


def build_voice_corpus(folder, clips_per_voice: int = 30, seed: int = 0, chosen=None, jobs: int = 2,
                       progress: bool = True, variants: int = 0, variant_seed: int = 0,
                       max_pair_eer: float = 0.1) -> Path:
    """The corpus in ``folder`` (see the module's docstring): every voice of ``chosen`` (default `voices()`) says
    ``clips_per_voice`` sentences of its own. Built aside and renamed into place (`staged_corpus`); a complete one
    with the same settings is reused.

    ``variants``: grown by that many voice variants of ``variant_seed`` (each saying ``clips_per_voice`` of the
    sentences, its own draw), screened by the judge (`coqui_meta_lab.voice_screening`: a variant in a pair whose
    EER exceeds ``max_pair_eer`` goes, the voices of ``chosen`` never do); ``folder/variants.json`` records what was
    written, kept and dropped and the judge's figures over the kept voices (and over the kept variants alone),
    ``folder/variants/`` the kept files and ``folder/embeddings.npz`` the judge's embeddings of the kept voices'
    clips (`coqui_meta_lab.voice_screening.read_embeddings`)."""
    from coqui_meta_lab import voice_variants

    chosen = list(chosen if chosen is not None else voices())
    programs = tuple(sorted({"espeak-ng" if e == "espeak-ng" else "flite" if e == "flite" else "text2wave"
                             for _, e, _ in chosen} | ({"espeak-ng"} if variants else set())))
    written = voice_variants.variants(variants, variant_seed)
    names = {one.name: voice_name("espeak-ng", f"en-us+{one.name}") for one in written}
    settings = _settings(chosen, clips_per_voice, seed)
    if variants:
        settings.update(variants=variants, variant_seed=variant_seed, max_pair_eer=max_pair_eer)
    started = time.monotonic()

    def plan(work: Path) -> list[tuple]:
        texts = iter(sentences(len(chosen) * clips_per_voice, seed))
        lines, clips = ["audio_file|text|speaker_name"], []
        for name, engine, voice in chosen:
            (work / "wavs" / name).mkdir(parents=True)
            for index in range(clips_per_voice):
                text, relative = next(texts), f"wavs/{name}/{name}_{index:03d}.wav"
                lines.append(f"{relative}|{text}|{name}")
                clips.append((engine, voice, text, work / relative))
        data = voice_variants.espeak_data(work / "espeak", written) if written else {}
        for one in written:
            name = names[one.name]
            (work / "wavs" / name).mkdir(parents=True)
            for index, text in enumerate(sentences(clips_per_voice, f"{seed} {one.name}")):
                relative = f"wavs/{name}/{name}_{index:03d}.wav"
                lines.append(f"{relative}|{text}|{name}")
                clips.append(("espeak-ng", f"en-us+{one.name}", text, work / relative, None, data[one.name]))
        (work / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return clips

    def screen(work: Path) -> None:
        from coqui_meta_lab.voice_screening import embed_corpus, screen_voices, write_embeddings

        shutil.rmtree(work / "espeak")
        base = [name for name, _, _ in chosen]
        embeddings = embed_corpus(work, progress=progress)
        result = screen_voices(embeddings, base + list(names.values()), max_pair_eer=max_pair_eer, fixed=base)
        kept = [name for name in result["kept"] if name not in set(base)]
        alone = screen_voices(embeddings, kept, max_pair_eer=1.0) if len(kept) >= 2 else None  # drops nothing
        write_embeddings({name: embeddings[name] for name in result["kept"]}, work / "embeddings.npz")
        (work / "variants").mkdir()
        for one in written:
            if names[one.name] in kept:
                (work / "variants" / one.name).write_text(one.text)
            else:
                shutil.rmtree(work / "wavs" / names[one.name])
        lines = (work / "metadata.csv").read_text(encoding="utf-8").splitlines()
        gone = {name for name in names.values() if name not in kept}
        (work / "metadata.csv").write_text(
            "\n".join(line for line in lines if line.rsplit("|", 1)[-1] not in gone) + "\n", encoding="utf-8")
        record = {"written": len(written), "kept": kept, "dropped": result["dropped"],
                  **{key: result[key] for key in ("eer", "same_voice_cosine", "other_voice_cosine", "closest_pair")},
                  "kept_variants_alone": alone and {key: alone[key] for key in
                                                    ("eer", "same_voice_cosine", "other_voice_cosine", "closest_pair")},
                  "confused_pairs": result["confused_pairs"], "seconds": round(time.monotonic() - started)}
        (work / "variants.json").write_text(json.dumps(record, indent=1) + "\n")

    def prepare() -> None:
        install_voices(PACKAGES, programs)
        if variants:
            from coqui_meta.judging.speaker_judge import SpeakerJudge

            if SpeakerJudge.load() is None:
                raise RuntimeError(f"a grown corpus is screened by the speaker judge: {SpeakerJudge.unavailable}")

    describe = f"Debian voices and {variants} variants" if variants else "Debian voices"
    return staged_corpus(folder, settings, plan, describe, jobs, progress, prepare=prepare,
                         finish=screen if variants else None)


MAX_SECONDS = 4.0  # the clips the base and the studies use (nearly all of the corpus: its sentences are short)


def voices_config(corpus, speakers: list[str] | None = None):
    """The many-voice base's stock model: the small VITS preset over the training voices (a grown corpus's with its
    variants), clips up to `MAX_SECONDS`."""
    from coqui_meta_lab.presets import small_vits_config, speechocean_dataset

    config = small_vits_config(speechocean_dataset(str(corpus)), max_audio_seconds=MAX_SECONDS + 0.1,
                               speakers=list(speakers if speakers is not None else training_voices(corpus)))
    config.run_eval, config.print_step = False, 10**9
    return config
