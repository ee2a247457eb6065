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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="quick")
    ap.add_argument("--grammar", default="grammars/mirror_map_dcp.toml")
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--population", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--fitness", default="bench", choices=("bench", "probe"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" /
                                         "search_throughput.json"))
    args = ap.parse_args()
    os.chdir(REPO)   # lossforge.bench reads benchmarks/zoo relative to the working directory
    load_before = os.getloadavg()
    rows = {}
    histories = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in VARIANTS.items():
            cfg = SearchConfig(scenario=args.scenario, grammar=args.grammar,
                               generations=args.generations, population=args.population,
                               seed=args.seed, workers=args.workers, fitness=args.fitness,
                               baselines=(), **flags)
            t0 = time.perf_counter()
            run_dir = run_search(cfg, runs_root=Path(tmp) / name, quiet=True)
            wall = time.perf_counter() - t0
            st = load(run_dir)
            c = st["counters"]
            scored = c["proposed"] - sum(c["rejected"].values())
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
