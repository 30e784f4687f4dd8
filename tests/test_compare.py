"""coqui-meta compare: steps-to-target and speed-up on hand-made reports, and clear errors for bad reports."""

import json
import math
import subprocess
import sys

import pytest

from coqui_meta.voices.compare import compare, load_report, run, steps_to_target

STEPS = [0, 1, 2, 5, 10, 20, 50, 100]


def write_report(path, model, losses, similarity=None, algorithm=None):
    report = {
        "model": model, "algorithm": algorithm, "shots": 5, "queries": 2, "speakers": ["a", "b"], "steps": STEPS,
        "query_loss": {str(s): v for s, v in zip(STEPS, losses)},
        "speaker_similarity": None if similarity is None else {str(s): v for s, v in zip(STEPS, similarity)},
        "eer": None, "wall_seconds": 1.0, "device": "cpu",
    }
    path.write_text(json.dumps(report))
    return path


def test_steps_to_target_is_the_first_step_that_reaches_it():
    curve = {0: 5.0, 1: 4.0, 5: 3.0, 10: 2.9, 100: 2.0}
    assert steps_to_target(curve, 3.0, lower_is_better=True) == 5
    assert steps_to_target(curve, 1.0, lower_is_better=True) is None
    assert steps_to_target({0: 0.1, 5: 0.5, 10: 0.8}, 0.5, lower_is_better=False) == 5


def test_compare_counts_steps_against_the_baselines_last_value(tmp_path):
    stock = write_report(
        tmp_path / "stock.json", "vits", [9, 8.5, 8, 7, 6, 5, 4.5, 4.0], [0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6]
    )
    meta = write_report(
        tmp_path / "meta.json",
        "meta_vits",
        [8, 7, 6, 3.9, 3.5, 3, 2.8, 2.5],
        [0.2, 0.3, 0.4, 0.6, 0.7, 0.7, 0.8, 0.8],
        "maml",
    )
    slow = write_report(tmp_path / "slow.json", "meta_vits", [9, 9, 9, 9, 9, 9, 9, 9], None, "reptile")
    result = compare([load_report(p) for p in (stock, meta, slow)])
    base, fast, never = result["rows"]
    assert base["query_loss"]["steps_to_target"] == 100 and base["query_loss"]["speedup"] == 1.0
    assert fast["query_loss"]["steps_to_target"] == 5
    assert fast["query_loss"]["speedup"] == pytest.approx(20.0)
    assert fast["speaker_similarity"]["steps_to_target"] == 5 and fast["speaker_similarity"]["target"] == 0.6
    assert never["query_loss"]["steps_to_target"] is None and never["query_loss"]["speedup"] is None
    assert never["speaker_similarity"] is None


def test_reaching_the_target_at_step_zero_is_an_infinite_speedup(tmp_path):
    stock = write_report(tmp_path / "stock.json", "vits", [9, 8, 7, 6, 5, 4, 3, 2])
    zero = write_report(tmp_path / "zero.json", "meta_vits", [1.5] * 8)
    rows = compare([load_report(stock), load_report(zero)])["rows"]
    assert rows[1]["query_loss"]["steps_to_target"] == 0 and math.isinf(rows[1]["query_loss"]["speedup"])


def test_run_writes_table_json_and_plot(tmp_path):
    stock = write_report(tmp_path / "stock.json", "vits", [9, 8.5, 8, 7, 6, 5, 4.5, 4.0], [0.1] * 8)
    meta = write_report(tmp_path / "meta.json", "meta_vits", [8, 7, 6, 3.9, 3.5, 3, 2.8, 2.5], [0.2] * 8, "maml")
    run([str(stock), str(meta)], str(tmp_path / "out"))
    table = (tmp_path / "out" / "compare.md").read_text()
    assert "| 5 | 20 |" in table
    assert json.loads((tmp_path / "out" / "compare.json").read_text())["rows"][1]["query_loss"]["steps_to_target"] == 5
    assert (tmp_path / "out" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")], "no temporary files left"


def test_bad_reports_get_errors_that_name_the_file(tmp_path):
    good = write_report(tmp_path / "good.json", "vits", [1] * 8)
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"model": "vits"}))
    for name, message in (
        ("missing.json", "report not found"),
        ("broken.json", "not valid JSON"),
        ("other.json", "lacks steps, query_loss"),
    ):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "coqui_meta.cli",
                "compare",
                str(good),
                str(tmp_path / name),
                "--out_path",
                str(tmp_path / "o"),
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0
        assert message in result.stderr and name in result.stderr
    assert not (tmp_path / "o").exists(), "nothing written when an input is bad"


def test_a_different_adaptation_procedure_is_named_in_the_table(tmp_path):
    stock = write_report(tmp_path / "stock.json", "vits", [9, 8, 7, 6, 5, 4, 3, 2])
    other = json.loads(write_report(tmp_path / "meta.json", "meta_vits", [8] * 8, None, "maml").read_text())
    other.update(lr=0.1, shots=10)
    (tmp_path / "meta.json").write_text(json.dumps(other))
    result = run([str(stock), str(tmp_path / "meta.json")], str(tmp_path / "out"))
    assert any("shots is 10, the baseline's is 5" in line for line in result["differences"])
    assert "shots is 10" in (tmp_path / "out" / "compare.md").read_text()
    # an infinite speed-up is stored as strict JSON
    zero = write_report(tmp_path / "zero.json", "meta_vits", [1.5] * 8)
    run([str(stock), str(zero)], str(tmp_path / "out2"))
    assert json.loads((tmp_path / "out2" / "compare.json").read_text())["rows"][1]["query_loss"]["speedup"] is None
