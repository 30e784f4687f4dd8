"""The shortened demo, end to end: Debian voices -> corpus -> meta and plain training -> adaptation -> comparison."""

import json

import pytest
from conftest import read_in_chromium, run_cli

from coqui_meta.experiments.demo import sentences


def test_the_project_writes_enough_distinct_sentences():
    texts = sentences(216)
    assert len(set(texts)) == 216 and all(t.endswith(".") and t == t.lower() for t in texts)


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path):
    result = run_cli("demo", "--quick", "--out_path", str(tmp_path))
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    metadata = (tmp_path / "corpus" / "metadata.csv").read_text().splitlines()[1:]
    assert len({line.split("|")[1] for line in metadata}) >= 200
    assert len({line.split("|")[2] for line in metadata}) == 12
    comparison = json.loads((tmp_path / "compare" / "compare.json").read_text())
    assert len(comparison["rows"]) == 2 and comparison["rows"][1]["algorithm"] == "fomaml"
    assert (tmp_path / "compare" / "compare.png").is_file()
    samples = sorted(p.name for p in (tmp_path / "eval_meta" / "samples").iterdir())
    assert "flite_rms_step0.wav" in samples and "flite_rms_step5.wav" in samples
    assert str(tmp_path / "compare" / "compare.md") in result.stdout
    assert str(tmp_path / "compare" / "compare.html") in result.stdout
    shown = read_in_chromium(tmp_path / "compare" / "compare.html")
    voices, steps = 2, 4  # the quick demo: flite_rms and festival_ked_diphone, steps 0, 1, 2, 5
    assert shown.images == 1 and len(shown.audio) == voices * (1 + 2 * steps)  # real clip, then both models
    assert shown.playable.startswith(f"{len(shown.audio)} of {len(shown.audio)} players load")
