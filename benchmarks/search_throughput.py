"""Search throughput: candidates scored per minute with and without de-duplication and
multi-fidelity, as ratios, in one run of this script.

    python benchmarks/search_throughput.py                       # quick scenario, real fitness
    python benchmarks/search_throughput.py --fitness probe       # engine only (no MuJoCo)

Four searches with the same seed, grammar, population and generations:

    dedup + multi-fidelity   the default engine
    dedup only               every new loss straight at the top rung (budget "full")
    multi-fidelity only      repeats and semantic duplicates trained again
    neither                  both

A *candidate scored* is a proposal that passed the checks and got a fitness (by training, the
fitness cache or a duplicate's result); rejected proposals are not counted (they cost the same
in every variant). Baselines are off, so only search work is timed. With and without de-dup
the searches take identical decisions (retraining a duplicate gives the same fitness: common
random numbers), which the script checks; with and without multi-fidelity they select on
different budgets, so their trajectories differ and the ratio compares throughput only.
Results: ``--out`` (default benchmarks/results/search_throughput.json), with the machine load.

    python benchmarks/search_throughput.py --suite benchmarks/suites/train.toml --fitness probe

measures suite runs instead (``lossforge/search/suite_fitness.py``), in one run, as a ratio:

    racing   screen for every loss and full for the top fraction, each raced over the suite's
             (scenario, seed) units (the default suite search)
    multi_fidelity_only   the same ladder without racing (separates racing's share)
    naive    every loss on every scenario and seed at the full budget (scenarios x full budget)

Candidates per hour are counted two ways: by the wall time of the search (the probe fitness's
own cost grows with steps and seeds, but engine overhead weighs more than in a real run), and by
a cost model: the candidate-unit evaluations the search made at each rung times the seconds one
training seed costs there on the length-controlled Hopper scenarios (``UNIT_SECONDS``: the
estimates the scenario files give for these 2-core machines, not measured by this script).
Baselines (the regret's reference, scored on every unit once per run) are left out of the
modelled cost and included in the wall time. Results: benchmarks/results/search_throughput-suite.json.

    python benchmarks/search_throughput.py --run benchmarks/results/v2-suite-search/<run>

measures a real suite search after the fact, with its own costs instead of the model's: its
journal holds every (loss, scenario, seed) evaluation with the wall time of the worker call
that made it (the losses of one stacked call share that value, so each call counts once), and
the length of its training curve says its rung. Racing's cost is the sum of those calls; the
naive evaluation's is every loss it scored times the top rung's units times what one unit cost
at the top rung in this run. The speed-up has two shares, split by the ladder alone (every loss
that started a rung evaluated on all of that rung's units, at the run's unit costs, with the
same losses promoted): the ladder's (screen before full) and racing's (units dropped within a
rung). A run that scored its baselines itself (no ``--suite-baselines``) trained them in the
candidates' calls and is refused. Nothing is trained. Results: search_throughput-run.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lossforge.search import SearchConfig, run_search  # noqa: E402
from lossforge.search.checkpoint import load  # noqa: E402

VARIANTS = {
    "dedup+multi_fidelity": dict(dedup=True, multi_fidelity=True),
    "dedup_only": dict(dedup=True, multi_fidelity=False),
    "multi_fidelity_only": dict(dedup=False, multi_fidelity=True),
    "neither": dict(dedup=False, multi_fidelity=False),
}


#: Seconds per training seed (training plus evaluation episodes) of one candidate on one
#: length-controlled Hopper scenario, from the budget comments in
#: benchmarks/scenarios/hopper-padded-*.toml (2-core machine, one core per run): quick is 20
#: steps and 2 episodes (about 1 s, a guess), screen about 10 s + 12 s, full about 32 s + 55 s.
UNIT_SECONDS = {"quick": 1.0, "screen": 22.0, "full": 87.0}

SUITE_VARIANTS = {
    "racing": dict(race=True, multi_fidelity=True),
    "multi_fidelity_only": dict(race=False, multi_fidelity=True),   # what racing adds to it
    "naive": dict(race=False, multi_fidelity=False),
}


def timed_run(cfg, runs_root: Path) -> tuple[float, dict, dict, int]:
    """Run one search quietly: (wall seconds incl. set-up, its final state, its counters, the
    losses it scored, i.e. proposed minus rejected before training)."""
    t0 = time.perf_counter()
    run_dir = run_search(cfg, runs_root=runs_root, quiet=True)
    wall = time.perf_counter() - t0
    st = load(run_dir)
    c = st["counters"]
    return wall, st, c, c["proposed"] - sum(c["rejected"].values())


def suite_main(args) -> int:
    """Racing vs naive suite evaluation (see the module docstring)."""
    import torch

    torch.set_num_threads(1)   # as the executors' workers run; the machine is shared
    load_before = os.getloadavg()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in SUITE_VARIANTS.items():
            cfg = SearchConfig(suite=args.suite, grammar=args.grammar, budget=args.budget,
                               generations=args.generations, population=args.population,
                               seed=args.seed, workers=args.workers, fitness=args.fitness,
                               **flags)
            wall, st, c, scored = timed_run(cfg, Path(tmp) / name)
            units = c.get("unit_evaluations", {})
            model_h = sum(n * UNIT_SECONDS[r] for r, n in units.items()) / 3600
            raced = sum(1 for rec in st["losses"].values() for r in st["ladder"]
                        if r in rec and rec[r].get("suite", {}).get("raced_out"))
            rows[name] = {
                "search_seconds": round(st["timing"]["elapsed_s"], 2),
                "wall_seconds_incl_setup": round(wall, 2),
                "proposed": c["proposed"], "rejected": sum(c["rejected"].values()),
                "scored": scored, "trainings": c["evaluated"], "raced_out": raced,
                "candidate_unit_evaluations": units,
                "candidates_per_hour_wall": round(scored / st["timing"]["elapsed_s"] * 3600, 1),
                "candidates_per_hour_model": round(scored / model_h, 2) if model_h else None,
            }
            print(f"{name:>7}: {scored} scored; unit evaluations {units}; raced out {raced}; "
                  f"{rows[name]['candidates_per_hour_model']} candidates/h (model), "
                  f"{rows[name]['candidates_per_hour_wall']} /h (wall, "
                  f"{st['timing']['elapsed_s']:.0f} s)", flush=True)
    keys = ("candidates_per_hour_model", "candidates_per_hour_wall")
    ratio = {k: round(rows["racing"][k] / rows["naive"][k], 2) for k in keys}
    ratio_mf = {k: round(rows["racing"][k] / rows["multi_fidelity_only"][k], 2) for k in keys}
    result = {
        "what": "suite search: candidates per hour, racing (multi-fidelity + racing over "
                "(scenario, seed) units) vs naive (every candidate x scenario x seed at full)",
        "command": "python benchmarks/search_throughput.py " + " ".join(sys.argv[1:]),
        "config": vars(args), "unit_seconds_model": UNIT_SECONDS,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "cpus": os.cpu_count(), "variants": rows, "ratio_racing_vs_naive": ratio,
        "ratio_racing_vs_multi_fidelity_only": ratio_mf,
    }
    out = Path(args.out or REPO / "benchmarks" / "results" / "search_throughput-suite.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("racing / naive:", ratio, "| racing / multi-fidelity only:", ratio_mf)
    print(f"written {out}")
    return 0


def model_ratio(losses: int, n_top: int, top: str, unit_evaluations: dict[str, int]
                ) -> float | None:
    """Racing's speed-up by the cost model: ``losses`` each evaluated on the ``n_top`` units of
    the top rung (naive), against the unit evaluations the search made at each rung."""
    cost = sum(n * UNIT_SECONDS.get(r, 0.0) for r, n in unit_evaluations.items())
    return losses * n_top * UNIT_SECONDS[top] / cost if cost else None


def rung_of_steps(scenarios) -> dict[int, str]:
    """Training steps -> rung name over a suite's scenarios; refuses when two rungs share a step
    count (a curve's length could not say which rung trained it)."""
    from lossforge.bench.scenarios import BUDGET_NAMES

    out: dict[int, str] = {}
    for s in scenarios:
        for rung in BUDGET_NAMES:
            steps = s.scenario.budget(rung).train_steps
            if out.setdefault(steps, rung) != rung:
                raise SystemExit(f"{s.name}: rungs {out[steps]} and {rung} both train {steps} "
                                 "steps; a curve cannot tell them apart")
    return out


def run_costs(run_dir: Path) -> dict:
    """A finished (or partial) suite search's racing cost, measured, against the naive suite
    evaluation of the same losses priced at this run's own cost of a top-rung unit."""
    from lossforge.search import suite_fitness as sf
    from lossforge.search.journal import Journal

    hof = json.loads((run_dir / "hall_of_fame.json").read_text())
    cfg = json.loads((run_dir / "config.json").read_text())["config"]
    if not cfg.get("suite"):
        raise SystemExit(f"{run_dir}: not a suite search (no --suite in its config)")
    if not cfg.get("suite_baselines"):
        # without a frozen table the run trains its baselines in the same worker calls as the
        # candidates, and a call's wall time cannot be split between them
        raise SystemExit(f"{run_dir}: its baselines were scored in the run (no "
                         "--suite-baselines), in the candidates' own calls; their cost cannot "
                         "be told apart from the candidates'")
    ladder, counters = hof["ladder"], hof["counters"]
    scenarios = sf.load(cfg["suite"])[1]
    top, n_top = ladder[-1], len(sf.units_of(scenarios, ladder[-1]))
    steps_rung = rung_of_steps(scenarios)
    calls = Journal(run_dir).calls()
    units = {r: 0 for r in ladder}
    seconds = {r: 0.0 for r in ladder}
    unattributed = 0.0   # calls whose rows have no curve (failed trainings): racing pays them
    for secs, rows in calls.items():
        rungs = {steps_rung.get(int(f["curve"][-1][0])) if f.get("curve") else None
                 for f in rows}
        if len(rungs) != 1 or None in rungs:
            unattributed += secs
            continue
        rung = rungs.pop()
        units[rung] += len(rows)
        seconds[rung] += secs
    racing = sum(seconds.values()) + unattributed
    scored = counters["evaluated"][ladder[0]]
    if not any(units.values()):
        raise SystemExit(f"{run_dir}: no journaled evaluation has a training curve (e.g. the "
                         "LLM fitness's), so none can be told to a rung")
    if not units[top]:
        raise SystemExit(f"{run_dir}: no evaluation at the top rung {top!r} yet")
    cost = {r: seconds[r] / units[r] for r in ladder if units[r]}
    naive = scored * n_top * cost[top]
    # the ladder alone (multi-fidelity, no racing): every loss that started a rung evaluated
    # on all of its units, at this run's unit costs; separates the two shares of the speed-up
    ladder_only = sum(counters["evaluated"].get(r, 0) * len(sf.units_of(scenarios, r))
                      * cost.get(r, 0.0) for r in ladder)
    return {
        "run": str(run_dir), "generation": hof.get("generation"),
        "losses_scored": scored, "top_rung_units": n_top,
        "unit_evaluations": units, "seconds": {r: round(v, 1) for r, v in seconds.items()},
        "seconds_per_unit": {r: round(c, 2) for r, c in cost.items()},
        "seconds_unattributed": round(unattributed, 1),
        "racing_core_hours": round(racing / 3600, 2),
        "naive_core_hours": round(naive / 3600, 2),
        "ratio_measured": round(naive / racing, 2),
        "ladder_only_core_hours": round(ladder_only / 3600, 2),
        "ratio_ladder_only_vs_naive": round(naive / ladder_only, 2),
        "ratio_racing_vs_ladder_only": round(ladder_only / racing, 2),
        "ratio_model": round(model_ratio(scored, n_top, top, counters["unit_evaluations"]), 2),
        "counters_unit_evaluations": counters["unit_evaluations"],
    }


def run_main(args) -> int:
    res = run_costs(Path(args.run))
    if res["unit_evaluations"] != res["counters_unit_evaluations"]:
        print(f"note: the journal has {res['unit_evaluations']} unit evaluations with a "
              f"curve, the hall of fame counts {res['counters_unit_evaluations']}; the measured "
              "ratio rests on the journal's", file=sys.stderr)
    result = {"what": "a real suite search: racing's measured cost vs the naive suite "
                      "evaluation of the same losses at this run's cost of a top-rung unit",
              "command": "python benchmarks/search_throughput.py " + " ".join(sys.argv[1:]),
              "unit_seconds_model": UNIT_SECONDS, **res}
    out = Path(args.out or REPO / "benchmarks" / "results" / "search_throughput-run.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{res['losses_scored']} losses scored in {res['racing_core_hours']} core-h "
          f"({res['unit_evaluations']} unit evaluations, {res['seconds_per_unit']} s a unit); "
          f"naive: {res['losses_scored']} x {res['top_rung_units']} units = "
          f"{res['naive_core_hours']} core-h: {res['ratio_measured']}x measured, "
          f"{res['ratio_model']}x by the cost model; of it, the ladder alone (every loss on "
          f"all units of each rung it reached: {res['ladder_only_core_hours']} core-h) "
          f"{res['ratio_ladder_only_vs_naive']}x and racing {res['ratio_racing_vs_ladder_only']}x")
    print(f"written {out}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="quick")
    ap.add_argument("--grammar", default="grammars/mirror_map_dcp.toml")
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--population", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--fitness", default="bench", choices=("bench", "probe"))
    ap.add_argument("--suite", default=None, metavar="FILE",
                    help="measure suite runs: racing vs naive (see above)")
    ap.add_argument("--budget", default="full", help="--suite: top budget (default full)")
    ap.add_argument("--run", default=None, metavar="RUN",
                    help="a suite search's run directory: its racing cost against the naive "
                         "evaluation, from its journal (trains nothing; see above)")
    ap.add_argument("--out", default=None,
                    help="default benchmarks/results/search_throughput.json "
                         "(--suite: search_throughput-suite.json; --run: "
                         "search_throughput-run.json)")
    args = ap.parse_args()
    os.chdir(REPO)   # lossforge.bench reads benchmarks/zoo relative to the working directory
    if args.run:
        return run_main(args)
    if args.suite:
        return suite_main(args)
    args.out = args.out or str(REPO / "benchmarks" / "results" / "search_throughput.json")
    load_before = os.getloadavg()
    rows = {}
    histories = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in VARIANTS.items():
            cfg = SearchConfig(scenario=args.scenario, grammar=args.grammar,
                               generations=args.generations, population=args.population,
                               seed=args.seed, workers=args.workers, fitness=args.fitness,
                               baselines=(), **flags)
            wall, st, c, scored = timed_run(cfg, Path(tmp) / name)
            minutes = st["timing"]["elapsed_s"] / 60
            rows[name] = {
                "search_seconds": round(st["timing"]["elapsed_s"], 2),
                "wall_seconds_incl_setup": round(wall, 2),
                "proposed": c["proposed"], "rejected": sum(c["rejected"].values()),
                "scored": scored, "cache_hits": c["cache_hits"], "duplicates": c["duplicates"],
                "trainings": c["evaluated"],
                "candidates_scored_per_minute": round(scored / minutes, 2),
            }
            histories[name] = [h["population"] for h in st["history"]], [
                st["trees"][k]["names"] for k in st["population"]]
            print(f"{name:>22}: {rows[name]['candidates_scored_per_minute']:7.2f} scored/min "
                  f"({scored} in {st['timing']['elapsed_s']:.0f} s; trainings {c['evaluated']})",
                  flush=True)
    base = rows["neither"]["candidates_scored_per_minute"]
    ratios = {name: round(r["candidates_scored_per_minute"] / base, 2) for name, r in rows.items()}
    same = (histories["dedup+multi_fidelity"] == histories["multi_fidelity_only"]
            and histories["dedup_only"] == histories["neither"])
    result = {
        "what": "candidates scored per minute of search, ratios to 'neither'",
        "config": vars(args), "load_average_before": load_before,
        "load_average_after": os.getloadavg(), "cpus": os.cpu_count(),
        "variants": rows, "ratios_vs_neither": ratios,
        "dedup_changes_no_decision": same,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("ratios vs neither:", ratios, "| de-dup changes no decision:", same)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
