"""How noisy is one fitness evaluation? Standard error at a budget, from independent seeds.

    python benchmarks/fitness_noise.py --scenario hopper-noisy-0.3 --budget screen \
        --losses dpo,orpo --seeds 0-5

Each loss is trained and scored with every seed in --seeds (one seed = one independent
training run; evaluation episodes are shared, as in the search). The spread of the per-seed
scores is the standard error of a one-seed evaluation; divided by sqrt(k) it is the standard
error of the budget's own k-seed fitness. Results go to
benchmarks/results/fitness_noise-<scenario>-<budget>.json with the exact command.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from lossforge.bench.scenarios import parse_seeds

    from lossforge.bench import fitness
    from lossforge.bench.losses import build_objectives
    from lossforge.bench.scenarios import load_scenario

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--budget", default="screen")
    ap.add_argument("--losses", default="dpo,orpo")
    ap.add_argument("--seeds", default="0-5")
    args = ap.parse_args()
    scen = load_scenario(args.scenario)
    budget_seeds = len(scen.budget(args.budget).seeds)
    objs = build_objectives(args.losses, scen)
    from lossforge import ledger

    ledger.record_script("probe", "benchmarks/fitness_noise.py", sys.argv[1:],
                         scenario=scen.name, seeds=parse_seeds(args.seeds), budget=args.budget,
                         purpose="fitness noise across training seeds")
    t0 = time.time()
    res = fitness.evaluate(objs, scen, args.budget, seeds=parse_seeds(args.seeds))
    rows = []
    for r in res:
        x = np.asarray(r.per_seed)
        sd = float(x.std(ddof=1))
        rows.append({"loss": r.name, "per_seed": list(r.per_seed), "mean": float(x.mean()),
                     "se_one_seed": sd, "budget_seeds": budget_seeds,
                     "se_budget_fitness": sd / math.sqrt(budget_seeds), "status": r.status})
        print(f"{r.name:12s} mean {x.mean():6.1f}  SE(one seed) {sd:5.1f}  "
              f"SE({budget_seeds}-seed {args.budget} fitness) {sd / math.sqrt(budget_seeds):5.1f}")
    out = ROOT / f"benchmarks/results/fitness_noise-{scen.name}-{args.budget}.json"
    out.write_text(json.dumps({"command": "python benchmarks/fitness_noise.py "
                               + " ".join(sys.argv[1:]), "seconds": time.time() - t0,
                               "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
