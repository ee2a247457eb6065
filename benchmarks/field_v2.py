"""The state of the field v2: tuned baselines on fresh draws, and which scenarios discriminate.

    python benchmarks/field_v2.py benchmarks/results/confirm-v2-test.confirm.json \
        --out benchmarks/results/field-v2-test.md

Reads confirmation reports (``<stem>.confirm.json`` of ``baselines.py confirm``/``report``) and
gives per scenario and metric (AUC and final): every tuned baseline's mean ± 95 % CI over draws
(the draw is the unit of analysis), best first; the shortcut flag of the report; and issue 18's
question, "which scenarios still discriminate once IPO/rDPO are tuned":

* each tuned baseline is compared with the scenario's best tuned baseline, paired draw by draw
  (the report's ``versus_best``), with Holm's correction over the scenario's baselines;
* **discriminates**: at least one tuned baseline lies below the best (Holm p < 0.05). A scenario
  where every tuned baseline is level with the best cannot rank losses of this field; a search
  on it climbs noise. The line names the baselines level with the best ("top group").
  The best is chosen on the same draws it is then tested on, which makes "below the best"
  somewhat easier to reach than a test against a baseline named in advance: a "no" is firm, a
  narrow "yes" less so. A baseline whose run failed on some draw is ranked on its other draws
  (as confirm ranks it), stays in the test on the draws it has, and is named; one that failed
  on most of its draws (``stats.eligible_best``) is named and left out.

Candidates and fixed rows (the reference, BC-on-chosen) are left out of the test and listed below
the baselines: this is the field's table, and a candidate's claim is ``headline.py``'s. A
baseline or fixed row that has not run its scenario's whole grid of draws x seeds is refused
(``stats.require_complete``), and ``--suite`` refuses reports that lack one of its scenarios.
Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from headline import DEPARTURE, emit  # noqa: E402  (this directory: the headline's)

from lossforge.bench.stats import (REPORT_METRICS, best_row, eligible_best,  # noqa: E402
                                   holm, num_text, ranking_mean, read_report,
                                   require_complete)
from lossforge.errors import ConfigError, LossforgeError  # noqa: E402

ALPHA = 0.05


def scenario_field(summary: list[dict], versus: list[dict], key: tuple[str, str],
                   metric: str) -> dict:
    """One scenario's line: tuned baselines by mean, the top group, and the verdict."""
    entries = [e for e in summary if (e["budget"], e["scenario"]) == key]
    baselines = [e for e in entries if e["role"] == "baseline"]
    require_complete([e for e in entries if e["role"] != "candidate"], "the field's table")
    # the best as confirm picks it (stats.best_row), then the rest by the mean of their finite
    # draws; a row that failed on most draws (not eligible_best) is left out of the test
    top = best_row(baselines, metric)
    tuned = [top] + sorted((e for e in baselines if e is not top and eligible_best(e[metric])),
                           key=lambda e: -ranking_mean(e[metric])) if top else []
    failed = [f"{e['loss']}: " + ("a failed run on some draw (ranked and compared on its "
                                  "other draws)" if eligible_best(e[metric])
                                  else "failed on most draws (left out)")
              for e in baselines if not math.isfinite(e[metric]["mean"])]
    if not tuned:
        raise ConfigError(f"{key[1]} ({key[0]}): no tuned baseline row finite on at least two "
                          f"draws and half of its draws in {metric}")
    best = tuned[0]["loss"]
    comps = {c["loss"]: c for c in versus if (c["budget"], c["scenario"]) == key
             and c["metric"] == metric and c["role"] == "baseline"}
    others = [e["loss"] for e in tuned[1:]]
    missing = [n for n in others if n not in comps or comps[n]["best"] != best]
    if missing:
        raise ConfigError(f"{key[1]} ({key[0]}), {metric}: the report has no paired comparison "
                          f"of {missing[0]} with the best tuned baseline {best}")
    adjusted = dict(zip(others, holm([comps[n]["p"] for n in others])))
    below = [n for n in others if adjusted[n] == adjusted[n] and adjusted[n] < ALPHA
             and comps[n]["mean"] < 0]
    return {"scenario": key[1], "budget": key[0], "metric": metric, "best": best,
            "rows": [{"loss": e["loss"], "mean": ranking_mean(e[metric]),
                      "ci95": e[metric]["ci95"],
                      "vs_best": comps.get(e["loss"]), "p_holm": adjusted.get(e["loss"])}
                     for e in tuned],
            "top_group": [best] + [n for n in others if n not in below],
            "below": below, "discriminates": bool(below), "failed": failed,
            "others": [f"{e['loss']} {num_text(e[metric]['mean'])} ± "
                       f"{num_text(e[metric]['ci95'])}"
                       for e in entries if e["role"] != "baseline"]}


def markdown(lines: list[dict], metric: str, flags: dict) -> list[str]:
    out = [f"## {metric}", "", "| scenario | tuned baselines, best first (mean ± 95 % CI; "
           "difference to the best, Holm p) | top group (level with the best) | "
           "discriminates | shortcut flag | other rows |", "|---|---|---|---|---|---|"]
    for ln in lines:
        cells = []
        for r in ln["rows"]:
            c = r["vs_best"]
            cells.append(f"{r['loss']} {r['mean']:.1f} ± {num_text(r['ci95'])}" + (
                "" if c is None else f" ({c['mean']:+.1f}, {r['p_holm']:.2g})"))
        cells += ln["failed"]
        flag = flags.get(f"{ln['scenario']} ({ln['budget']})", {}).get(metric, "")
        out.append(f"| {ln['scenario']} ({ln['budget']}) | " + "<br>".join(cells) + " | "
                   + ", ".join(ln["top_group"]) + " | "
                   + ("yes" if ln["discriminates"] else "**no**: every tuned baseline is "
                      "level with the best") + f" | {flag} | " + "<br>".join(ln["others"]) + " |")
    n, k = len(lines), sum(ln["discriminates"] for ln in lines)
    return out + ["", f"Discriminates ({metric}: a tuned baseline below the best, Holm p < "
                      f"{ALPHA} over that scenario's baselines): {k} of {n} scenarios. The "
                      "count itself is not corrected across scenarios.", ""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="+", help="<stem>.confirm.json files")
    ap.add_argument("--suite", help="a suite TOML: refuse unless the reports hold every one of "
                                    "its scenarios (the count 'k of n' is then the suite's)")
    ap.add_argument("--out", help="also write the markdown here")
    args = ap.parse_args(argv)
    try:
        summary, versus, flags = [], [], {}
        for p in args.reports:
            s, _ = read_report(p)
            data = json.loads(Path(p).read_text())
            summary += s
            versus += data.get("versus_best", [])
            flags.update(data.get("shortcut_flags", {}))
        keys = sorted({(e["budget"], e["scenario"]) for e in summary})
        label = []
        if args.suite:
            from lossforge.bench.suites import load_suite
            suite = load_suite(args.suite)
            # the test suite's tuning departed from the plan (sft's rates, among the rows here)
            label = [DEPARTURE, ""] if suite.role == "test" else []
            absent = [n for n in suite.weights() if n not in {k[1] for k in keys}]
            if absent:
                raise ConfigError(f"{args.suite}: the reports have no rows of {', '.join(absent)}"
                                  "; the field's table of a suite needs every scenario")
        md = ["# State of the field v2: tuned baselines on fresh draws", "",
              "Sources: " + ", ".join(f"`{p}`" for p in args.reports) + ". Unit of analysis: "
              "the dataset draw. Differences: baseline minus the scenario's best tuned "
              "baseline, paired by draw; Holm over the scenario's baselines, per metric "
              "(benchmarks/field_v2.py).", "", *label]
        for metric in REPORT_METRICS:
            md += markdown([scenario_field(summary, versus, k, metric) for k in keys], metric,
                           flags)
    except LossforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return emit(md, args.out)


if __name__ == "__main__":
    sys.exit(main())
