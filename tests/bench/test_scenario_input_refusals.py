"""Scenario inputs that cannot work are refused early, in one line naming the file and field:

* a budget whose ``eval_every`` exceeds its ``train_steps`` (its "AUC" would be the final score);
* a zoo level that the env's zoo lacks (``pair_mix``, ``start_policy``), at load, before a bench
  or search run makes its directory;
* a "skip" teacher that keeps fewer pairs than training needs (none, or fewer than the batch of
  the budget in use), after labelling and before any statistic or BC reads the kept pairs.

The skip datasets are tiny real Hopper builds (16 pairs of 20 steps from the shipped zoo, under a
second): quick.toml's segments with other teachers."""

from __future__ import annotations

import re
import tomllib
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import tomli_w

from lossforge.bench import fitness
from lossforge.bench.datasets import build_dataset
from lossforge.bench.scenarios import load_scenario, scenario_file
from lossforge.errors import ConfigError

LEVELS = "random, q05, q10, q25, q50, q75, expert"


def _quick(**changes) -> dict:
    data = tomllib.loads(scenario_file("quick").read_text())
    for key, value in changes.items():
        *parents, last = key.split(".")
        table = data
        for p in parents:
            table = table[p]
        table[last] = value
    return data


def _write(tmp_path, data: dict, name: str | None = None):
    data = {**data, "name": name or data["name"]}
    path = tmp_path / f"{data['name']}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


# -- eval_every > train_steps ------------------------------------------------------------------

def test_eval_every_beyond_train_steps_is_refused_at_load(tmp_path):
    path = _write(tmp_path, _quick(**{"budgets.screen.eval_every": 60}))   # train_steps 50
    with pytest.raises(ConfigError) as ei:
        load_scenario(path)
    assert str(ei.value) == (
        f"{path}: field 'budgets.screen.eval_every': 60 exceeds budgets.screen.train_steps 50: "
        "no checkpoint before the end, so the budget's AUC would be its final score alone")


def test_eval_every_up_to_train_steps_still_loads(tmp_path):
    sc = load_scenario(_write(tmp_path, _quick(**{"budgets.screen.eval_every": 50})))
    assert (sc.screen.eval_every, sc.screen.train_steps) == (50, 50)


# -- zoo level names ---------------------------------------------------------------------------

@pytest.mark.parametrize("key,value,field,bad", [
    ("pair_mix", [["q10", "q99", 1.0]], "pair_mix[0][1]", "q99"),
    ("pair_mix", [["q10", "q50", 1.0], ["best", "q50", 2.0]], "pair_mix[1][0]", "best"),
    ("start_policy", "pro", "start_policy", "pro"),
])
def test_unknown_zoo_level_is_refused_at_load(tmp_path, key, value, field, bad):
    path = _write(tmp_path, _quick(**{key: value}))
    with pytest.raises(ConfigError) as ei:
        load_scenario(path)
    assert str(ei.value) == (f"{path}: field '{field}': no zoo level {bad!r} for Hopper-v5 "
                             f"(levels: {LEVELS})")


def test_without_a_readable_zoo_the_level_check_waits_for_the_build(tmp_path, monkeypatch):
    """No zoo.json for the env (a zoo still to be trained): the file loads, and building the
    dataset says there is no zoo, as before."""
    path = _write(tmp_path, _quick(pair_mix=[["q10", "q99", 1.0]]))
    monkeypatch.setenv("LOSSFORGE_ZOO", str(tmp_path / "no-zoos"))
    sc = load_scenario(path)
    with pytest.raises(ConfigError, match="no zoo for 'Hopper-v5'"):
        build_dataset(sc, cache=False)


def test_bench_refuses_a_bad_level_before_making_its_run_directory(tmp_path, capsys):
    from lossforge.bench.__main__ import main

    path = _write(tmp_path, _quick(pair_mix=[["q10", "q99", 1.0]]))
    out = tmp_path / "run"
    assert main(["--scenario", str(path), "--budget", "quick", "--losses", "dpo",
                 "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: field 'pair_mix[0][1]': no zoo level 'q99'" in err, err
    assert not out.exists()


def test_search_refuses_a_bad_level_before_making_its_run_directory(tmp_path, capsys):
    from lossforge.search.__main__ import main

    path = _write(tmp_path, _quick(start_policy="pro"))
    runs = tmp_path / "runs"
    assert main(["--scenario", str(path), "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: field 'start_policy': no zoo level 'pro'" in err, err
    assert "--resume" not in err
    assert not runs.exists() or not any(runs.iterdir())


# -- skip teachers that keep too few pairs ------------------------------------------------------

SMALL = {"n_pairs": 16, "horizon": 20}   # quick's budgets: batches 8 (quick), 16, 16


@pytest.fixture(scope="module")
def gaps(tmp_path_factory):
    """|R0 - R1| of the small build's pairs (teacher bt; the skip variants reuse its segments)."""
    tmp = tmp_path_factory.mktemp("skipscen")
    ds = build_dataset(load_scenario(_write(tmp, _quick(**SMALL))),
                       cache_dir=tmp_path_factory.mktemp("skipcache"))
    gap = np.sort(np.abs(ds.returns[:, 0] - ds.returns[:, 1]))
    assert len(np.unique(gap)) == 16      # a threshold between two gaps keeps an exact count
    return gap


def _skip_file(tmp_path, threshold: float):
    return _write(tmp_path, _quick(**SMALL, teacher="skip", teacher_threshold=threshold),
                  name="tiny-skip")


def _threshold_keeping(gaps, kept: int) -> float:
    drop = len(gaps) - kept
    return float((gaps[drop - 1] + gaps[drop]) / 2) if drop else float(gaps[0] / 2)


def test_skip_that_drops_every_pair_is_one_line_before_any_statistic(tmp_path, gaps):
    path = _skip_file(tmp_path, 1e6)
    with warnings.catch_warnings(record=True) as seen, pytest.raises(ConfigError) as ei:
        warnings.simplefilter("always")
        build_dataset(load_scenario(path), cache_dir=tmp_path / "cache")
    assert str(ei.value) == (
        f"{path}: teacher 'skip' at teacher_threshold 1e+06 kept 0 of 16 pairs (dataset seed 0); "
        "training needs at least 8 (budgets.quick.batch_size): lower teacher_threshold or "
        "raise n_pairs")
    assert not [w for w in seen if "empty slice" in str(w.message)], [str(w.message) for w in seen]


def test_skip_below_the_smallest_batch_is_refused_when_built(tmp_path, gaps):
    path = _skip_file(tmp_path, _threshold_keeping(gaps, 7))
    with pytest.raises(ConfigError, match=re.escape(
            "kept 7 of 16 pairs (dataset seed 0); training needs at least 8 "
            "(budgets.quick.batch_size)")):
        build_dataset(load_scenario(path), cache_dir=tmp_path / "cache")


def test_skip_below_the_budgets_batch_is_refused_before_bc(tmp_path, gaps, monkeypatch):
    """10 pairs kept: enough for the quick budget (8), not for screen (16). ``evaluate`` at
    screen refuses after labelling and before the BC reference trains."""
    monkeypatch.setenv("LOSSFORGE_CACHE", str(tmp_path / "cache"))
    sc = load_scenario(_skip_file(tmp_path, _threshold_keeping(gaps, 10)))
    assert len(build_dataset(sc)) == 10
    assert len(build_dataset(sc, budget="quick")) == 10
    expected = (f"{sc.source}: teacher 'skip' at teacher_threshold {sc.teacher_threshold:g} "
                "kept 10 of 16 pairs (dataset seed 0); training needs at least 16 "
                "(budgets.screen.batch_size): lower teacher_threshold or raise n_pairs")
    with pytest.raises(ConfigError) as ei:
        build_dataset(sc, budget="screen")
    assert str(ei.value) == expected

    def no_bc(*a, **k):
        raise AssertionError("BC trained on a dataset that training refuses")

    from lossforge import objectives

    monkeypatch.setattr(fitness, "train_bc", no_bc)
    monkeypatch.setattr(fitness, "_PREPARED", {})
    with pytest.raises(ConfigError) as ei:
        fitness.evaluate([objectives.get("dpo")], sc, "screen")
    assert str(ei.value) == expected


def test_a_kept_training_data_is_checked_against_the_budget(tmp_path, gaps, monkeypatch):
    """``training_data`` keeps the last scenario's data: a later call for a budget with a larger
    batch is refused as a fresh one is."""
    monkeypatch.setenv("LOSSFORGE_CACHE", str(tmp_path / "cache"))
    sc = load_scenario(_skip_file(tmp_path, _threshold_keeping(gaps, 10)))
    kept = SimpleNamespace(n_pairs=10)
    monkeypatch.setattr(fitness, "_PREPARED",
                        {(sc, 0, str(tmp_path / "cache")): kept})
    assert fitness.training_data(sc, budget="quick") is kept
    with pytest.raises(ConfigError, match=re.escape(
            "kept 10 of 16 pairs (dataset seed 0); training needs at least 16 "
            "(budgets.screen.batch_size)")):
        fitness.training_data(sc, budget="screen")
