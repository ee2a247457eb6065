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
    ap.add_argument("--out", default=None,
                    help="default benchmarks/results/search_throughput.json "
                         "(--suite: search_throughput-suite.json)")
    args = ap.parse_args()
    os.chdir(REPO)   # lossforge.bench reads benchmarks/zoo relative to the working directory
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
