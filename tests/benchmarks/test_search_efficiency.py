"""The tabular replay of benchmarks/search_efficiency.py on planted tables (no training)."""

from __future__ import annotations

from typing import Any

import pytest

from avsep.platform.objectives import parse
from avsep.platform.searcher import build


def planted(se: Any, good: dict[str, Any], epochs: int = 4) -> dict[str, dict[str, Any]]:
    """Every grid point: -10 dB flat, except ``good``-matching points that learn 5, 6, 7, 8."""
    table = {}
    for params in se.enumerate_points(se.grid_space):
        is_good = all(params.get(k) == v for k, v in good.items())
        curve = [5.0 + e for e in range(epochs)] if is_good else [-10.0] * epochs
        table[se.key(params)] = {"params": params, "curve": curve}
    return table


def test_grid_holds_the_conditional_space_and_the_paper_points(search_efficiency):
    se = search_efficiency
    points = se.enumerate_points(se.grid_space)
    assert len(points) == 24  # audio (2 masks x 3 lr) + AV (3 front-ends x 2 x 3)
    assert len({se.key(p) for p in points}) == 24
    assert sum("frontend" in p for p in points) == 18
    assert all(("frontend" in p) == (p["modality"] == "audio_visual") for p in points)
    keys = {se.key(p) for p in points}
    assert len(se.paper_points()) == 5
    assert all(se.key(p) in keys for p in se.paper_points())


def test_scheduler_is_the_one_avsep_tune_builds(search_efficiency):
    import optuna

    search = build(search_efficiency.grid_space, parse("val/sdr"), [], "s",
                   optuna.storages.InMemoryStorage(), max_epochs=4, grace_period=1,
                   reduction_factor=2)
    ours = search_efficiency.make_scheduler(4, 1, 2)
    assert [m for m, _ in ours._brackets[0]._rungs] == \
        [m for m, _ in search.scheduler._brackets[0]._rungs] == [4, 2, 1]
    assert (ours._max_t, ours._reduction_factor, ours._metric, ours._mode) == \
        (search.scheduler._max_t, search.scheduler._reduction_factor,
         search.scheduler._metric, search.scheduler._mode)


def test_asha_cutoff_uses_the_values_recorded_before_the_trial(search_efficiency):
    se = search_efficiency
    scheduler = se.make_scheduler(4, 1, 2)
    assert se.run_trial(scheduler, "a", [5.0, 6.0, 7.0, 8.0]) == 4  # first: nothing to beat
    assert se.run_trial(scheduler, "b", [-10.0] * 4) == 1  # below a's 5 dB at rung 1
    # Ray's cutoff is taken over the values recorded *before* this trial: rung 1 holds
    # {5, -10}, cutoff -2.5, so -3 stops (counting its own value, the median of {5, -10, -3}
    # would be -3 and the trial would go on)
    assert se.run_trial(scheduler, "c", [-3.0, 20.0, 20.0, 20.0]) == 1
    # rung 1 cutoff: median of {5, -10, -3} = -3 -> 6 continues; rung 2 cutoff: a's 6 -> stop
    assert se.run_trial(scheduler, "d", [6.0, 0.0, 9.0, 9.0]) == 2


def test_asha_stops_planted_bad_configurations_at_the_first_rung(search_efficiency):
    se = search_efficiency
    table = planted(se, {"lr": 1e-3})
    records = se.replay("random", table, trials=24, epochs=4, seed=0, grace=1, rf=2)
    first_good = next(i for i, r in enumerate(records) if r["params"]["lr"] == 1e-3)
    bad_after = [r for r in records[first_good:] if r["params"]["lr"] != 1e-3]
    assert len(bad_after) > 5
    assert all(r["epochs"] == 1 for r in bad_after)
    assert all(r["value"] == -10.0 for r in bad_after)
    assert records[first_good] == {**records[first_good], "epochs": 4, "value": 8.0}


def test_optuna_is_told_the_best_epoch_the_trial_ran(search_efficiency):
    se = search_efficiency
    table = planted(se, {"lr": 1e-3})
    peak = {"modality": "audio", "mask_layer": True, "lr": 3e-4}
    table[se.key(peak)]["curve"] = [1.0, 9.0, 2.0, 3.0]  # best at epoch 2, last is lower
    records = se.replay("tpe", table, trials=1, epochs=4, seed=0, points=[peak])
    assert records == [{"params": peak, "epochs": 4, "value": 9.0}]


def test_paper_points_come_first_then_the_sampler(search_efficiency):
    se = search_efficiency
    table = planted(se, {"mask_layer": True})
    points = se.paper_points()
    records = se.replay("tpe", table, trials=12, epochs=4, seed=3, points=points)
    assert [r["params"] for r in records[:5]] == points
    assert len(records) == 12


def test_grid_best_is_the_table_max_and_costs_every_epoch(search_efficiency):
    se = search_efficiency
    table = planted(se, {"frontend": "conv3d", "lr": 3e-3})
    table[se.key({"modality": "audio", "mask_layer": False, "lr": 1e-3})]["curve"] = \
        [0.0, 11.5, 3.0, 2.0]
    for seed in range(3):
        curve = se.anytime(se.replay_grid(table, 4, seed))
        assert curve[-1] == (96, 11.5)
        assert [u for u, _ in curve] == list(range(4, 100, 4))


def test_summary_counts_trial_epochs_to_the_target(search_efficiency):
    se = search_efficiency
    runs = [[(4, 1.0), (8, 9.6), (12, 10.0)], [(1, 9.0), (5, 9.4), (6, 9.5)],
            [(2, 0.0), (3, 1.0)]]
    row = se.summarise(runs, target=10.0, grid_epochs=12)
    assert row["trial_epochs_to_within_0.5dB_per_seed"] == [8, 6, None]
    assert row["median_trial_epochs_to_within_0.5dB"] == 8
    assert row["median_fraction_of_grid"] == pytest.approx(8 / 12)
    assert row["goal_met_(<=1/3)"] is False
    assert row["best_db_at_1/3_of_grid_per_seed"] == [1.0, 9.0, 1.0]
