#!/usr/bin/env bash
# All GPU figures of issue #13 in one run (<= 8 minutes on one GPU), one JSON:
# benchmarks/results/gpu_suite.json. From a fresh checkout: creates .venv with the pinned
# dependencies (scripts/setup.sh; needs the package registries, downloads no weights or
# data), then runs benchmarks/gpu_suite.py. Without CUDA it says so and exits 0.
# Usage: bash benchmarks/gpu_suite.sh [--budget-s 480]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test  # the test extra holds museval, the BSS Eval reference
exec .venv/bin/python benchmarks/gpu_suite.py "$@"
