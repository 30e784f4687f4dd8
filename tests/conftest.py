import contextlib
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

# The modules that take longest (`--durations`), first. `make test` runs two pytest-xdist workers that take whole
# modules (--dist loadfile) in collection order as they come free: a long module handed out last would leave one
# worker running it alone at the end.
LONGEST_FIRST = ("test_resume", "test_distributed", "test_styles", "test_study", "test_demo", "test_coqui_recipes",
                 "test_recipes", "test_training", "test_oracle", "test_released_models", "test_languages",
                 "test_protonet", "test_prototype_voices", "test_evaluate", "test_prototype_base",
                 "test_d_vector_models", "test_style_corpus", "test_trainer_bridge", "test_single_speaker",
                 "test_prototype_training", "test_inner_rates")


def pytest_configure(config):
    """In the controller, before any worker starts: pYIN compiled once (`compile_pitch_tracker`), so that the two
    workers load it from numba's cache instead of both writing it on a fresh environment."""
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the controller has done it
        return
    from coqui_meta.judging.pitch import compile_pitch_tracker

    compile_pitch_tracker()


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
    return save_checkpoint(folder, model)


def save_checkpoint(folder, model, config_name: str = "meta_config.json", stock_name: str | None = "stock_config.json"):
    """``model`` saved as Coqui's Trainer saves a checkpoint (model.pth at step 0) beside its meta config
    (``config_name``) and, unless ``stock_name`` is None, the stock config that config makes."""
    torch.save({"model": model.state_dict(), "step": 0, "epoch": 0}, folder / "model.pth")
    model.config.save_json(str(folder / config_name))
    if stock_name is not None:
        model.config.to_stock().save_json(str(folder / stock_name))
    return model


ENCODER_DIM = 16  # the `coqui_encoder` fixture's d-vectors


@pytest.fixture(scope="session")
def coqui_encoder(tmp_path_factory) -> tuple[str, str]:
    """A small random-init Coqui speaker encoder (LSTM, `ENCODER_DIM` dimensions, 16 kHz), saved as Coqui saves one:
    (model path, config path)."""
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.encoder.configs.speaker_encoder_config import SpeakerEncoderConfig
    from TTS.encoder.utils.generic_utils import setup_encoder_model

    folder = tmp_path_factory.mktemp("speaker_encoder")
    audio = BaseAudioConfig(sample_rate=16000, num_mels=32, fft_size=512, win_length=400, hop_length=160,
                            mel_fmin=0, mel_fmax=8000)
    params = {"model_name": "lstm", "input_dim": 32, "proj_dim": ENCODER_DIM, "lstm_dim": 32, "num_lstm_layers": 1,
              "use_lstm_with_projection": True}
    config = SpeakerEncoderConfig(audio=audio, model_params=params, num_classes_in_batch=2, num_utter_per_class=2,
                                  num_loader_workers=0)
    torch.manual_seed(0)
    torch.save({"model": setup_encoder_model(config).state_dict()}, folder / "encoder.pth")
    config.save_json(str(folder / "encoder_config.json"))
    return str(folder / "encoder.pth"), str(folder / "encoder_config.json")


@pytest.fixture(scope="module")
def new_voice(tmp_path_factory, corpus_samples):
    """A folder of name.wav + name.txt of a speaker the model does not know; one clip stereo at 22.05 kHz."""
    import librosa
    import numpy as np
    import soundfile

    folder = tmp_path_factory.mktemp("clips")
    short = [s for s in corpus_samples if s["seconds"] < 3.5]
    speaker = max(
        sorted({s["speaker_name"] for s in short}), key=lambda name: sum(s["speaker_name"] == name for s in short)
    )
    clips = sorted((s for s in short if s["speaker_name"] == speaker), key=lambda s: s["audio_file"])
    for index, sample in enumerate(clips[:4]):
        wav, rate = soundfile.read(sample["audio_file"], dtype="float32")
        if index == 0:
            wav, rate = librosa.resample(wav, orig_sr=rate, target_sr=22050), 22050
            wav = np.stack([wav, 0.5 * wav], axis=1)
        soundfile.write(str(folder / f"clip{index}.wav"), wav, rate)
        (folder / f"clip{index}.txt").write_text(sample["text"] + "\n")
    return folder


def run_cli(*args, cwd=None, process: bool = False):
    """``coqui-meta ARGS`` with one thread: its exit code and what it printed, as a process gives them (a refusal is
    a message on stderr and code 1; an unexpected error prints its traceback). Called in this worker (a fresh
    interpreter costs seconds of imports a call) with the state a command may change put back after it: the working
    folder (``cwd``), argv, the torch thread count, the warning filters and the loggers' handlers (Coqui's
    ``setup_logger`` adds a handler at every call). ``process=True`` starts ``python -m coqui_meta.cli`` instead, for a
    test that needs an interpreter of its own."""
    args = [str(arg) for arg in args]
    if process:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        return subprocess.run([sys.executable, "-m", "coqui_meta.cli", *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=1200)
    from coqui_meta.cli import main

    return in_this_worker(lambda: main(args), ["coqui-meta", *args], cwd)


def run_script(path, *args):
    """``python PATH ARGS`` (a benchmark or script) run in this worker as `run_cli` runs a command."""
    import runpy

    return in_this_worker(lambda: runpy.run_path(str(path), run_name="__main__"), [str(path), *map(str, args)])


def in_this_worker(call, argv: list[str], cwd=None) -> subprocess.CompletedProcess:
    """``call()`` with ``argv`` as sys.argv, in ``cwd``, one thread, stdout and stderr captured: a process's exit code
    (SystemExit's; 1 and the traceback for an unexpected error) and output."""
    import io
    import traceback
    import warnings

    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_commands_state(argv, out, err))
        stack.enter_context(warnings.catch_warnings())
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            code = call()
        except SystemExit as exit:  # as Python ends a process: a message is printed and means code 1
            code = exit.code if exit.code is None or isinstance(exit.code, int) else 1
            if not (exit.code is None or isinstance(exit.code, int)):
                print(exit.code, file=sys.stderr)
        except Exception:
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess(argv, code if isinstance(code, int) else 0, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _commands_state(argv: list[str], out, err):
    """``argv`` as sys.argv and one torch thread while a command runs, then argv, sys.path, the thread count and every
    logger's handlers, level and propagation put back (closing the handlers a command added: Coqui's console handlers
    and the Trainer's log file). Meanwhile the console handlers made before the call (the Trainer's, at its import)
    write to ``out`` and ``err``, as they would in a process."""
    import logging

    import torch
    import trainer  # noqa: F401  (its console handler is made at import: before the loggers are saved)

    loggers = [logging.getLogger(), *logging.root.manager.loggerDict.values()]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers if isinstance(lg, logging.Logger)]
    consoles = {handler: handler.stream for _, handlers, _, _ in saved for handler in handlers
                if type(handler) is logging.StreamHandler}
    for handler, stream in consoles.items():
        handler.setStream(err if stream in (sys.stderr, sys.__stderr__) else out)
    saved_argv, path, threads = sys.argv, list(sys.path), torch.get_num_threads()
    sys.argv = list(argv)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        sys.argv, sys.path[:] = saved_argv, path
        torch.set_num_threads(threads)
        for handler, stream in consoles.items():
            handler.setStream(stream)
        kept = {id(lg) for lg, *_ in saved}
        named = [lg for lg in list(logging.root.manager.loggerDict.values()) if isinstance(lg, logging.Logger)]
        added = [(lg, [], lg.level, lg.propagate) for lg in named if id(lg) not in kept]
        for lg, handlers, level, propagate in saved + added:
            for handler in lg.handlers:
                if handler not in handlers:
                    handler.close()
            lg.handlers[:] = handlers
            lg.level, lg.propagate = level, propagate


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
    """What headless Chromium shows of ``page`` once every audio player has loaded or failed (`settled_dom`): the
    text of each table row, the audio players' sources, the page's own note on its players (``playable``) and how
    many players the browser has (``players``), loaded (``loaded``: their length is known) and failed to (``failed``).
    """
    from html.parser import HTMLParser

    settled = settled_dom(page)

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
    shown.feed(settled["dom"])
    shown.players, shown.loaded, shown.failed = settled["players"], settled["loaded"], settled["failed"]
    return shown


# waits until every audio player has its metadata (readyState 1: the browser decoded its header and knows its length)
# or an error, or 60 s; then the DOM and the players' states as JSON. (The browser's state, not the page's own
# count: a player that loads before the page's script adds its listeners is never counted there.)
SETTLED_DOM = """new Promise(done => {
  const players = [...document.querySelectorAll('audio')];
  const loaded = () => players.filter(a => a.readyState >= 1 && !a.error).length;
  const failed = () => players.filter(a => a.error).length;
  const report = () => done(JSON.stringify({dom: document.documentElement.outerHTML, players: players.length,
                                            loaded: loaded(), failed: failed()}));
  const wait = () => loaded() + failed() === players.length ? report() : setTimeout(wait, 50);
  setTimeout(report, 60000);
  wait();
})"""


def settled_dom(page) -> dict:
    """``page`` in headless Chromium once its audio players have settled (`SETTLED_DOM`): its DOM (``dom``) and
    how many audio ``players`` it has, how many ``loaded`` their metadata and how many ``failed``. The browser is
    driven over the DevTools protocol on a pipe. (``--dump-dom`` reads the DOM at a virtual time that media loading
    does not hold back: some of many players were often still loading.)"""
    import json
    import select
    import shutil
    import time

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it: apt-get install chromium)")
    to_browser, from_us = os.pipe()
    to_us, from_browser = os.pipe()
    # Chromium reads the protocol on fd 3 and writes on fd 4
    process = subprocess.Popen(
        ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}', browser, "--headless", "--no-sandbox",
         "--disable-gpu", "--remote-debugging-pipe", "about:blank"],
        pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_browser)
    os.close(from_browser)
    received, deadline, next_id = b"", time.monotonic() + 120, 0

    def message() -> dict:
        nonlocal received
        while b"\0" not in received:
            if not select.select([to_us], [], [], max(deadline - time.monotonic(), 0))[0]:
                raise TimeoutError(f"Chromium did not answer on the DevTools pipe within 120 s ({page})")
            chunk = os.read(to_us, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the DevTools pipe ({page})")
            received += chunk
        text, received = received.split(b"\0", 1)
        return json.loads(text)

    def call(method: str, session: str | None = None, **params) -> dict:
        nonlocal next_id
        next_id += 1
        os.write(from_us, json.dumps({"id": next_id, "method": method, "params": params,
                                      **({"sessionId": session} if session else {})}).encode() + b"\0")
        while (answer := message()).get("id") != next_id:
            pass
        if "error" in answer:
            raise RuntimeError(f"Chromium: {method}: {answer['error']}")
        return answer["result"]

    try:
        target = call("Target.createTarget", url="about:blank")["targetId"]
        session = call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        call("Page.enable", session)
        call("Page.navigate", session, url=Path(page).resolve().as_uri())
        while message().get("method") != "Page.loadEventFired":
            pass
        result = call("Runtime.evaluate", session, expression=SETTLED_DOM, awaitPromise=True, returnByValue=True)
        return json.loads(result["result"]["value"])
    finally:
        os.close(from_us)
        os.close(to_us)
        process.kill()
        process.wait()
