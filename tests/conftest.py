import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

# The modules that take longest (`--durations`), first. `make test` runs two pytest-xdist workers that take whole
# modules (--dist loadfile) in collection order as they come free: a long module handed out last would leave one
# worker running it alone at the end.
LONGEST_FIRST = ("test_resume", "test_styles", "test_released_models", "test_coqui_recipes", "test_demo",
                 "test_evaluate", "test_distributed", "test_single_speaker",
                 "test_training", "test_oracle", "test_d_vector_models", "test_languages", "test_study",
                 "test_prototype_training", "test_recipes", "test_protonet", "test_prototype_voices")


def pytest_collection_modifyitems(items):
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: a module's own order is kept

CORPUS = Path(
    os.environ.get(
        "COQUI_META_CORPUS", Path(__file__).resolve().parents[1].parent / "shared" / "data" / "speechocean762"
    )
)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "metadata.csv").is_file():
        pytest.fail(f"the shared corpus is missing: {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def corpus_samples(corpus):
    """Every clip of the shared corpus as Coqui samples, with its duration."""
    import soundfile
    from TTS.tts.datasets import load_tts_samples

    from coqui_meta_lab.presets import small_vits_config, speechocean_dataset

    samples, _ = load_tts_samples(small_vits_config(speechocean_dataset(str(corpus))), eval_split=False)
    for sample in samples:
        sample["seconds"] = soundfile.info(sample["audio_file"]).duration
    return samples


def pick(samples, speakers: int, clips: int, max_seconds: float, seed: int = 0, exclude=()):
    """``clips`` short clips of each of ``speakers`` speakers that have enough of them."""
    by_speaker = {}
    for sample in samples:
        if sample["seconds"] <= max_seconds and sample["speaker_name"] not in exclude:
            by_speaker.setdefault(sample["speaker_name"], []).append(sample)
    names = sorted(name for name, clips_ in by_speaker.items() if len(clips_) >= clips)
    chosen = random.Random(seed).sample(names, speakers)
    return [dict(s) for name in chosen for s in sorted(by_speaker[name], key=lambda s: s["seconds"])[:clips]]


@pytest.fixture()
def tmp_out(tmp_path):
    os.environ.setdefault("TENSORBOARD_LOGGING", "0")
    return tmp_path


@pytest.fixture(scope="session")
def released_home(tmp_path_factory):
    """``released_home(NAME, reduced=True)``: a Coqui cache (the folder to set TTS_HOME to) holding the released model
    NAME laid out as ModelManager leaves a download, with random weights (`released_layout.lay_out`); one cache for
    released sizes and one for reduced widths, each model made once a session."""
    from released_layout import lay_out

    homes = {}

    def home_with(name: str, reduced: bool = True) -> Path:
        if reduced not in homes:
            homes[reduced] = tmp_path_factory.mktemp("tts_home_reduced" if reduced else "tts_home")
        lay_out(homes[reduced], name, reduced=reduced)
        return homes[reduced]

    return home_with


def build_meta_model(kind: str, meta, speakers, output_path: str = "runs", max_audio_seconds: float = 5.0, **overrides):
    """A small MetaVits or MetaTacotron2 whose speaker table holds ``speakers``."""
    from coqui_meta import MetaTacotron2, MetaTacotron2Config, MetaVits, MetaVitsConfig
    from coqui_meta_lab.presets import small_tacotron2_config, small_vits_config

    if kind == "vits":
        stock = small_vits_config(output_path=output_path, max_audio_seconds=max_audio_seconds, speakers=speakers)
        config, cls = MetaVitsConfig.from_config(stock, meta=meta), MetaVits
    else:
        stock = small_tacotron2_config(output_path=output_path, max_audio_seconds=max_audio_seconds, speakers=speakers)
        config, cls = MetaTacotron2Config.from_config(stock, meta=meta), MetaTacotron2
    for key, value in overrides.items():
        setattr(config, key, value)
    return cls(config)


def first_meta_batch(model, samples, is_eval: bool = True):
    """The first meta-batch of the model's own episodic loader, formatted as the Trainer formats it."""
    loader = model.get_data_loader(model.config, is_eval=is_eval, samples=samples, verbose=False)
    batch = next(iter(loader))
    return model.format_batch_on_device(model.format_batch(batch))


@pytest.fixture(scope="session")
def tiny_vits(tmp_path_factory, corpus_samples):
    """A small random-init VITS whose speaker table holds 6 corpus speakers, saved as model.pth with a meta config
    (meta_config.json) and a stock one (stock_config.json): (folder, speakers)."""
    folder = tmp_path_factory.mktemp("tiny_vits")
    known = sorted({s["speaker_name"] for s in corpus_samples})[:6]
    save_tiny_checkpoint(folder, "vits", known)
    return folder, known


def save_tiny_checkpoint(folder, kind: str, speakers, meta=None):
    """A small random-init model saved as a Coqui checkpoint, with its meta and its stock config."""
    from coqui_meta import MetaLearningConfig

    torch.manual_seed(0)
    model = build_meta_model(kind, meta or MetaLearningConfig(inner_lr=0.01), speakers, output_path=str(folder))
    torch.save({"model": model.state_dict(), "step": 0, "epoch": 0}, folder / "model.pth")
    model.config.save_json(str(folder / "meta_config.json"))
    model.config.to_stock().save_json(str(folder / "stock_config.json"))
    return model


def run_cli(*args, cwd=None):
    """``coqui-meta ARGS`` in a fresh process with one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "coqui_meta.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200
    )


def cli_refusal(*args):
    """``coqui-meta ARGS`` called in this process, for input it must refuse before any work: its exit code and what
    it printed, as `run_cli` gives them (a message on stderr and code 1 for a refusal; an unexpected error prints its
    traceback). No process to start: a refusal takes milliseconds, a fresh interpreter seconds."""
    import contextlib
    import io
    import traceback

    from coqui_meta.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exit:  # as Python ends a process: a message is printed and means code 1
            code = exit.code if exit.code is None or isinstance(exit.code, int) else 1
            if not (exit.code is None or isinstance(exit.code, int)):
                print(exit.code, file=sys.stderr)
        except Exception:
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess(["coqui-meta", *args], code or 0, out.getvalue(), err.getvalue())


def metadata_of(corpus, speakers) -> list[str]:
    """The corpus's metadata.csv lines (header first) of ``speakers``' clips."""
    lines = (corpus / "metadata.csv").read_text().splitlines()
    return [lines[0]] + [line for line in lines[1:] if line.rsplit("|", 1)[-1] in speakers]


def corpus_subset(corpus, speakers, folder):
    """A corpus folder holding only ``speakers``: a filtered metadata.csv beside a link to the audio."""
    keep = metadata_of(corpus, speakers)
    folder.mkdir()
    (folder / "metadata.csv").write_text("\n".join(keep) + "\n")
    (folder / "wavs").symlink_to(corpus / "wavs")
    return folder


def read_in_chromium(page):
    """What headless Chromium shows of ``page``: the text of each table row, the audio players and the page's own
    count of the players it could load (after the media had time to load)."""
    import shutil
    import subprocess
    from html.parser import HTMLParser

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it: apt-get install chromium)")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120).stdout

    class Shown(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.audio, self.playable, self.images, self._cell, self._where = [], [], "", 0, None, []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self._cell = ""
            elif tag == "audio":
                self.audio.append(attrs.get("src", ""))
            elif tag == "img" and attrs.get("src", "").startswith("data:image/png;base64,"):
                self.images += 1
            self._where.append(attrs.get("id"))

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.rows:
                self.rows[-1].append(self._cell.strip())
                self._cell = None
            if self._where:
                self._where.pop()

        def handle_data(self, data):
            if self._cell is not None:
                self._cell += data
            if "playable" in self._where:
                self.playable += data

    shown = Shown()
    shown.feed(dom)
    # the page's own count: how many players loaded and how many failed before the DOM was read (headless Chromium
    # reads it after a second or two, while the rest of many players may still be loading)
    counts = re.match(r"(\d+) of (\d+) players load .*, (\d+) failed", shown.playable)
    shown.loaded, shown.players, shown.failed = (int(v) for v in counts.groups()) if counts else (0, 0, 0)
    return shown
