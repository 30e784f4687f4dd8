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
    reports = [json.loads((tmp_path / f"eval_{side}" / "report.json").read_text()) for side in ("plain", "meta")]
    assert_comparison_holds_the_reports_values(comparison, reports)
    assert_curves_are_drawn(tmp_path / "compare" / "compare.png", reports)
    samples = sorted(p.name for p in (tmp_path / "eval_meta" / "samples").iterdir())
    assert f"{judged[0]}_step0.wav" in samples and f"{judged[0]}_step5.wav" in samples
    assert str(tmp_path / "compare" / "compare.md") in result.stdout
    assert str(tmp_path / "compare" / "compare.html") in result.stdout
    shown = read_in_chromium(tmp_path / "compare" / "compare.html")
    # the table: query loss, similarity and EER of both sides at every step, as their reports hold them
    rows = {row[0]: row[1:] for row in shown.rows if row and row[0].isdigit()}
    assert rows["5"] == [f"{report[metric]['5']:.4g}" for metric in ("query_loss", "speaker_similarity", "eer")
                         for report in reports]
    steps = 4  # the quick demo: steps 0, 1, 2, 5
    assert shown.images == 1 and len(shown.audio) == len(judged) * (1 + 2 * steps)  # real clip, then both models
    # the browser plays every rendition's format: every player loaded (its length known), none failed
    assert shown.players == len(shown.audio) and shown.loaded == shown.players and shown.failed == 0, shown.playable
    assert shown.playable.startswith(f"{shown.players} of {shown.players} players load"), shown.playable  # own count


LOWER_IS_BETTER = {"query_loss": True, "speaker_similarity": False, "eer": True}


def assert_comparison_holds_the_reports_values(comparison, reports):
    """compare.json's numbers, recomputed from the reports: the target is the baseline's (plain) last value, each
    row's final value is its report's last, steps-to-target the first step at the target or better."""
    for row, report in zip(comparison["rows"], reports):
        for metric, lower in LOWER_IS_BETTER.items():
            curve = {int(step): value for step, value in report[metric].items()}
            last = max(curve)
            target = {int(step): value for step, value in reports[0][metric].items()}[last]
            reached = [step for step in sorted(curve) if (curve[step] <= target if lower else curve[step] >= target)]
            assert row[metric]["final"] == pytest.approx(curve[last]), (row["algorithm"], metric)
            assert row[metric]["target"] == pytest.approx(target), (row["algorithm"], metric)
            assert row[metric]["steps_to_target"] == (reached[0] if reached else None), (row["algorithm"], metric)


def assert_curves_are_drawn(path, reports):
    """compare.png read back: one 6 x 4 inch panel (120 dpi) per metric the reports hold, and both runs' curves in it
    (matplotlib's first two colours, C0 and C1, each on a visible share of the pixels)."""
    import numpy as np
    from PIL import Image

    metrics = ("query_loss", "speaker_similarity", "eer", "mcd", "style_distance", "style_eer")
    panels = sum(any(report.get(metric) for report in reports) for metric in metrics)
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert image.shape == (4 * 120, panels * 6 * 120, 3)
    assert (image.min(axis=2) < 250).mean() > 0.01, "not a blank page"
    for colour in ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):  # C0: the baseline's curves, C1: the meta model's
        near = (np.abs(image - np.array(colour)).max(axis=2) <= 12).sum()
        assert near >= 50 * panels, f"too few pixels of the curve colour {colour}: {near}"
