#!/usr/bin/env bash
# Set up, then run the main job on the embedded defaults: local Ray, sqlite MLflow, synthetic
# data. synth -> prepare -> tune (Ray Tune + Optuna + ASHA) -> champion in the MLflow registry.
# Everything goes to $AVSEP_HOME (default ./avsep_runs). Re-running reuses the corpus and cache.
# At the end `avsep tune` prints the MLflow UI command and the link that opens the study's
# training runs, and the optuna-dashboard command for its Optuna study (both in .venv/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export AVSEP_HOME=${AVSEP_HOME:-$PWD/avsep_runs}
avsep=.venv/bin/avsep
if [ ! -f "$AVSEP_HOME/corpus/corpus.json" ]; then
  echo "[quickstart] 1/3 synthesising the audio-visual corpus in $AVSEP_HOME/corpus"
  $avsep synth --out "$AVSEP_HOME/corpus" --minutes 2
else
  echo "[quickstart] 1/3 corpus already in $AVSEP_HOME/corpus"
fi
echo "[quickstart] 2/3 decoding video, cropping mouths, caching what the av_singing space needs"
$avsep prepare --layout avsep_synth --root "$AVSEP_HOME/corpus/singing" \
  --out "$AVSEP_HOME/cache" --space av_singing --preset tiny
echo "[quickstart] 3/3 searching the av_singing space (6 trials, ASHA, up to 8 epochs each)"
exec $avsep tune --space av_singing --data "$AVSEP_HOME/cache" --config configs/quickstart.yaml \
  --num-samples 6 --max-epochs 8
