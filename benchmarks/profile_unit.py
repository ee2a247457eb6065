"""Where one training unit's wall time goes: ``fitness.evaluate`` of one loss, one seed, under
cProfile, as a benchmark cell runs it (``cells.Job``), after the scenario's data are prepared.

    python benchmarks/profile_unit.py --scenario hopper-padded-clean --loss dpo --budget full \
        --out benchmarks/results/profile-unit.json

Prints the split (training, and within it the forward and backward passes; evaluation, and
within it the MuJoCo environments' steps and making the environments) in seconds and shares of
the profiled call, and writes it with the machine and load. cProfile adds its own overhead to
Python-heavy parts (gymnasium's step), so the shares are indicative; the wall time without the
profiler is printed beside them.
Trains one loss: recorded in the ledger (``LOSSFORGE_LEDGER`` as everywhere).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: the parts, by the functions whose cumulative time they are (a part of the defining file's
#: path, the function's name)
PARTS = {
    "training": ("bench/trainer.py", "train_population"),
    "training/forward (segment log-probs)": ("bench/policy.py", "segment_totals"),
    "training/backward (autograd.grad)": ("torch/autograd/__init__.py", "grad"),
    "evaluation": ("bench/evaluator.py", "score_runs"),
    "evaluation/environment steps (MuJoCo env)": ("gymnasium/envs/mujoco/", "step"),
    "evaluation/making the environments": ("bench/evaluator.py", "_pool"),
}


def cumulative(stats: pstats.Stats, where: str, name: str) -> float:
    """Cumulative seconds of the function ``name`` defined in a file whose path contains
    ``where`` (summed over such definitions; cProfile counts recursion once)."""
    return sum(v[3] for (path, _, fn), v in stats.stats.items()
               if fn == name and where in path.replace(os.sep, "/"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="hopper-padded-clean")
    ap.add_argument("--loss", default="dpo", help="a zoo loss (objectives.zoo)")
    ap.add_argument("--budget", default="full")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    from lossforge import ledger
    from lossforge.bench import fitness
    from lossforge.bench.losses import objective_for
    from lossforge.bench.scenarios import load_scenario

    scen = load_scenario(args.scenario)
    obj = objective_for(args.loss, args.loss, {}, scen)
    entry = ledger.record_script("profile", "benchmarks/profile_unit.py", argv,
                                 scenario=args.scenario, seeds=[args.seed], budget=args.budget,
                                 purpose="where a training unit's time goes (speed work; "
                                         "chooses nothing)")
    t0 = time.perf_counter()
    fitness.training_data(scen, workers=1)
    prepare = time.perf_counter() - t0
    run = lambda: fitness.evaluate([obj], scen, args.budget, seeds=[args.seed], workers=1)
    t0 = time.perf_counter()
    plain = run()[0]
    wall = time.perf_counter() - t0
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    profiled = run()[0]
    prof.disable()
    total = time.perf_counter() - t0
    if (plain.score, plain.curve) != (profiled.score, profiled.curve):
        raise SystemExit("the profiled run scored differently from the plain one: not one unit")
    stats = pstats.Stats(prof)
    parts = {k: round(cumulative(stats, *where), 4) for k, where in PARTS.items()}
    print(f"{args.scenario}, {args.loss}, {args.budget}, seed {args.seed}: {wall:.1f} s "
          f"without the profiler, {total:.1f} s with it (data prepared first in {prepare:.1f} s)")
    for k, v in parts.items():
        label = ("    " + k.split("/", 1)[1]) if "/" in k else ("  " + k)
        print(f"{label:<44} {v:7.2f} s  {100 * v / total:5.1f} %")
    if args.out:
        args.out.write_text(json.dumps({
            "command": shlex.join(["python", "benchmarks/profile_unit.py", *argv]),
            "ledger_time": entry and entry["time"],
            "scenario": args.scenario, "loss": args.loss, "budget": args.budget,
            "seed": args.seed, "wall_s": round(wall, 2), "profiled_s": round(total, 2),
            "parts_s": parts, "score": plain.score,
            "machine": {"python": platform.python_version(), "cpu": platform.processor()
                        or platform.machine(), "load": os.getloadavg()}}, indent=1) + "\n")
        print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
