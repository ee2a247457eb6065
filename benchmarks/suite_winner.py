"""The suite search's winner, by the rule declared in benchmarks/results/v2-plan.md (Step 3),
and the candidates' learning-rate sweep file it joins:

    python benchmarks/suite_winner.py benchmarks/results/v2-suite-search/<run> \
        --sweep benchmarks/sweeps/v2-candidates.toml

The rule: the winner is the hall of fame's best at the full rung (the top of the run's ladder),
among the losses scored on every unit of it (a loss racing dropped there was compared and lost,
on part of the units; the hall of fame ranks those below). The run must have finished its
generations, and if fewer than two losses reached the full rung (were evaluated there, dropped
or not) the run is reported as such, not extended: the script refuses and says so.

Writes (refusing to overwrite either; both or neither):
- ``benchmarks/results/winners/<loss id>.json``: the winner's spec with its run, full-rung score
  and the rule, in the layout of the other winner files (``cells.load_spec_file`` reads it).
  When the winner is one of the declared candidates (the search found it again), its file stays
  as it is, after a check that it holds the same loss (``ablate.same_loss``: the same formulas,
  whatever their text);
- the sweep file: the winner first, then the other declared candidates (lf-69d0421b,
  lf-9ccbeb81, lf-cf853722), each tuned on its learning rate only, with
  ``benchmarks/sweeps/v2.toml``'s learning rates and halving, so a candidate chooses from what
  the baselines chose from.
Only the run's JSON files are read (checksummed result files; nothing is unpickled).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from ablate import same_loss  # noqa: E402
from tuning import read_sweep  # noqa: E402

from lossforge.errors import ConfigError, LossforgeError  # noqa: E402
from lossforge.objectives.mpo import MPOSpec  # noqa: E402
from lossforge.runfiles import read_json, read_result  # noqa: E402
from lossforge.search.rundir import raced_out  # noqa: E402

#: the candidates v2-plan.md declared next to the suite search's winner (Step 3)
DECLARED = ("lf-69d0421b", "lf-9ccbeb81", "lf-cf853722")
WINNERS = "benchmarks/results/winners"
BASE_SWEEP = "benchmarks/sweeps/v2.toml"


def winner(run_dir: Path) -> tuple[dict, str, int]:
    """(the winner's hall-of-fame row, the top rung, losses scored on all of it), or a
    ConfigError saying why the run has no winner under the rule."""
    config = read_json(run_dir / "config.json")
    hof, _ = read_result(run_dir, "hall_of_fame.json", config)
    wanted = config.get("config", {}).get("generations")
    if wanted is None or hof.get("generation") != wanted:
        raise ConfigError(f"{run_dir}: the search has run {hof.get('generation')} of {wanted} "
                          "generations; resume it to the end first")
    top = hof["ladder"][-1]

    def reached(row: dict) -> bool:   # evaluated there: scored, dropped by racing, or failed
        return bool(row.get(top))

    def scored(f: dict) -> bool:
        return f.get("status") == "ok" and f.get("score") is not None and not raced_out(f)

    there = [r for r in hof["hall_of_fame"] if reached(r)]
    complete = [r for r in there if scored(r[top])]
    if len(there) < 2 or not complete:
        raise ConfigError(f"{run_dir}: {len(there)} loss(es) reached the '{top}' rung, "
                          f"{len(complete)} scored on all its units; the declared rule needs two "
                          "or more there and names the best fully scored one (report the run as "
                          "such; it is not extended)")
    return complete[0], top, len(there)   # the hall of fame is in rank order


def sweep_text(name: str, spec_path: str) -> str:
    base = tomllib.loads((ROOT / BASE_SWEEP).read_text())
    keep = read_sweep(ROOT / BASE_SWEEP).keep   # (checked: the file is a valid sweep)
    lrs = base["lr"]
    lines = ["# Benchmark v2: the candidates' learning-rate sweep (v2-plan.md, Step 3), written by",
             "# benchmarks/suite_winner.py. Each candidate's formula is fixed; its learning rate",
             f"# is its only knob, from {BASE_SWEEP}'s rates with its halving, as the baselines'.",
             f'description = "Benchmark v2 candidates: the suite search winner {name} and the '
             'declared ones, learning rate only"',
             f"lr = [{', '.join(repr(v) for v in lrs)}]", ""]
    others = [(c, f"{WINNERS}/{c}.json") for c in DECLARED if c != name]
    for cand, path in [(name, spec_path)] + others:   # the winner first: later steps read it so
        lines += [f"[candidates.{cand}]", f'spec = "{path}"', ""]
    if keep is not None:
        lines += ["[halving]", f"keep = {keep}"]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", help="the suite search's run directory")
    ap.add_argument("--sweep", required=True, help="the candidates' sweep file to write")
    ap.add_argument("--winners", default=WINNERS, help=f"where the winner's spec goes (default "
                                                      f"{WINNERS}, relative to the repository)")
    args = ap.parse_args(argv)
    try:
        run_dir = Path(args.run_dir)
        row, top, n_full = winner(run_dir)
        name = row["name"]
        spec_rel = f"{args.winners}/{name}.json"
        spec_file, sweep_file = ROOT / spec_rel, Path(args.sweep)   # (ROOT / an absolute path:
                                                                    # that path)
        if sweep_file.exists():
            raise ConfigError(f"{sweep_file}: exists (the winner is named once); remove it by "
                              "hand only if it came from another run")
        fit = row[top]
        new_spec = name not in DECLARED
        if not new_spec:   # the search found a declared candidate again: it keeps its file
            spec_rel = f"{WINNERS}/{name}.json"
            declared = json.loads((ROOT / spec_rel).read_text())["spec"]
            # the same loss, not the same text: the search writes DPO's link as softplus(-D)
            # (its link grammar has no logsigmoid) where the declared file says -logsigmoid(D)
            if not same_loss(MPOSpec.from_json(declared), MPOSpec.from_json(row["spec"])):
                raise ConfigError(f"{name}: the winner has the name of a declared candidate but "
                                  f"another spec than {spec_rel}; compare them by hand")
        elif spec_file.exists():
            raise ConfigError(f"{spec_file}: exists (the winner is named once); remove it by "
                              "hand only if it came from another run")
        doc = {"spec": row["spec"],
               "source": f"{run_dir} ({name}: the best of the {n_full} losses of the hall of "
                         f"fame that reached the '{top}' rung, scored on all its units)",
               "score": {"rung": top, "score": fit["score"], "ci95": fit.get("ci95")},
               "rule": "v2-plan.md Step 3: the hall of fame's best at the full rung"}
        staged = sweep_file.with_name(sweep_file.name + ".tmp")
        try:   # nothing stays behind unless both files are written and the sweep reads back
            if new_spec:
                spec_file.parent.mkdir(parents=True, exist_ok=True)
                spec_file.write_text(json.dumps(doc, indent=1) + "\n")
            staged.write_text(sweep_text(name, spec_rel))
            read_sweep(staged)   # every candidate's spec loads and holds its name
            os.replace(staged, sweep_file)
        except BaseException:
            staged.unlink(missing_ok=True)
            if new_spec:
                spec_file.unlink(missing_ok=True)
            raise
    except (LossforgeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"winner {name}: h(p) = {row.get('h')}; {row['loss']}  ({top}: {fit['score']:.2f})")
    print(f"wrote {spec_file} and {sweep_file}" if new_spec else
          f"{name} is a declared candidate already ({spec_rel}): wrote {sweep_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
