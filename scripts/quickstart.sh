#!/usr/bin/env bash
# Set up, then run the main job on the embedded defaults (local Ray, sqlite MLflow, synthetic data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/avsep doctor
