#!/usr/bin/env bash
# Create .venv (if missing) and install avsep with its pinned dependencies.
# Usage: bash scripts/setup.sh [extra]   e.g. "test" installs the test-only dependencies too.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
extra=${1:-}
spec="."
[ -n "$extra" ] && spec=".[$extra]"
stamp=".venv/.avsep-installed-$extra"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[setup] installing avsep$([ -n "$extra" ] && echo "[$extra]") and its pinned dependencies (first time: a few minutes, ~5 GB with the CUDA runtime torch pulls)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e "$spec"
  # tinysoundfont renders `avsep synth --soundfont`; its declared dependency pyaudio is only
  # for live playback and does not build without portaudio headers, so install it alone.
  .venv/bin/python -m pip install --quiet --no-deps tinysoundfont==0.3.7
  # OpenVINO runs MMDenseNet's bands and Y-Net's video trunk in bf16 in `avsep serve`'s
  # replicas, and with `--backend openvino` (docs/serve.md). Its declared
  # dependency openvino-telemetry reports every `import openvino` to Google Analytics unless
  # the user opts out, so install it alone (its other dependency, numpy, is pinned above);
  # avsep refuses to import openvino while openvino-telemetry is installed.
  .venv/bin/python -m pip install --quiet --no-deps openvino==2026.4.1
  touch "$stamp"
else
  echo "[setup] .venv is up to date"
fi
