"""One self-contained HTML page of adaptation reports, for people who would rather look and listen than read JSON:
the curves, the table of every metric by step, and for each held-out voice an audio player per rendition (its real
clip, then each judged step of each model). Everything is inside the file (images and audio as data URIs, audio as
Ogg Vorbis when libsndfile can write it), so it can be mailed or opened offline.

Example::

    write_html([("meta", report, Path("eval_meta/samples"))], Path("eval_meta/report.html"), curves=png_bytes)
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from coqui_meta.files import write_text
from coqui_meta.reports.metrics import held
from coqui_meta.reports.report_json import EvaluationReport

STYLE = """body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f4f4f4}audio{width:11em}
.voice td{text-align:center}.note{color:#555}"""


# says on the page how many players the browser could load (their length), so a reader sees broken audio at once;
# a player that loaded before the script ran (a data URI) counts as loaded
PLAYABLE = """<script>
(function(){var players=document.querySelectorAll('audio'),ok=0,seconds=0,failed=0;
function show(){document.getElementById('playable').textContent=ok+' of '+players.length+' players load ('+
seconds.toFixed(1)+' s of audio), '+failed+' failed';}
function loaded(a){ok++;seconds+=a.duration;show();}
players.forEach(function(a){if(a.readyState>=1){loaded(a);}else{
a.addEventListener('loadedmetadata',function(){loaded(a);});
a.addEventListener('error',function(){failed++;show();});}});show();})();
</script>"""


def sample_name(voice: str, step: int | str) -> str:
    """The file a rendition (``step``) or the real clip (``step="real"``) of ``voice`` is kept as."""
    return f"{voice}_real.wav" if step == "real" else f"{voice}_step{step}.wav"


def _audio(path: Path) -> str:
    if not path.is_file():
        return '<span class="note">not kept</span>'
    import soundfile

    wav, rate = soundfile.read(str(path), dtype="float32")
    buffer, kind = io.BytesIO(), "ogg"
    try:
        soundfile.write(buffer, wav, rate, format="OGG", subtype="VORBIS")
    except (RuntimeError, TypeError, ValueError, soundfile.LibsndfileError):  # a libsndfile without Vorbis
        buffer, kind = io.BytesIO(), "wav"
        soundfile.write(buffer, wav, rate, format="WAV", subtype="PCM_16")
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<audio controls preload="metadata" title="{html.escape(path.name)}" src="data:audio/{kind};base64,{data}">'


Side = tuple[str, EvaluationReport, Path | None]  # a label, a report and its samples folder (None: no audio)


def _table(sides: list[Side]) -> str:
    metrics = held(report for _, report, _ in sides)
    head = "".join(f"<th>{html.escape(label)} {m.label}</th>" for m in metrics for label, _, _ in sides)
    rows = []
    for step in sides[0][1].steps:
        cells = "".join(f"<td>{m.format((report.curve(m.key) or {}).get(step))}</td>"
                        for m in metrics for _, report, _ in sides)
        rows.append(f"<tr><th>{step}</th>{cells}</tr>")
    return f'<table id="metrics"><tr><th>step</th>{head}</tr>{"".join(rows)}</table>'


def _voices(sides: list[Side]) -> str:
    steps = sides[0][1].steps
    parts = []
    for voice in sides[0][1].speakers:
        real = next((folder / sample_name(voice, "real") for _, _, folder in sides if folder is not None), None)
        header = "".join(f"<th>step {step}</th>" for step in steps)
        rows = [f"<tr><th>real clip</th><td colspan={len(steps)}>{_audio(real) if real else ''}</td></tr>"]
        for label, _, folder in sides:
            cells = "".join(f"<td>{_audio(folder / sample_name(voice, step)) if folder else ''}</td>" for step in steps)
            rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
        parts.append(f'<h3>{html.escape(voice)}</h3><table class="voice"><tr><th></th>{header}</tr>'
                     f'{"".join(rows)}</table>')
    return "".join(parts)


def write_html(sides: list[Side], path: Path, curves: bytes | None = None, title: str = "",
               notes: list[str] | None = None) -> Path:
    """``path``: the page of ``sides``, each (label, evaluate report, its samples folder or None)."""
    first = sides[0][1]
    title = title or f"Adaptation to {len(first.speakers)} unseen voices"
    image = ("" if curves is None else
             f'<img id="curves" alt="curves" style="max-width:100%" '
             f'src="data:image/png;base64,{base64.b64encode(curves).decode()}">')
    lines = "".join(f"<li>{html.escape(note)}</li>" for note in notes or [])
    described = "".join(
        f"<li>{html.escape(label)}: {html.escape(str(report.model))} "
        f"({html.escape(str(report.algorithm))}), {report.shots} clips to learn from, "
        f"{report.queries} to judge</li>" for label, report, _ in sides)
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><ul>{described}{lines}</ul>{image}"
            f"<h2>By step</h2>{_table(sides)}<h2>Listen</h2><p id='playable' class='note'></p>{_voices(sides)}"
            f"{PLAYABLE}</body></html>\n")
    write_text(path, page)
    return path
