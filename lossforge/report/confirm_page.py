"""The HTML page of a confirmation (``baselines.py confirm``: fresh draws, the draw as the unit):
per scenario, each row's AUC and final as mean ± 95 % t-interval over dataset draws, its paired
difference to the best tuned baseline, and a chart of the mean training curves of the candidates
and their rivals, which shows where along training a candidate gains or loses. The numbers are
``baselines.py report``'s (``confirmation.analyse``), which this page calls.

What the report says is missing (an unfinished confirmation) is said once, at the top, with the
draws and seeds it lacks; the tables mark the rows it concerns. bc-on-chosen's AUC averages its
own BC training from scratch (its checkpoints are BC steps, not preference-training steps), so
it is marked and not ranked on AUC (the headline judges it on final), and its curve has a chart
of its own.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from html import escape
from pathlib import Path

from lossforge.bench.draws import TUNING
# BC_ON_CHOSEN: the row that trains by behaviour cloning from scratch, on steps of its own
from lossforge.bench.result import BC_ON_CHOSEN
from lossforge.bench.stats import num_text
from lossforge.report.page import page
from lossforge.report.svg import COLOURS, Series, chart
from lossforge.report.tableparts import (baselines_module, caption, final_only_note, glossary,
                                         made_by, reading, warn)

#: rows whose curves a confirmation's chart shows beside the candidates and the best tuned
#: baseline: the family's two named rivals and the shortcut SFT (by their zoo names)
RIVALS = ("dpo", "orpo", "sft")


def mean_curves(rows: list[dict]) -> dict[tuple[str, str, str], list[tuple[int, float]]]:
    """(budget, scenario, loss) -> its mean training curve [(step, score)]: each draw's mean
    over its seeds at the steps they all have, then the mean over draws at the steps every draw
    has (the draw weighs the same whatever its number of seeds, as in the report). Runs that
    failed or have no curve (the untrained reference) are left out."""
    by: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.get("status") == "ok" and r.get("curve"):
            by[(r["budget"], r["scenario"], r["loss"])][r["draw"]].append(
                {int(step): float(v) for step, v in r["curve"]})
    out = {}
    for key, per_draw in by.items():
        means = []
        for curves in per_draw.values():
            steps = set.intersection(*(set(c) for c in curves))
            means.append({s: sum(c[s] for c in curves) / len(curves) for s in steps})
        steps = sorted(set.intersection(*(set(m) for m in means)))
        out[key] = [(s, sum(m[s] for m in means) / len(means)) for s in steps]
    return out


def confirmation_page(path: Path) -> str:
    """The HTML page of a confirm JSONL: ``confirmation.analyse``'s numbers per scenario, and
    the mean training curves of the candidates and their rivals."""
    baselines = baselines_module()    # puts benchmarks/ first on sys.path
    import confirmation               # benchmarks/confirmation.py, as baselines.py runs it

    with reading(path):
        result, _ = confirmation.analyse(path)
        rows = [r for r in baselines.records(path) if None not in baselines.row_key(r)
                and r.get("draw", 0) not in (0, TUNING)]
        curves = mean_curves(rows)
        family = {r["loss"]: str(r.get("baseline") or r["loss"].split("[")[0]) for r in rows}
        final_only = confirmation.auc_final_groups(rows)   # as the report finds them
    groups = sorted({(e["budget"], e["scenario"]) for e in result["summary"]})
    every = bool(groups) and set(groups) <= final_only
    parts = [f"<h1>Confirmation: <code>{escape(path.name)}</code></h1>",
             _confirmation_legend(confirmation.FINAL_ONLY_TEXT if every else None,
                                  any(r["loss"] == BC_ON_CHOSEN for r in rows)), glossary()]
    label = confirmation.departure_text({e["scenario"] for e in result["summary"]})
    if label:   # v2-plan.md, Session 22: reports on the test suite's rows carry it
        parts.append(warn(f"<p class=\"warn\" id=\"departure\">{_markdown_bold(label)}</p>"))
    parts.append(_unfinished_note(result["summary"], rows))
    for budget, scen in groups:
        entries = [e for e in result["summary"] if (e["budget"], e["scenario"]) == (budget, scen)]
        vs = {(c["loss"], c["metric"]): c for c in result["versus_best"]
              if (c["budget"], c["scenario"]) == (budget, scen)}
        best = {c["metric"]: c["best"] for c in vs.values()}
        # the report's metrics: final alone where the AUC is only the final score
        metrics = ("final",) if (budget, scen) in final_only else ("auc", "final")
        order = {"candidate": 0, "baseline": 1}
        entries.sort(key=lambda e: (order.get(e["role"], 2), -_finite(e[metrics[0]]["mean"])))
        parts += [f"<h2>{escape(scen)} ({escape(budget)} budget)</h2>",
                  final_only_note([scen] if len(metrics) == 1 and not every else [], 1),
                  _scenario_table(scen, entries, vs, best, metrics),
                  *_scenario_notes(entries, metrics),
                  *_reference_bar(entries, result["comparisons"], best, metrics)]
        shown = [e for e in entries if e["role"] != "baseline"
                 or e["loss"] == best.get(metrics[0]) or family.get(e["loss"]) in RIVALS]
        parts += _curves_charts(f"{scen} ({budget})", shown, best.get(metrics[0]),
                                {e["loss"]: curves.get((budget, scen, e["loss"]))
                                 for e in shown})
    parts.append(_candidate_formulas(path, sorted({r["candidate"] for r in rows
                                                   if r.get("candidate")})))
    parts.append(made_by(sorted({str(r.get("command", "")) for r in rows} - {""})))
    return page(f"confirmation {path.name}", "".join(parts))


def _confirmation_legend(final_only: str | None, bc: bool = False) -> str:
    """The page's legend; where every scenario's AUC is only its final score, ``final_only``
    (the report's note) instead of the metrics' definitions and of the curves' (there are none).
    ``bc``: the page has bc-on-chosen rows (their AUC is marked and not ranked)."""
    metrics = (escape(final_only) + " " if final_only else "AUC: mean score over the training "
               "checkpoints (the reference does not train: its AUC is its score; the LLM test "
               "bed measures once, at the end, so there AUC is final); final: the last "
               "parameters. ")
    curves = "" if final_only else (" Curves: the mean over draws of each draw's mean over "
                                    "seeds; failed runs are left out of them; a row without one "
                                    "(the reference) is a flat line at its AUC.")
    return ("<p class=\"meta\"" + (" data-metric=\"final\"" if final_only else "") + ">Score: "
            "on MuJoCo the normalised return (100 = expert, 0 = random policy); on the LLM test "
            "bed the accuracy in %. The dataset draw is the unit of analysis: each value is a "
            "draw's mean over its training seeds, ± the 95 % t-interval over draws (each "
            "table's caption gives its draws and seeds per draw). " + metrics
            + "'vs best': the row minus the best tuned baseline (the highest mean over these "
            "draws, per metric, of the tuned rows only: the untrained reference is not a "
            "comparator here, as in <code>baselines.py report</code>'s table), paired draw by "
            "draw, uncorrected; the paired tests with Holm's correction are in "
            "<code>baselines.py report</code>'s tables. The headline's bar "
            "(<code>benchmarks/headline.py</code>) compares a candidate with the best tuned "
            "baseline or the reference, whichever scores higher: where that is the reference, "
            "a note under the scenario's table says so and gives each candidate's difference "
            "to it. The best mean of each column in bold"
            + (" (bc-on-chosen's AUC, marked †, is not ranked)" if bc and not final_only else "")
            + "." + curves + "</p>")


def _markdown_bold(text: str) -> str:
    """Markdown text (``**bold**`` its only markup) as escaped HTML."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escape(text))


def _unfinished_note(summary: list[dict], rows: list[dict]) -> str:
    """What the report says is missing (``missing``), once for the page: per scenario, the
    draws and seeds run so far against confirm's defaults for the bed, and which seeds of
    which draws each group of rows lacks ("every row" when all lack the same); "" when the
    report finds nothing missing."""
    import confirmation   # benchmarks/confirmation.py: its defaults, as least_grid reads them
    from tuning import REPORTING_SEEDS

    short: dict = defaultdict(list)
    for e in summary:
        if e.get("missing"):
            short[(e["scenario"], e["budget"])].append(e["loss"])
    items = []
    for (scen, budget), losses in sorted(short.items()):
        ran = [r for r in rows if (r["scenario"], r["budget"]) == (scen, budget)]
        draws, seeds = {r["draw"] for r in ran}, {r["seed"] for r in ran}
        llm = scen.startswith("llm:")
        least = confirmation.least_grid(scen)
        groups: dict = defaultdict(list)
        for loss in losses:
            groups[_lacks([r for r in ran if r["loss"] == loss], draws, seeds)].append(loss)
        n = sum(1 for e in summary if (e["scenario"], e["budget"]) == (scen, budget))
        items.append(
            f"<li><b>{escape(scen)}</b> ({escape(budget)}): runs so far on draws "
            f"{_ranges(draws)} x seeds {_ranges(seeds)}"
            + (f", short of the {least[0]} draws x {least[1]} seeds a confirmation needs "
               f"(confirm's defaults here: draws "
               f"{confirmation.LLM_DRAWS if llm else confirmation.MUJOCO_DRAWS} x seeds "
               f"{confirmation.LLM_SEEDS if llm else REPORTING_SEEDS})"
               if len(draws) < least[0] or len(seeds) < least[1] else "")
            + ".<ul>" + "".join(f"<li>{escape(_who(who, n))}: {escape(lack)}</li>"
                                 for lack, who in groups.items() if lack) + "</ul></li>")
    if not items:
        return ""
    return warn("<p class=\"warn\" id=\"unfinished\"><b>Unfinished, not a claim:</b> this "
                "confirmation lacks runs, so its numbers are a progress view; the claim tables "
                "(<code>benchmarks/headline.py</code> and the others) refuse a row with anything "
                "missing. Rows marked ‡ in the tables (or every row, where a table's caption "
                f"says so) lack runs:</p><ul>{''.join(items)}</ul>")


def _lacks(ran: list[dict], draws: set, seeds: set) -> str:
    """Which of the scenario's ``draws`` x ``seeds`` one row's runs (``ran``) lack, compactly:
    "seed 2 not run on draws 1-5; no run on draw 6"; "" when it has them all."""
    by: dict = defaultdict(list)
    for d in sorted(draws, key=str):
        lack = frozenset(seeds - {r["seed"] for r in ran if r["draw"] == d})
        if lack:
            by[lack].append(d)
    return "; ".join(
        (f"no run on draw{'s' * (len(ds) > 1)} {_ranges(set(ds))}" if lack == seeds else
         f"seed{'s' * (len(lack) > 1)} {_ranges(set(lack))} not run on "
         f"draw{'s' * (len(ds) > 1)} {_ranges(set(ds))}") for lack, ds in by.items())


def _who(losses: list[str], of: int) -> str:
    """The rows one shortfall concerns: "every row (n)" when all ``of`` of them."""
    return f"every row ({of})" if len(losses) == of else ", ".join(losses)


def _ranges(xs: set) -> str:
    """Draw or seed numbers as compact ranges: {1, 2, 3, 5} -> "1-3, 5"."""
    out: list[list[int]] = []
    for x in sorted(x for x in xs if isinstance(x, int)):
        if out and x == out[-1][1] + 1:
            out[-1][1] = x
        else:
            out.append([x, x])
    return ", ".join([str(a) if a == b else f"{a}-{b}" for a, b in out]
                     + sorted(str(x) for x in xs if not isinstance(x, int)))


def _reference_bar(entries: list[dict], comparisons: list[dict], best: dict,
                   metrics: tuple[str, ...] = ("auc", "final")) -> list[str]:
    """Where the untrained reference scores above every tuned baseline (per metric), the
    headline's bar (``headline.py``: ``best_row`` of the tuned rows and the reference) compares
    a candidate with it, not with this page's 'vs best': say so, with each candidate's paired
    difference to it (``analyse``'s comparison of the two, which the headline reads), in each
    of the table's ``metrics``."""
    from headline import REFERENCE_ROWS      # benchmarks/headline.py: the bar's reference rows

    from lossforge.bench.stats import best_row

    tuned = [e for e in entries if e["role"] == "baseline"]
    refs = [e for e in entries if e["loss"] in REFERENCE_ROWS]
    out = []
    for m in metrics:
        bar = best_row(tuned + refs, m)
        if bar is None or bar["loss"] not in REFERENCE_ROWS:
            continue
        diffs = [f"{c['candidate']} {num_text(c['mean'], '+.1f')} ± {num_text(c['ci95'])}"
                 for c in comparisons if (c["budget"], c["scenario"], c["baseline"], c["metric"])
                 == (bar["budget"], bar["scenario"], bar["loss"], m)]
        out.append(warn(
            f"<p class=\"warn\" data-metric=\"{m}\"><b>{m.replace('auc', 'AUC')}: the "
            f"untrained {escape(bar['loss'])} scores above every tuned baseline</b> "
            f"(mean {escape(num_text(bar[m]['mean']))}), so the headline's bar compares "
            f"the candidates with it, not with {escape(str(best.get(m, '-')))}"
            + (": candidate minus it, paired draw by draw: " + escape("; ".join(diffs))
               if diffs else "") + ".</p>"))
    return out


def _candidate_formulas(path: Path, names: list[str]) -> str:
    """Each candidate's formula, from its spec in ``winners/<name>.json`` beside the results
    file (where the repository keeps them; read as JSON only); a candidate without one there
    (or a neural one) is named without."""
    from lossforge.errors import LossforgeError
    from lossforge.search.rundir import loss_text

    items = []
    for name in map(str, names):
        spec_file = path.parent / "winners" / f"{name}.json"
        try:
            plain = re.fullmatch(r"[A-Za-z0-9][\w.-]*", name) is not None
            data = json.loads(spec_file.read_text()) if plain and spec_file.is_file() else {}
            spec = data.get("spec", data) if isinstance(data, dict) else {}
            # loss_text writes the whole loss: weights, reference or not, constants by value
            text = (f"h(p) = {spec['mirror_map']};  {loss_text(spec)}"
                    if spec and spec.get("kind", "symbolic") == "symbolic" else "")
        except (LossforgeError, ValueError, KeyError, TypeError, AttributeError):
            text = ""
        items.append(f"<li><b>{escape(name)}</b>: " + (escape(text) if text else
                     "no formula (no symbolic spec in winners/ beside this file)") + "</li>")
    return (f"<h2>Candidates</h2><ul id=\"candidates\">{''.join(items)}</ul>" if items else "")


def _scenario_table(scen: str, entries: list[dict], vs: dict, best: dict,
                    metrics: tuple[str, ...] = ("auc", "final")) -> str:
    """One scenario's rows: each of ``metrics`` (AUC and final; final alone where the AUC is
    only the final score) as mean ± CI over draws, the best of each in bold (bc-on-chosen's AUC,
    over its own BC training, marked † and not ranked), and each against the best tuned
    baseline (``vs``: (loss, metric) -> paired comparison); unfinished rows marked ‡ unless
    every row is (the caption says so)."""
    def ranked(e: dict, m: str) -> bool:
        return not (m == "auc" and e["loss"] == BC_ON_CHOSEN)

    top = {m: max((_finite(e[m]["mean"]) for e in entries if ranked(e, m)), default=-math.inf)
           for m in metrics}
    every = bool(entries) and all(e.get("missing") for e in entries)
    body = []
    for e in entries:
        mark = ("<sup class=\"uf\" title=\"unfinished: " + escape(e["missing"], quote=True)
                + "\">‡</sup>" if e.get("missing") and not every else "")
        tds = [f"<td class=\"l\">{escape(e['loss'])}{mark}</td><td>{escape(e['role'])}</td>"]
        for m in metrics:
            txt = escape(f"{num_text(e[m]['mean'])} ± {num_text(e[m]['ci95'])}")
            tds.append(f"<td class=\"other\">{txt} †</td>"
                       if not ranked(e, m) else f"<td class=\"best\"><b>{txt}</b></td>"
                       if _finite(e[m]["mean"]) == top[m] > -math.inf else f"<td>{txt}</td>")
        for m in metrics:
            c = vs.get((e["loss"], m))
            tds.append("<td>best tuned</td>" if best.get(m) == e["loss"] else
                       f"<td>{escape(num_text(c['mean'], '+.1f'))} ± {escape(num_text(c['ci95']))}"
                       "</td>" if c else "<td></td>")
        tds.append(f"<td>{len(e[metrics[0]]['per_draw'])}</td>")
        body.append(f"<tr data-loss=\"{escape(e['loss'])}\">{''.join(tds)}</tr>")
    name = {"auc": "AUC", "final": "final"}
    return (f"<table class=\"confirmation\" data-scenario=\"{escape(scen)}\">"
            + caption(_table_caption(entries, metrics, every)) + "<tr>"
            "<th class=\"l\">row</th><th>role</th>"
            + "".join(f"<th>{name[m]}</th>" for m in metrics)
            + "".join(f"<th>{name[m]} vs best</th>" for m in metrics)
            + f"<th>draws</th></tr>{''.join(body)}</table>")


def _table_caption(entries: list[dict], metrics: tuple[str, ...], every: bool) -> str:
    """What a confirmation table's numbers are: the metrics, the draws and the seeds per draw
    (the most any row has on a draw, and that rows lack some where they do)."""
    what = ("AUC (mean score over the training checkpoints) and final (the last parameters)"
            if metrics == ("auc", "final") else "Final score (the last parameters; AUC not "
            "measured on this bed)")
    draws = max((len(e["seeds_per_draw"]) for e in entries), default=0)
    seeds = [n for e in entries for n in e["seeds_per_draw"].values()]
    per = (f"{max(seeds)} seed{'s' * (max(seeds) != 1)} per draw" if seeds and
           min(seeds) == max(seeds) else f"up to {max(seeds, default=0)} seeds per draw")
    unfinished = (" <b>Unfinished: every row</b> (see the note at the top)." if every else
                  " ‡: unfinished (see the note at the top)."
                  if any(e.get("missing") for e in entries) else "")
    return (f"{what}: mean ± 95 % t-interval over {draws} draw{'s' * (draws != 1)}, each draw "
            f"the mean over its seeds; {per}.{unfinished}")


def _scenario_notes(entries: list[dict], metrics: tuple[str, ...] = ("auc", "final")
                    ) -> list[str]:
    """What the report says is wrong with a scenario's rows besides their being unfinished
    (said once, at the top): not clean pairs, two builds pooled; and what † marks."""
    out = []
    if "auc" in metrics and any(e["loss"] == BC_ON_CHOSEN for e in entries):
        out.append("<p class=\"meta\" data-note=\"bc-on-chosen\">† bc-on-chosen's AUC averages "
                   "its own BC training from scratch, not preference training from the "
                   "reference (its checkpoints are BC steps), so it is not ranked on AUC; the "
                   "headline (<code>benchmarks/headline.py</code>) judges it on final.</p>")
    split = entries[0].get("data_split_draws", []) if entries else []
    if split:
        out.append(warn(f"<p class=\"warn\"><b>Not clean pairs on draw(s) "
                        f"{escape(', '.join(split))}:</b> rows of one draw trained on "
                        "different datasets or references there.</p>"))
    rebuilt = entries[0].get("rebuilt_draws", []) if entries else []
    if rebuilt:
        out.append(f"<p class=\"meta\">Draw(s) {escape(', '.join(rebuilt))} pool two builds of "
                   "the draw (seeds run on another machine); every seed's rows share one, so "
                   "each pair is clean.</p>")
    return out


def _curves_charts(title: str, shown: list[dict], best: str | None, curves: dict) -> list[str]:
    """The mean training curves of the ``shown`` report entries (a flat line at the mean AUC
    of a row without one, such as the reference); a line saying so when no row has a curve.
    bc-on-chosen's curve is over its own BC steps, so it gets a chart of its own (with the
    reference's line), never the preference-training axis of the others."""
    bc = [e for e in shown if e["loss"] == BC_ON_CHOSEN and curves.get(e["loss"])]
    main = [e for e in shown if e not in bc]
    out = [_curves_chart(title, main, best, curves)]
    if bc:
        refs = [e for e in main if not curves.get(e["loss"])]
        out.append("<p class=\"meta\">bc-on-chosen does not train from the reference with the "
                   "losses' preference steps: it clones the chosen segments from scratch for "
                   "its own number of BC steps, scored at the same fractions of its training. "
                   "Its mean curve is therefore on its own axis of BC steps:</p>")
        out.append(_curves_chart(title, bc + refs, None, curves, bc=True))
    return out


def _curves_chart(title: str, shown: list[dict], best: str | None, curves: dict,
                  bc: bool = False) -> str:
    """One chart of mean curves (``bc``: bc-on-chosen's, over its BC training steps)."""
    series = []
    for k, e in enumerate(shown):
        colour, dash = COLOURS[k % len(COLOURS)], "6 3" if k >= len(COLOURS) else ""
        label = e["loss"] + (" (best tuned)" if e["loss"] == best else "")
        pts = curves.get(e["loss"])
        if pts:
            series.append(Series(label, [(float(s), v) for s, v in pts], colour, dash=dash))
        elif math.isfinite(e["auc"]["mean"]):
            series.append(Series(label, [(0.0, e["auc"]["mean"])], colour, kind="hline",
                                 dash=dash or "2 2"))
    if not any(s.kind == "line" for s in series):
        return ("<p class=\"meta\">No training curves: these rows record none (the LLM test "
                "bed scores a run once, at the end of training).</p>")
    if bc:
        return chart(series, title=f"{title}: bc-on-chosen's mean curve over draws",
                     xlabel="BC training step (bc-on-chosen's own, from scratch)",
                     ylabel="normalised score", width=640, height=300, legend_width=220)
    return chart(series, title=f"{title}: mean training curve over draws",
                 xlabel="preference training step (from the reference)",
                 ylabel="normalised score", width=900,
                 height=max(360, 80 + 18 * len(series)), legend_width=300)


def _finite(x: float) -> float:
    """x, or -inf for NaN (a row that failed on a draw ranks last)."""
    return x if math.isfinite(x) else -math.inf
