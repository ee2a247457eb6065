"""Racing over (scenario, seed) units (suite_fitness.race): on constructed regret tables it never
drops the candidate the full evaluation ranks first, it does drop clearly worse ones, it is
deterministic, and its t bound is the textbook one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lossforge.search import suite_fitness as sf


def table_race(table: np.ndarray, delta=0.05, enabled=True):
    n_c, n_u = table.shape
    order = list(range(n_u))
    calls = []

    def regrets(cands, block):
        calls.append((list(cands), list(block)))
        return table[np.ix_(cands, block)]

    out, evals = sf.race(n_c, order, lambda u: 1.0 / n_u, regrets, delta, enabled)
    return out, evals, calls


def test_stages_double_up_to_all_units():
    assert sf.stages(7) == [2, 4, 7]
    assert sf.stages(14) == [2, 4, 7, 14]
    assert sf.stages(35) == [2, 3, 5, 9, 18, 35]     # ceil(35 / 2^k), k = 5 ... 0
    assert sf.stages(2) == [2] and sf.stages(1) == [1]


def test_t_bound_matches_the_textbook_radius():
    # one-sided 95 % t quantile with 3 degrees of freedom: 2.353 (any t table)
    x = np.array([1.0, 2.0, 3.0, 4.0])          # mean 2.5, sd 1.29099
    radius = 2.353 * 1.2909944 / 2 * math.sqrt(1 - 4 / 8)
    assert 2.5 - radius > 0
    assert sf.dominated(x, 8, 0.05)
    y = x - 2.5 + radius + 0.01                   # lower bound just above 0: dropped
    z = x - 2.5 + radius - 0.01                   # just below: kept
    assert sf.dominated(y, 8, 0.05) and not sf.dominated(z, 8, 0.05)
    assert not sf.dominated(np.array([5.0]), 8, 0.05)   # one unit: no variance, never


def test_racing_never_drops_the_full_evaluations_winner_on_constructed_cases():
    """400 constructed suites: 16 candidates x 14 units, regret = candidate quality + unit
    difficulty + noise; the winner is made worst of all on the first unit it sees, and on half
    the cases its lead is tiny. It is never raced out; clearly worse candidates are."""
    rng = np.random.default_rng(19)
    dropped_total, evals_total, naive_total = 0, 0, 0
    for case in range(400):
        n_c, n_u = 16, 14
        quality = rng.uniform(0.0, 3.0, n_c)
        unit = rng.normal(0.0, 1.0, n_u)
        table = quality[:, None] + unit[None, :] + rng.normal(0, 0.3, (n_c, n_u))
        best = int(np.argmin(table.mean(axis=1)))
        table[best, 0] = table[:, 0].max() + 1.0           # adversarial first unit
        if case % 2:                                          # a near tie for first place
            other = (best + 1) % n_c
            table[other] = table[best] + 1e-3 + rng.normal(0, 0.05, n_u)
        best = int(np.argmin(table.mean(axis=1)))
        out, evals, _ = table_race(table)
        assert not out[best]["raced_out"], (case, out[best])
        assert out[best]["units"] == n_u
        dropped_total += sum(o["raced_out"] for o in out.values())
        evals_total += evals
        naive_total += n_c * n_u
    assert dropped_total > 400 * 4          # it does race: most cases drop several
    assert evals_total < 0.8 * naive_total


def test_racing_drops_a_clearly_worse_candidate_and_counts_its_units():
    table = np.array([[0.0, 0.1, -0.1, 0.0, 0.05, 0.0, 0.0, -0.05],
                      [5.0, 5.1, 4.9, 5.0, 5.05, 5.0, 5.0, 4.95]])
    out, evals, calls = table_race(table)
    assert out[1]["raced_out"] and out[1]["units"] < 8 and not out[0]["raced_out"]
    assert evals == 8 + out[1]["units"]
    assert calls[0] == ([0, 1], [0, 1])
    off, evals_off, _ = table_race(table, enabled=False)
    assert evals_off == 16 and not any(o["raced_out"] for o in off.values())


def test_failed_candidate_stops_and_others_go_on():
    table = np.zeros((3, 7))
    table[2, 1] = np.nan
    out, _, _ = table_race(table)
    assert out[2]["failed"] and out[2]["units"] == 2
    assert out[0]["units"] == 7 and out[1]["units"] == 7


def test_unit_order_is_a_deterministic_permutation():
    units = [sf.Unit(f"s{i}", j) for i in range(4) for j in range(3)]
    a = sf.unit_order(units, 0, "screen")
    assert a == sf.unit_order(units, 0, "screen") and sorted(a, key=str) == sorted(units, key=str)
    assert a != sf.unit_order(units, 1, "screen") or a != sf.unit_order(units, 0, "full")


def test_an_incumbent_drops_newcomers_worse_than_it_and_keeps_a_better_one():
    """The run's best so far races along at no cost: newcomers clearly worse than it go early;
    a newcomer better than it (the full evaluation's first) is never dropped."""
    rng = np.random.default_rng(3)
    n_u = 14
    unit = rng.normal(0, 1, n_u)
    incumbent = 1.0 + unit + rng.normal(0, 0.1, n_u)
    table = np.stack([4.0 + unit + rng.normal(0, 0.1, n_u),      # clearly worse than it
                      4.5 + unit + rng.normal(0, 0.1, n_u),      # clearly worse than it
                      0.9 + unit + rng.normal(0, 0.1, n_u)])     # slightly better than it
    order = list(range(n_u))

    def regrets(cands, block):
        return table[np.ix_(cands, block)]

    out, evals = sf.race(3, order, lambda u: 1 / n_u, regrets, incumbent=incumbent)
    alone, evals_alone = sf.race(1, order, lambda u: 1 / n_u, lambda c, b: table[[0]][:, b])
    assert out[0]["raced_out"] and out[1]["raced_out"] and not out[2]["raced_out"]
    assert out[2]["units"] == n_u and evals < 3 * n_u
    assert not alone[0]["raced_out"] and evals_alone == n_u   # nobody to lose to


def test_the_hall_of_fame_ranks_a_loss_racing_dropped_below_every_fully_scored_one():
    """A raced-out loss keeps an estimate on the units it saw; even when that estimate is the
    highest, the loss scored on every unit of the top rung ranks first (the declared winner
    rule of benchmarks/results/v2-plan.md: the hall of fame's best at the full rung), the
    dropped one next, and a loss without a top-rung score last, whatever its first rung says."""
    from lossforge.search.rundir import hall_of_fame

    def rec(name, screen, full=None, raced_out=False):
        def fit(score):
            return {"status": "ok", "score": score, "suite": {"raced_out": raced_out}}

        r = {"name": name, "complexity": 3, "h": "p", "phi_inv": "p", "phi_tilde": "l",
             "spec": {"name": name, "beta": 0.1, "aggregation": "mean"}, "born": 0,
             "origin": "init", "tree": "p", "properties": {"given": True}, "screen": fit(screen)}
        if full is not None:
            r["full"] = fit(full)
        return r

    state = {"ladder": ["screen", "full"],
             "losses": {"a": rec("full-scored", 1.0, full=5.0),
                        "b": rec("dropped", 2.0, full=9.0, raced_out=True),
                        "c": rec("screen-only", 50.0)}}
    hof = hall_of_fame(state, 3)
    assert [r["name"] for r in hof] == ["full-scored", "dropped", "screen-only"]
    # the same rule wherever a run names its best: the printed verdict's loss, the
    # generation log's best full score, and the Pareto front at the top rung
    from lossforge.search.engine import best_top_score
    from lossforge.search.rundir import pareto
    from lossforge.search.summary import best_row

    assert best_row({"hall_of_fame": hof[::-1]}, ["screen", "full"])[0]["name"] == "full-scored"
    assert best_top_score(state, ["screen", "full"]) == 5.0
    assert [r["name"] for r in pareto(state)] == ["full-scored"]
