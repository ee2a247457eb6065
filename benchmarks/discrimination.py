"""Does the benchmark discriminate, and how noisy is one evaluation? From a baseline JSONL.

    python benchmarks/discrimination.py benchmarks/results/baselines-hopper-full.jsonl

For every (budget, scenario) of the file, over the losses trained there (the reference and
BC-on-chosen included):

* spread     best mean score minus worst mean score;
* max_ci     the largest 95 % t half-width among them;
* discriminates  spread > 2 x max_ci (issue 4: "a search has something to climb");
* one_seed_se    per loss, the standard deviation over seeds of the per-seed score, i.e. the
  standard error of a one-seed evaluation at this budget (the training seed is the only
  randomness: evaluation episodes are fixed, common random numbers).

Writes ``<jsonl stem>.discrimination.json`` next to the input, with this command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cells import records  # noqa: E402  (this directory: the scripts' shared JSONL reader)
from lossforge.bench.fitness import ci95_halfwidth  # noqa: E402

VERDICT = {True: "discriminates", False: "does NOT discriminate",
           None: "undecided (one seed: no interval yet)"}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/discrimination.py",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("jsonl", help="a baseline run JSONL (benchmarks/baselines.py run --out)")
    path = Path(ap.parse_args(argv).jsonl)
    if not path.is_file():
        ap.error(f"{path}: no such file")
    scores: dict[tuple[str, str], dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in records(path):
        if r.get("status") == "ok" and r.get("score") is not None:
            scores[(r["budget"], r["scenario"])][r["loss"]][r["seed"]] = r["score"]
    out = {"command": f"python benchmarks/discrimination.py {path}", "cells": []}
    for (budget, scenario), losses in sorted(scores.items()):
        rows = {}
        for loss, per_seed in losses.items():
            vals = [per_seed[s] for s in sorted(per_seed)]
            rows[loss] = {"seeds": len(vals), "mean": statistics.fmean(vals),
                          "ci95": ci95_halfwidth(vals) if len(vals) > 1 else None,
                          "one_seed_se": statistics.stdev(vals) if len(vals) > 1 else None}
        means = {k: v["mean"] for k, v in rows.items()}
        cis = [v["ci95"] for v in rows.values() if v["ci95"] is not None]
        spread = max(means.values()) - min(means.values())
        max_ci = max(cis) if cis else None
        cell = {"budget": budget, "scenario": scenario, "spread": spread, "max_ci95": max_ci,
                # None: undecided, no loss has two seeds yet to give an interval
                "discriminates": None if max_ci is None else spread > 2 * max_ci,
                "best": max(means, key=means.get), "worst": min(means, key=means.get),
                "losses": rows}
        out["cells"].append(cell)
        se = {k: round(v["one_seed_se"], 2) for k, v in rows.items() if v["one_seed_se"]}
        print(f"{budget:6s} {scenario:24s} spread {spread:5.1f} ({cell['best']} - "
              f"{cell['worst']}), max CI ±{max_ci if max_ci is None else round(max_ci, 1)}: "
              f"{VERDICT[cell['discriminates']]}; "
              f"one-seed SE {se}")
    dest = path.with_name(path.stem + ".discrimination.json")
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"written {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
