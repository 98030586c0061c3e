#!/usr/bin/env bash
# Set up (with the test-only dependencies), then run the default test suite on 2 pytest-xdist
# workers: each worker runs whole groups (a test module, or one of the folders cluster/, serve/,
# e2e/ that share costly fixtures; tests/conftest.py assigns them), the longest groups first.
# Extra arguments go to pytest and win, e.g. `bash scripts/test.sh -m slow`, or `-n 0` to run
# in one process. The 25 slowest tests are listed at the end (the suite should stay under 20 min).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder --durations=25 "$@"
