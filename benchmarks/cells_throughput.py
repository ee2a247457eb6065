"""Wall time of one cell of baselines.py: one loss a job (``cells.run_cells`` since session 17)
against the batches it replaced, as a ratio in one run.

Until session 17 a cell ran its losses in batches of up to ``--workers`` losses of one learning
rate, each batch one ``fitness.evaluate`` call that started its own training processes and
scored the batch after both had trained. So a core idled while a learning rate had an odd
number of losses left, while the faster loss of a batch waited for the slower one, and while
the batch was scored; and every batch paid the start of its processes. Now each loss is a job,
and a worker takes the next one the moment it is free.

This runs the same losses both ways, one after the other on the same machine: a scenario's
tuned picks (the baselines' and the trained shortcut's, as a confirmation cell holds them) on
one seed of the tuning draw, at the declared budget. It checks that every row is the same
both ways, bit for bit, and writes the wall times and their ratio:

    python benchmarks/cells_throughput.py --scenario hopper-padded-clean --workers 2 \
        --out benchmarks/results/cells-throughput.json

The draw is the tuning draw (spent on tuning already) and the rows go to a scratch file; the
run is in the ledger all the same.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# cells first: it puts this checkout's lossforge first on sys.path
from cells import Config, configs_from_losses, fitness_of, load_bed, records, run_cells

from lossforge import ledger
from lossforge.io import atomic_write_json, machine

RESULTS = Path(__file__).resolve().parent / "results"
COMPARED = ("status", "score", "final", "auc", "curve")


def tuned_items(scenario: str, results: Path = RESULTS) -> list[str]:
    """The scenario's tuned picks as --losses items: the baselines' and the shortcut's, the
    merged (edge-extended) picks where they exist."""
    items = []
    for prefix in ("", "short-"):
        for kind in ("merged-", ""):
            path = results / f"sweep-v2-{prefix}{kind}{scenario}.tuned.json"
            if path.exists():
                picks = json.loads(path.read_text())["scenarios"][scenario]
                items += [p["item"] for p in picks.values()]
                break
        else:
            raise SystemExit(f"error: no tuned picks sweep-v2-{prefix}[merged-]{scenario}"
                             f".tuned.json in {results}")
    return items


def by_learning_rate(configs: list[Config], scen, budget: str, seed: int, draw, workers: int
                     ) -> dict[str, dict]:
    """The scheduler before session 17: batches of up to ``workers`` losses of one learning
    rate, in order, each one ``fitness.evaluate`` call."""
    fitness = fitness_of(scen.name)
    rows, todo = {}, list(configs)
    while todo:
        batch = [c for c in todo if c.lr == todo[0].lr][:workers]
        todo = [c for c in todo if c not in batch]
        for c, r in zip(batch, fitness.evaluate([c.objective for c in batch], scen, budget,
                                                seeds=[seed], workers=workers, draw=draw,
                                                lr=batch[0].lr)):
            rows[c.name] = {"status": r.status, "score": r.per_seed[0], "final": r.final,
                            "auc": r.auc, "curve": list(map(list, r.curve))}
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="hopper-padded-clean")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=100, help="a tuning seed (default 100)")
    ap.add_argument("--budget", default="full")
    ap.add_argument("--out", default=str(RESULTS / "cells-throughput.json"))
    args = ap.parse_args(argv)
    scen, draw = load_bed(args.scenario), "t"
    items = tuned_items(args.scenario)
    configs = [c for item in items for c in configs_from_losses(item, scen)]
    command = " ".join(["python", "benchmarks/cells_throughput.py", *(argv or sys.argv[1:])])
    fitness_of(args.scenario).warm_up(scen, workers=args.workers, progress=True, draw=draw)
    print(f"{len(configs)} losses ({', '.join(c.name for c in configs)}) on "
          f"{args.scenario} draw {draw} seed {args.seed}, budget {args.budget}, "
          f"{args.workers} workers", flush=True)

    ledger.record("benchmark", command=command, scenario=args.scenario, seeds=[args.seed],
                  budget=args.budget, purpose="cells throughput: batches by learning rate "
                  "(the scheduler before session 17), rows to memory")
    t0 = time.perf_counter()
    before = by_learning_rate(configs, scen, args.budget, args.seed, draw, args.workers)
    t_before = time.perf_counter() - t0
    print(f"batches of one learning rate: {t_before:.0f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.jsonl"
        t0 = time.perf_counter()
        run_cells(out, {args.scenario: scen}, {args.scenario: configs}, draws=(draw,),
                  seeds=[args.seed], budget=args.budget, workers=args.workers, fixed=False,
                  command=command, quiet=True)
        t_jobs = time.perf_counter() - t0
        after = {r["loss"]: r for r in records(out)}
    print(f"one loss a job: {t_jobs:.0f} s", flush=True)

    # as JSON, so that a failed row's NaN equals itself; a row missing after differs
    differ = [n for n in before if any(json.dumps(before[n][f]) != json.dumps(
        after.get(n, {}).get(f)) for f in COMPARED)]
    result = {
        "command": command, "machine": machine(), "scenario": args.scenario, "draw": draw,
        "seed": args.seed, "budget": args.budget, "workers": args.workers,
        "losses": [c.name for c in configs],
        "learning_rates": [c.lr for c in configs],
        "seconds_batches_by_lr": t_before, "seconds_one_loss_a_job": t_jobs,
        "speedup": t_before / t_jobs,
        "rows_differ": differ,
    }
    atomic_write_json(Path(args.out), result)
    print(f"speed-up {t_before / t_jobs:.2f}x; rows that differ: {differ or 'none'}; "
          f"wrote {args.out}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
