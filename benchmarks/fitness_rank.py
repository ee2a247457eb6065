"""Does the fitness rank candidates reproducibly? Spearman between two independent evaluations.

    python benchmarks/fitness_rank.py --scenario hopper-noisy-0.3 --budget screen

23 candidates (zoo members and beta / lambda variants) are scored twice at the same budget
with disjoint training seeds and disjoint evaluation episodes; the Spearman rank correlation of
the two score vectors says whether a search's selection is signal or noise (issue 4 target:
at least 0.8 at the screen budget). Writes benchmarks/results/fitness_rank-<scenario>-<budget>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CANDIDATES = ("dpo:beta=0.05,dpo:beta=0.1,dpo:beta=0.3,dpo:beta=0.5,dpo:beta=1,dpo:beta=2,"
              "dpo:beta=4,orpo:lam=0.1,orpo:lam=0.5,orpo:lam=1,ipo,robust,hinge,sigmoid_norm,"
              "simpo,sft,discopop,exo_pair,nca_pair,bco_pair,apo_zero,apo_down,sppo_hard")


def spearman(a, b) -> float:
    """Spearman's rho with average ranks for ties."""
    def ranks(x):
        x = np.asarray(x, dtype=float)
        order = np.argsort(x, kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x), dtype=float)
        for v in np.unique(x):  # average ties
            m = x == v
            r[m] = r[m].mean()
        return r
    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    from lossforge.bench import fitness
    from lossforge.bench.losses import build_objectives
    from lossforge.bench.scenarios import load_scenario

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--budget", default="screen")
    ap.add_argument("--losses", default=CANDIDATES)
    args = ap.parse_args()
    scen = load_scenario(args.scenario)
    k = len(scen.budget(args.budget).seeds)
    objs = build_objectives(args.losses, scen)
    from lossforge import ledger

    ledger.record_script("probe", "benchmarks/fitness_rank.py", sys.argv[1:],
                         scenario=scen.name, seeds=None, budget=args.budget,
                         purpose="rank stability of the fitness (two disjoint seed sets)")
    t0 = time.time()
    runs = []
    for rep in range(2):  # disjoint training seeds and evaluation episodes
        seeds = list(range(100 * (rep + 1), 100 * (rep + 1) + k))
        res = fitness.evaluate(objs, scen, args.budget, seeds=seeds,
                               episode_seed_base=fitness.EPISODE_SEED_BASE + 50_000 * (rep + 1))
        runs.append(res)
        print(f"evaluation {rep + 1} done ({time.time() - t0:.0f} s)", flush=True)
    a = [r.score for r in runs[0]]
    b = [r.score for r in runs[1]]
    ok = [i for i in range(len(a)) if np.isfinite(a[i]) and np.isfinite(b[i])]
    rho = spearman([a[i] for i in ok], [b[i] for i in ok])
    for o, x, y in zip(objs, a, b):
        print(f"{o.name:16s} {x:7.1f} {y:7.1f}")
    print(f"Spearman rho = {rho:.3f} over {len(ok)} candidates")
    out = ROOT / f"benchmarks/results/fitness_rank-{scen.name}-{args.budget}.json"
    out.write_text(json.dumps({
        "command": "python benchmarks/fitness_rank.py " + " ".join(sys.argv[1:]),
        "seconds": time.time() - t0, "spearman": rho, "n": len(ok),
        "scores": {o.name: [x, y] for o, x, y in zip(objs, a, b)}}, indent=2) + "\n")


if __name__ == "__main__":
    main()
