"""How much is there to gain on a scenario? Segment statistics per behaviour level, and
behaviour-cloning ceilings on label- and level-filtered subsets of its dataset.

    python benchmarks/headroom.py hopper-mixed-quality --good q25,q50,q75,expert --seeds 0-2

For each zoo level that produced segments: how many, their mean length (short = the episode
terminated: the robot fell), true return and summed log-prob under the scenario's BC reference.
Then BC policies trained from scratch (the reference's recipe and step count, ``--seeds``
training seeds) on

* ``chosen``           the chosen segment of every pair (the table's BC-on-chosen),
* ``chosen, good``     the chosen segment of the pairs whose two sides both come from ``--good``,
* ``all, good``        both segments of those pairs,

scored like every other policy of the benchmark (final weights, the budget's evaluation
episodes). ``chosen, good`` is an oracle: it knows which pairs are informative, which a loss
does not. A preference loss beating it would be surprising; one approaching it has found the
informative pairs from the log-probs alone.

Writes ``benchmarks/results/headroom-<scenario>.json`` with this command.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge.bench.audit import level_stats  # noqa: E402
from lossforge.bench.bc import BCConfig, train_bc  # noqa: E402
from lossforge.bench.fitness import ci95_halfwidth, evaluate_policies, reference_policy  # noqa: E402
from lossforge.bench.scenarios import load_scenario, parse_seeds  # noqa: E402
from lossforge.bench.trainer import prepare  # noqa: E402
from lossforge.bench.zoo import load_zoo  # noqa: E402
from lossforge.io import atomic_write_json  # noqa: E402


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/headroom.py",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", help="a scenario name or .toml path")
    ap.add_argument("--good", required=True,
                    help="comma-separated zoo levels whose pairs count as informative")
    ap.add_argument("--seeds", default="0-2", help="BC training seeds, e.g. 0-2 (default)")
    ap.add_argument("--budget", default="full", help="whose evaluation episodes to use")
    ap.add_argument("--out", default=None, help="default: benchmarks/results/headroom-<name>.json")
    args = ap.parse_args(argv)
    scen = load_scenario(args.scenario)
    names = list(load_zoo(scen.env_id).level_names)
    good = [g.strip() for g in args.good.split(",") if g.strip()]
    unknown = sorted(set(good) - set(names))
    if unknown:
        ap.error(f"--good: unknown levels {unknown}; {scen.env_id} has {names}")
    seeds = list(parse_seeds(args.seeds))
    from lossforge import ledger

    ledger.record_script("probe", "benchmarks/headroom.py", argv, scenario=scen.name,
                         seeds=seeds, budget=args.budget,
                         purpose="headroom: BC ceilings on subsets of the data")
    t0 = time.time()

    dataset, ref = reference_policy(scen)
    ref_logps = prepare(dataset, ref.params).ref_logps["sum"].numpy()
    stats = level_stats(dataset, names, ref_logps)
    good_idx = [names.index(g) for g in good]
    good_pairs = np.isin(dataset.sources, good_idx).all(axis=1)
    good_subset = dataset.subset(np.nonzero(good_pairs)[0], "good pairs")
    subsets = {"chosen": (dataset, "chosen"), "chosen, good": (good_subset, "chosen"),
               "all, good": (good_subset, "all")}
    rows = [{"policy": "reference (BC)", "pairs": len(dataset), "per_seed": [
        evaluate_policies({"ref": ref.params}, scen, args.budget)["ref"].score]}]
    for label, (subset, recipe) in subsets.items():
        per_seed = []
        for seed in seeds:
            bc = train_bc(subset, BCConfig(recipe=recipe, steps=scen.bc_steps, seed=seed))
            per_seed.append(evaluate_policies({label: bc.params}, scen, args.budget)[label].score)
            print(f"{label:>14s} seed {seed}: {per_seed[-1]:.1f}", flush=True)
        rows.append({"policy": f"BC on {label}", "pairs": len(subset), "per_seed": per_seed})
    for r in rows:
        r["mean"] = float(np.mean(r["per_seed"]))
        r["ci95"] = ci95_halfwidth(r["per_seed"]) if len(r["per_seed"]) > 1 else None

    print(f"\n{scen.name}: segments per zoo level")
    for s in stats:
        print(f"  {s['level']:>7s}  n={s['segments']:5d}  length {s['length']:6.1f}  return "
              f"{s['return']:7.1f}  reference sum log-prob {s['ref_sum_logp']:8.1f} "
              f"(sd {s['ref_sum_logp_sd']:.1f})")
    print(f"\n{scen.name}: BC ceilings ({args.budget} episodes, BC seeds {args.seeds})")
    for r in rows:
        ci = f" +- {r['ci95']:.1f}" if r["ci95"] is not None else ""
        print(f"  {r['policy']:>24s}  {r['mean']:5.1f}{ci}   ({r['pairs']} pairs)")
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"headroom-{scen.name}.json")
    atomic_write_json(out, {
        "command": "python benchmarks/headroom.py " + " ".join(shlex.quote(a) for a in argv),
        "scenario": scen.name, "good_levels": good, "budget": args.budget, "bc_seeds": seeds,
        "levels": stats, "ceilings": rows, "seconds": round(time.time() - t0, 1)})
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
