"""Copy what a search run found into benchmarks/results/ (run directories live under runs/,
which git ignores), with the exact command that produced it.

    python benchmarks/record_search.py runs/<run> --command "python -m lossforge.search ..."

Writes ``benchmarks/results/search-<run name>.json`` (``--out-dir`` elsewhere: config,
per-generation log, counters, hall of fame, baselines of the same run) and a markdown table
next to it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge.objectives.run import load_run  # noqa: E402
from lossforge.search.rundir import loss_line, row_simplest  # noqa: E402


def _fit(f: dict | None) -> str:
    if not f:
        return "-"
    if f.get("status") != "ok" or f.get("score") is None:
        return f"failed ({f.get('status')})"
    suite = f.get("suite")
    if suite:   # a suite score: -100 x the aggregate regret over the units it saw, no CI
        raced = ", raced out" if suite.get("raced_out") else ""
        return f"{f['score']:.1f} ({suite.get('units')}/{suite.get('of_units')} units{raced})"
    ci = f"±{f['ci95']:.1f}" if f.get("ci95") is not None else "(1 seed)"
    return f"{f['score']:.1f} {ci}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--command", required=True, help="the command that made the run")
    ap.add_argument("--note", default="", help="one paragraph: what the run shows")
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"),
                    help="where the record goes (default benchmarks/results)")
    args = ap.parse_args()
    run_dir = Path(args.run)
    run = load_run(run_dir)
    hof = run.header          # of the read the rows come from
    ladder = hof["ladder"]
    generations = [json.loads(line) for line in
                   (run_dir / "generations.jsonl").read_text().splitlines()]
    out = Path(args.out_dir) / f"search-{run_dir.name}"   # + .json, .md (the name may hold
    out.parent.mkdir(parents=True, exist_ok=True)         # dots: a plug-in fitness's module)
    record = {"command": args.command, "note": args.note, "run": run_dir.name,
              "config": run.config, "ladder": ladder, "metric": hof["metric"],
              "generation": hof["generation"], "counters": hof.get("counters"),
              "generations": generations, "hall_of_fame": run.hall_of_fame,
              "baselines": run.baselines}
    out.with_name(out.name + ".json").write_text(json.dumps(record, indent=1) + "\n")
    lines = [f"# Search {run_dir.name}", "", "```", args.command, "```", "",
             args.note, "", f"Scenario {hof['scenario']}, {hof['generation']} generations, "
             f"rungs {' -> '.join(ladder)}, metric {hof['metric']}.", "",
             "| # | loss | size | " + " | ".join(ladder) + " | h(p) | loss |",
             "|---|---|---|" + "---|" * len(ladder) + "---|---|"]
    for i, row in enumerate(run.hall_of_fame, 1):
        lines.append(f"| {i} | {row['name']} | {row['complexity']} | "
                     + " | ".join(_fit(row.get(r)) for r in ladder)
                     + f" | `{row['h']}` | `{loss_line(row['spec'])}`"
                     + (f" = `{simple.removeprefix('L = ')}`"
                        if (simple := row_simplest(row)) else "") + " |")
    for b in run.baselines:
        lines.append(f"| baseline | {b['spec']['name']} | | "
                     + " | ".join(_fit(b.get(r)) for r in ladder) + " | | |")
    c = hof.get("counters") or {}
    if c:
        rej = ", ".join(f"{k} {v}" for k, v in c["rejected"].items() if v) or "none"
        lines += ["", f"Proposed {c['proposed']}; rejected before training: {rej}; duplicates "
                  f"{c['duplicates']}; cache hits {c['cache_hits']}; trained: "
                  + ", ".join(f"{k} {v}" for k, v in c["evaluated"].items()) + "."]
    out.with_name(out.name + ".md").write_text("\n".join(lines) + "\n")
    print(f"written {out}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
