#!/usr/bin/env bash
# Creates .venv/ in the project's root: the stack the tests pin (the top of the range pyproject.toml accepts),
# coqui-meta (editable, with its extras), the lab beside it (lab/, editable) and learn2learn built from source.
# Idempotent: a finished set-up leaves .venv/.setup-done and later runs return at once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.setup-done"
hash="$(cat "$root/pyproject.toml" "$root/lab/pyproject.toml" "$root/scripts/setup.sh" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
    exit 0
fi
PY="${PYTHON:-python3}"
echo "==> creating $venv"
[ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
pip="$venv/bin/python -m pip"
$pip install -q --upgrade pip wheel "setuptools<81"
echo "==> installing torch 2.8.0, coqui-tts 0.28.0, coqui-meta and its lab (a few minutes on first run)"
# the pinned stack first: coqui-meta itself accepts a range (pyproject.toml) and keeps what it finds
$pip install -q "torch==2.8.0" "torchaudio==2.8.0" "torchvision==0.23.0" "coqui-tts==0.28.0" "coqui-tts-trainer==0.4.0"
$pip install -q -e "$root[dev,learn2learn,judge,docs]"
$pip install -q --no-deps -e "$root/lab"

if ! "$venv/bin/python" -c "import learn2learn" 2>/dev/null; then
    echo "==> building learn2learn 0.2.0 from source (Cython 3)"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    $pip download -q --no-deps --no-binary :all: learn2learn==0.2.0 -d "$work"
    tar -xzf "$work"/learn2learn-0.2.0.tar.gz -C "$work"
    (cd "$work/learn2learn-0.2.0" && "$venv/bin/cython" -3 learn2learn/data/*.pyx \
        && $pip install -q --no-deps --no-build-isolation .)
fi
if ! "$venv/bin/python" -c "import resemblyzer" 2>/dev/null; then
    # the speaker judge of `coqui-meta evaluate`; its own requirement `webrtcvad` needs a compiler, the wheels do not
    echo "==> installing the speaker judge (Resemblyzer, weights inside its wheel)"
    $pip install -q --no-deps "resemblyzer==0.1.4"
fi
missing=""
command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"  # phonemes of the multilingual corpus
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"     # the test that reads report.html
command -v flite >/dev/null 2>&1 || missing="$missing flite"           # the voices of the corpora
command -v text2wave >/dev/null 2>&1 || missing="$missing festival festvox-kallpc16k festvox-kdlpc16k"
if [ -n "$missing" ]; then
    echo "==> installing$missing from the Debian archive"
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    # shellcheck disable=SC2086
    $sudo apt-get install -y -q $missing >/dev/null 2>&1 \
        || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q $missing >/dev/null 2>&1; } \
        || echo "warning: could not install$missing (sudo apt-get install$missing); the tests that need them skip"
fi
"$venv/bin/python" -c "import learn2learn, TTS, trainer, coqui_meta, coqui_meta_lab, resemblyzer" 2>/dev/null
echo "$hash" > "$stamp"
echo "==> set-up done: $venv"
