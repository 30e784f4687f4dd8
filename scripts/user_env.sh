#!/usr/bin/env bash
# coqui-meta installed into a Coqui user's own environment, at the low end of the supported torch range (torch 2.7.1
# with coqui-tts 0.28.0; `make test`'s .venv holds torch 2.8.0): `pip install .` and
# `pip install -e .` must keep the environment's torch and coqui-tts, the wheel must hold the plugin only, and
# `coqui-meta train`, `coqui-meta adapt` and stock `tts` must work there. The environment is .user-env/ (kept,
# so a second run installs nothing); `make test` runs this.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
env="${USER_ENV:-$root/.user-env}"
data="${COQUI_META_CORPUS:-$root/../shared/data/speechocean762}"
PY="${PYTHON:-python3}"
[ -x "$env/bin/python" ] || "$PY" -m venv "$env"
pip="$env/bin/python -m pip"
stack() { $pip list --format=freeze 2>/dev/null | grep -iE '^(torch|torchaudio|coqui-tts|coqui-tts-trainer)==' | sort; }
if ! $pip show -q coqui-tts >/dev/null 2>&1; then
    echo "==> a Coqui user's environment: coqui-tts 0.28.0, torch 2.7.1 ($env)"
    $pip install -q "torch==2.7.1" "torchaudio==2.7.1" "coqui-tts==0.28.0" six
fi
before="$(stack)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "==> pip install . (the wheel) into it"
$pip wheel -q --no-deps -w "$work/wheel" "$root"
wheel="$(ls "$work"/wheel/coqui_meta-*.whl)"
if unzip -l "$wheel" | grep -E '\.safetensors|coqui_meta_lab|debian_voices|voice_corpus'; then
    echo "user_env: the wheel holds the lab (above); it must hold the plugin only"; exit 1
fi
$pip install -q --force-reinstall --no-deps "$wheel" && $pip install -q "$wheel"
[ "$(stack)" = "$before" ] || { echo "user_env: pip install . changed the stack:"; diff <(echo "$before") <(stack); exit 1; }
"$env/bin/coqui-meta" --help >/dev/null
# the demo is the lab's, which a user's environment does not have: one line that says where it is
{ "$env/bin/coqui-meta" demo 2>&1 || true; } | grep -q "the demo lives in the lab" || { echo "user_env: demo's message"; exit 1; }
OMP_NUM_THREADS=1 "$env/bin/python" "$root/scripts/user_env_run.py" --data "$data" --out "$work/run"
echo "==> pip install -e . into it"
$pip install -q -e "$root"
[ "$(stack)" = "$before" ] || { echo "user_env: pip install -e . changed the stack:"; diff <(echo "$before") <(stack); exit 1; }
"$env/bin/python" -c "import coqui_meta, os; assert os.path.dirname(coqui_meta.__file__).startswith('$root')"
echo "user_env: passed; the stack stayed $(echo $before | tr '\n' ' ')"
