"""Clips from the Debian voices on the machine (flite, festival, espeak-ng) saying sentences this project writes: what
the project's corpora (`coqui_meta_lab.voice_corpus`, `coqui_meta_lab.language_corpus`) are made of.

Example::

    install_voices()                                             # apt-get them when missing (as root), else say how
    voice_clip("espeak-ng", "en-us+f3", sentences(1)[0], Path("clip.wav"))   # 16 kHz mono, trimmed, normalised
    voice_clip("espeak-ng", "en-us+f3", "slowly now.", Path("slow.wav"), Prosody(rate=105, range="x-low"))
    staged_corpus(folder, settings, plan)   # a corpus built aside and renamed into place; reused when settings match
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

SAMPLE_RATE = 16000
PACKAGES = ("flite", "festival", "festvox-kallpc16k", "festvox-kdlpc16k", "espeak-ng")
PROGRAMS = ("flite", "text2wave", "espeak-ng")

SUBJECTS = ["the old man", "a young girl", "my brother", "the teacher", "our neighbour", "the doctor", "a small dog",
            "the farmer", "her friend", "the baker", "his sister", "the captain"]
VERBS = ["found", "painted", "carried", "opened", "cleaned", "sold", "bought", "watched", "fixed", "moved"]
OBJECTS = ["a red box", "the blue door", "an old chair", "the green boat", "a heavy bag", "the wooden table",
           "a bright lamp", "the broken clock", "a warm coat", "the silver key"]
PLACES = ["this morning", "near the river", "after lunch", "in the garden", "before the rain", "at the station",
          "last week", "by the window", "on sunday", "at noon"]


def sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct sentences from the project's own word lists (12 000 possible)."""
    every = [f"{s} {v} {o} {p}." for s, v, o, p in itertools.product(SUBJECTS, VERBS, OBJECTS, PLACES)]
    return random.Random(seed).sample(every, count)


def voice_name(engine: str, voice: str) -> str:
    return f"{engine.split('-')[0]}_{voice.replace('+', '_').replace('-', '_')}".replace("voice_", "")


def missing_programs(programs: tuple[str, ...] = PROGRAMS) -> list[str]:
    return [p for p in programs if shutil.which(p) is None]


def install_voices(packages: tuple[str, ...] = PACKAGES, programs: tuple[str, ...] = PROGRAMS) -> None:
    """apt-get the Debian voices (``packages``, which give ``programs``) when they are missing (as root), else say
    how."""
    if not missing_programs(programs):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    install = [*sudo, "apt-get", "install", "-y", "-q", *packages]
    print("Installing the Debian voices:", " ".join(install))
    result = subprocess.run(install, capture_output=True, text=True)
    if result.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run([*sudo, "apt-get", "update", "-q"], capture_output=True, text=True)
        result = subprocess.run(install, capture_output=True, text=True)
    if result.returncode != 0 or missing_programs(programs):
        raise RuntimeError(
            f"the demo needs {', '.join(missing_programs(programs))}; install them with: sudo apt-get install "
            f"{' '.join(packages)}"
            f"\n{result.stderr[-500:]}"
        )


@dataclass(frozen=True)
class Prosody:
    """How espeak-ng is asked to speak: ``rate`` in words per minute, and SSML's ``prosody`` pitch and range and
    ``emphasis`` level (None: espeak-ng's own)."""

    rate: int = 150
    pitch: str | None = None
    range: str | None = None
    emphasis: str | None = None

    def ssml(self, text: str) -> str | None:
        """``text`` as SSML with these settings, or None when plain text says it."""
        if self.emphasis:
            text = f'<emphasis level="{self.emphasis}">{text}</emphasis>'
        attributes = " ".join(f'{key}="{value}"' for key, value in (("pitch", self.pitch), ("range", self.range))
                              if value)
        if attributes:
            text = f"<prosody {attributes}>{text}</prosody>"
        return f"<speak>{text}</speak>" if attributes or self.emphasis else None


def _say(engine: str, voice: str, text: str, path: Path, prosody: Prosody | None = None,
         espeak_data: Path | None = None) -> None:
    if (prosody is not None or espeak_data is not None) and engine != "espeak-ng":
        raise ValueError(f"only espeak-ng speaks with a prosody setting or its own data folder, not {engine}")
    if espeak_data is not None and "+" in voice:  # espeak-ng quietly speaks the plain voice for a missing variant
        variant = Path(espeak_data) / "espeak-ng-data" / "voices" / "!v" / voice.split("+", 1)[1]
        if not variant.is_file():
            raise FileNotFoundError(f"espeak-ng variant {variant} is missing: it would speak the plain voice")
    if engine == "flite":
        command, stdin = ["flite", "-voice", voice, "-t", text, "-o", str(path)], None
    elif engine == "festival":
        command, stdin = ["text2wave", "-eval", f"({voice})", "-o", str(path)], text
    else:
        prosody = prosody or Prosody()
        ssml = prosody.ssml(text)
        command = ["espeak-ng", "-v", voice, "-s", str(prosody.rate), "-w", str(path)]
        command += [f"--path={espeak_data}"] if espeak_data is not None else []
        command, stdin = (command + ["-m", ssml] if ssml else command + [text]), None
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)
    if result.returncode != 0 or not path.is_file():
        raise RuntimeError(f"{engine} voice {voice} failed on {text!r}: {result.stderr[-300:]}")


def voice_clip(engine: str, voice: str, text: str, target: Path, prosody: Prosody | None = None,
               espeak_data: Path | None = None) -> None:
    """``target``: ``voice`` of ``engine`` saying ``text`` (espeak-ng: with ``prosody``, and from the data folder
    ``espeak_data`` when given: the project's voice variants, `coqui_meta_lab.voice_variants`), 16 kHz mono,
    trimmed and normalised (the corpora's clip)."""
    import librosa
    import soundfile

    with tempfile.TemporaryDirectory() as work:
        raw = Path(work) / "raw.wav"
        _say(engine, voice, text, raw, prosody, espeak_data)
        wav, rate = soundfile.read(str(raw), dtype="float32", always_2d=True)
    wav = wav.mean(axis=1)
    if rate != SAMPLE_RATE:
        wav = librosa.resample(wav, orig_sr=rate, target_sr=SAMPLE_RATE)
    wav, _ = librosa.effects.trim(wav, top_db=40)
    wav = 0.9 * wav / max(float(np.abs(wav).max()), 1e-6)
    soundfile.write(str(target), wav, SAMPLE_RATE, subtype="PCM_16")


def staged_corpus(folder, settings: dict, plan: Callable[[Path], list[tuple]], describe: str, jobs: int = 2,
                  progress: bool = True, prepare: Callable[[], None] | None = None,
                  finish: Callable[[Path], None] | None = None) -> Path:
    """A corpus of Debian-voice clips in ``folder``, made the one way every corpus of the project is made: reused
    when its ``corpus.json`` holds ``settings``; otherwise ``prepare()`` (installing or checking the voices, before
    anything is written), then ``plan(work)`` writes the metadata into a sibling staging folder and returns the clips
    to say there (`voice_clip`'s arguments), which are said ``jobs`` at a time, then ``finish(work)`` (e.g. the
    judge's screening), and the folder is renamed into place, so a crash leaves no half corpus. A folder of other
    files is refused, not overwritten."""
    from tqdm.auto import tqdm

    folder = Path(folder)
    stamp = folder / "corpus.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == settings:
        return folder
    if folder.exists() and any(folder.iterdir()) and not stamp.is_file():
        raise ValueError(f"{folder} holds files but no corpus.json: not a corpus this project built; "
                         "remove it or choose another folder")
    if prepare is not None:
        prepare()
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.building-", dir=folder.parent))
    try:
        clips = plan(work)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            done = pool.map(lambda clip: voice_clip(*clip), clips)
            list(tqdm(done, total=len(clips), desc=f"corpus ({describe})", unit="clip", disable=not progress))
        if finish is not None:
            finish(work)
        (work / "corpus.json").write_text(json.dumps(settings, indent=1) + "\n")
        if folder.exists():  # an older corpus of other settings: ours (it has corpus.json), replaced whole
            shutil.rmtree(folder)
        work.rename(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder
