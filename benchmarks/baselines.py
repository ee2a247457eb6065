"""The state of the field on the MuJoCo benchmark: baselines x scenarios x seeds, resumable.

    python benchmarks/baselines.py run --scenarios hopper-clean,hopper-noisy-0.3 \
        --losses dpo,dpo:beta=2,orpo,ipo,robust,hinge --seeds 0-9 --budget full \
        --out benchmarks/results/baselines-hopper.jsonl
    python benchmarks/baselines.py table benchmarks/results/baselines-hopper.jsonl

``run`` works cell by cell, one (seed, scenario) at a time with every loss of that cell trained
and evaluated together (common random numbers: a cell's numbers do not depend on which other
cells ran). Each finished cell is appended to the JSONL file (flushed and fsynced) and skipped on
the next start, so a killed run resumes where it stopped, across sessions. Every line records
the exact command. Seeds go in the outer loop, so a partial run covers every scenario with a
few seeds rather than a few scenarios with all seeds.

``table`` prints and writes (next to the JSONL, as .md and .json) mean normalised score and the
95 % t-interval over seeds for every scenario and loss, plus the reference (BC) and BC-on-chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge.bench.scenarios import parse_seeds  # noqa: E402


def done_cells(path: Path) -> set[tuple[str, int, str]]:
    cells = set()
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a kill: that cell is simply redone
            cells.add((r["scenario"], r["seed"], r["budget"]))
    return cells


def append(path: Path, records: list[dict]) -> None:
    with open(path, "a") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def run(args) -> None:

    from lossforge.bench import fitness
    from lossforge.bench.__main__ import build_objectives
    from lossforge.bench.bc import BCConfig, train_bc
    from lossforge.bench.scenarios import load_scenario

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = done_cells(out)
    command = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    for seed in parse_seeds(args.seeds):
        for name in args.scenarios.split(","):
            if (name, seed, args.budget) in done:
                continue
            scen = load_scenario(name)
            objs = build_objectives(args.losses, scen)
            t0 = time.time()
            res = fitness.evaluate(objs, scen, args.budget, seeds=[seed], workers=args.workers)
            dataset, ref = fitness.reference_policy(scen)
            bc_chosen = train_bc(dataset, BCConfig(recipe="chosen", seed=seed,
                                                   steps=scen.bc_steps)).params
            fixed = fitness.evaluate_policies({"reference (BC)": ref.params,
                                               "bc-on-chosen": bc_chosen}, scen, args.budget)
            rows = [*fixed.values(), *res]
            append(out, [{"scenario": name, "seed": seed, "budget": args.budget,
                          "loss": r.name, "status": r.status, "score": r.per_seed[0],
                          "final": r.final, "auc": r.auc, "curve": r.curve,
                          "seconds": time.time() - t0, "command": command} for r in rows])
            print(f"{time.strftime('%H:%M:%S')} {name} seed {seed}: "
                  + ", ".join(f"{r.name} {r.per_seed[0]:.1f}" for r in rows), flush=True)


def table(args) -> None:
    from lossforge.bench.fitness import ci95_halfwidth

    path = Path(args.jsonl)
    cells: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    commands = set()
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        commands.add(r["command"])
        metric = r["score"] if r["status"] == "ok" else float("nan")
        cells[(r["budget"], r["scenario"], r["loss"])].append(metric)
    rows = []
    for (budget, scen, loss), xs in sorted(cells.items()):
        mean = sum(xs) / len(xs)
        rows.append({"budget": budget, "scenario": scen, "loss": loss, "n_seeds": len(xs),
                     "mean": mean, "ci95": ci95_halfwidth(xs), "per_seed": xs})
    lines = ["| budget | scenario | loss | seeds | score (mean) | 95 % CI |", "|---|---|---|---|---|---|"]
    for r in rows:
        ci = "n/a" if r["ci95"] != r["ci95"] else f"±{r['ci95']:.1f}"
        lines.append(f"| {r['budget']} | {r['scenario']} | {r['loss']} | {r['n_seeds']} | "
                     f"{r['mean']:.1f} | {ci} |")
    md = "\n".join(lines) + "\n\nCommands:\n" + "\n".join(f"    {c}" for c in sorted(commands))
    print(md)
    path.with_suffix(".md").write_text(md + "\n")
    path.with_suffix(".summary.json").write_text(json.dumps(rows, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description="baseline tables, resumable")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--scenarios", required=True)
    r.add_argument("--losses", default="dpo,dpo:beta=0.5,dpo:beta=2,orpo,ipo,robust,hinge")
    r.add_argument("--seeds", default="0-9")
    r.add_argument("--budget", default="full")
    r.add_argument("--workers", type=int, default=None)
    r.add_argument("--out", required=True)
    t = sub.add_parser("table")
    t.add_argument("jsonl")
    args = ap.parse_args()
    run(args) if args.cmd == "run" else table(args)


if __name__ == "__main__":
    main()
