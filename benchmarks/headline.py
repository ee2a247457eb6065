"""One candidate against the field, across confirmations: the headline table of a claim.

    python benchmarks/headline.py benchmarks/results/confirm-llm-v2-reverse-mixed-quality.confirm.json \
        benchmarks/results/confirm-llm-v2-sort-mixed-quality.confirm.json --candidate lf-cf853722 \
        --out benchmarks/results/llm-v2-mixed-quality-lf-cf853722.md

Reads the ``<stem>.confirm.json`` reports that ``baselines.py confirm``/``report`` write (one per
scenario group) and prints, per scenario and metric (AUC and final), one line: the best tuned
baseline, ORPO, DPO and the best shortcut row (``lossforge.bench.audit.is_shortcut``: the
reference, SFT or BC on the chosen side, length-only), the candidate, and the candidate's paired
differences to each (mean ± 95 % CI over draws, the draw being the unit of analysis).

For the per-scenario tables, Holm's correction is recomputed here over every comparison of the
candidate in all the files given, per metric: scenarios x baselines of every file, one family.
Each report corrects only within itself (one file per task on the LLM bed), so a claim that
spans files ("beats ORPO and DPO on two tasks") needs the wider family; it is never smaller
than the per-file one. The suite-mean tests have families of their own (below): 2 against DPO
and ORPO, 3 against the shortcuts. The page states each family's size where its table is.

A verdict per line: "beats X" when the difference is positive with Holm p < 0.05, "below X" when
it is negative with Holm p < 0.05, else "level with X". The last line counts the scenarios where
the candidate beats both ORPO and DPO, and where it is best-or-tied with the best tuned baseline
(difference's 95 % CI not below zero: its lower end at or above 0, the strict reading of issue
19's bar), without any test of its own. Where the CI spans zero the line says "not shown
best-or-tied", and "below" only where the whole CI is below zero. The strict reading is the
declared one; the lenient count (the CI's upper end at or above 0: not shown worse, which a
truly tied loss meets about 97.5 % of the time where the strict one almost never does) is
printed beside it, so a reader sees both. The best tuned baseline (``stats.best_row``: each row
ranked on the draws where it did not fail) is picked on the reporting draws, which favours it.
Where the untrained reference scores above every tuned baseline, the reference is the bar's
comparator instead (v2-plan.md, Session 22): a candidate below it never counts as best-or-tied.
A row may be the comparator only if it finished at least two draws and at least half of its
draws (``stats.eligible_best``, v2-plan.md, Session 16). Where a row left out by that rule has a
higher mean on its finished draws than the comparator chosen, that comparator may not be the
best row, so the scenario counts as "no test" for the bar: never best-or-tied, in the strict
count or the lenient one. The page names the row. This changes nothing where no run failed.

The page opens with the claim (v2-plan.md, Session 22, item 1): judged on AUC alone, the bar,
the suite mean against DPO and against ORPO, and the shortcuts, final shown beside each part and
deciding nothing, except that BC-on-chosen is judged on final (Session 22, item 3). Below these
parts the claim block names every scenario whose comparator may be too weak (above), and every
draw whose pairs are not clean (the report's ``data_split_draws``; Session 25, item 2: within
one training seed, the rows trained on different builds of the draw's data). Those draws count
as the others do; the line only says where a difference also measures a rebuild. With a suite it
also says why no length-only row is needed: on the v2 scenarios ``sft`` stands for it
(Session 16). Then, with ``--suite``, the test suite's departure label (the shortcut's and
the candidates' test rates, Session 22) and how many scenarios share an environment (item 9:
they are not independent); then every scenario where AUC and final disagree. A scenario with
two rows of one loss (a stale pick left in the rows file) is refused, as is, with ``--suite``, a
scenario the suite does not list: either would change the comparator or Holm's family unseen.
Where the AUC is only the final score (the LLM bed scores once, at the end of training: the rows
file beside each report, ``<stem>.jsonl``, says so, ``cells.auc_is_final``), the page says that
AUC was not measured, judges on final and shows the final tables alone.

Only finished confirmations make a claim: every scenario of the reports must hold the
candidate, and every row a line reads must have run its scenario's whole grid of draws x seeds
(the report records what each lacks; ``stats.require_complete``), else one line on stderr, exit
2. A comparison without a test (a candidate's failed run) stays in Holm's m, as p = 1.

``--claim`` (the declared winner's page on the test suite) refuses two more inputs, each with
one line: rows on other draws than confirm's default reporting draws (``confirmation.
MUJOCO_DRAWS``, 1-5: test draws 1-5 are spent once, v2-plan.md, Session 22, item 6; fresh draws
go in their own rows file and report, never pooled with these), and a scenario without a tuned
baseline family (the loss name before any "[...]": ``dpo``, ``ipo``, ``sft``, ...) that another
scenario of the reports has (the bar's comparator there would be picked from fewer baselines).

``--suite benchmarks/suites/test.toml`` adds issue 19's suite-level test: does the candidate
beat DPO and ORPO on the suite mean? (It needs every suite scenario's DPO, ORPO, SFT,
reference and BC-on-chosen rows, and refuses, naming the first one missing, without them.)
Scenarios score on different scales (a Hopper return is
not a HalfCheetah one), so each is put on the scale the suite search's regret uses
(``lossforge/search/suite_fitness.py``): with B_s the best tuned baseline's mean over the draws
and R_s the reference's, a row's normalised regret on draw d is

    r_s(d) = (B_s - y_s(d)) / max(B_s - R_s, SCALE_FLOOR)     (0: level with the best baseline)

and its suite regret on draw d is sum_s w_s r_s(d), with the suite's normalised weights. The
draw stays the unit of analysis: the candidate's suite regret and a baseline's are paired draw
by draw (the draws every scenario has), with a paired t-test over draws and Holm over the two
comparisons (DPO, ORPO) of each metric. B_s cancels from a difference; only the scale remains.
Beside the table the page gives each scenario's scale and its effective weight w_s / scale_s
(how much one score point there moves the suite regret), and flags a scale at SCALE_FLOOR.

The same test, as a family of its own (Holm over three per metric), puts the candidate against
the shortcuts: the tuned SFT from the reference, the untrained reference and BC-on-chosen. The
requirement "it must beat the shortcut baselines" (v2-plan.md, Session 22) is met when it beats
SFT and the reference on AUC and BC-on-chosen on final (BC-on-chosen trains from scratch, so
its AUC averages a curve that starts from nothing); the last line says which.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge.bench.audit import is_shortcut  # noqa: E402
from lossforge.bench.draws import parse_draws  # noqa: E402
from lossforge.bench.stats import (REPORT_METRICS, best_row, eligible_best,  # noqa: E402
                                   finite_draws, holm, num_text, paired_t, ranking_mean,
                                   read_report, require_complete)
from lossforge.errors import ConfigError, LossforgeError  # noqa: E402
from lossforge.search.suite_fitness import SCALE_FLOOR  # noqa: E402
from lossforge.bench.result import BC_ON_CHOSEN, LLM_REFERENCE, REFERENCE  # noqa: E402

#: the rows that do not train, whose score is R_s of the suite-level scale (cells.REFERENCES)
REFERENCE_ROWS = (REFERENCE, LLM_REFERENCE)
#: the baselines the suite-level test compares the candidate with (issue 19)
SUITE_RIVALS = ("DPO", "ORPO")
#: the shortcut rows of the second suite-level family (v2-plan.md, Session 22: "it must beat
#: the shortcut baselines"), and the metric each is judged on for that requirement: AUC, but
#: BC-on-chosen on final (it trains from scratch, so its AUC averages a curve from nothing)
SHORTCUT_RIVALS = {"SFT": "auc", "reference": "auc", "BC-on-chosen": "final"}

ALPHA = 0.05
#: issue 19: best-or-tied with the best tuned baseline on at least this share of the scenarios
BAR = 0.75
METRICS = REPORT_METRICS


def _is(loss: str, name: str) -> bool:
    """A row of ``name``: the name itself or it with a knob suffix ('orpo[lam=0.5,lr=1e-05]')."""
    return loss == name or loss.startswith(name + "[")


def shown(path: str) -> str:
    """A report's path as the tables name it: from ``benchmarks/results/`` on, whichever
    checkout's results it was read from (a clone's job reads the main checkout's by absolute
    path), so a table does not change with where it was written from."""
    text = Path(path).as_posix()
    at = text.rfind("benchmarks/results/")
    return text[at:] if at >= 0 else text


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


def verdict(comp: dict | None, who: str, alpha: float = ALPHA) -> str:
    if comp is None or comp["p_holm_all"] != comp["p_holm_all"]:
        return f"no test vs {who}"
    if comp["p_holm_all"] < alpha:
        return f"beats {who}" if comp["mean"] > 0 else f"below {who}"
    return f"level with {who}"


def _cell(e: dict | None, metric: str) -> str:
    """A row's mean ± CI; a row that failed on some draws shows its mean over the others (how
    best_row ranks it) and says on how many it failed."""
    if e is None:
        return "n/a"
    m = e[metric]
    failed = len(m["per_draw"]) - len(finite_draws(m))
    if not failed:
        return f"{e['loss']} {m['mean']:.1f} ± {m['ci95']:.1f}"
    return f"{e['loss']} {num_text(ranking_mean(m))} (failed on {failed} draws)"


def _diff(c: dict | None) -> str:
    if c is None:
        return "n/a"
    return (f"{num_text(c['mean'], '+.1f')} ± {num_text(c['ci95'], '.1f')} "
            f"({num_text(c['p_holm_all'], '.3g')}"
            + (f", {c['n']} draws)" if "n" in c else ")"))


def one_per_loss(entries: list[dict], where: str) -> None:
    """Refuse a scenario holding two rows of one loss (``dpo[beta=2,...]`` and ``dpo[beta=0.5,
    ...]``): a confirmation runs one frozen pick per loss, and a second (a stale pick left in
    the rows file) would silently become the comparator, or join the candidate's Holm family."""
    seen: dict[str, str] = {}
    for e in entries:
        name = e["loss"].split("[")[0]
        if name in seen:
            raise ConfigError(f"{where}: two rows of {name} ({seen[name]} and {e['loss']}); a "
                              "confirmation holds one tuned pick per loss: remove the stale "
                              "one's rows")
        seen[name] = e["loss"]


def rows(summary: list[dict], comparisons: list[dict], candidate: str, metric: str) -> list[dict]:
    """One dict per scenario of the reports: the entries and comparisons of its line. Every
    scenario must hold the candidate (one left out would leave the bar's count unseen), and
    every row the line reads (the candidate, the baselines, the fixed rows) must be complete."""
    fam = family(comparisons, candidate, metric)
    out = []
    if not any(e["role"] == "candidate" and _is(e["loss"], candidate) for e in summary):
        return out   # not in any report (main says so)
    for key in sorted({(e["budget"], e["scenario"]) for e in summary}):
        entries = [e for e in summary if (e["budget"], e["scenario"]) == key]
        one_per_loss(entries, f"{key[1]} ({key[0]})")
        cand = [e for e in entries if e["role"] == "candidate" and _is(e["loss"], candidate)]
        if not cand:
            raise ConfigError(f"{key[1]} ({key[0]}): no row of the candidate {candidate}; "
                              "give only reports that confirmed it in every scenario")
        require_complete(cand[:1] + [e for e in entries if e["role"] != "candidate"],
                         f"{candidate}'s line")
        tuned = [e for e in entries if e["role"] == "baseline"]
        short = [e for e in entries if e["role"] != "candidate" and is_shortcut(e["loss"])]
        refs = [e for e in entries if e["loss"] in REFERENCE_ROWS]
        best = best_row(tuned + refs, metric)
        pick = {
            # the bar's comparator: the best tuned baseline, or the untrained reference where
            # that is better (v2-plan.md, Session 22: a candidate below the reference never
            # counts as best-or-tied)
            "best tuned": best,
            "ORPO": next((e for e in tuned if _is(e["loss"], "orpo")), None),
            "DPO": next((e for e in tuned if _is(e["loss"], "dpo")), None),
            "best shortcut": best_row(short, metric)}
        comps = {who: next((c for c in fam if (c["budget"], c["scenario"]) == key
                            and c["candidate"] == cand[0]["loss"] and e is not None
                            and c["baseline"] == e["loss"]), None)
                 for who, e in pick.items()}
        out.append({"budget": key[0], "scenario": key[1], "candidate": cand[0], "picks": pick,
                    "comparisons": comps, "metric": metric,
                    "outranked": outranked(tuned + refs, best, metric),
                    "bc_on_chosen": any(e["loss"] == BC_ON_CHOSEN for e in entries),
                    "family_size": len(fam)})   # Holm's m (an untested one counts: stats.holm)
    return out


def outranked(entries: list[dict], best: dict | None, metric: str) -> list[dict]:
    """The rows that may not be the bar's comparator (``stats.eligible_best``: a row that
    finished fewer than two draws, or fewer than half of them) but score above the comparator
    chosen (``best``) on the draws they finished; with no comparator, every such row that
    finished a draw. Where any exists, the comparator may not be the best row, so ``judge``
    gives the scenario no test for the bar: it never counts for the claim."""
    top = -math.inf if best is None else ranking_mean(best[metric])
    return [e for e in entries if not eligible_best(e[metric])
            and ranking_mean(e[metric]) > top]   # NaN (no finished draw) is never above


TIED = "best-or-tied with the best tuned or reference"
#: the bar's verdict on a scenario with ``outranked`` rows
OUTRANKED = ("no test vs the best tuned or reference (a row that failed on too many draws to "
             "be the comparator scored above it)")


def judge(ln: dict, alpha: float = ALPHA) -> dict[str, str]:
    """One scenario line's verdicts, in words: against ORPO and DPO (Holm), the bar's (the
    best tuned or reference: the difference's CI), and against the best shortcut (Holm)."""
    c = ln["comparisons"]
    best = c["best tuned"]
    if ln.get("outranked"):
        bar = OUTRANKED
    elif best is None or best["ci95"] != best["ci95"]:
        bar = "no test vs the best tuned or reference"
    elif best["mean"] - best["ci95"] >= 0:
        bar = TIED
    elif best["mean"] + best["ci95"] < 0:
        bar = "below the best tuned or reference (CI)"
    else:
        bar = "not shown best-or-tied (CI spans 0)"
    return {"ORPO": verdict(c["ORPO"], "ORPO", alpha), "DPO": verdict(c["DPO"], "DPO", alpha),
            "bar": bar, "shortcut": verdict(c["best shortcut"], "the best shortcut", alpha)}


def not_shown_below(ln: dict) -> bool:
    """The lenient reading of the bar on one scenario line (not the declared one): the CI's
    upper end at or above zero. A scenario with ``outranked`` rows has no test, as in ``judge``."""
    best = ln["comparisons"]["best tuned"]
    return not ln.get("outranked") and best is not None and best["mean"] + best["ci95"] >= 0


def tally(lines: list[dict], alpha: float = ALPHA) -> dict[str, int]:
    """The counts of the bar's line: scenarios beating ORPO and DPO, best-or-tied (strict), not
    shown below (lenient), without a test because of ``outranked`` rows, of ``n``."""
    said = [judge(ln, alpha) for ln in lines]
    return {"n": len(lines),
            "both": sum((w["ORPO"], w["DPO"]) == ("beats ORPO", "beats DPO") for w in said),
            "tied": sum(w["bar"] == TIED for w in said),
            "not_below": sum(map(not_shown_below, lines)),
            "outranked": sum(bool(ln.get("outranked")) for ln in lines)}


def met(count: int, n: int) -> bool:
    return n > 0 and count >= BAR * n


def markdown(lines: list[dict], candidate: str, metric: str, alpha: float = ALPHA) -> list[str]:
    whos = ("best tuned", "ORPO", "DPO", "best shortcut")
    heads = [{"best tuned": "best tuned or reference"}.get(w, w) for w in whos]
    out = [f"### {candidate}, {metric}", "",
           "| scenario | " + " | ".join(heads) + " | candidate | "
           + " | ".join(f"- {w} (Holm p)" for w in heads) + " | verdict |",
           "|---" * (2 * len(whos) + 3) + "|"]
    for ln in lines:
        c = ln["comparisons"]
        out.append(f"| {ln['scenario']} ({ln['budget']}) | "
                   + " | ".join(_cell(ln["picks"][w], metric) for w in whos)
                   + f" | {_cell(ln['candidate'], metric)} | "
                   + " | ".join(_diff(c[w]) for w in whos) + " | "
                   + "; ".join(judge(ln, alpha).values()) + " |")
    t = tally(lines, alpha)
    n, both, tied, not_below = t["n"], t["both"], t["tied"], t["not_below"]
    size = lines[0]["family_size"] if lines else 0
    refd = sum(ln["picks"]["best tuned"] is not None
               and ln["picks"]["best tuned"]["loss"] in REFERENCE_ROWS for ln in lines)
    bar = "met" if met(tied, n) else "not met"
    odd = [ln["scenario"] for ln in lines if ln.get("outranked")]
    out += ["", f"Beats ORPO and DPO (Holm p < {alpha:g} over all {size} comparisons of "
                f"{candidate} in {metric}): {both} of {n} scenarios. Best-or-tied with the best "
                f"tuned baseline, or the reference where it is better (difference's 95 % CI not "
                f"below zero): {tied} of {n}; issue "
                f"19's bar (at least {BAR:.0%} of the scenarios): {bar}."
                + (f" No test for the bar on {', '.join(odd)}: a row that failed on too many "
                   "draws to be the comparator scored above it (the claim block names it)."
                   if odd else "")
                + f" For comparison only, the lenient reading (not the declared one, and not "
                f"the claim): not shown below the comparator (the CI's upper end at or above "
                f"zero) on {not_below} of {n}, {'at or above' if met(not_below, n) else 'under'} "
                f"the {BAR:.0%} share. The best tuned "
                "baseline is picked on these same draws, which favours it."
                + (f" The untrained reference is that comparator on {refd} of {n} scenarios."
                   if refd else "")
                + (" BC-on-chosen trains from scratch, not from the reference: its AUC "
                   "averages a curve that starts from nothing, so judge that shortcut on final."
                   if any(ln["bc_on_chosen"] for ln in lines) else ""), ""]
    return out


def _rival(entries: list[dict], who: str) -> dict | None:
    """A suite rival's row in one scenario: a tuned baseline by name (DPO, ORPO, SFT), the
    untrained reference, BC-on-chosen, or any other row by its name (an ablation arm,
    ``NAME`` or ``NAME[...]``)."""
    if who == "reference":
        return next((e for e in entries if e["loss"] in REFERENCE_ROWS), None)
    if who == "BC-on-chosen":
        return next((e for e in entries if e["loss"] == BC_ON_CHOSEN), None)
    if who in ("DPO", "ORPO", "SFT"):
        return next((e for e in entries if e["role"] == "baseline"
                     and _is(e["loss"], who.lower())), None)
    return next((e for e in entries if _is(e["loss"], who)), None)


def suite_mean(summary: list[dict], weights: dict[str, float], candidate: str,
               metric: str, rivals=SUITE_RIVALS) -> dict:
    """Issue 19's suite-level comparison (the module docstring defines it): per row (the
    candidate and each of ``rivals``: DPO and ORPO, or the shortcuts) its suite regret per
    draw, and the candidate's paired differences to each rival (positive: the candidate
    better) with Holm over the rivals."""
    per_row: dict[str, dict[str, float]] = {"candidate": {}, **{w: {} for w in rivals}}
    found, draw_sets = {}, []
    for scen, w in weights.items():
        entries = [e for e in summary if e["scenario"] == scen]
        if len({e["budget"] for e in entries}) > 1:
            raise ConfigError(f"{scen}: rows at more than one budget; give one budget's reports")
        one_per_loss(entries, scen)
        tuned = [e for e in entries if e["role"] == "baseline"]
        pick = {"candidate": next((e for e in entries if e["role"] == "candidate"
                                   and _is(e["loss"], candidate)), None),
                **{who: _rival(entries, who) for who in rivals}}
        scale_ref = _rival(entries, "reference")   # R_s of the scale
        absent = [who for who, e in [*pick.items(), ("reference", scale_ref)] if e is None]
        if not entries or absent:
            raise ConfigError(f"{scen}: the reports have no {(absent or ['row'])[0]} row of this "
                              "suite scenario; the suite mean needs every scenario")
        require_complete([pick["candidate"]] + [e for e in entries if e["role"] != "candidate"],
                         "the suite mean")
        best = best_row(tuned, metric)
        if best is None or not math.isfinite(scale_ref[metric]["mean"]):
            raise ConfigError(f"{scen}: no tuned baseline (or no reference) with a finite "
                              f"{metric}: the suite mean has no scale there")
        top = ranking_mean(best[metric])
        scale = max(top - scale_ref[metric]["mean"], SCALE_FLOOR)
        found[scen] = (pick, top, scale, w)
        draw_sets += [set(e[metric]["per_draw"]) for e in pick.values()]
    if any(d != draw_sets[0] for d in draw_sets):
        raise ConfigError("the suite's scenarios were confirmed on different draws ("
                          + " vs ".join(",".join(sorted(d, key=int)) for d in
                                        dict.fromkeys(frozenset(x) for x in draw_sets))
                          + "); the suite mean pairs every scenario on the same draws")
    draws = sorted(draw_sets[0], key=int)
    failed: dict[str, list[str]] = {who: [] for who in per_row}   # a failed run: no number
    for scen, (pick, _, _, _) in found.items():
        for who in per_row:
            failed[who] += [f"{scen} draw {d}" for d in draws
                            if not math.isfinite(pick[who][metric]["per_draw"][d])]
    for who in per_row:   # NaN on a draw where any scenario's run failed
        for d in draws:
            per_row[who][d] = sum(w * (b - pick[who][metric]["per_draw"][d]) / scale
                                  for pick, b, scale, w in found.values())
    comps = {}
    for who in rivals:
        # a draw where the rival failed is left out of its comparison; where the candidate
        # failed, its NaN stays: that comparison has no p, so the candidate does not pass it
        kept = [d for d in draws if math.isfinite(per_row[who][d])
                or not math.isfinite(per_row["candidate"][d])]
        comps[who] = {**paired_t([per_row[who][d] for d in kept],
                                 [per_row["candidate"][d] for d in kept]).to_json(),
                      "draws": kept}   # rival's regret minus the candidate's: + = candidate better
    for who, adj in zip(rivals, holm([comps[w]["p"] for w in rivals])):
        comps[who]["p_holm"] = adj
    return {"metric": metric, "draws": draws, "regret": per_row, "comparisons": comps,
            "failed": {w: f for w, f in failed.items() if f},
            "scales": {s: v[2] for s, v in found.items()}, "weights": dict(weights)}


def suite_markdown(res: dict, suite_name: str, candidate: str, against: str = "",
                   alpha: float = ALPHA) -> list[str]:
    """One suite-mean family's table (``against``: its name in the heading, e.g. "against the
    shortcuts"; none for DPO and ORPO), its verdicts at ``alpha``."""
    n, metric = len(res["draws"]), res["metric"]
    out = [f"### Suite mean{' ' + against if against else ''} ({suite_name}, "
           f"{len(res['weights'])} scenarios, weighted), {metric}",
           "", f"Suite regret per draw (0: level with each scenario's best tuned baseline; "
           f"1: no better than the reference), mean ± 95 % CI over {n} draws "
           f"({', '.join(res['draws'])}). " + holm_family_text(res), "",
           "| row | suite regret | candidate's gain over it (Holm p) | verdict |",
           "|---|---|---|---|"]
    for who, reg in res["regret"].items():
        vals = list(reg.values())
        mean = sum(vals) / len(vals)
        ci = paired_t(vals, [0.0] * len(vals)).ci95
        c = res["comparisons"].get(who)
        gain = "" if c is None else (f"{num_text(c['mean'], '+.3f')} ± "
                                     f"{num_text(c['ci95'], '.3f')} "
                                     f"({num_text(c['p_holm'], '.3g')})"
                                     + (f", {c['n']} draws" if c["n"] != n else ""))
        word = "" if c is None else verdict({**c, "p_holm_all": c["p_holm"]}, who, alpha) \
            .replace(who, f"{who} on the suite mean")
        out.append(f"| {candidate if who == 'candidate' else who} | {num_text(mean, '.3f')} ± "
                   f"{num_text(ci, '.3f')} | {gain} | {word} |")
    for who, where in res.get("failed", {}).items():
        name = candidate if who == "candidate" else who
        out.append("")
        out.append(f"{name}'s run failed on {', '.join(where)}: " + (
            "the candidate has no suite regret on those draws, so none of these tests can pass."
            if who == "candidate" else "those draws are left out of its comparison."))
    return out + [""] + ([] if against else scale_table(res))


def holm_family_text(res: dict) -> str:
    """One suite-mean table's Holm family, in words: its size and members."""
    who, metric = list(res["comparisons"]), res["metric"]
    if len(who) == 1:
        return f"This table has one comparison ({who[0]}): Holm's correction leaves its p as is."
    return (f"Holm's correction is over the {len(who)} comparisons of this table "
            f"({', '.join(who)}), in {metric}.")


def scale_table(res: dict) -> list[str]:
    """Each scenario's scale on the suite mean (``suite_mean``'s "scales") and its effective
    weight: w_s / scale_s, the suite regret one score point there is worth, with its share of
    the sum. A scale at SCALE_FLOOR is flagged: there the best tuned baseline is at most that
    many points above the reference, and the floor, not that gain, sets the weight."""
    eff = {s: w / res["scales"][s] for s, w in res["weights"].items()}
    total = sum(eff.values())
    out = [f"Each scenario's scale and effective weight on this suite mean ({res['metric']}): "
           f"scale_s = max(B_s - R_s, {SCALE_FLOOR:g}); effective weight = w_s / scale_s, the "
           "suite regret one score point there is worth.", "",
           "| scenario | weight w_s | scale_s | effective weight (share) |", "|---|---|---|---|"]
    for s, w in res["weights"].items():
        scale = res["scales"][s]
        floor = (f" (at the floor: the best tuned baseline is at most {SCALE_FLOOR:g} points "
                 "above the reference)" if scale <= SCALE_FLOOR else "")
        out.append(f"| {s} | {w:.3f} | {scale:.1f}{floor} | {eff[s]:.4f} "
                   f"({eff[s] / total:.0%}) |")
    return out + [""]


def split_note(summary: list[dict]) -> list[str]:
    """A warning for every scenario whose rows of one draw trained on different datasets or
    references (the report's ``data_split_draws``, v2-plan.md, Session 22): pairs there are
    not clean pairs."""
    split = sorted({(e["scenario"], d) for e in summary for d in e.get("data_split_draws", [])})
    rebuilt = sorted({(e["scenario"], d) for e in summary for d in e.get("rebuilt_draws", [])})
    out = ["**Not clean pairs:** rows of one draw trained on different datasets or references "
           "(a rebuild, on another machine, say) on " + ", ".join(
               f"{s} draw {d}" for s, d in split) + ". Differences there also measure that.",
           ""] if split else []
    return out + (["**Draws that pool two builds** (seeds run on another machine; each seed's "
                   "rows share one build, so every pair is clean): " + ", ".join(
                       f"{s} draw {d}" for s, d in rebuilt) + ".", ""] if rebuilt else [])


def suite_beats(comp: dict, alpha: float = ALPHA) -> bool:
    """Whether a suite-mean comparison says the candidate beats the rival: gain positive with
    Holm p < alpha within its family (a NaN p, no test, is not below alpha)."""
    return comp["p_holm"] < alpha and comp["mean"] > 0


def suite_verdict(comp: dict, who: str, alpha: float = ALPHA) -> str:
    """A suite-mean comparison in words ("beats DPO", "level with DPO", ...)."""
    return verdict({**comp, "p_holm_all": comp["p_holm"]}, who, alpha)


def shortcuts_lost(res: dict[str, dict], alpha: float = ALPHA) -> list[str]:
    """The shortcuts of SHORTCUT_RIVALS the candidate does not beat on the suite mean (Holm p
    < alpha within its metric's family, gain positive) on the metric each is judged on."""
    return [f"{who} ({metric}: {suite_verdict(res[metric]['comparisons'][who], who, alpha)})"
            for who, metric in SHORTCUT_RIVALS.items()
            if not suite_beats(res[metric]["comparisons"][who], alpha)]


SHORTCUT_RULE = ", ".join(f"{who} on {m.upper() if m == 'auc' else m}"
                          for who, m in SHORTCUT_RIVALS.items())


def shortcut_verdict(res: dict[str, dict], alpha: float = ALPHA) -> list[str]:
    """The requirement "it must beat the shortcut baselines" (v2-plan.md, Session 22): on the
    suite mean, each of SHORTCUT_RIVALS beaten on the metric it is judged on."""
    lost = shortcuts_lost(res, alpha)
    return [f"Beats the shortcut baselines on the suite mean ({SHORTCUT_RULE}; Holm over the "
            f"three, per metric; v2-plan.md, Session 22): " + ("met." if not lost else
                                                              "not met: " + "; ".join(lost) + "."),
            ""]


def claim(lines: dict[str, list[dict]], suite: dict | None, shortcut: dict | None,
          alpha: float = ALPHA, is_claim: bool = False, auc_final: bool = False) -> list[str]:
    """Issue 19's bar on these reports, judged on AUC alone (v2-plan.md, Session 22, item 1):
    the bar, the suite mean against DPO and against ORPO, and the shortcuts; each part with
    what final says beside it. Without a suite (``suite`` None) it is not judged. Only the suite
    search's declared winner on the test suite makes issue 19's claim (``is_claim``: the
    ``--claim`` flag); for any other candidate or suite the page says so (v2-plan.md: the other
    candidates are separate questions). ``auc_final``: the AUC is only the final score, so the
    page judges on final and has nothing to show beside it. Below the parts, ``claim_notes``."""
    key = "final" if auc_final else "auc"
    t, tf = tally(lines[key], alpha), tally(lines["final"], alpha)
    parts = [(met(t["tied"], t["n"]),
              f"best-or-tied with the best tuned baseline or the reference on at least "
              f"{BAR:.0%} of the scenarios: {t['tied']} of {t['n']}"
              + ("" if auc_final else f" (final: {tf['tied']} of {tf['n']})")
              + (f"; {t['outranked']} of the {t['n']} had no test (named below) and count as "
                 "not best-or-tied" if t["outranked"] else ""))]
    if suite is not None:
        for who in SUITE_RIVALS:
            c = suite[key]["comparisons"][who]
            final = suite_verdict(suite['final']['comparisons'][who], who, alpha)
            parts.append((suite_beats(c, alpha), f"beats {who} on the suite mean: "
                          f"{suite_verdict(c, who, alpha)}"
                          + ("" if auc_final else f" (final: {final})")
                          + f"; Holm over {len(SUITE_RIVALS)} ({', '.join(SUITE_RIVALS)}), "
                          "per metric"))
        lost = shortcuts_lost(shortcut, alpha)
        parts.append((not lost, f"beats the shortcut baselines on the suite mean "
                      f"({SHORTCUT_RULE}): " + ("yes" if not lost else "no: " + "; ".join(lost))
                      + f"; Holm over {len(SHORTCUT_RIVALS)} ({', '.join(SHORTCUT_RIVALS)}), "
                      "per metric"))
    what = ("Issue 19's claim" if is_claim else "Issue 19's bar, for this candidate and these "
            "reports (not issue 19's claim, which only the suite search's declared winner makes, "
            "on the test suite: v2-plan.md)")
    on = ("judged on final accuracy (AUC, the primary metric of v2-plan.md, Session 22, item 1, "
          "is not measured on this bed):" if auc_final else "judged on AUC, the primary metric "
          "(v2-plan.md, Session 22, item 1); final is shown beside each part and decides nothing"
          + ("" if suite is None else ", except that BC-on-chosen is judged on final in the "
             "shortcut part (declared: v2-plan.md, Session 22, item 3; it trains from scratch)")
          + ":")
    out = ["## The claim" if is_claim else "## Issue 19's bar", "", f"{what}, {on}", ""]
    out += [f"- {'met' if ok else '**not met**'}: {text}" for ok, text in parts]
    if suite is None:
        out += ["- not judged: the suite-mean tests (against DPO and ORPO, and against the "
                "shortcuts) need --suite"]
    out += claim_notes(lines[key], suite is not None)
    if suite is None:
        return out + ["", "**Not judged** (no --suite).", ""]
    whole = "met" if all(ok for ok, _ in parts) else "not met"
    on = "On final accuracy" if auc_final else "On AUC"
    verdict_line = (f"**{on}, the claim is {whole}** on these reports." if is_claim else
                    f"**{on}, the bar is {whole}** on these reports (not a claim).")
    odd = (f" {t['outranked']} scenario(s) had no test for the bar (named above) and do not "
           "count as best-or-tied." if t["outranked"] else "")
    return out + ["", verdict_line + odd + " Issue 19's other requirement, that the gain comes "
                  "from the preference term, is judged by the ablation (`benchmarks/ablate.py "
                  "table`, train suite), not here.", ""]


def claim_notes(lines: list[dict], with_suite: bool) -> list[str]:
    """The claim block's notes below its parts, on the metric it is judged on: each scenario
    with no test for the bar because of an ``outranked`` row, naming the row; the draws whose
    pairs are not clean (the report's ``data_split_draws``), which count as the others do
    (v2-plan.md, Session 25, item 2); and, with a suite, why there is no length-only row."""
    out = []
    for ln in lines:
        best, metric = ln["picks"]["best tuned"], ln["metric"]
        for e in ln.get("outranked", []):
            per = e[metric]["per_draw"]
            failed = [d for d, v in per.items() if v is None or not math.isfinite(v)]
            done = len(per) - len(failed)
            than = ("no row finished enough draws to be the comparator" if best is None else
                    f"above the comparator {best['loss']}'s "
                    f"{num_text(ranking_mean(best[metric]))}")
            out.append(f"- no test for the bar on {ln['scenario']}: {e['loss']} failed on "
                       f"draw(s) {', '.join(failed)} (mean {num_text(ranking_mean(e[metric]))} "
                       f"on its {done} finished draw(s), {than}). A row is the comparator only "
                       "if it finished at least two draws and at least half of them (v2-plan.md, "
                       "Session 16), so the comparator may not be the best row: this scenario "
                       "counts as no test, never as best-or-tied.")
    split = [f"{ln['scenario']} draw {d}" for ln in lines
             for d in ln["candidate"].get("data_split_draws", [])]
    if split:
        out.append("- not clean pairs on " + ", ".join(split) + ": within one training seed, "
                   "rows of that draw trained on different builds of its dataset or reference "
                   "(v2-plan.md, Session 25, item 2). They count in every verdict above as the "
                   "other draws do; a difference there also measures the rebuild.")
    if with_suite:
        out.append("- length-only, a shortcut issue 19 names, has no row of its own: on these "
                   "length-controlled v2 scenarios the loss sees every segment as H steps long, "
                   "so length-only SFT (the zoo's length_sft) trains the same policy as `sft` "
                   "up to Adam's epsilon, and the `sft` row stands for both (v2-plan.md, "
                   "Session 16).")
    return out


def disagreements(lines: dict[str, list[dict]], alpha: float = ALPHA) -> list[str]:
    """Every scenario where AUC and final give different verdicts (the bar's, or against ORPO
    or DPO): v2-plan.md, Session 22, item 1, "where the two disagree, the report says so"."""
    final = {(ln["budget"], ln["scenario"]): judge(ln, alpha) for ln in lines["final"]}
    said = []
    for ln in lines["auc"]:
        a, f = judge(ln, alpha), final.get((ln["budget"], ln["scenario"]))
        parts = [f"AUC {a[k]}, final {f[k]}" for k in ("bar", "ORPO", "DPO")
                 if f is not None and a[k] != f[k]]
        said += [f"{ln['scenario']} ({'; '.join(parts)})"] if parts else []
    return ["**AUC and final** " + ("give the same verdicts on every scenario." if not said
                                    else "disagree on " + ", ".join(said) + "."), ""]


def auc_is_final(reports: list[str]) -> bool:
    """Whether every report's AUC is only its final score: ``cells.auc_is_final`` of the rows
    it was made from, the ``<stem>.jsonl`` beside its ``<stem>.confirm.json`` (a report keeps no
    curve). False where a rows file is missing or unreadable: then both metrics are shown."""
    from cells import auc_is_final as rows_say, records   # this directory's

    stems = [p[:-len(".confirm.json")] for p in map(str, reports) if p.endswith(".confirm.json")]
    try:
        return len(stems) == len(reports) and all(
            Path(s + ".jsonl").is_file() and rows_say(
                [r for r in records(Path(s + ".jsonl")) if r.get("draw", 0) not in (0, "t")])
            for s in stems)
    except LossforgeError:
        return False


def final_only_note() -> list[str]:
    """What the page says instead of comparing AUC with final where the AUC is the final score."""
    from cells import AUC_NOT_MEASURED

    return [f"**{AUC_NOT_MEASURED}** (one measurement, at the end of training), so the tables "
            "show final alone and there is no AUC to set beside it.", ""]


#: v2-plan.md, "Session 22, before any test-suite run of the shortcut or a candidate": "Reports
#: that use the test suite's rows carry this label."
DEPARTURE = ("**A departure from the plan**, declared before any test-suite run of the shortcut "
             "or a candidate (v2-plan.md, \"Session 22, before any test-suite run of the shortcut "
             "or a candidate: their test rates\"): on the test suite the shortcut (sft) and the "
             "candidates tuned their learning rate on v2's three rates plus every rate they "
             "picked on the train suite, with halving keeping 2, where the plan had given them "
             "the three rates alone.")


def suite_notes(suite, lines: list[dict], alpha: float = ALPHA) -> list[str]:
    """What a reader of a suite's table must know: the test suite's departure label, and that
    scenarios of one environment are not independent (v2-plan.md, Session 22, item 9), with
    the bar's count per environment."""
    from lossforge.bench.scenarios import load_scenario

    out = [DEPARTURE, ""] if suite.role == "test" else []
    env = {e.scenario: load_scenario(e.path).env_id for e in suite.entries}
    tied = {(ln["scenario"]) for ln in lines if judge(ln, alpha)["bar"] == TIED}
    counts = {}
    for scen, e in env.items():
        n, k = counts.get(e, (0, 0))
        counts[e] = (n + 1, k + (scen in tied))
    if any(n > 1 for n, _ in counts.values()):
        out += ["**Scenarios are not independent** (v2-plan.md, Session 22, item 9): "
                + ", ".join(f"{n} of the {len(env)} {'is' if n == 1 else 'are'} {e} "
                            f"(best-or-tied on AUC: {k})"
                            for e, (n, k) in counts.items())
                + ". Scenarios of one environment share its policies and dataset seed on each "
                "draw, so the bar's count is not over independent scenarios.", ""]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="+", help="<stem>.confirm.json files")
    ap.add_argument("--candidate", required=True, help="the candidate's name (tuned rows "
                                                       "'<name>[lr=...]' match it)")
    ap.add_argument("--suite", help="a suite TOML (benchmarks/suites/test.toml): also the "
                                    "suite-mean tests against DPO and ORPO, and against the "
                                    "shortcuts (SFT, the reference, BC-on-chosen)")
    ap.add_argument("--alpha", type=float, default=ALPHA,
                    help=f"the level a Holm p must be under to count as 'beats' or 'below' "
                         f"(default {ALPHA}; a declared stricter bar, e.g. for a secondary "
                         "candidate among several, says so in the table)")
    ap.add_argument("--claim", action="store_true",
                    help="this page is issue 19's claim: the suite search's declared winner on "
                         "the test suite (needs --suite of a test-role suite); without it the "
                         "page says it judges the bar, not the claim")
    ap.add_argument("--out", help="also write the markdown here")
    args = ap.parse_args(argv)
    if not 0 < args.alpha < 1:
        print(f"error: --alpha must be in (0, 1), got {args.alpha}", file=sys.stderr)
        return 2
    try:
        md = headline(args.reports, args.candidate, args.suite, args.alpha, args.claim)
    except LossforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    made_by = shlex.join(["python", "benchmarks/headline.py",
                          *(sys.argv[1:] if argv is None else argv)])
    return emit(md + ["", f"Made by: `{made_by}`"], args.out)


def headline(reports: list[str], candidate: str, suite_path: str | None = None,
             alpha: float = ALPHA, is_claim: bool = False) -> list[str]:
    """The headline's markdown lines: the claim (or the bar) first, then the notes a reader
    needs, the per-scenario tables and (with a suite) the suite-mean tables."""
    summary, comparisons = load(reports)
    suite = None
    if is_claim and not suite_path:
        raise ConfigError("--claim needs --suite: issue 19's claim is judged on the test suite")
    if suite_path:
        from lossforge.bench.suites import load_suite
        suite = load_suite(suite_path)
        if is_claim and suite.role != "test":
            raise ConfigError(f"--claim: {suite.source} is a {suite.role} suite; issue 19's "
                              "claim is judged on the test suite")
        extra = sorted({e["scenario"] for e in summary} - set(suite.scenarios))
        if extra:   # they would count in the bar and in Holm's family
            raise ConfigError(f"{extra[0]}: a scenario of the reports that {suite.source} does "
                              "not list; give reports of that suite's scenarios only")
    if is_claim:
        claim_inputs(summary)
    lines = {}
    for metric in METRICS:
        lines[metric] = rows(summary, comparisons, candidate, metric)
        if not lines[metric]:
            raise ConfigError(f"{candidate}: no candidate row of that name in "
                              + ", ".join(reports))
    auc_final = auc_is_final(reports)
    shown_metrics = ("final",) if auc_final else METRICS
    tables = [ln for metric in shown_metrics for ln in markdown(lines[metric], candidate,
                                                                 metric, alpha)]
    means = shortcut = None
    if suite is not None:
        w = suite.weights()
        means = {m: suite_mean(summary, w, candidate, m) for m in METRICS}
        shortcut = {m: suite_mean(summary, w, candidate, m, rivals=tuple(SHORTCUT_RIVALS))
                    for m in METRICS}
        tables += [ln for m in shown_metrics for ln in suite_markdown(
            means[m], suite.name, candidate, alpha=alpha)]
        tables += [ln for m in shown_metrics for ln in suite_markdown(
            shortcut[m], suite.name, candidate, "against the shortcuts", alpha=alpha)]
        tables += shortcut_verdict(shortcut, alpha)
    return ([f"# {candidate} against the field", "",
             "Sources: " + ", ".join(f"`{shown(p)}`" for p in reports)
             + ". Cells: mean ± 95 % CI over draws; differences: candidate minus row, paired "
             f"by draw. Holm's correction, per metric: in the per-scenario tables, over every "
             f"comparison of the candidate in these files "
             f"({lines[shown_metrics[0]][0]['family_size']} in {shown_metrics[0]})"
             + ("" if suite is None else
                       f"; on the suite mean, over the {len(SUITE_RIVALS)} comparisons with "
                       f"{' and '.join(SUITE_RIVALS)}, and over the {len(SHORTCUT_RIVALS)} with "
                       "the shortcuts, each a family of its own")
             + " (benchmarks/headline.py).", ""]
            + claim(lines, means, shortcut, alpha, is_claim, auc_final)
            + (suite_notes(suite, lines["auc"], alpha) if suite is not None else [])
            + (final_only_note() if auc_final else disagreements(lines, alpha))
            + split_note(summary) + tables)


def claim_inputs(summary: list[dict]) -> None:
    """What ``--claim`` needs of its rows beyond any page's checks (one-line ConfigError):
    every row on exactly the declared reporting draws (confirm's default, ``confirmation.
    MUJOCO_DRAWS`` or ``LLM_DRAWS``: test draws 1-5 are spent once, v2-plan.md, Session 22,
    item 6), and every tuned baseline family (the loss name before any "[...]") that one
    scenario of the reports has in every other (one missing would narrow that scenario's
    comparator unseen)."""
    from cells import LLM_PREFIX
    from confirmation import LLM_DRAWS, MUJOCO_DRAWS

    for e in summary:
        spec = LLM_DRAWS if e["scenario"].startswith(LLM_PREFIX) else MUJOCO_DRAWS
        has = {d for m in METRICS for d in e[m]["per_draw"]}
        if has != {str(d) for d in parse_draws(spec)}:
            raise ConfigError(
                f"--claim: {e['scenario']}: {e['loss']} ran on draws "
                f"{', '.join(sorted(has, key=_draw_order))}; the claim is read on the declared "
                f"reporting draws {spec} and no others (v2-plan.md, Session 22, item 6): fresh "
                "draws go in their own rows file and report, never appended to the claim's")
    families = {s: {e["loss"].split("[")[0] for e in summary
                    if e["scenario"] == s and e["role"] == "baseline"}
                for s in dict.fromkeys(e["scenario"] for e in summary)}
    every = set().union(*families.values())
    for scen, have in families.items():
        lacking = sorted(every - have)
        if lacking:
            raise ConfigError(f"--claim: {scen} has no row of the tuned baseline {lacking[0]}, "
                              "which other scenarios of the reports have; the bar's comparator "
                              "there would be picked from fewer baselines: confirm it there too")


def _draw_order(d: str) -> tuple:
    """Draw names in number order ('2' before '10'), any other name after them."""
    return (0, int(d), "") if d.isdigit() else (1, 0, d)


def emit(md: list[str], out: str | None) -> int:
    """Print the markdown lines, and write them to ``out`` if given (exit status 0)."""
    text = "\n".join(md)
    print(text)
    if out:
        Path(out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
