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


# --------------------------------------------------------------------------------------------
# stages of whole rounds (every scenario in every stage), top-k racing below the top rung
# --------------------------------------------------------------------------------------------
SCEN = [f"s{i}" for i in range(7)]
WEIGHT = {**{s: 1 / 8 for s in SCEN[:6]}, "s6": 2 / 8}   # the train suite's: mixed quality 2


def test_every_stage_holds_whole_rounds_of_the_suite():
    """7 scenarios x 5 seeds: stages end after rounds 1, 2, 4 and 5; each holds every scenario
    equally often, each scenario's seeds in an order drawn from the run's seed."""
    units = [sf.Unit(s, j) for s in SCEN for j in range(5)]
    order = sf.unit_order(units, 0, "full")
    assert sorted(order, key=str) == sorted(units, key=str)
    assert order == sf.unit_order(units, 0, "full")
    assert sf.round_stages(order) == [7, 14, 28, 35]
    for n in sf.round_stages(order):
        counts = {s: sum(u.scenario == s for u in order[:n]) for s in SCEN}
        assert len(set(counts.values())) == 1, (n, counts)
    first = tuple(u.seed for u in order if u.scenario == "s0")
    assert any(tuple(u.seed for u in sf.unit_order(units, k, "full") if u.scenario == "s0")
               != first for k in range(1, 5))
    # a scenario with fewer seeds is absent from the later rounds: rounds of 2, 1, 1 units
    ragged = [sf.Unit("a", 0), sf.Unit("a", 1), sf.Unit("a", 2), sf.Unit("b", 0)]
    assert sf.round_stages(sf.unit_order(ragged, 0, "x")) == [2, 3, 4]


def _specialist_race(order, plan, rng, n_seeds=5):
    """A steady loss (regret 0 everywhere) against a specialist better by 0.8 on six scenarios
    and worse by 2.8 on the weight-2 one: the steady one is the suite's best by 0.1; seed
    noise 0.3. Returns whether racing dropped the steady one."""
    units = order
    noise = rng.normal(0, 0.3, (2, len(units)))
    table = np.array([[0.0 for u in units],
                      [2.8 if u.scenario == "s6" else -0.8 for u in units]]) + noise
    out, _ = sf.race(2, order, lambda u: WEIGHT[u.scenario] / n_seeds,
                     lambda cands, block: table[np.ix_(cands, [units.index(u) for u in block])],
                     plan=plan)
    return out[0]["raced_out"]


def test_a_specialist_cannot_knock_out_the_suites_best_in_an_early_stage():
    """The failure a review found in the old stages (prefixes of one random order of all
    units): an early stage could miss the weight-2 scenario, where the specialist loses, and the
    suite's best was dropped in about a third of such races, against the stated 5 %. On whole
    rounds every stage sees that scenario, and the best is not dropped."""
    rng = np.random.default_rng(7)
    units = [sf.Unit(s, j) for s in SCEN for j in range(5)]
    old, new = 0, 0
    for k in range(200):
        shuffled = [units[i] for i in np.random.default_rng(k).permutation(len(units))]
        old += _specialist_race(shuffled, None, rng)
        rounds = sf.unit_order(units, k, "full")
        new += _specialist_race(rounds, sf.round_stages(rounds), rng)
    assert old > 200 * 0.10          # the flaw, reproduced: far above delta = 5 %
    assert new <= 200 * 0.05 and new == 0


def test_below_the_top_rung_a_loss_is_dropped_only_once_keep_top_others_beat_it():
    """Six losses of clearly different quality (regret 0, 1, ..., 5, little noise), 7 x 2
    units in rounds: raced for the best (keep_top 1) all but the first go; raced for a
    top-3 promotion, the first three see every unit and the last three go."""
    rng = np.random.default_rng(5)
    units = [sf.Unit(s, j) for s in SCEN for j in range(2)]
    order = sf.unit_order(units, 0, "screen")
    table = np.arange(6.0)[:, None] + rng.normal(0, 0.05, (6, len(order)))

    def regrets(cands, block):
        return table[np.ix_(cands, [order.index(u) for u in block])]

    def run(k):
        out, _ = sf.race(6, order, lambda u: WEIGHT[u.scenario] / 2, regrets,
                         plan=sf.round_stages(order), keep_top=k)
        return [o["raced_out"] for o in out.values()]

    assert run(1) == [False, True, True, True, True, True]
    assert run(3) == [False, False, False, True, True, True]
    assert run(6) == [False] * 6       # nobody has six rivals: nothing can be dropped


def test_a_loss_racing_dropped_takes_no_promotion_slot():
    """evaluate_generation promotes the top n_top of the first rung's pool. A loss racing
    dropped there keeps an estimate (here the highest of all) but can never be promoted; it
    used to hold one of the n_top slots, so one loss fewer went up. Now the next one goes."""
    from types import SimpleNamespace

    from lossforge.search import engine

    def fit(score, dropped=False):
        return {"status": "ok", "score": score, "suite": {"raced_out": dropped}}

    screen = {"a": fit(9.0, dropped=True), "b": fit(5.0), "c": fit(4.0), "d": fit(3.0),
              "e": fit(2.0)}
    state = {"losses": {k: {"spec": {"name": k}} for k in screen},
             "trees": {f"t{k}": {"loss": k} for k in screen}, "population": [],
             "counters": {"evaluated": {"screen": 0, "full": 0}, "failed_training": 0}}
    promoted = []

    def score_rung(state, ctx, executor, rung, specs):
        if rung == "screen":
            return [screen[s["name"]] for s in specs]
        promoted.extend(s["name"] for s in specs)
        return [fit(1.0) for _ in specs]

    ctx = SimpleNamespace(ladder=("screen", "full"),
                          config=SimpleNamespace(top_fraction=0.5, population=4, dedup=True))
    real = engine.score_rung
    engine.score_rung = score_rung
    try:
        engine.evaluate_generation(state, ctx, None, [f"t{k}" for k in screen])
    finally:
        engine.score_rung = real
    assert promoted == ["b", "c"]       # n_top = 2: the two best the race did not drop
