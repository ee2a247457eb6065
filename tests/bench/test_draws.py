"""Dataset draws (lossforge/bench/draws.py) on the real quick scenario: draw 0 is today's
benchmark bit for bit, other draws have their own dataset, reference and evaluation episodes,
and the reference and BC-on-chosen rows carry both metrics."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from lossforge import objectives
from lossforge.bench import draws, fitness
from lossforge.bench.bc import BCConfig, train_bc
from lossforge.bench.datasets import build_dataset
from lossforge.bench.evaluator import Evaluator, normalized_score, score_runs, zoo_returns
from lossforge.bench.scenarios import load_scenario
from lossforge.bench.trainer import TrainConfig, prepare, train_population
from lossforge.errors import ConfigError


def _old_pipeline_score(scen, objective) -> tuple[float, float]:
    """(AUC, final) of one objective at the quick budget, seed 0, spelled out the way fitness
    scored before draws existed: the scenario's own dataset, BC seed 0, episodes 100000 + e."""
    b = scen.quick
    dataset = build_dataset(scen)
    ref = train_bc(dataset, BCConfig(recipe=scen.reference, steps=scen.bc_steps))
    runs = train_population([objective], prepare(dataset, ref.params), None, (0,),
                            TrainConfig(steps=b.train_steps, batch_pairs=b.batch_size, lr=b.lr,
                                        eval_every=b.eval_every))
    ev = Evaluator(scen.env_id, range(100_000, 100_000 + b.eval_episodes))
    try:
        (s,) = score_runs(runs, ev, zoo_returns(scen.env_id))
    finally:
        ev.close()
    return s.auc_score, s.final_score


def test_draw_zero_is_todays_benchmark_bit_for_bit():
    scen = load_scenario("quick")
    dpo = objectives.get("dpo")
    auc, final = _old_pipeline_score(scen, dpo)
    for kwargs in ({}, {"draw": 0}, {"draw": "0"}):
        (f,) = fitness.evaluate([dpo], scen, "quick", seeds=[0], **kwargs)
        assert f.per_seed == (auc,) and f.auc == auc and f.final == final
    assert draws.scenario_for(scen, 0) is scen


def test_fixed_rows_score_both_metrics_and_keep_todays_final():
    """The reference's AUC is its score; BC-on-chosen's AUC is the mean of its checkpoints
    (a clone trained half as long is its midpoint: the same minibatches), its final what the
    table always recorded. (BC shortened to 20 steps to keep the test fast.)"""
    scen = dataclasses.replace(load_scenario("quick"), bc_steps=20)
    rows = fitness.fixed_policies(scen, "quick", 0)
    ref, bc = rows[fitness.REFERENCE], rows[fitness.BC_ON_CHOSEN]
    assert fitness.bc_checkpoints(scen.bc_steps, scen.quick) == (10, 20)   # 5 and 10 of 10
    dataset = build_dataset(scen)
    reference = train_bc(dataset, BCConfig(recipe="all", steps=20)).params
    clones = {k: train_bc(dataset, BCConfig(recipe="chosen", seed=0, steps=k), cache=False).params
              for k in (10, 20)}
    ev = Evaluator(scen.env_id, range(100_000, 100_000 + scen.quick.eval_episodes))
    try:
        out = ev.evaluate([reference, clones[10], clones[20]]).returns.mean(1)
    finally:
        ev.close()
    s_ref, s10, s20 = (float(normalized_score(r, *zoo_returns(scen.env_id))) for r in out)
    assert ref.auc == ref.final == ref.score == s_ref
    assert bc.final == bc.score == s20
    assert math.isclose(bc.auc, (s10 + s20) / 2, rel_tol=1e-12)
    assert bc.curve == ((10, s10), (20, s20))
    # a second call reads the clone and its checkpoints from the cache: the same rows
    assert fitness.fixed_policies(scen, "quick", 0)[fitness.BC_ON_CHOSEN].auc == bc.auc


def test_draws_have_their_own_dataset_reference_and_episodes(monkeypatch):
    scen = load_scenario("quick")
    sets = {d: build_dataset(draws.scenario_for(scen, d)) for d in (0, 1, 2)}
    for a, b in itertools.combinations(sets, 2):
        assert not np.array_equal(sets[a].obs, sets[b].obs)
        assert sets[a].meta["seed"] != sets[b].meta["seed"]
    keys = {d: fitness.reference_policy(scen, draw=d)[1].key for d in (0, 1, 2)}
    assert len(set(keys.values())) == 3
    # evaluate plays the draw's own episodes
    seen = []

    class Recording(Evaluator):
        def __init__(self, env_id, episode_seeds, *a, **kw):
            seen.append(tuple(episode_seeds))
            super().__init__(env_id, episode_seeds, *a, **kw)

    monkeypatch.setattr(fitness, "Evaluator", Recording)
    fitness.evaluate([objectives.get("dpo")], scen, "quick", draw=2)
    assert seen == [(2_100_000,)]


def test_draw_seeds_and_episodes_are_disjoint():
    n = 1000   # episodes a draw, far above any budget's
    every = (0, draws.TUNING, *range(1, 6))
    episodes = {d: set(draws.episode_seeds(d, n)) for d in every}
    for a, b in itertools.combinations(every, 2):
        assert not episodes[a] & episodes[b], (a, b)
    assert episodes[0] == set(range(100_000, 100_000 + n))          # today's episodes
    base, heldout = load_scenario("hopper-noisy-0.3"), load_scenario(
        "benchmarks/scenarios/heldout/hopper-noisy-0.3-d1.toml")
    seeds = [draws.dataset_seed(s, d) for s in (base, heldout) for d in every]
    assert len(set(seeds)) == len(seeds)
    assert draws.dataset_seed(base, 0) == base.dataset_seed
    assert [draws.reference_seed(d) for d in every] == [0, 999, 1, 2, 3, 4, 5]
    with pytest.raises(ConfigError):
        draws.episode_seeds(1, draws.EPISODE_STRIDE + 1)   # would run into the next draw


def test_parse_draws():
    assert draws.parse_draws("1-5") == (1, 2, 3, 4, 5)
    assert draws.parse_draws("t") == ("t",)
    assert draws.parse_draws("0, 3") == (0, 3)
    for bad in ("5-1", "t-3", "", "1,1", "x", "999", "-1"):
        with pytest.raises(ConfigError):
            draws.parse_draws(bad)
    with pytest.raises(ConfigError):
        fitness.evaluate([objectives.get("dpo")], "quick", "quick", draw=1,
                         episode_seed_base=5)
