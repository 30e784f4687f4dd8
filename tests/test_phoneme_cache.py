"""Loading a checkpoint whose config speaks phonemes gives the run a phoneme cache of its own (Coqui caches by clip
name, and new voices' clips are 0000.wav, ...): it goes with the model, not left behind in the temporary folder."""

import json
import os
import subprocess
import sys

LOADS = """
import gc, glob, os, sys, tempfile
from coqui_meta.formats.checkpoints import load_model

def caches():
    return len(glob.glob(os.path.join(tempfile.gettempdir(), "coqui-meta-phonemes-*")))

for _ in range(3):
    loaded = load_model(sys.argv[1], sys.argv[2])
    during = caches()
    del loaded
    gc.collect()
    print(during, caches())
"""


def test_every_load_s_phoneme_cache_goes_with_its_model(tiny_vits, tmp_path):
    folder, _ = tiny_vits
    config = json.loads((folder / "meta_config.json").read_text())
    config.update(use_phonemes=True, phonemizer="espeak", phoneme_language="en-us")
    config_path = tmp_path / "phonemes.json"
    config_path.write_text(json.dumps(config))
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    result = subprocess.run([sys.executable, "-c", LOADS, str(folder / "model.pth"), str(config_path)],
                            capture_output=True, text=True, env={**os.environ, "TMPDIR": str(temporary)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1", "0"] * 3, result.stdout  # one cache while a model lives, none after
    assert not list(temporary.glob("coqui-meta-phonemes-*"))
