"""coqui-meta compare: steps-to-target and speed-up on hand-made reports, and clear errors for bad reports."""

import dataclasses
import json
import math

import pytest
from conftest import run_cli

from coqui_meta.reports.compare import compare, run, steps_to_target
from coqui_meta.reports.metrics import METRICS
from coqui_meta.reports.report_json import EvaluationReport

STEPS = [0, 1, 2, 5, 10, 20, 50, 100]


def write_report(path, model, losses, similarity=None, algorithm=None, **more_curves):
    """An older report.json: the keys DESIGN.md fixes, no more (and ``more_curves``: name -> values by STEPS)."""
    report = {
        "model": model, "algorithm": algorithm, "shots": 5, "queries": 2, "speakers": ["a", "b"], "steps": STEPS,
        "query_loss": {str(s): v for s, v in zip(STEPS, losses)},
        "speaker_similarity": None if similarity is None else {str(s): v for s, v in zip(STEPS, similarity)},
        "eer": None, "wall_seconds": 1.0, "device": "cpu",
        **{name: {str(s): v for s, v in zip(STEPS, values)} for name, values in more_curves.items()},
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
    result = compare([EvaluationReport.load(p) for p in (stock, meta, slow)])
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
    rows = compare([EvaluationReport.load(stock), EvaluationReport.load(zero)])["rows"]
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
        result = run_cli("compare", good, tmp_path / name, "--out_path", tmp_path / "o")
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


def test_the_metric_table_names_fields_of_the_typed_report():
    fields = {field.name for field in dataclasses.fields(EvaluationReport)}
    assert [metric.key for metric in METRICS if metric.key not in fields] == []
    assert {"style_distance", "style_eer", "mcd"} <= {metric.key for metric in METRICS}


def test_every_report_shows_the_style_metrics_a_report_holds(tmp_path):
    """report.md, the HTML page and compare read one metric table: a style task's curves are in all of them."""
    from coqui_meta.reports.evaluation_report import to_markdown
    from coqui_meta.reports.html import _table

    style = dict(style_distance=[2.0, 1.8, 1.5, 1.2, 1.0, 0.9, 0.8, 0.7],
                 style_eer=[0.5, 0.5, 0.4, 0.3, 0.3, 0.2, 0.2, 0.1])
    plain = write_report(tmp_path / "plain.json", "vits", [9, 8, 7, 6, 5, 4, 3, 2], **style)
    faster = {"style_distance": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5], "style_eer": [0.3] * 8}
    meta = write_report(tmp_path / "meta.json", "meta_vits", [8, 6, 4, 2, 2, 2, 2, 2], None, "maml", **faster)
    report = EvaluationReport.load(plain)
    assert report.style_eer[100] == 0.1 and report.mcd is None
    table = to_markdown(report).splitlines()
    assert "| step | query loss | style distance | style EER |" in table
    assert "| 100 | 2 | 0.7 | 0.1 |" in table
    page = _table([("plain", report, None)])
    assert "plain style distance</th>" in page and "plain style EER</th>" in page and "MCD" not in page
    result = run([str(plain), str(meta)], str(tmp_path / "out"))
    # plain's final style distance, 0.7, is reached at step 5 (lower is better), plain itself at step 100
    assert result["rows"][1]["style_distance"]["steps_to_target"] == 5
    assert result["rows"][1]["style_distance"]["speedup"] == pytest.approx(20.0)
    assert result["rows"][1]["style_eer"]["steps_to_target"] is None  # 0.3 never reaches plain's 0.1
    assert "style EER" in (tmp_path / "out" / "compare.md").read_text()
    assert "style distance" in (tmp_path / "out" / "compare.html").read_text()


def test_an_older_report_reads_back_with_its_unknown_keys_and_a_typed_report_survives_its_file(tmp_path):
    old = json.loads(write_report(tmp_path / "old.json", "vits", [3, 2, 1, 1, 1, 1, 1, 1]).read_text())
    (tmp_path / "old.json").write_text(json.dumps({**old, "note": "from an older version"}))
    report = EvaluationReport.load(tmp_path / "old.json")
    assert report.query_loss[0] == 3.0 and report.eer is None and report.stock_model is None
    assert report.source == str(tmp_path / "old.json") and report.extra == {"note": "from an older version"}
    assert report.to_dict()["note"] == "from an older version" and "mcd" not in report.to_dict()

    report = dataclasses.replace(report, mcd={0: 7.5, 1: None}, per_speaker={"a": {"query_loss": {0: 3.0, 1: 2.0}}},
                                 rates={"emb_g.weight": [0.01, 0.02]}, lr=None)
    report.write(tmp_path / "new.json")
    again = EvaluationReport.load(tmp_path / "new.json")
    assert again == report and again.per_speaker["a"]["query_loss"][1] == 2.0
    assert json.loads((tmp_path / "new.json").read_text())["mcd"] == {"0": 7.5, "1": None}
