"""The shortened demo, end to end: many-voice corpus -> shipped base -> meta and plain training -> adaptation ->
comparison."""

import json

import pytest
from conftest import read_in_chromium, run_cli

from coqui_meta_lab.debian_voices import sentences
from coqui_meta_lab.demo import demo_voices
from coqui_meta_lab.voice_corpus import held_out_voices, voices


def test_the_project_writes_enough_distinct_sentences():
    texts = sentences(216)
    assert len(set(texts)) == 216 and all(t.endswith(".") and t == t.lower() for t in texts)


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path):
    result = run_cli("demo", "--quick", "--out_path", str(tmp_path))
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    metadata = (tmp_path / "corpus" / "metadata.csv").read_text().splitlines()[1:]
    assert len({line.split("|")[1] for line in metadata}) == len(metadata)  # every clip a sentence of its own
    assert {line.split("|")[2] for line in metadata} == {name for name, _, _ in voices()}
    judged = demo_voices(quick=True)
    assert set(judged) <= set(held_out_voices()) and len(judged) == 3
    assert "Base: the shipped voices_base.safetensors" in result.stdout
    comparison = json.loads((tmp_path / "compare" / "compare.json").read_text())
    assert len(comparison["rows"]) == 2 and comparison["rows"][1]["algorithm"] == "fomaml"
    assert (tmp_path / "compare" / "compare.png").is_file()
    samples = sorted(p.name for p in (tmp_path / "eval_meta" / "samples").iterdir())
    assert f"{judged[0]}_step0.wav" in samples and f"{judged[0]}_step5.wav" in samples
    assert str(tmp_path / "compare" / "compare.md") in result.stdout
    assert str(tmp_path / "compare" / "compare.html") in result.stdout
    shown = read_in_chromium(tmp_path / "compare" / "compare.html")
    # the table: query loss, similarity and EER of both sides at every step, as their reports hold them
    reports = [json.loads((tmp_path / f"eval_{side}" / "report.json").read_text()) for side in ("plain", "meta")]
    rows = {row[0]: row[1:] for row in shown.rows if row and row[0].isdigit()}
    assert rows["5"] == [f"{report[metric]['5']:.4g}" for metric in ("query_loss", "speaker_similarity", "eer")
                         for report in reports]
    steps = 4  # the quick demo: steps 0, 1, 2, 5
    assert shown.images == 1 and len(shown.audio) == len(judged) * (1 + 2 * steps)  # real clip, then both models
    # the browser plays every rendition's format and none failed (every source decoded: above or in test_evaluate)
    assert shown.players == len(shown.audio) and shown.loaded >= 1 and shown.failed == 0, shown.playable
