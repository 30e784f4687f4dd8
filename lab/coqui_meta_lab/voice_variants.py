"""espeak-ng voice variants the project writes, so the many-voice corpus can grow past the 67 Debian voices (a zero-step
voice needs hundreds of training voices to generalize; espeak-ng variants cost nothing but CPU).

A variant is a small text file (``pitch``, ``formant``, ``tone``, ``breath``, ``flutter``, ``roughness`` lines; see
``/usr/share/doc/espeak-ng/docs/voices.md``) that espeak-ng reads from ``espeak-ng-data/voices/!v/``. The project
never writes into the system's folder: `espeak_data` builds overlays (links to the system's data, with a ``!v`` of
the project's variants only) that espeak-ng reads with ``--path``. Each overlay holds at most `PER_OVERLAY` variants
because espeak-ng lists every voice of its data folder and stops at 349 entries (its 131 languages among them): past
that, ``en-us`` itself is no longer found.

Example::

    chosen = variants(400, seed=0)        # the same 400 files for seed 0, whatever the count (a prefix of 500's)
    data = espeak_data(work / "espeak", chosen)   # name -> the --path that holds it
    voice_clip("espeak-ng", f"en-us+{chosen[0].name}", "hello.", Path("a.wav"), espeak_data=data[chosen[0].name])

Which variants the judge tells apart from each other and from the corpus's voices is the screening's call
(`coqui_meta_lab.voice_screening`), made when the corpus is built (`coqui_meta_lab.voice_corpus`).
"""

from __future__ import annotations

import math
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

PER_OVERLAY = 150  # espeak-ng's voice list: 349 entries at most, 131 of them its languages


@dataclass(frozen=True)
class Variant:
    name: str  # the file's name in !v, as `-v en-us+NAME` asks for it
    text: str  # the file


def variant(seed: int, index: int) -> Variant:
    """Variant ``index`` of ``seed``: random pitch, formants (a vocal tract length that scales formants 1-5, each
    with its own jitter, strength and width), tone, flutter, roughness and, for some, breath. Its own random stream
    (``seed`` and ``index``), so a variant never depends on how many are asked for."""
    rng = random.Random(f"coqui-meta variant {seed} {index}")
    name = f"cm{seed}v{index:04d}"
    base = round(math.exp(rng.uniform(math.log(65), math.log(260))))
    lines = ["language variant", f"name {name}", f"gender {'female' if base >= 150 else 'male'}", "",
             f"pitch {base} {round(base * rng.uniform(1.05, 1.9))}"]
    tract = rng.uniform(0.82, 1.2)
    for formant in range(9):
        scale = tract * rng.uniform(0.93, 1.07) if 1 <= formant <= 5 else rng.uniform(0.9, 1.1)
        lines.append(f"formant {formant} {round(100 * scale)} {rng.randint(55, 145)} {rng.randint(60, 160)}")
    lines.append(f"tone 600 {rng.randint(90, 230)} 1200 {rng.randint(70, 200)} 2000 {rng.randint(50, 180)}")
    lines.append(f"flutter {rng.choice([0, 2, 5, 10, 15, 20, 30, 40])}")
    lines.append(f"roughness {rng.choice([0, 0, 0, 1, 2, 3, 4, 5, 6])}")
    if rng.random() < 0.35:
        lines.append("breath " + " ".join(str(rng.randint(0, 8)) for _ in range(8)))
    return Variant(name, "\n".join(lines) + "\n")


def variants(count: int, seed: int = 0) -> list[Variant]:
    """The first ``count`` variants of ``seed``."""
    if count < 0:
        raise ValueError(f"variants: a count of at least 0, not {count}")
    return [variant(seed, index) for index in range(count)]


def espeak_data(folder, chosen: list[Variant], system: Path | None = None) -> dict[str, Path]:
    """variant name -> the folder to give espeak-ng as ``--path`` to speak it: overlays in ``folder`` of the
    system's espeak-ng data (links, nothing copied) whose ``voices/!v`` holds up to `PER_OVERLAY` of ``chosen``
    (the system's own variants and MBROLA voices left out, to keep espeak-ng's voice list short)."""
    system = Path(system or system_data())
    folder, where = Path(folder), {}
    for start in range(0, len(chosen), PER_OVERLAY):
        root = folder / f"overlay{start // PER_OVERLAY:03d}"
        data = root / "espeak-ng-data"
        (data / "voices" / "!v").mkdir(parents=True, exist_ok=True)
        for entry in system.iterdir():
            if entry.name != "voices" and not (data / entry.name).exists():
                (data / entry.name).symlink_to(entry)
        for one in chosen[start:start + PER_OVERLAY]:
            (data / "voices" / "!v" / one.name).write_text(one.text)
            where[one.name] = root
    return where


def system_data() -> Path:
    """The system's espeak-ng-data folder (as ``espeak-ng --version`` names it)."""
    import subprocess

    if shutil.which("espeak-ng") is None:
        raise RuntimeError("voice variants need espeak-ng: sudo apt-get install espeak-ng")
    found = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
    path = Path(found.split("Data at:")[-1].strip()) if "Data at:" in found else None
    if path is None or not (path / "phontab").is_file():
        raise RuntimeError(f"could not find espeak-ng's data folder in {found.strip()!r}")
    return path
