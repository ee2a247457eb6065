"""Shortcut audit per scenario: how much of a label length and reference log-probs predict.

    python benchmarks/audit.py quick hopper-mixed-quality --out benchmarks/results/audit.md
    python benchmarks/audit.py quick --budget screen --seeds 0-1 --out /tmp/audit-quick.md

For each scenario's dataset: the share of pairs with unequal lengths, P(chosen longer) among
them, the accuracy of three label predictors that ignore the preference (length, |l_ref| summed,
l_ref per step, under the scenario's BC reference) and the segments of each zoo level (length,
return, how often chosen, l_ref). With ``--budget`` it also trains the shortcut baselines
(``sft``, ``length_sft``, ``zero_pref``) next to DPO, ORPO and cDPO (``--losses``) through
``fitness.evaluate`` and flags the scenario when a shortcut is best or level with the best.
What each number means: ``lossforge/bench/audit.py``.

A scenario whose dataset is not in the cache is skipped (a full-size Hopper or Ant build takes
15-40 minutes) unless ``--build`` is given. Writes the Markdown table to ``--out`` and the same
numbers as JSON next to it (.json), both with this command. Exit code 2 on bad input.

Resumable: both files are rewritten after every scenario, and a scenario the JSON already holds
for the same dataset (its cache key) and the same shortcut settings (budget, seeds, losses,
metric; none without ``--budget``) is taken from it, not audited again. So a killed audit of
many scenarios loses at most the scenario in flight, and running it again finishes the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

# BC trains with two threads; passive OpenMP waiting keeps it from spinning on a shared core
# (see benchmarks/baselines.py). Set before torch loads; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge import ledger  # noqa: E402
from lossforge.bench import audit  # noqa: E402
from lossforge.bench.scenarios import load_scenario, parse_seeds  # noqa: E402
from lossforge.errors import ConfigError, LossforgeError  # noqa: E402
from lossforge.io import atomic_write_json, atomic_write_text  # noqa: E402


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/audit.py",
                                 description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("scenarios", nargs="+", help="scenario names or .toml paths")
    ap.add_argument("--budget", choices=["quick", "screen", "full"],
                    help="also train and score the shortcut baselines at this budget")
    ap.add_argument("--seeds", help="training seeds, e.g. 0-4 (default: the budget's)")
    ap.add_argument("--losses", default=",".join(audit.PREFERENCE_LOSSES),
                    help="zoo losses scored next to the shortcuts (default %(default)s)")
    ap.add_argument("--metric", default="auc", choices=["auc", "final"])
    ap.add_argument("--workers", type=int, default=None, help="training processes (default: "
                    "every core)")
    ap.add_argument("--build", action="store_true",
                    help="build datasets missing from the cache (else they are skipped)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "audit.md"))
    args = ap.parse_args(argv)
    command = "python benchmarks/audit.py " + " ".join(shlex.quote(a) for a in argv)
    out = Path(args.out)
    try:
        seeds = parse_seeds(args.seeds) if args.seeds else None
        scenarios = [load_scenario(name) for name in args.scenarios]  # all checked up front
        settings = None if not args.budget else {
            "budget": args.budget, "seeds": seeds and list(seeds), "metric": args.metric,
            "losses": [s.strip() for s in args.losses.split(",") if s.strip()]}
        earlier = _earlier_audits(out.with_suffix(".json"))
        recorded = False   # a ledger entry once something is audited (reused audits look at
        #                    no data again)
        audits, skipped = [], {}
        for scen in scenarios:
            cached = audit.dataset_cache_file(scen)
            old = earlier.get(scen.name)
            if old and old.get("dataset") == cached.stem and old.get("settings") == settings:
                print(f"{scen.name}: taken from {out.with_suffix('.json')} (same dataset and "
                      "settings)", flush=True)
                audits.append(old)
            elif not args.build and not cached.exists():
                skipped[scen.name] = f"dataset {cached.stem[:8]} not in the cache"
                print(f"{scen.name}: skipped, {skipped[scen.name]} (--build builds it)",
                      flush=True)
            else:
                if not recorded:
                    ledger.record_script(
                        "audit", "benchmarks/audit.py", argv,
                        scenario=[s.name for s in scenarios], seeds=seeds, budget=args.budget,
                        purpose="shortcut audit: label statistics"
                        + (f" and shortcut baselines at {args.budget}" if args.budget
                           else " only (no loss trained)"))
                    recorded = True
                audits.append(_audit_one(scen, cached.stem, settings, args.workers))
            _write(out, audits, command, skipped)
    except LossforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


def _audit_one(scen, dataset_key: str, settings: dict | None, workers) -> dict:
    """One scenario's audit: the label statistics, and the shortcut baselines' scores when
    ``settings`` (budget, seeds, losses, metric) asks for them."""
    t0 = time.time()
    result = audit.audit_scenario(scen, workers=workers)
    result["audit_seconds"] = round(time.time() - t0, 1)
    result["dataset"], result["settings"] = dataset_key, settings
    print(f"{scen.name}: P(chosen longer) {result['p_chosen_longer']:.3f} among "
          f"{result['unequal_lengths']:.1%} of pairs with unequal lengths "
          f"({result['audit_seconds']} s)", flush=True)
    if settings:
        t0 = time.time()
        result["shortcuts"] = audit.score_shortcuts(
            scen, settings["budget"], seeds=settings["seeds"], workers=workers,
            metric=settings["metric"], losses=settings["losses"])
        print(f"{scen.name}: shortcut baselines at {settings['budget']} in "
              f"{time.time() - t0:.0f} s: {result['shortcuts']['flag'] or 'no flag'}",
              flush=True)
    return result


def _earlier_audits(path: Path) -> dict[str, dict]:
    """The audits an earlier run of ``--out`` wrote (finished or killed), by scenario."""
    if not path.exists():
        return {}
    try:
        audits = json.loads(path.read_text())["audits"]
        return {a["scenario"]: a for a in audits}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not an audit file of this script ({type(exc).__name__}: "
                          f"{exc}); move it away to start afresh") from None


def _write(out: Path, audits: list[dict], command: str, skipped: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, audit.markdown(audits, command, skipped))
    atomic_write_json(out.with_suffix(".json"),
                      {"command": command, "audits": audits, "skipped": skipped})


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
