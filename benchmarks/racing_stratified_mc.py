"""Why racing keeps its pooled t bound: a stratified bound's error rate, measured.

    python benchmarks/racing_stratified_mc.py [--trials 20000]

Racing (``lossforge/search/suite_fitness.py``) drops a loss when the paired regret differences
x over the units seen show it worse with confidence 1 - delta'. Its variance estimate pools
all units, so it also counts the spread between scenarios, which whole rounds do not sample.
On the suite search's first generation that spread made the pooled variance 4-25 times the
within-scenario one for losses of different kinds (1-1.7 times for similar ones), so a
stratified bound (Cochran's stratified variance, Welch-Satterthwaite degrees of freedom) would
drop such losses a stage earlier and could lift racing past issue 19's 4x.

This script measures whether that bound keeps its stated error. It builds finite populations
of 7 scenarios x 5 seeds whose mean difference is exactly 0 (a loss tied with its rival must
not be dropped), with a large spread between scenarios and three patterns of within-scenario
noise, samples r seeds of every scenario (whole rounds), and counts how often each bound
declares the difference positive. A sound bound does so at most delta of the time.
Results: benchmarks/results/racing_stratified_mc.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge.search.suite_fitness import dominated, t_quantile  # noqa: E402

S, K = 7, 5
NOISE = {"equal": [1.0] * 7, "one noisy scenario": [3.0] + [0.3] * 6,
         "spread": [0.1, 0.3, 0.5, 1, 2, 3, 5]}


def stratified_dominated(x: np.ndarray, r: int, delta: float) -> bool:
    """est - t_{1-delta, nu} sqrt(V) > 0, with est = sum_s (K/N) xbar_s,
    V = sum_s (K/N)^2 s_s^2 / r (1 - r/K) and nu Welch-Satterthwaite's."""
    share = K / (S * K)
    groups = x.reshape(S, r)
    est = float(share * groups.mean(axis=1).sum())
    v = share ** 2 * groups.var(axis=1, ddof=1) / r * (1 - r / K)
    var = float(v.sum())
    if var <= 0:
        return est > 0
    nu = var ** 2 / float((v ** 2 / (r - 1)).sum())
    return est - t_quantile(1 - delta, nu) * math.sqrt(var) > 0


def error_rates(noise: list[float], r: int, delta: float, trials: int,
                rng: np.random.Generator) -> dict:
    wrong = {"pooled": 0, "stratified": 0}
    for _ in range(trials):
        pop = rng.normal(0.0, 1.0, (S, K)) * np.array(noise)[:, None]
        pop += rng.normal(0.0, 2.0, S)[:, None]          # spread between scenarios
        pop -= pop.mean()                                  # a tie over all N units
        picked = np.stack([rng.permutation(K)[:r] for _ in range(S)])
        x = np.take_along_axis(pop, picked, axis=1)        # r seeds of every scenario
        wrong["pooled"] += dominated(x.T.reshape(-1), S * K, delta)   # rounds, as racing
        wrong["stratified"] += stratified_dominated(x, r, delta)
    return {k: v / trials for k, v in wrong.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/racing_stratified_mc.json"))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows = []
    for name, noise in NOISE.items():
        for r in (2, 4):
            for delta in (0.05, 0.005):
                got = error_rates(noise, r, delta, args.trials, rng)
                rows.append({"noise": name, "rounds": r, "delta": delta, **got})
                print(f"{name:20s} r={r} delta={delta}: pooled {got['pooled']:.4f}, "
                      f"stratified {got['stratified']:.4f}")
    command = "python benchmarks/racing_stratified_mc.py " + " ".join(argv or sys.argv[1:])
    Path(args.out).write_text(json.dumps({"command": command.strip(), "trials": args.trials,
                                          "seed": args.seed, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
