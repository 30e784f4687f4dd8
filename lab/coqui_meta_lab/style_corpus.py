"""The style corpus the project makes itself: the same espeak-ng voices each saying sentences this project writes in
several speaking styles that differ in prosody (rate, pitch level, pitch range, emphasis), with the style in Coqui's
``emotion_name`` column, so that a style can be a task.

Example::

    from coqui_meta_lab.style_corpus import build_style_corpus, held_out_styles
    corpus = build_style_corpus("runs/styles/corpus")   # metadata.csv (audio_file|text|speaker_name|emotion_name)
    held_out_styles()                                  # ["high", "emphatic"]: never trained on, by any model

Styles (`STYLES`) are espeak-ng's own controls: words per minute, and SSML's ``prosody`` pitch and range and
``emphasis`` (`coqui_meta_lab.debian_voices.Prosody`). A whispered style is not among them: espeak-ng's
whisper is a voice variant of its own, so it would change the voice, not the style. Held out, by a fixed rule: every
fourth style of `STYLES` (positions 3 and 7), a rule that never looks at how a style sounds or how a model does on it.

Layout: ``folder/metadata.csv``, ``folder/wavs/<voice>/<style>/*.wav`` (16 kHz mono PCM16, trimmed, peak-normalised)
and ``folder/corpus.json`` with the settings it was built with.
"""

from __future__ import annotations

from pathlib import Path

from coqui_meta_lab.debian_voices import Prosody, install_voices, sentences, staged_corpus, voice_name

STYLES: dict[str, Prosody] = {
    "neutral": Prosody(),
    "fast": Prosody(rate=230),
    "slow": Prosody(rate=105),
    "high": Prosody(pitch="x-high"),
    "low": Prosody(pitch="x-low"),
    "monotone": Prosody(range="x-low"),
    "lively": Prosody(range="x-high"),
    "emphatic": Prosody(rate=120, emphasis="strong"),
}
# espeak-ng en-us voice variants, four male and four female, all training voices of the many-voice corpus: its base
# knows them (a style base starts from it), and no voice held out there is trained on here
VOICES = ("m1", "m4", "m5", "david", "f1", "f5", "Annie", "Alicia")
VERSION = 2  # bump when what a setting gives changes
MAX_SECONDS = 6.5  # the clips the style bases and studies use: all (the longest, emphatic and slow, are about 6.4 s)


def voice_names(variants=VOICES) -> list[str]:
    """The many-voice corpus's names of these variants (``espeak_en_us_m1``)."""
    return [voice_name("espeak-ng", f"en-us+{variant}") for variant in variants]


def held_out_styles() -> list[str]:
    """The fixed rule: every fourth style of `STYLES` (positions 3, 7), held out from every model."""
    return [name for position, name in enumerate(STYLES) if position % 4 == 3]


def training_styles() -> list[str]:
    held = set(held_out_styles())
    return [name for name in STYLES if name not in held]


def build_style_corpus(folder, clips_per_style: int = 12, seed: int = 0, variants=VOICES, jobs: int = 2,
                       progress: bool = True) -> Path:
    """The corpus in ``folder`` (see the module's docstring): each voice of ``variants`` says ``clips_per_style``
    sentences of its own in every style (each clip a sentence no other clip says). Built aside and renamed into place
    (`staged_corpus`); a complete one with the same settings is reused."""
    variants = list(variants)
    settings = {"version": VERSION, "voices": variants, "styles": {name: vars(p) for name, p in STYLES.items()},
                "clips_per_style": clips_per_style, "seed": seed, "sample_rate": 16000}

    def plan(work: Path) -> list[tuple]:
        texts = iter(sentences(len(variants) * len(STYLES) * clips_per_style, seed))
        lines, clips = ["audio_file|text|speaker_name|emotion_name"], []
        for variant, name in zip(variants, voice_names(variants)):
            for style, prosody in STYLES.items():
                (work / "wavs" / name / style).mkdir(parents=True)
                for index in range(clips_per_style):
                    text, relative = next(texts), f"wavs/{name}/{style}/{name}_{style}_{index:03d}.wav"
                    lines.append(f"{relative}|{text}|{name}|{style}")
                    clips.append(("espeak-ng", f"en-us+{variant}", text, work / relative, prosody))
        (work / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return clips

    return staged_corpus(folder, settings, plan, "espeak-ng styles", jobs, progress,
                         prepare=lambda: install_voices(("espeak-ng",), ("espeak-ng",)))
