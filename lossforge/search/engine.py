"""The search loop: ask / assess / evaluate / tell over an explicit, JSON-able state.

One generation, top to bottom (``step``):

    ask       offspring trees from the population: tournament (NSGA-II rank, crowding),
              crossover / subtree / point / shrink / constant mutation, a few random immigrants;
              generation 0 is the zoo's mirror maps (DPO's p log p, ORPO's binary entropy)
              plus random trees. With open slots (``--link-grammar``, ``--imitation-grammar``)
              a tree is a genome of several trees (``genome.py``): h, G(D, t), Psi(l, n, t)
    assess    every new tree passes MirrorMap checks, compile, objective build, the
              properties the run requires (``--require``) and the smoke test
              (``candidates.validate``) or is rejected with its reason; a passing tree
              whose loss is already known (fingerprint or semantic hash) is a duplicate;
              a tree seen before is a cache hit. None of these is ever trained.
    evaluate  screen budget for every new loss; the full budget for the top fraction of the
              generation by screen score (multi-fidelity); all through the executor
    tell      NSGA-II survivors on (screen score max, tree size min), one tree per loss

A suite run (``suite``: ``suite_fitness.py``) scores each rung on every scenario of the suite as
regret to the best baseline per scenario, raced over (scenario, seed) units (``score_rung``);
a loss raced out at a rung is never promoted to the next.

Everything that decides the future is in ``state`` (a plain dict of JSON values: population,
every tree and loss seen with its fitness, counters, the RNG state), so a checkpoint is just
the state, and a resumed run continues exactly where the checkpoint left it. Fields that
depend on the clock or machine load (``timing``, fitness ``seconds``, the convexity proof
status) never feed a decision; ``deterministic_view`` drops them for comparisons.

The run's configuration and what it loads once (``SearchConfig``, ``make_context``) are in
context.py.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from lossforge.objectives.zoo import scenario_spec
from lossforge.search import genome, gp, rundir, suite_fitness
from lossforge.search.candidates import REASONS, Candidate, validate
# SearchConfig, make_context and the set-up helpers live in context.py; they stay importable
# from here, where the search's callers have always found them.
from lossforge.search.context import (  # noqa: F401
    LADDERS,
    Context,
    SearchConfig,
    check_common,
    check_part_grammar,
    make_context,
    resolve_path,
    resolve_scenario,
)
from lossforge.search.executors import map_jobs
from lossforge.search.fitness_errors import (ERRORS_LOG, ask_again, raised, stop_if_broken,
                                              stop_if_unscored, take_errors)
from lossforge.search.journal import evaluation_key

STATE_VERSION = 1
NOVELTY_TRIES = 8   # redraws of an offspring that repeats a tree already seen

def init_state(ctx: Context) -> dict:
    cfg = ctx.config
    rng = random.Random(cfg.seed)
    return {
        "version": STATE_VERSION,
        "config": cfg.to_json(),
        "generation": 0,                    # completed generations
        "ladder": list(ctx.ladder),         # fidelity rungs, cheapest first
        "rng": _rng_to_json(rng),
        "population": [],                   # tree keys
        "trees": {},                        # tree key -> record
        "losses": {},                       # loss id (fingerprint) -> record
        "baselines": {},                    # name -> {"spec", rung -> fitness}
        "counters": {"proposed": 0, "cache_hits": 0, "duplicates": 0,
                     "rejected": {r: 0 for r in REASONS},
                     "evaluated": {r: 0 for r in ctx.ladder}, "failed_training": 0},
        "history": [],
        "timing": {"elapsed_s": 0.0},
    }


def _rng_to_json(rng: random.Random) -> list:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_from_json(data: list) -> random.Random:
    rng = random.Random()
    rng.setstate((data[0], tuple(data[1]), data[2]))
    return rng


def tree_key(names) -> str:
    return " ".join(names)


# ---- ask -------------------------------------------------------------------------------------


def ask(state: dict, ctx: Context, rng: random.Random) -> list[tuple[list[str], str]]:
    """Offspring proposals (names, origin) for the next generation."""
    cfg, space = ctx.config, ctx.space
    n = cfg.population
    if state["generation"] == 0:
        out = space.seeds(ctx.grammar.seeds)[:n]
        while len(out) < n:
            out.append((space.random(rng, ctx.limits), "random"))
        return out
    pop = state["population"]
    if not pop:  # every tree so far was rejected: start again from random trees
        return [(space.random(rng, ctx.limits), "random") for _ in range(n)]
    entries = [_entry(state, k) for k in pop]
    ranked = gp.pareto_ranks(entries)
    out: list[tuple[list[str], str]] = []
    proposed: set[str] = set()
    for _ in range(n):
        # a child that repeats a tree already seen costs nothing but teaches nothing either:
        # draw again (up to NOVELTY_TRIES times) before settling for a repeat (a cache hit)
        for _attempt in range(NOVELTY_TRIES):
            if rng.random() < cfg.immigrants:
                names, op = space.random(rng, ctx.limits), "random"
            else:
                a = gp.tournament(ranked, pop, rng)
                b = gp.tournament(ranked, pop, rng)
                names, op = space.vary((state["trees"][a]["names"], state["trees"][b]["names"]),
                                       rng, ctx.limits, cfg.operator_weights)
            key = tree_key(names)
            if key not in state["trees"] and key not in proposed:
                break
        proposed.add(tree_key(names))
        out.append((names, op))
    return out


def _screen_score(state: dict, loss_id: str | None, rung: str) -> float:
    if loss_id is None:
        return float("nan")
    f = state["losses"][loss_id].get(rung)
    return f["score"] if f and f["status"] == "ok" and f["score"] is not None else float("nan")


def _entry(state: dict, key: str) -> tuple[str, float, int]:
    rec = state["trees"][key]
    rung = state["ladder"][0]
    return key, _screen_score(state, rec["loss"], rung), genome.size(rec["names"])


# ---- assess ----------------------------------------------------------------------------------


def assess(state: dict, ctx: Context, proposals: list[tuple[list[str], str]]) -> dict:
    """Validate and de-duplicate proposals; returns this generation's tallies and new trees."""
    tally = {"proposed": len(proposals), "cache_hits": 0, "duplicates": 0, "rejected": 0,
             "new_losses": 0, "retrain": []}
    gen = state["generation"]
    sem_index = {rec["semantic_hash"]: lid for lid, rec in state["losses"].items()}
    offspring = []
    for names, origin in proposals:
        key = tree_key(names)
        offspring.append(key)
        state["counters"]["proposed"] += 1
        if key in state["trees"]:
            tally["cache_hits"] += 1
            state["counters"]["cache_hits"] += 1
            if not ctx.config.dedup and state["trees"][key]["loss"] is not None:
                tally["retrain"].append(state["trees"][key]["loss"])
            continue
        res = validate(ctx.space, names, beta=ctx.beta, aggregation=ctx.config.aggregation,
                       time_limit_s=ctx.config.check_time_limit_s, require=ctx.config.require,
                       response_steps=getattr(ctx.scenario, "response_steps", None))
        rec = {"names": list(names), "origin": origin, "born": gen, "loss": None}
        if not isinstance(res, Candidate):
            rec.update(status="rejected", reason=res.reason, detail=res.detail[:300])
            state["trees"][key] = rec
            rejected = state["counters"]["rejected"]   # .get: runs from before a new reason
            rejected[res.reason] = rejected.get(res.reason, 0) + 1
            tally["rejected"] += 1
            continue
        lid = res.fingerprint if res.fingerprint in state["losses"] else sem_index.get(
            res.semantic_hash)
        rec.update(status="valid", convex_status=res.convex_status)
        if lid is not None:  # a known loss in a new tree: never trained again
            # the loss keeps the trained tree's text and spec even if this tree is smaller: it
            # equals that one only as far as a probe batch or h'' at a few points can tell
            rec["loss"] = lid
            rec["duplicate"] = True
            state["counters"]["duplicates"] += 1
            tally["duplicates"] += 1
            if not ctx.config.dedup:
                tally["retrain"].append(lid)
        else:
            lid = res.fingerprint
            rec["loss"] = lid
            spec = dict(res.spec, name=f"lf-{lid[:8]}")
            state["losses"][lid] = {
                "name": spec["name"], "tree": key, "h": res.h, "phi_inv": res.phi_inv,
                "phi_tilde": res.phi_tilde, "semantic_hash": res.semantic_hash,
                "complexity": res.complexity, "spec": spec, "born": gen, "origin": origin,
                "properties": res.properties}
            if len(ctx.space.parts) > 1:
                state["losses"][lid].update(link=res.link, imitation=res.imitation)
            sem_index[res.semantic_hash] = lid
            tally["new_losses"] += 1
        state["trees"][key] = rec
    tally["offspring"] = offspring
    return tally


# ---- evaluate --------------------------------------------------------------------------------


#: Evaluations per executor worker in one round: results are journaled after every round.
ROUND_PER_WORKER = 2


def run_rung(ctx: Context, executor, rung: str, specs: list[dict], unit=None) -> list[dict]:
    """Fitness of ``specs`` at budget ``rung``, through the executor; with ``unit`` (suite
    runs: a ``suite_fitness.Unit``) on that scenario and training seed only."""
    return run_jobs(ctx, executor, rung, [(spec, unit) for spec in specs])


def run_jobs(ctx: Context, executor, rung: str, jobs: list[tuple[dict, Any]],
             strict: bool = False) -> list[dict]:
    """Fitness at budget ``rung`` of each job ``(spec, unit)``: ``unit`` None is the run's
    scenario on the budget's seeds, a ``suite_fitness.Unit`` that scenario and seed only.

    With a journal (``ctx.journal``, set by the driver for a run directory) results already
    journaled are taken from it, and the rest run in rounds of ``ROUND_PER_WORKER`` per worker,
    each round journaled as it finishes: a killed run loses at most one round. A result the
    fitness raised on (``fitness_errors.raised``) is journaled, its traceback logged, and run again
    on resume (a fitness fixed since then scores it). Once every job has its result, the run
    may stop (``fitness_errors.stop_if_broken``: a ``strict`` call is the baselines'), decided on
    the whole call, journaled results included: the worker count and a resume change nothing.
    A strict call stops too on a baseline scored "ok" but non-finite (``stop_if_unscored``),
    which a resume evaluates again (``ask_again``).
    """
    def where(unit) -> tuple[str, str, list[int] | None]:
        if unit is None:
            return ctx.scenario_path, ctx.scenario.name, None
        path = next(s.path for s in ctx.suite if s.name == unit.scenario)
        return path, f"{unit.scenario}#seed{unit.seed}", [unit.seed]

    places = [where(unit) for _, unit in jobs]
    journal, cfg = ctx.journal, ctx.config
    log = None if journal is None else journal.path.parent / ERRORS_LOG
    batch = [[spec, path, seeds] for (spec, _), (path, _, seeds) in zip(jobs, places)]

    def ask(idx: list[int], specs: list[dict] | None = None,
            say: bool = True) -> tuple[list[dict], list]:
        """(results of jobs ``idx``, with ``specs`` in their place if given, and the errors
        of those the fitness raised on: ``take_errors``, logged, said if ``say``)."""
        out = map_jobs(executor, cfg.fitness, [[specs[k] if specs else batch[i][0],
                                                *batch[i][1:]] for k, i in enumerate(idx)],
                       rung, cfg.metric)
        return out, take_errors(out, rung, [places[i][1] for i in idx], log, say=say)

    if journal is None:
        out = ask(list(range(len(jobs))))[0]
    else:
        keys = [evaluation_key(cfg.fitness, name, rung, cfg.metric, spec)
                for (spec, _), (_, name, _) in zip(jobs, places)]
        todo = [i for i, k in enumerate(keys) if k not in journal or ask_again(journal[k], strict)]
        size = max(1, getattr(executor, "workers", 1)) * ROUND_PER_WORKER
        progress = getattr(ctx, "progress", None)   # the driver's display; observes only
        t0 = time.perf_counter()
        for start in range(0, len(todo), size):
            idx = todo[start:start + size]
            for i, f in zip(idx, ask(idx)[0]):
                if keys[i] not in journal or ask_again(journal[keys[i]], strict):  # a job twice
                    journal.add(keys[i], f)
            if progress is not None:
                progress(rung, min(start + size, len(todo)), len(todo),
                         time.perf_counter() - t0)
        out = [journal[k] for k in keys]
    failed = [i for i, f in enumerate(out) if raised(f)]
    if failed and (strict or len(failed) == len(out)):
        first = _baseline_specs(ctx, list(cfg.baselines[:1]) or ["dpo"])[0]
        stop_if_broken(ask, failed, [places[i][0:3:2] for i in failed], rung, strict, first)
    if strict:
        stop_if_unscored(cfg.fitness, out, [name for _, name, _ in places], rung)
    return out


def score_rung(state: dict, ctx: Context, executor, rung: str, specs: list[dict]) -> list[dict]:
    """Fitness of ``specs`` at ``rung``: on the scenario, or raced over the suite's units."""
    if ctx.suite is None:
        return run_rung(ctx, executor, rung, specs)
    cfg, sf = ctx.config, suite_fitness
    units = sf.units_of(ctx.suite, rung)
    order = sf.unit_order(units, cfg.seed, rung)
    table = state["suite"][rung]
    seen: dict[tuple[int, Any], dict] = {}

    def regrets(cands: list[int], block: list) -> Any:
        # every (candidate, unit) pair of the stage in one batch: with one or two candidates
        # left, the workers still have a unit each
        pairs = [(c, u) for u in block for c in cands]
        for (c, u), f in zip(pairs, run_jobs(ctx, executor, rung,
                                             [(specs[c], u) for c, u in pairs])):
            seen[c, u] = f
        return [[sf.unit_regret(table, u, seen[c, u]["score"]) for u in block] for c in cands]

    # the top rung names the best (a loss two others beat cannot win); a lower rung promotes
    # its top n_top, so there a loss is dropped only once n_top others beat it
    keep_top = 1 if rung == ctx.ladder[-1] else promoted_per_generation(cfg)
    outcome, n_eval = sf.race(len(specs), order, sf.unit_weight(ctx.suite, units), regrets,
                              cfg.race_delta, enabled=cfg.race and cfg.suite_objective == "mean",
                              incumbent=_incumbent(state, rung, table, order),
                              plan=sf.round_stages(order), keep_top=keep_top)
    state["counters"].setdefault("unit_evaluations", {})
    state["counters"]["unit_evaluations"][rung] = (
        state["counters"]["unit_evaluations"].get(rung, 0) + n_eval)
    return [sf.summarise(spec["name"], {u: seen[c, u] for u in order[:outcome[c]["units"]]},
                         ctx.suite, table, cfg.suite_objective, outcome[c]["raced_out"],
                         len(units), sf.unit_weight(ctx.suite, units))
            for c, spec in enumerate(specs)]


def _incumbent(state: dict, rung: str, table: dict, order: list) -> list[float] | None:
    """Regrets on ``order`` of the best loss evaluated on every unit of ``rung`` so far."""
    done = [rec[rung] for rec in state["losses"].values()
            if rung in rec and rec[rung]["status"] == "ok" and rec[rung]["score"] is not None
            and not rec[rung]["suite"]["raced_out"]]
    if not done:
        return None
    best = max(done, key=lambda f: f["score"])["suite"]["unit_scores"]
    return [suite_fitness.unit_regret(table, u, best[suite_fitness.unit_name(u)]) for u in order]


def evaluate_baselines(state: dict, ctx: Context, executor) -> None:
    """The zoo baselines (DPO, ORPO, ...) on every rung of the ladder, once per run; in a suite
    run on every unit, and their best per scenario is the regret's reference."""
    specs = _baseline_specs(ctx, ctx.config.baselines)
    if getattr(ctx, "suite", None) is not None and ctx.config.suite_baselines:
        for rung in ctx.ladder:   # a frozen reference: no baseline scored in this run
            state.setdefault("suite", {})[rung] = suite_fitness.frozen_table(
                ctx.config.suite_baselines, rung, suite_fitness.units_of(ctx.suite, rung),
                ctx.config.metric)
        return
    for rung in ctx.ladder:
        if getattr(ctx, "suite", None) is not None:   # es.py's context has no suite
            units = suite_fitness.units_of(ctx.suite, rung)
            flat = run_jobs(ctx, executor, rung, [(spec, u) for u in units for spec in specs],
                            strict=True)
            rows = {u: flat[k * len(specs):(k + 1) * len(specs)] for k, u in enumerate(units)}
            refs = {s.name: suite_fitness.reference_score(ctx.config.fitness, s.path, rung,
                                                          ctx.config.metric) for s in ctx.suite}
            table = suite_fitness.baseline_table(
                {spec["name"]: {u: rows[u][i]["score"] for u in units}
                 for i, spec in enumerate(specs)}, units, refs)
            state.setdefault("suite", {})[rung] = table
            res = [suite_fitness.summarise(spec["name"], {u: rows[u][i] for u in units},
                                           ctx.suite, table, ctx.config.suite_objective, False,
                                           len(units), suite_fitness.unit_weight(ctx.suite,
                                                                                 units))
                   for i, spec in enumerate(specs)]
        else:
            res = run_jobs(ctx, executor, rung, [(spec, None) for spec in specs], strict=True)
        for spec, f in zip(specs, res):
            state["baselines"].setdefault(spec["name"], {"spec": spec})[rung] = f


def _baseline_specs(ctx: Context, names) -> list[dict]:
    return [scenario_spec(name, float(ctx.scenario.beta),
                          getattr(ctx.scenario, "horizon", None)).to_json() for name in names]


def promoted_per_generation(cfg) -> int:
    """How many of a generation's best losses go up the ladder: the top fraction of the
    population (at least one)."""
    return max(1, math.ceil(cfg.top_fraction * cfg.population))


def evaluate_generation(state: dict, ctx: Context, executor, offspring: list[str],
                        retrain: list[str] = ()) -> dict:
    """Screen every untrained loss; promote the top fraction to the next rung(s).
    ``retrain`` (only with ``dedup=False``, for benchmarks): known losses trained again."""
    first, rest = ctx.ladder[0], ctx.ladder[1:]
    todo = [lid for lid, rec in state["losses"].items() if first not in rec]
    res = score_rung(state, ctx, executor, first,
                     [state["losses"][lid]["spec"] for lid in todo + list(retrain)])
    for lid, f in zip(todo, res):
        state["losses"][lid][first] = f
        if f["status"] != "ok":
            state["counters"]["failed_training"] += 1
    state["counters"]["evaluated"][first] += len(todo) + len(retrain)
    tally = {f"evaluated_{first}": len(todo) + len(retrain)}
    # the generation's pool: current population and offspring, one entry per loss
    # (a loss racing dropped at the first rung is not in it: its estimate would take a
    # promotion slot that it cannot use)
    pool: list[str] = []
    for key in state["population"] + offspring:
        lid = state["trees"][key]["loss"]
        if lid is None or lid in pool or math.isnan(_screen_score(state, lid, first)):
            continue
        if not rundir.raced_out(state["losses"][lid][first]):
            pool.append(lid)
    pool.sort(key=lambda lid: -_screen_score(state, lid, first))  # stable: ties keep order
    n_top = promoted_per_generation(ctx.config)
    for rung in rest:
        promote = [lid for lid in pool[:n_top]
                   if rung not in state["losses"][lid] or not ctx.config.dedup]
        res = score_rung(state, ctx, executor, rung,
                         [state["losses"][lid]["spec"] for lid in promote])
        for lid, f in zip(promote, res):
            state["losses"][lid][rung] = f
        state["counters"]["evaluated"][rung] += len(promote)
        tally[f"evaluated_{rung}"] = len(promote)
    return tally


# ---- tell ------------------------------------------------------------------------------------


def tell(state: dict, ctx: Context, offspring: list[str]) -> None:
    """NSGA-II survivors among population + valid offspring, one (smallest) tree per loss."""
    best: dict[str, str] = {}
    order: list[str] = []
    for key in state["population"] + offspring:
        rec = state["trees"][key]
        lid = rec["loss"]
        if lid is None:
            continue
        if lid not in best:
            best[lid] = key
            order.append(lid)
        elif genome.size(rec["names"]) < genome.size(state["trees"][best[lid]]["names"]):
            best[lid] = key
    entries = [_entry(state, best[lid]) for lid in order]
    state["population"] = gp.nsga2_select(entries, ctx.config.population)


# ---- one generation --------------------------------------------------------------------------


def step(state: dict, ctx: Context, executor) -> dict:
    """Run one generation in place; returns its summary (also appended to the history)."""
    rng = _rng_from_json(state["rng"])
    if state["generation"] == 0 and not state["baselines"] and not state.get("suite"):
        evaluate_baselines(state, ctx, executor)
    proposals = ask(state, ctx, rng)
    tally = assess(state, ctx, proposals)
    offspring = tally.pop("offspring")
    retrain = tally.pop("retrain")
    tally.update(evaluate_generation(state, ctx, executor, offspring, retrain))
    tell(state, ctx, offspring)
    state["rng"] = _rng_to_json(rng)
    state["generation"] += 1
    first = ctx.ladder[0]
    scores = sorted(s for s in (_screen_score(state, state["trees"][k]["loss"], first)
                                for k in state["population"]) if not math.isnan(s))
    summary = {
        "generation": state["generation"],
        "best": scores[-1] if scores else None,
        "median": _median(scores),
        "best_full": best_top_score(state, ctx),
        "population": len(state["population"]),
        **tally,
        "total_rejected": sum(state["counters"]["rejected"].values()),
        "total_duplicates": state["counters"]["duplicates"],
        "total_cache_hits": state["counters"]["cache_hits"],
        "total_evaluated": dict(state["counters"]["evaluated"]),
    }
    state["history"].append(summary)
    return summary


def _median(xs: list[float]) -> float | None:
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else 0.5 * (xs[m - 1] + xs[m])


def best_top_score(state: dict, ctx_or_ladder) -> float | None:
    top = (ctx_or_ladder.ladder if isinstance(ctx_or_ladder, Context) else ctx_or_ladder)[-1]
    vals = [rundir.complete_score(rec, top) for rec in state["losses"].values()]
    vals = [v for v in vals if not math.isnan(v)]
    return max(vals) if vals else None


# sha256: a result file's checksum covers its "seconds" fields too; properties: a symbolic
# limit or proof that runs out of time falls back to sampling (as convex_status does); likewise
# loss_simplest, a simplification with a time limit
_VOLATILE = {"seconds", "timing", "convex_status", "sha256", "properties", "loss_simplest"}


def deterministic_view(obj: Any) -> Any:
    """``obj`` without the fields that depend on the clock or machine load."""
    if isinstance(obj, dict):
        return {k: deterministic_view(v) for k, v in obj.items() if k not in _VOLATILE}
    if isinstance(obj, list):
        return [deterministic_view(v) for v in obj]
    return obj
