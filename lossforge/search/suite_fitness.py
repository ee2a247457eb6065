"""Suite fitness: one robust number per candidate from every scenario of a suite, with racing.

``python -m lossforge.search --suite benchmarks/suites/train.toml`` scores a candidate on every
scenario of the suite (``lossforge/bench/suites.py``) instead of one. The inner fitness stays
``--fitness bench|probe|module:function``: each scenario is scored through it, unchanged.

Regret. On scenario s, with B_s the best baseline's score there (the baselines of the run, DPO
and ORPO by default, scored in the same run on the same seeds: common random numbers) and R_s
the reference policy's score (the fitness module's ``reference_score``; 0 where it has none),

    scale_s = max(B_s - R_s, SCALE_FLOOR)          (the best baseline's gain over the reference)
    r_s     = (B_s - c_s) / scale_s                (0: level with the best baseline; 1: no better
                                                    than the reference; < 0: beats every baseline)

``--suite-baselines FILE`` gives B_s and R_s per rung and scenario instead (``frozen_table``;
e.g. tuned baselines' scores), and no baseline is scored in the run.

Per evaluation unit u = (scenario s, training seed) the regret is paired: the best baseline's
score on that seed minus the candidate's (the best baseline is chosen on its mean over seeds).
Aggregates: ``mean`` = sum_s w_s r_s with the suite's (normalised) weights, ``worst`` = max_s r_s.
Both are recorded for every candidate with the per-scenario breakdown; the engine selects on
score = -100 * aggregate (``--suite-objective mean|worst``), so higher stays better.

Racing (``race``). A rung's units (every scenario x every training seed of that budget) are put
in rounds (``unit_order``): round j holds one seed of every scenario (each scenario's seeds in
an order drawn from the run's seed and the rung: deterministic), so every stage sees every
scenario. Successive halving over rounds (``round_stages``): every surviving candidate is
scored on round 1, then rounds 1-2, 1-4, ... and finally all N units. (Stages used to be
prefixes of one random order of all units: an early stage could miss a whole scenario, and a
specialist better on the scenarios seen could drop the loss that is best on the suite, far
more often than delta: 18-41 % in a constructed case with a bad mixed-quality scenario.)
After each stage short of N the survivors are ranked by their estimated mean regret, and a
candidate c is dropped when ``keep_top`` others are each better with confidence (on the top
rung keep_top is 1, the leader: that rung names the best; below it, the number of losses the
rung promotes: dropping one only the leader beats would cost a promotion slot). With
x_u = N w_u (r_cu - r_Ou) over the n units seen for a rival O (the weighted paired difference;
its mean estimates the difference of the aggregates without bias),

    mean(x) - t_{1 - delta', n - 1} * sd(x) / sqrt(n) * sqrt(1 - n / N) > 0,

the one-sided Student t bound with the finite-population correction of a simple random sample
of units; on whole rounds the sample is stratified by scenario, for which this variance
estimate is conservative (it also counts the spread between scenarios, which whole rounds do
not sample). delta' = delta / M, M the comparisons the rung can make (candidates x keep_top
per stage after the first: ``race``); c is compared with the keep_top best others by
estimate. By the union bound, the probability that racing drops a candidate the full
evaluation ranks within the top keep_top is at most delta (default 0.05), to the accuracy of the t approximation; that is the
extra error racing allows on top of the full evaluation's own. A dropped candidate keeps its
estimate on the units it saw (``raced_out``: True, ``units``: n) and is never promoted. The
best loss an earlier generation evaluated fully at the rung (the incumbent) races along at no
cost and is never dropped: it is one more rival. Racing needs the mean objective (a worst
case over scenarios is not estimated by a sample of them): with ``--suite-objective worst``
every candidate sees every unit.

Kill and resume: every unit's fitness is journaled (``journal.py``) under a key naming the
scenario and seed, and racing decisions are a function of those results and the run's seed, so
a resumed run races exactly as an uninterrupted one.
"""

from __future__ import annotations

import importlib
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from lossforge.bench.stats import t_quantile
from lossforge.errors import ConfigError
from lossforge.search.executors import finite_or_none

#: score points: the least scale_s. A best baseline's gain over the reference below it is not
#: told apart from seed noise (a tuned baseline's per-seed SD on the train suite's suite
#: reference rows: median 0.6-1.7 points a scenario at screen; its mean over 2-5 seeds and the
#: pick of the best of 9 add about 1 point either way), and dividing by such a gain would set
#: the suite's effective weights by noise (v2-plan.md, Session 18). Was 1.0.
SCALE_FLOOR = 3.0
DEFAULT_DELTA = 0.05


@dataclass(frozen=True)
class SuiteScenario:
    name: str
    path: str
    weight: float        # normalised: the suite's weights sum to 1
    scenario: object     # the loaded Scenario


@dataclass(frozen=True)
class Unit:
    scenario: str
    seed: int


def suite_file(suite_text: str) -> Path:
    """The file of a suite given as a file (a user path or one relative to the repository) or
    a name (train, test: under benchmarks/suites or $LOSSFORGE_SUITES)."""
    from lossforge.bench.suites import default_dir
    from lossforge.search.engine import resolve_path

    if suite_text.endswith(".toml"):
        return resolve_path(suite_text, "suite")
    return default_dir() / f"{suite_text}.toml"


def load(suite_text: str) -> tuple[str, list[SuiteScenario]]:
    """(suite name, its scenarios with paths and normalised weights)."""
    from lossforge.bench.suites import load_suite
    from lossforge.search.engine import resolve_scenario

    suite = load_suite(suite_file(suite_text))
    weights = suite.weights()
    out = []
    for entry in suite.entries:   # by file: a suite may list a user's own scenario files
        path, sc = resolve_scenario(entry.path)
        out.append(SuiteScenario(entry.scenario, str(path), weights[entry.scenario], sc))
    return suite.name, out


def units_of(scenarios: Sequence[SuiteScenario], rung: str) -> list[Unit]:
    """Every (scenario, training seed) of the budget ``rung``, in suite order."""
    return [Unit(s.name, int(seed)) for s in scenarios for seed in s.scenario.budget(rung).seeds]


def unit_order(units: list[Unit], seed: int, rung: str) -> list[Unit]:
    """The racing order of a rung's units, in rounds: round j holds the j-th seed of every
    scenario (in suite order), each scenario's seeds in an order drawn from the run's seed and
    the rung (deterministic). A scenario with fewer seeds than another is absent from the
    later rounds."""
    rng = random.Random(f"race:{seed}:{rung}")
    by_scenario: dict[str, list[Unit]] = {}
    for u in units:
        by_scenario.setdefault(u.scenario, []).append(u)
    for mine in by_scenario.values():
        rng.shuffle(mine)
    rounds = max(len(m) for m in by_scenario.values())
    return [m[j] for j in range(rounds) for m in by_scenario.values() if j < len(m)]


def round_stages(order: list[Unit]) -> list[int]:
    """Cumulative unit counts of the racing stages on ``unit_order``'s rounds: the units of
    rounds 1, 1-2, 1-4, ... and of every round, so each stage holds whole rounds (a stage of
    one unit, which cannot be tested, is left out)."""
    round_of, seen = [], {}
    for u in order:
        seen[u.scenario] = seen.get(u.scenario, 0) + 1
        round_of.append(seen[u.scenario])
    last = max(round_of, default=0)
    taken = [r for r in (2 ** k for k in range(last.bit_length())) if r < last] + [last]
    out = sorted({sum(1 for j in round_of if j <= r) for r in taken})
    return [n for n in out if n >= 2] or [len(order)]


def stages(n_units: int) -> list[int]:
    """Cumulative unit counts of the successive-halving stages: ..., N/4, N/2, N (>= 2 each)."""
    if n_units <= 2:
        return [n_units]
    k = math.ceil(math.log2(n_units / 2))
    out = sorted({max(2, math.ceil(n_units / 2 ** j)) for j in range(k, -1, -1)})
    return out


def dominated(x: np.ndarray, n_total: int, delta_each: float) -> bool:
    """True when the paired differences ``x`` (candidate minus leader, weighted so their mean
    estimates the aggregate difference) show the candidate worse with confidence 1 - delta_each
    (one-sided t bound with the finite-population correction for n of n_total units)."""
    n = len(x)
    if n < 2 or n >= n_total:
        return bool(n >= n_total and x.mean() > 0)
    radius = (t_quantile(1 - delta_each, n - 1) * x.std(ddof=1) / math.sqrt(n)
              * math.sqrt(1 - n / n_total))
    return bool(x.mean() - radius > 0)


def race(n_candidates: int, order: list, weight: Callable[[object], float],
         regrets: Callable[[list[int], list], np.ndarray], delta: float = DEFAULT_DELTA,
         enabled: bool = True, incumbent: Sequence[float] | None = None,
         plan: Sequence[int] | None = None, keep_top: int = 1
         ) -> tuple[dict[int, dict], int]:
    """Race ``n_candidates`` over the units ``order`` (already in racing order).

    ``regrets(candidate indices, units)`` returns their regret matrix (rows: candidates, NaN for
    a failed run); ``weight(unit)`` is the unit's share of the mean aggregate (sums to 1).
    ``incumbent``: the regrets, on ``order``, of the best loss this rung has fully evaluated
    before (an earlier generation's): it races along at no cost and is never dropped, one
    more rival. ``plan``: the cumulative unit counts of the stages (default ``stages``; the
    search gives ``round_stages``). ``keep_top``: a candidate is dropped only when that many
    rivals (the best by estimate, the incumbent among them) are each better with confidence.
    Returns ({candidate: {"units": units seen, "raced_out": bool, "failed": bool}},
    candidate-unit evaluations made). Without ``enabled`` every candidate sees every unit.
    """
    N = len(order)
    plan = (list(plan) if plan is not None else stages(N)) if enabled else [N]
    if plan[-1] != N or any(b <= a for a, b in zip(plan, plan[1:])):
        raise ConfigError(f"racing plan {plan}: expected increasing unit counts ending at {N}")
    keep_top = max(1, int(keep_top))
    # each candidate meets keep_top rivals a stage; with keep_top 1 and no incumbent the leader,
    # always a candidate then, meets none
    per_stage = n_candidates * keep_top - (keep_top == 1 and incumbent is None)
    comparisons = max(1, per_stage * (len(plan) - 1))
    delta_each = delta / comparisons
    seen: dict[int, list[float]] = {c: [] for c in range(n_candidates)}
    alive = list(range(n_candidates))
    out = {c: {"units": 0, "raced_out": False, "failed": False} for c in range(n_candidates)}
    w = np.array([weight(u) for u in order]) * N
    done, evaluations = 0, 0
    for n in plan:
        if not alive:
            break
        block = regrets(alive, order[done:n])
        evaluations += len(alive) * (n - done)
        for row, c in zip(block, alive):
            seen[c].extend(float(v) for v in row)
            out[c]["units"] = n
        for c in alive:
            if not all(math.isfinite(v) for v in seen[c]):
                out[c]["failed"] = True
        alive = [c for c in alive if not out[c]["failed"]]
        done = n
        if incumbent is not None:   # key -1: the incumbent, known on every unit
            seen[-1] = [float(v) for v in incumbent[:n]]
        racers = alive + ([-1] if incumbent is not None else [])
        if n == N or len(racers) < 2:
            continue
        est = {c: float(np.dot(w[:n], seen[c]) / n) for c in racers}
        ranked = sorted(racers, key=lambda c: (est[c], c))   # best (lowest regret) first
        keep = []
        for c in alive:
            rivals = [o for o in ranked if o != c][:keep_top]
            beaten = len(rivals) == keep_top and all(
                dominated(w[:n] * (np.array(seen[c]) - np.array(seen[o])), N, delta_each)
                for o in rivals)
            if beaten:
                out[c]["raced_out"] = True
            else:
                keep.append(c)
        alive = keep
    return out, evaluations


# ---- regret from fitness results --------------------------------------------------------------


def reference_score(fitness_ref: str, scenario_path: str, rung: str, metric: str) -> float:
    """The fitness module's score of the untrained reference (``reference_score``), else 0."""
    from lossforge.search.executors import resolve_fitness

    fn = resolve_fitness(fitness_ref)
    ref = getattr(importlib.import_module(fn.__module__), "reference_score", None)
    return 0.0 if ref is None else float(ref(scenario_path, rung, metric=metric))


def baseline_table(unit_scores: dict[str, dict[Unit, float]], units: list[Unit],
                   references: dict[str, float]) -> dict[str, dict]:
    """Per scenario: the best baseline (by its mean over the scenario's units), its score per
    seed, the reference score and the scale. ``unit_scores``: baseline -> unit -> score."""
    out = {}
    for s in dict.fromkeys(u.scenario for u in units):
        mine = [u for u in units if u.scenario == s]
        means = {b: float(np.mean([sc[u] for u in mine])) for b, sc in unit_scores.items()
                 if all(sc.get(u) is not None and math.isfinite(sc[u]) for u in mine)}
        if not means:
            raise ConfigError(f"suite scenario {s}: no baseline scored a finite fitness; "
                              f"regret needs one")
        best = max(sorted(means), key=lambda b: means[b])
        ref = references[s]
        out[s] = {"best": best, "best_score": means[best], "reference": ref,
                  "scale": max(means[best] - ref, SCALE_FLOOR),
                  "per_seed": {str(u.seed): unit_scores[best][u] for u in mine}}
    return out


def frozen_table(path: str, rung: str, units: list[Unit], metric: str | None = None
                 ) -> dict[str, dict]:
    """The regret reference from a JSON file instead of baselines scored in the run
    (``--suite-baselines``): ``{rung: {scenario: {"best": score, "reference": score}}}``, e.g.
    the best tuned baseline's score per scenario. Not paired: every seed of a scenario is
    compared with the same ``best``, unless the entry also has ``"per_seed": {seed: score}``
    (the best baseline's score on each of the rung's seeds, as ``benchmarks/baselines.py
    suite-reference`` writes): then the regret is paired per seed, as with baselines scored in
    the run, and ``"baseline"`` may name that baseline. A file that says its ``"metric"`` must
    say the run's (``metric``)."""
    import json

    from lossforge.search.engine import resolve_path

    file = resolve_path(path, "suite baselines")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}: not valid JSON ({exc})") from None
    said = data.get("metric") if isinstance(data, dict) else None
    if metric is not None and said is not None and said != metric:
        raise ConfigError(f"{file}: field 'metric': the scores are {said!r}, the search "
                          f"selects on {metric!r}")
    out = {}
    for s in dict.fromkeys(u.scenario for u in units):
        entry = data.get(rung, {}).get(s) if isinstance(data, dict) and isinstance(
            data.get(rung), dict) else None
        if not isinstance(entry, dict):
            raise ConfigError(f"{file}: field '{rung}.{s}': missing (expected "
                              f"{{\"best\": score, \"reference\": score}})")
        vals = {}
        for k in ("best", "reference"):
            if k not in entry:
                raise ConfigError(f"{file}: field '{rung}.{s}.{k}': missing (expected a number)")
            v = entry[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"{file}: field '{rung}.{s}.{k}': expected a number, got {v!r}")
            vals[k] = float(v)
        seeds = [str(u.seed) for u in units if u.scenario == s]
        per_seed = {seed: vals["best"] for seed in seeds}
        if "per_seed" in entry:
            given = entry["per_seed"]
            for seed in seeds:
                v = given.get(seed) if isinstance(given, dict) else None
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise ConfigError(f"{file}: field '{rung}.{s}.per_seed.{seed}': expected "
                                      f"the best baseline's score on seed {seed}, got {v!r}")
                per_seed[seed] = float(v)
        name = entry.get("baseline", "file")
        out[s] = {"best": name if isinstance(name, str) else "file", "best_score": vals["best"],
                  "reference": vals["reference"],
                  "scale": max(vals["best"] - vals["reference"], SCALE_FLOOR),
                  "per_seed": per_seed}
    return out


def unit_regret(table: dict, unit: Unit, score: float | None) -> float:
    t = table[unit.scenario]
    if score is None or not math.isfinite(score):
        return float("nan")
    return (t["per_seed"][str(unit.seed)] - score) / t["scale"]


def summarise(name: str, seen: dict[Unit, dict], scenarios: Sequence[SuiteScenario],
              table: dict, objective: str, raced_out: bool, n_units: int,
              weight: Callable[[Unit], float]) -> dict:
    """A candidate's fitness dict for a rung from its unit results (``seen``: unit -> fitness
    dict of one seed; ``weight``: a unit's share of the mean, ``unit_weight``): mean and worst
    aggregate regret, the per-scenario breakdown, and score = -100 x the selected aggregate;
    ``per_seed`` holds the units' own scores in suite order (scenario, then seed), ``unit_scores``
    the same by unit name.
    A candidate raced out after n of N units gets the unbiased estimate of the mean from them
    (mean of N w_u r_u) and the worst over the scenarios it saw."""
    failed = [f["status"] for f in seen.values() if f["status"] != "ok"]
    per: dict[str, dict] = {}
    for s in scenarios:
        mine = [(u, f) for u, f in seen.items() if u.scenario == s.name]
        if not mine:
            continue
        regs = [unit_regret(table, u, f["score"]) for u, f in mine]
        scores = [f["score"] if f["score"] is not None else float("nan") for _, f in mine]
        # a failed unit leaves its scenario without a regret: None (JSON), not NaN, which the
        # checkpoint refuses to write
        per[s.name] = {"regret": finite_or_none(float(np.mean(regs))),
                       "score": finite_or_none(float(np.mean(scores))),
                       "seeds": len(mine), "weight": s.weight}
    complete = len(per) == len(scenarios) and len(seen) == n_units
    if failed or not per:
        mean = worst = float("nan")
    elif complete:
        mean = sum(p["weight"] * p["regret"] for p in per.values())
        worst = max(p["regret"] for p in per.values())
    else:  # raced out: the unbiased estimate from the units it saw
        mean = float(np.mean([n_units * weight(u) * unit_regret(table, u, f["score"])
                              for u, f in seen.items()]))
        worst = max(p["regret"] for p in per.values())
    agg = mean if objective == "mean" else worst
    ok = not failed and math.isfinite(agg)
    # per_seed in suite order (scenario, then seed), whatever order the units ran in (racing's
    # is random), so two losses' lists pair unit by unit
    rank = {s.name: i for i, s in enumerate(scenarios)}
    per_seed = [seen[u]["score"] for u in sorted(seen, key=lambda u: (rank[u.scenario], u.seed))]
    return {"name": name, "status": failed[0] if failed else "ok",
            # 0.0 - ...: a zero regret scores 0.0, not -0.0 (printed "-0.00")
            "score": 0.0 - 100.0 * agg if ok else None, "ci95": None,
            "per_seed": per_seed, "final": None, "auc": None,
            # the wall time of the calls that scored its units (each shared with the losses
            # trained alongside it on that unit): what its units took, not its own share
            "seconds": float(sum(f.get("seconds") or 0.0 for f in seen.values())),
            "suite": {"objective": objective, "mean_regret": mean if ok else None,
                      "worst_regret": worst if ok else None, "raced_out": raced_out,
                      "units": len(seen), "of_units": n_units, "per_scenario": per,
                      "unit_scores": {unit_name(u): f["score"] for u, f in seen.items()}}}


def unit_name(unit: Unit) -> str:
    return f"{unit.scenario}#seed{unit.seed}"


def unit_weight(scenarios: Sequence[SuiteScenario], units: list[Unit]) -> Callable[[Unit], float]:
    """A unit's share of the mean aggregate: its scenario's weight over that scenario's seeds
    at the rung (the units of one scenario share its weight equally; all sum to 1)."""
    weight = {s.name: s.weight for s in scenarios}
    counts: dict[str, int] = {}
    for u in units:
        counts[u.scenario] = counts.get(u.scenario, 0) + 1
    return lambda u: weight[u.scenario] / counts[u.scenario]


# ---- the fitness interface: naive full evaluation ----------------------------------------------


def evaluate(objectives: Sequence, suite: str, budget: str = "screen", *, fitness: str = "probe",
             baselines: Sequence = (), metric: str = "auc", objective: str = "mean",
             **_ignored) -> list[dict]:
    """Every objective on every unit of ``suite`` (no racing) with the inner ``fitness``; one
    fitness dict each (see ``summarise``). ``baselines``: objectives scored alongside, the
    regret's reference (DPO and ORPO at the scenarios' beta when empty). The fitness
    interface's ``seeds``, ``workers`` and ``progress`` are accepted and ignored: the seeds are
    the budget's, per scenario. The search races instead (``engine.score_rung``); this is the
    naive evaluation it is checked against."""
    from lossforge.search.executors import fitness_to_dict, resolve_fitness

    fn = resolve_fitness(fitness)
    _, scenarios = load(suite)
    if not baselines:
        baselines = default_baselines(scenarios)
    units = units_of(scenarios, budget)
    rows: dict[Unit, list[dict]] = {}
    for u in units:
        path = next(s.path for s in scenarios if s.name == u.scenario)
        res = fn(list(baselines) + list(objectives), path, budget, seeds=[u.seed],
                 metric=metric, workers=1, progress=False)
        rows[u] = [fitness_to_dict(r) for r in res]
    nb = len(baselines)
    table = baseline_table({b.name: {u: rows[u][i]["score"] for u in units}
                            for i, b in enumerate(baselines)}, units,
                           {s.name: reference_score(fitness, s.path, budget, metric)
                            for s in scenarios})
    weight = unit_weight(scenarios, units)
    return [summarise(obj.name, {u: rows[u][nb + i] for u in units}, scenarios, table,
                      objective, False, len(units), weight) for i, obj in enumerate(objectives)]


#: the baselines a suite is scored against when none are given: a search's default
#: (``SearchConfig.baselines``)
DEFAULT_BASELINES = ("dpo", "orpo")


def default_baselines(scenarios: Sequence[SuiteScenario]) -> list:
    """``DEFAULT_BASELINES`` as objectives, each as a search runs it on these scenarios
    (``zoo.scenario_spec``: a member with a reference takes the suite's common beta)."""
    from lossforge.objectives import Objective
    from lossforge.objectives.zoo import scenario_spec

    beta = float(suite_beta(scenarios))
    return [Objective(scenario_spec(name, beta, None)) for name in DEFAULT_BASELINES]


def suite_beta(scenarios: Sequence[SuiteScenario]) -> float:
    """The scenarios' common beta (candidates and DPO use one beta across the suite)."""
    betas = {float(s.scenario.beta) for s in scenarios}
    if len(betas) != 1:
        raise ConfigError(f"suite scenarios use different betas {sorted(betas)}: pass --beta")
    return betas.pop()


