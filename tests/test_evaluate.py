"""`coqui-meta evaluate` on real clips: the report a user reads, identical procedure for meta and stock
checkpoints, determinism, and clear errors."""

import json

import numpy as np
import pytest
import torch
from conftest import build_meta_model, read_in_chromium, run_cli

from coqui_meta import MetaLearningConfig
from coqui_meta.adapting.settings import AdaptationSettings
from coqui_meta.judging.evaluation import evaluate
from coqui_meta.reports.report_json import EvaluationReport

CPU = AdaptationSettings(device="cpu")

DESIGN_KEYS = {"model", "algorithm", "shots", "queries", "speakers", "steps", "query_loss", "speaker_similarity", "eer",
               "wall_seconds", "device"}


def curve_pixels(path, panels: int) -> tuple[tuple[int, int], list[int]]:
    """curves.png as matplotlib reads it back: its height and width, and in each of its ``panels`` side-by-side panels
    the pixels drawn in the mean curve's colour (matplotlib's first, C0): none in a blank or empty panel."""
    import matplotlib.image
    from matplotlib.colors import to_rgb

    image = matplotlib.image.imread(str(path))[..., :3]
    mean_colour = np.isclose(image, to_rgb("C0"), atol=0.02).all(axis=-1)
    width = image.shape[1] // panels
    return image.shape[:2], [int(mean_colour[:, i * width:(i + 1) * width].sum()) for i in range(panels)]


def test_evaluate_writes_the_report_and_is_deterministic(tiny_vits, corpus, tmp_path):
    folder, known = tiny_vits
    args = ["--model_path", str(folder / "model.pth"), "--config_path", str(folder / "meta_config.json"),
            "--data", str(corpus), "--speakers", "2", "--shots", "2", "--queries", "2", "--steps", "0,1,3", "--mcd"]
    first = run_cli("evaluate", *args, "--out_path", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr[-3000:]
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert DESIGN_KEYS <= report.keys()
    assert report["model"] == "meta_vits" and report["algorithm"] == "fomaml" and report["shots"] == 2
    assert report["steps"] == [0, 1, 3] and len(report["speakers"]) == 2
    assert not set(report["speakers"]) & set(known), "evaluate must pick speakers the model never saw"
    for metric in ("query_loss", "speaker_similarity", "eer", "mcd"):
        assert set(report[metric]) == {"0", "1", "3"} and all(v is not None for v in report[metric].values()), metric
    assert report["query_loss"]["3"] < report["query_loss"]["0"], "adapting on the support clips lowers the query loss"
    assert all(len(report["per_speaker"][name]["query_loss"]) == 3 for name in report["speakers"])
    table = (tmp_path / "a" / "report.md").read_text().splitlines()
    assert "| step | query loss | speaker similarity | EER | MCD (dB) |" in table
    assert f"| 3 | {report['query_loss']['3']:.4g} | {report['speaker_similarity']['3']:.4g} |" in "\n".join(table)
    size, drawn = curve_pixels(tmp_path / "a" / "curves.png", panels=4)  # one panel a metric, 5 x 4 inches at 110 dpi
    assert size == (440, 4 * 550) and min(drawn) > 20, drawn
    assert (tmp_path / "a" / "samples" / f"{report['speakers'][0]}_step3.wav").is_file()

    second = run_cli("evaluate", *args, "--out_path", str(tmp_path / "b"))
    assert second.returncode == 0, second.stderr[-3000:]
    again = json.loads((tmp_path / "b" / "report.json").read_text())
    assert again["query_loss"] == report["query_loss"]
    assert again["speaker_similarity"] == report["speaker_similarity"]


def test_a_stock_checkpoint_goes_through_the_identical_procedure(tiny_vits, corpus):
    folder, _ = tiny_vits
    common = dict(data=str(corpus), speakers=2, shots=2, queries=2, steps=[0, 2], out_path=None,
                  settings=AdaptationSettings(lr=0.01, device="cpu"), progress=False, similarity=False)
    meta = evaluate(str(folder / "model.pth"), str(folder / "meta_config.json"), **common)
    stock = evaluate(str(folder / "model.pth"), str(folder / "stock_config.json"), **common)
    assert stock.model == "vits" and stock.algorithm == "finetune"
    assert stock.speakers == meta.speakers and stock.adapt_modules == meta.adapt_modules
    assert stock.query_loss == meta.query_loss  # same weights, same procedure: the same numbers
    assert stock.optimizer == meta.optimizer == "adam"  # the default procedure, for stock models too
    assert stock.speaker_similarity == {0: None, 2: None} and stock.judge == "not asked for"


def test_evaluate_adapts_a_stock_tacotron2(corpus, corpus_samples, tmp_path):
    known = sorted({s["speaker_name"] for s in corpus_samples})[:4]
    torch.manual_seed(0)
    # short clips, r = 6 (the preset's 2): a decoder step for every 6 frames; what is checked does not hang on it
    model = build_meta_model("tacotron2", MetaLearningConfig(), known, output_path=str(tmp_path),
                             max_audio_seconds=3.0, r=6)
    torch.save({"model": model.state_dict(), "step": 0, "epoch": 0}, tmp_path / "model.pth")
    model.config.to_stock().save_json(str(tmp_path / "config.json"))
    report = evaluate(str(tmp_path / "model.pth"), str(tmp_path / "config.json"), str(corpus), speakers=2, shots=2,
                      queries=1, steps=[0, 2], out_path=str(tmp_path / "out"),
                      settings=AdaptationSettings(lr=0.002, optimizer="adam", device="cpu"), progress=False)
    assert report.model == "tacotron2" and report.optimizer == "adam"
    assert report.query_loss[2] < report.query_loss[0]
    # Griffin-Lim renditions were judged: each step's similarity is the mean of the speakers' own, which differ
    for step in (0, 2):
        own = [report.per_speaker[name]["speaker_similarity"][step] for name in report.speakers]
        assert report.speaker_similarity[step] == pytest.approx(np.mean(own)) and len(set(own)) == 2, own
        assert 0.0 <= report.eer[step] <= 1.0
    assert EvaluationReport.load(tmp_path / "out" / "report.json") == report, "report.json holds what evaluate returned"
    size, drawn = curve_pixels(tmp_path / "out" / "curves.png", panels=3)  # query loss, similarity, EER
    assert size == (440, 3 * 550) and min(drawn) > 20, drawn


def test_bad_input_gets_a_clear_error(tiny_vits, corpus, tmp_path):
    folder, _ = tiny_vits
    base = ["--config_path", str(folder / "meta_config.json"), "--data", str(corpus), "--out_path", str(tmp_path / "x")]
    missing = run_cli("evaluate", "--model_path", str(tmp_path / "nope.pth"), *base)
    assert missing.returncode != 0 and "checkpoint not found" in missing.stderr and "nope.pth" in missing.stderr
    too_many = run_cli(
        "evaluate", "--model_path", str(folder / "model.pth"), *base, "--speakers", "500", "--steps", "0"
    )
    assert too_many.returncode != 0 and "--speakers 500" in too_many.stderr
    bad_steps = run_cli("evaluate", "--model_path", str(folder / "model.pth"), *base, "--steps", "0,a")
    assert bad_steps.returncode != 0 and "comma-separated integers" in bad_steps.stderr
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    junk = run_cli("evaluate", "--model_path", str(tmp_path / "junk.pth"), *base)
    assert junk.returncode != 0 and "junk.pth" in junk.stderr and "Traceback" not in junk.stderr
    assert not (tmp_path / "x" / "report.json").exists()


def test_a_corpus_at_another_sample_rate_is_refused_naming_a_clip(tiny_vits, corpus_samples, tmp_path):
    import librosa
    import soundfile

    folder, _ = tiny_vits
    data = tmp_path / "data"
    (data / "wavs").mkdir(parents=True)
    lines = ["audio_file|text|speaker_name"]
    for index, sample in enumerate(corpus_samples[-4:]):
        wav, rate = soundfile.read(sample["audio_file"], dtype="float32")
        if index == 2:
            wav, rate = librosa.resample(wav, orig_sr=rate, target_sr=22050), 22050
        soundfile.write(str(data / "wavs" / f"c{index}.wav"), wav, rate)
        lines.append(f"wavs/c{index}.wav|{sample['text']}|{sample['speaker_name']}")
    (data / "metadata.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"c2\.wav is at 22050 Hz but the model at 16000 Hz"):
        evaluate(str(folder / "model.pth"), str(folder / "meta_config.json"), str(data), speakers=1, shots=2,
                 queries=1, steps=[0], out_path=None, progress=False, similarity=False, settings=CPU)


def test_without_the_judge_the_report_says_it_is_unavailable_even_with_mcd(tiny_vits, corpus, monkeypatch):
    from coqui_meta.judging.speaker_judge import SpeakerJudge

    folder, _ = tiny_vits
    monkeypatch.setattr(SpeakerJudge, "load", classmethod(lambda cls, device="cpu": None))
    monkeypatch.setattr(SpeakerJudge, "unavailable", "resemblyzer is not installed (test)")
    report = evaluate(str(folder / "model.pth"), str(folder / "meta_config.json"), str(corpus), speakers=1, shots=2,
                      queries=1, steps=[0, 1], out_path=None, settings=CPU, mcd=True, progress=False)
    assert report.judge == "unavailable: resemblyzer is not installed (test)"
    assert report.speaker_similarity == {0: None, 1: None} and all(v is not None for v in report.mcd.values())


def test_the_html_report_shows_the_table_curves_and_every_rendition(tiny_vits, corpus, tmp_path):
    import base64
    import io

    import soundfile

    folder, _ = tiny_vits
    out = tmp_path / "eval"
    report = evaluate(str(folder / "model.pth"), str(folder / "meta_config.json"), str(corpus), 2, 2, 2, [0, 2],
                      str(out), CPU, progress=False)
    shown = read_in_chromium(out / "report.html")
    assert shown.images == 1  # the curves
    rows = {row[0]: row[1:] for row in shown.rows if row and row[0].isdigit()}
    assert rows["2"][0] == f"{report.query_loss[2]:.4g}" and rows["0"][0] == f"{report.query_loss[0]:.4g}"
    # each voice: its real clip, then a rendition at every judged step
    assert len(shown.audio) == len(report.speakers) * 3
    # the browser plays every rendition's format and none failed (every source decoded: above or in test_evaluate)
    assert shown.players == len(shown.audio) and shown.loaded == shown.players and shown.failed == 0, shown.playable
    assert shown.playable.startswith(f"{shown.players} of {shown.players} players load"), shown.playable  # own count
    for source in shown.audio:
        kind, data = source.split(";base64,")
        wav, rate = soundfile.read(io.BytesIO(base64.b64decode(data)))
        assert kind in ("data:audio/ogg", "data:audio/wav") and len(wav) / rate > 0.3


def test_the_recovery_ceiling_renders_known_voices_from_their_own_rows(tiny_vits, corpus):
    from coqui_meta.formats.checkpoints import load_model
    from coqui_meta.judging.identity import own_row_ceiling

    folder, known = tiny_vits
    loaded = load_model(folder / "model.pth", folder / "stock_config.json")
    ceiling = own_row_ceiling(loaded, str(corpus), known[:2], shots=2, queries=2)
    again = own_row_ceiling(loaded, str(corpus), known[:2], shots=2, queries=2)
    assert ceiling == again and set(ceiling["per_speaker"]) == set(known[:2])
    assert -1 <= ceiling["speaker_similarity"] <= 1 and 0 <= ceiling["eer"] <= 1
    # the adaptation it bounds starts from the mean row: its step 0 is another voice than the own row
    start = evaluate(str(folder / "model.pth"), str(folder / "stock_config.json"), str(corpus), known[:2], 2, 2, [0],
                     None, CPU, progress=False)
    assert start.speaker_similarity[0] != ceiling["speaker_similarity"]
    with pytest.raises(ValueError, match="no own row"):
        own_row_ceiling(loaded, str(corpus), ["nobody_here"], shots=2, queries=2)
