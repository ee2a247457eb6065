"""One candidate against the field, across confirmations: the headline table of a claim.

    python benchmarks/headline.py benchmarks/results/confirm-llm-v2-reverse-mixed-quality.confirm.json \
        benchmarks/results/confirm-llm-v2-sort-mixed-quality.confirm.json --candidate lf-cf853722 \
        --out benchmarks/results/llm-v2-mixed-quality-lf-cf853722.md

Reads the ``<stem>.confirm.json`` reports that ``baselines.py confirm``/``report`` write (one per
scenario group) and prints, per scenario and metric (AUC and final), one line: the best tuned
baseline, ORPO, DPO and the best shortcut row (``lossforge.bench.audit.is_shortcut``: the
reference, SFT or BC on the chosen side, length-only), the candidate, and the candidate's paired
differences to each (mean ± 95 % CI over draws, the draw being the unit of analysis).

Holm's correction is recomputed here over every comparison of the candidate in all the files
given, per metric: scenarios x baselines of every file, one family. Each report corrects only
within itself (one file per task on the LLM bed), so a claim that spans files ("beats ORPO and
DPO on two tasks") needs the wider family; it is never smaller than the per-file one.

A verdict per line: "beats X" when the difference is positive with Holm p < 0.05, "below X" when
it is negative with Holm p < 0.05, else "level with X". The last line counts the scenarios where
the candidate beats both ORPO and DPO, and where it is best-or-tied with the best tuned baseline
(difference's 95 % CI not below zero: its lower end at or above 0, the strict reading of issue
19's bar), without any test of its own. Where the CI spans zero the line says "not shown
best-or-tied", and "below" only where the whole CI is below zero.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge.bench.audit import is_shortcut  # noqa: E402
from lossforge.bench.stats import REPORT_METRICS, holm, read_report  # noqa: E402
from lossforge.errors import ConfigError, LossforgeError  # noqa: E402

ALPHA = 0.05
METRICS = REPORT_METRICS


def _is(loss: str, name: str) -> bool:
    """A row of ``name``: the name itself or it with a knob suffix ('orpo[lam=0.5,lr=1e-05]')."""
    return loss == name or loss.startswith(name + "[")


def load(paths: list[str]) -> tuple[list[dict], list[dict]]:
    """(summary entries, comparisons) of every report, checked to be confirm reports."""
    summary, comparisons = [], []
    for p in paths:
        s, c = read_report(p)
        summary += s
        comparisons += c
    return summary, comparisons


def family(comparisons: list[dict], candidate: str, metric: str) -> list[dict]:
    """The candidate's comparisons in ``metric``, with Holm's p over all of them (one family)."""
    fam = [dict(c) for c in comparisons if _is(c["candidate"], candidate)
           and c["metric"] == metric]
    for c, adj in zip(fam, holm([c["p"] for c in fam])):
        c["p_holm_all"] = adj
    return fam


def verdict(comp: dict | None, who: str) -> str:
    if comp is None or comp["p_holm_all"] != comp["p_holm_all"]:
        return f"no test vs {who}"
    if comp["p_holm_all"] < ALPHA:
        return f"beats {who}" if comp["mean"] > 0 else f"below {who}"
    return f"level with {who}"


def _cell(e: dict | None, metric: str) -> str:
    if e is None:
        return "n/a"
    return f"{e['loss']} {e[metric]['mean']:.1f} ± {e[metric]['ci95']:.1f}"


def _diff(c: dict | None) -> str:
    if c is None:
        return "n/a"
    return f"{c['mean']:+.1f} ± {c['ci95']:.1f} ({c['p_holm_all']:.3g})"


def rows(summary: list[dict], comparisons: list[dict], candidate: str, metric: str) -> list[dict]:
    """One dict per scenario holding the candidate: the entries and comparisons of its line."""
    fam = family(comparisons, candidate, metric)
    out = []
    for key in sorted({(e["budget"], e["scenario"]) for e in summary}):
        entries = [e for e in summary if (e["budget"], e["scenario"]) == key]
        cand = [e for e in entries if e["role"] == "candidate" and _is(e["loss"], candidate)]
        if not cand:
            continue
        tuned = [e for e in entries if e["role"] == "baseline"]
        short = [e for e in entries if e["role"] != "candidate" and is_shortcut(e["loss"])]
        pick = {
            "best tuned": max(tuned, key=lambda e: e[metric]["mean"], default=None),
            "ORPO": next((e for e in tuned if _is(e["loss"], "orpo")), None),
            "DPO": next((e for e in tuned if _is(e["loss"], "dpo")), None),
            "best shortcut": max(short, key=lambda e: e[metric]["mean"], default=None)}
        comps = {who: next((c for c in fam if (c["budget"], c["scenario"]) == key
                            and c["candidate"] == cand[0]["loss"] and e is not None
                            and c["baseline"] == e["loss"]), None)
                 for who, e in pick.items()}
        out.append({"budget": key[0], "scenario": key[1], "candidate": cand[0], "picks": pick,
                    "comparisons": comps, "family_size": len(fam)})
    return out


def markdown(lines: list[dict], candidate: str, metric: str) -> list[str]:
    whos = ("best tuned", "ORPO", "DPO", "best shortcut")
    out = [f"### {candidate}, {metric}", "",
           "| scenario | " + " | ".join(whos) + " | candidate | "
           + " | ".join(f"- {w} (Holm p)" for w in whos) + " | verdict |",
           "|---" * (2 * len(whos) + 3) + "|"]
    both = tied = 0
    for ln in lines:
        c = ln["comparisons"]
        words = [verdict(c["ORPO"], "ORPO"), verdict(c["DPO"], "DPO")]
        both += words == ["beats ORPO", "beats DPO"]
        best = c["best tuned"]
        ok = best is not None and best["mean"] - best["ci95"] >= 0
        tied += ok
        words.append("best-or-tied with the best tuned" if ok else
                     "below the best tuned (CI)" if best is not None
                     and best["mean"] + best["ci95"] < 0 else
                     "not shown best-or-tied (CI spans 0)")
        words.append(verdict(c["best shortcut"], "the best shortcut"))
        out.append(f"| {ln['scenario']} ({ln['budget']}) | "
                   + " | ".join(_cell(ln["picks"][w], metric) for w in whos)
                   + f" | {_cell(ln['candidate'], metric)} | "
                   + " | ".join(_diff(c[w]) for w in whos) + " | " + "; ".join(words) + " |")
    n = len(lines)
    size = lines[0]["family_size"] if lines else 0
    out += ["", f"Beats ORPO and DPO (Holm p < {ALPHA} over all {size} comparisons of "
                f"{candidate} in {metric}): {both} of {n} scenarios. Best-or-tied with the best "
                f"tuned baseline (difference's 95 % CI not below zero): {tied} of {n}.", ""]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="+", help="<stem>.confirm.json files")
    ap.add_argument("--candidate", required=True, help="the candidate's name (tuned rows "
                                                       "'<name>[lr=...]' match it)")
    ap.add_argument("--out", help="also write the markdown here")
    args = ap.parse_args(argv)
    try:
        summary, comparisons = load(args.reports)
        md = [f"# {args.candidate} against the field", "",
              "Sources: " + ", ".join(f"`{p}`" for p in args.reports) + ". Cells: mean ± 95 % "
              "CI over draws; differences: candidate minus row, paired by draw; Holm over every "
              "comparison of the candidate in these files, per metric "
              "(benchmarks/headline.py).", ""]
        for metric in METRICS:
            lines = rows(summary, comparisons, args.candidate, metric)
            if not lines:
                raise ConfigError(f"{args.candidate}: no candidate row of that name in "
                                  + ", ".join(args.reports))
            md += markdown(lines, args.candidate, metric)
    except LossforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = "\n".join(md)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
