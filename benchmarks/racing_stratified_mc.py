"""Why racing keeps its pooled t bound: a stratified bound's error rate, measured.

    python benchmarks/racing_stratified_mc.py [--trials 20000]

Racing (``lossforge/search/suite_fitness.py``) drops a loss when the paired regret differences
x over the units seen show it worse with confidence 1 - delta'. Its variance estimate pools
all units, so it also counts the spread between scenarios, which whole rounds do not sample.
On the suite search's first generation that spread made the pooled variance 4-25 times the
within-scenario one for losses of different kinds (1-1.7 times for similar ones), so a
stratified bound (Cochran's stratified variance, Welch-Satterthwaite degrees of freedom) would
drop such losses a stage earlier and could lift racing past issue 19's 4x.

``--run DIR`` records that ratio (pooled over within-scenario variance of the weighted paired
regret differences) for every pair of a suite search's hall of fame scored on two or more
rounds of a rung. This script then measures whether the stratified bound keeps its stated
error. It builds finite populations
of 7 scenarios x 5 seeds whose mean difference is exactly 0 (a loss tied with its rival must
not be dropped), with a large spread between scenarios and three patterns of within-scenario
noise, samples r seeds of every scenario (whole rounds), and counts how often each bound
declares the difference positive. A sound bound does so at most delta of the time.
Results: benchmarks/results/racing_stratified_mc.json.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge.io import atomic_write_json  # noqa: E402
from lossforge.bench.stats import t_quantile  # noqa: E402
from lossforge.search.suite_fitness import dominated  # noqa: E402

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


def variance_ratios(run_dir: Path) -> dict:
    """Per rung, for each pair of hall-of-fame losses with scores on the same 2+ rounds: the
    pooled variance of x (what racing's bound uses) over the mean within-scenario variance."""
    from lossforge.runfiles import read_json, read_result
    from lossforge.search import suite_fitness as sf

    start = read_json(run_dir / "config.json")
    config = start["config"]
    hof, _ = read_result(run_dir, "hall_of_fame.json", start)
    _, scenarios = sf.load(config["suite"])
    out = {"run": str(run_dir), "generation": hof["generation"]}
    for rung in hof["ladder"]:
        units = sf.units_of(scenarios, rung)
        table = sf.frozen_table(config["suite_baselines"], rung, units)
        weight, n = sf.unit_weight(scenarios, units), len(units)
        regrets = {}
        for row in hof["hall_of_fame"]:
            seen = ((row.get(rung) or {}).get("suite") or {}).get("unit_scores", {})
            regrets[row["name"]] = {u: sf.unit_regret(table, u, seen[sf.unit_name(u)])
                                    for u in units if sf.unit_name(u) in seen}
        pairs = []
        names = list(regrets)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                common = [u for u in units if u in regrets[a] and u in regrets[b]]
                by: dict = {}
                for u in common:
                    by.setdefault(u.scenario, []).append(
                        n * weight(u) * (regrets[a][u] - regrets[b][u]))
                if len(by) < len(scenarios) or min(len(v) for v in by.values()) < 2:
                    continue
                x = np.concatenate(list(by.values()))
                within = float(np.mean([np.var(v, ddof=1) for v in by.values()]))
                pairs.append({"pair": [a, b], "units": len(x),
                              "ratio": round(float(np.var(x, ddof=1)) / within, 2)})
        out[rung] = pairs
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run", help="a suite search's run directory: record its variance ratios")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/racing_stratified_mc.json"))
    args = ap.parse_args(argv)
    ratios = variance_ratios(Path(args.run)) if args.run else None
    for rung, pairs in (ratios or {}).items():
        if isinstance(pairs, list) and pairs:
            r = sorted(p["ratio"] for p in pairs)
            print(f"{rung}: pooled / within-scenario variance over {len(r)} pairs: "
                  f"{r[0]}-{r[-1]} (median {r[len(r) // 2]})")
    rng = np.random.default_rng(args.seed)
    rows = []
    for name, noise in NOISE.items():
        for r in (2, 4):
            for delta in (0.05, 0.005):
                got = error_rates(noise, r, delta, args.trials, rng)
                rows.append({"noise": name, "rounds": r, "delta": delta, **got})
                print(f"{name:20s} r={r} delta={delta}: pooled {got['pooled']:.4f}, "
                      f"stratified {got['stratified']:.4f}")
    command = "python benchmarks/racing_stratified_mc.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    atomic_write_json(Path(args.out), {"command": command.strip(), "trials": args.trials,
                                       "seed": args.seed, "rows": rows,
                                       "variance_ratios": ratios})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
