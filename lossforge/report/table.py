"""The HTML page of a ``benchmarks/baselines.py`` results file, whichever command wrote it:

- a run table (``baselines.py run``, draw 0) or a sweep (``baselines.py sweep``, the tuning
  draw): mean ± 95 % t-interval over training seeds per scenario and loss (losses down,
  scenarios across, one table per budget), with a chart of the seeds' scores per scenario;
- a confirmation (``baselines.py confirm``, fresh draws): per scenario, each row's AUC and final
  as mean ± 95 % t-interval over dataset draws (the unit of analysis), its paired difference to
  the best tuned baseline, and a chart of the mean training curves of the candidates and their
  rivals, which shows where along training a candidate gains or loses.

Where a scenario's AUC is only its final score (the LLM test bed: ``cells.auc_is_final``), its
table shows final alone under ``baselines.py report``'s note, ``confirmation.FINAL_ONLY_TEXT``.

The rows are read by ``benchmarks/baselines.py``'s own reader (torn lines skipped, rows two jobs
both wrote counted once, disagreeing copies refused). The numbers are those of ``baselines.py
table`` (the interval is the benchmark's ``ci95_halfwidth``) and, for a confirmation, of
``baselines.py report`` (``confirmation.analyse``), which this page calls.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import math
import re
import sys
from collections import defaultdict
from html import escape
from pathlib import Path

from lossforge.bench.draws import TUNING
from lossforge.bench.fitness import ci95_halfwidth
from lossforge.bench.stats import num_text
from lossforge.errors import ConfigError
from lossforge.report.page import page
from lossforge.report.svg import COLOURS, Series, chart

#: Row order of the README's tables; other losses follow, sorted.
KNOWN = ("reference (BC)", "bc-on-chosen", "dpo", "dpo[beta=0.5]", "dpo[beta=2]", "orpo", "ipo",
         "robust", "hinge")


@functools.cache
def _baselines_module():
    """benchmarks/baselines.py of this checkout (the table's reader lives there)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "baselines.py"
    if not path.exists():
        raise ConfigError(f"{path}: missing; --table needs lossforge's source checkout "
                          "(benchmarks/ is not installed with the package)")
    if str(path.parent) not in sys.path:   # its modules (cells.py, ...), as when run as a script
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("lossforge_benchmarks_baselines", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses in it look their module up there
    spec.loader.exec_module(module)
    return module


def summarise(path: str | Path, draw: int | str = 0) -> tuple[list[dict], list[str]]:
    """One dict per (budget, scenario, loss) of the rows on ``draw``: seeds, per-seed scores,
    mean and 95 % CI; and the commands that wrote the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such results file")
    baselines = _baselines_module()
    with _reading(path):
        cells = baselines._summary(path, draw=draw)
        commands = sorted({str(r.get("command", "")) for r in baselines.records(path)} - {""})
    out = []
    for (budget, scenario, loss), xs in sorted(cells.items()):
        scores = [float(v) for _, v in sorted(xs)]
        out.append({"budget": budget, "scenario": scenario, "loss": loss,
                    "seeds": [s for s, _ in sorted(xs)], "per_seed": scores,
                    "mean": sum(scores) / len(scores), "ci95": ci95_halfwidth(scores)})
    if not out:
        raise ConfigError(f"{path}: no result rows")
    return out, commands


def _cell(r: dict, best: bool, most: int, pick: bool = False) -> str:
    txt = f"{r['mean']:.1f}" if math.isfinite(r["mean"]) else "failed"
    if math.isfinite(r["ci95"]):
        txt += f" ± {r['ci95']:.1f}"
    if len(r["per_seed"]) < most:
        txt += f" [{len(r['per_seed'])}]"
    if pick:
        txt += " (pick)"
    txt = escape(txt)
    cls = " ".join(c for c, on in (("best", best), ("pick", pick)) if on)
    cls = f" class=\"{cls}\"" if cls else ""
    return f"<td{cls}><b>{txt}</b></td>" if best else f"<td{cls}>{txt}</td>"


def _tuned_picks(path: Path) -> set[tuple[str, str]]:
    """(scenario, loss) of every config ``baselines.py tuned`` froze from this sweep file (its
    ``<stem>.tuned.json``, when there is one)."""
    tuned = path.with_suffix(".tuned.json")
    try:
        data = json.loads(tuned.read_text()) if tuned.is_file() else {}
        return {(scen, pick["loss"]) for scen, by in (data.get("scenarios") or {}).items()
                for pick in by.values()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(f"{tuned}: not a tuned.json of baselines.py tuned ({exc})") from None


def table_report(path: str | Path) -> str:
    """The whole HTML page of one baselines.py results JSONL file: a confirmation's page if it
    holds rows on reporting draws, else the seeds' table of its draw-0 rows (or, in a sweep
    file, of its tuning-draw rows, the tuned picks marked)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such results file")
    _refuse_a_report(path)
    draws = _draws(path)
    if draws - {0, TUNING}:
        return confirmation_page(path)
    draw = 0 if 0 in draws or not draws else TUNING
    rows, commands = summarise(path, draw)
    picks = _tuned_picks(path) if draw == TUNING else set()
    final_only = _final_only_groups(path, draw)
    by_budget: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_budget[r["budget"]].append(r)
    which = "the tuning draw (a sweep)" if draw == TUNING else "draw 0"
    parts = [f"<h1>Baselines: <code>{escape(path.name)}</code></h1>"
             f"<p class=\"meta\">{_score_words(rows)}, mean ± 95 % "
             "t-interval over training seeds, on " + which + "; [n]: fewer seeds than the most "
             "in this table; the best mean of each scenario in bold"
             + ("; (pick): the config <code>baselines.py tuned</code> froze for the scenario"
                if picks else "") + ".</p>"]
    for budget, rs in sorted(by_budget.items()):
        scenarios = sorted({r["scenario"] for r in rs})
        found = {r["loss"] for r in rs}
        losses = [n for n in KNOWN if n in found] + sorted(found - set(KNOWN))
        cell = {(r["scenario"], r["loss"]): r for r in rs}
        most = max(len(r["per_seed"]) for r in rs)
        best = {s: max((cell[(s, n)]["mean"] for n in losses if (s, n) in cell
                        and math.isfinite(cell[(s, n)]["mean"])), default=math.nan)
                for s in scenarios}
        head = "".join(f"<th>{escape(s)}</th>" for s in scenarios)
        body = []
        for n in losses:
            tds = "".join(_cell(cell[(s, n)], cell[(s, n)]["mean"] == best[s], most,
                                (s, n) in picks)
                          if (s, n) in cell else "<td></td>" for s in scenarios)
            body.append(f"<tr data-loss=\"{escape(n)}\"><td class=\"l\">{escape(n)}</td>{tds}"
                        "</tr>")
        parts.append(f"<h2>{escape(budget)} budget</h2>"
                     + _final_only_note([s for s in scenarios if (budget, s) in final_only],
                                        len(scenarios))
                     + f"<table class=\"baselines\" data-budget=\"{escape(budget)}\"><tr>"
                     f"<th class=\"l\">loss</th>{head}</tr>{''.join(body)}</table>")
        parts += [_seeds_chart(f"{s} ({budget})", [(n, cell[(s, n)]) for n in losses
                                                   if (s, n) in cell], _axis(s))
                  for s in scenarios]
    parts.append(_made_by(commands))
    return page(f"baselines {path.name}", "".join(parts))


def _final_only_groups(path: Path, draw: int | str) -> set[tuple[str, str]]:
    """The (budget, scenario) groups of the rows on ``draw`` whose AUC is only their final
    score, as ``baselines.py report`` finds them (``confirmation.auc_final_groups``)."""
    baselines = _baselines_module()    # puts benchmarks/ first on sys.path
    import confirmation

    with _reading(path):
        return confirmation.auc_final_groups([r for r in baselines.records(path)
                                        if None not in baselines.row_key(r)
                                        and r.get("draw", 0) == draw])


def _final_only_note(scenarios: list[str], of: int) -> str:
    """The report's note above a table whose ``scenarios`` (of ``of`` in it) have no AUC but
    their final score, naming them unless they are all; "" when there are none."""
    import confirmation

    if not scenarios:
        return ""
    which = "" if len(scenarios) == of else ", ".join(scenarios) + ": "
    return (f"<p class=\"meta\" data-metric=\"final\">{escape(which)}"
            f"{escape(confirmation.FINAL_ONLY_TEXT)}</p>")


def _refuse_a_report(path: Path) -> None:
    """A file made from a results file, not one (a ``.confirm.json`` of ``baselines.py report``,
    a ``.tuned.json``, a ``.summary.json``: one JSON document, not one row a line), as one
    ConfigError saying what it is and what to pass instead."""
    try:
        doc = json.loads(path.read_text())
    except (ValueError, OSError):
        return    # JSON lines (or not JSON at all): the reader's to judge
    if isinstance(doc, dict) and {"summary", "versus_best"} <= doc.keys():
        rows = path.with_name(path.name.removesuffix(".json").removesuffix(".confirm") + ".jsonl")
        raise ConfigError(f"{path}: a confirmation report (baselines.py report writes it from "
                          f"the confirm rows), not a results file; pass the rows: --table "
                          f"{rows}")
    if not (isinstance(doc, dict) and "loss" in doc):   # a one-row file is a row
        raise ConfigError(f"{path}: one JSON document, not a baselines.py results file (JSON "
                          "lines, one row each: baselines-*.jsonl of run, sweep-*.jsonl of "
                          "sweep, confirm-*.jsonl of confirm)")


def _score_words(rows: list[dict]) -> str:
    """What the scores of these rows are: MuJoCo's normalised return, the LLM bed's accuracy."""
    from cells import LLM_PREFIX   # benchmarks/cells.py: _baselines_module put it on the path

    llm = {r["scenario"].startswith(LLM_PREFIX) for r in rows}
    return ("Accuracy in % (the LLM test bed)" if llm == {True} else
            "Normalised score (100 = expert, 0 = random policy)" if llm == {False} else
            "Score (MuJoCo: normalised return, 100 = expert; the LLM test bed: accuracy in %)")


def _axis(scenario: str) -> str:
    """A chart axis's name for one scenario's scores."""
    from cells import LLM_PREFIX

    return "accuracy (%)" if scenario.startswith(LLM_PREFIX) else "normalised score"


def _seeds_chart(title: str, cells: list[tuple[str, dict]], axis: str) -> str:
    """Every seed's score of each loss of one scenario; a line instead when there are more
    losses than colours (a sweep's grid), which the chart could not tell apart."""
    if len(cells) > len(COLOURS):
        return (f"<p class=\"meta\">{escape(title)}: {len(cells)} losses, more than a chart can "
                "tell apart; the table above has each one's mean.</p>")
    series = [Series(n, [(float(seed), v) for seed, v in zip(r["seeds"], r["per_seed"])],
                     COLOURS[k], kind="points",
                     tips=[f"{n}, seed {seed}: {v:.1f}" for seed, v in
                           zip(r["seeds"], r["per_seed"])])
              for k, (n, r) in enumerate(cells)]
    return chart(series, title=f"{title}: score per training seed", xlabel="training seed",
                 ylabel=axis, width=640, height=300, integer_x=True)


# ---- a confirmation (baselines.py confirm): fresh draws, the draw as the unit -----------------

#: rows whose curves a confirmation's chart shows beside the candidates and the best tuned
#: baseline: the family's two named rivals and the shortcut SFT (by their zoo names)
RIVALS = ("dpo", "orpo", "sft")


def _draws(path: Path) -> set:
    """The dataset draws the file's rows ran on."""
    baselines = _baselines_module()
    with _reading(path):
        return {r.get("draw", 0) for r in baselines.records(path)
                if None not in baselines.row_key(r)}


@contextlib.contextmanager
def _reading(path: Path):
    """A results file of the wrong shape, or one whose copies of a row disagree (the reader
    refuses those), as one ConfigError naming the file."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{path}: not a baselines.py results file (row field {exc})") from None
    except SystemExit as exc:
        raise ConfigError(str(exc.code)) from None


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
    baselines = _baselines_module()    # puts benchmarks/ first on sys.path
    import confirmation                # benchmarks/confirmation.py, as baselines.py runs it

    with _reading(path):
        result, _ = confirmation.analyse(path)
        rows = [r for r in baselines.records(path) if None not in baselines.row_key(r)
                and r.get("draw", 0) not in (0, TUNING)]
        curves = mean_curves(rows)
        family = {r["loss"]: str(r.get("baseline") or r["loss"].split("[")[0]) for r in rows}
        final_only = confirmation.auc_final_groups(rows)   # as the report finds them
    groups = sorted({(e["budget"], e["scenario"]) for e in result["summary"]})
    every = bool(groups) and set(groups) <= final_only
    parts = [f"<h1>Confirmation: <code>{escape(path.name)}</code></h1>",
             _confirmation_legend(confirmation.FINAL_ONLY_TEXT if every else None)]
    label = confirmation.departure_text({e["scenario"] for e in result["summary"]})
    if label:   # v2-plan.md, Session 22: reports on the test suite's rows carry it
        parts.append(f"<p class=\"warn\" id=\"departure\">{_markdown_bold(label)}</p>")
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
                  _final_only_note([scen] if len(metrics) == 1 and not every else [], 1),
                  _scenario_table(scen, entries, vs, best, metrics), *_scenario_notes(entries),
                  *_reference_bar(entries, result["comparisons"], best, metrics)]
        shown = [e for e in entries if e["role"] != "baseline"
                 or e["loss"] == best.get(metrics[0]) or family.get(e["loss"]) in RIVALS]
        parts.append(_curves_chart(f"{scen} ({budget})", shown, best.get(metrics[0]),
                                   {e["loss"]: curves.get((budget, scen, e["loss"]))
                                    for e in shown}))
    parts.append(_candidate_formulas(path, sorted({r["candidate"] for r in rows
                                                   if r.get("candidate")})))
    parts.append(_made_by(sorted({str(r.get("command", "")) for r in rows} - {""})))
    return page(f"confirmation {path.name}", "".join(parts))


def _confirmation_legend(final_only: str | None) -> str:
    """The page's legend; where every scenario's AUC is only its final score, ``final_only``
    (the report's note) instead of the metrics' definitions and of the curves' (there are none)."""
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
            "draw's mean over its training seeds, ± the 95 % t-interval over draws. " + metrics
            + "'vs best': the row minus the best tuned baseline (the highest mean over these "
            "draws, per metric, of the tuned rows only: the untrained reference is not a "
            "comparator here, as in <code>baselines.py report</code>'s table), paired draw by "
            "draw, uncorrected; the paired tests with Holm's correction are in "
            "<code>baselines.py report</code>'s tables. The headline's bar "
            "(<code>benchmarks/headline.py</code>) compares a candidate with the best tuned "
            "baseline or the reference, whichever scores higher: where that is the reference, "
            "a note under the scenario's table says so and gives each candidate's difference "
            "to it. The best mean of each column in bold." + curves + "</p>")


def _markdown_bold(text: str) -> str:
    """Markdown text (``**bold**`` its only markup) as escaped HTML."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escape(text))


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
        out.append(f"<p class=\"warn\" data-metric=\"{m}\"><b>{m.replace('auc', 'AUC')}: the "
                   f"untrained {escape(bar['loss'])} scores above every tuned baseline</b> "
                   f"(mean {escape(num_text(bar[m]['mean']))}), so the headline's bar compares "
                   f"the candidates with it, not with {escape(str(best.get(m, '-')))}"
                   + (": candidate minus it, paired draw by draw: " + escape("; ".join(diffs))
                      if diffs else "") + ".</p>")
    return out


def _made_by(commands: list[str]) -> str:
    """The commands that wrote the file, as the page's last section ("" when none is known)."""
    return ("<h2>Made by</h2><pre id=\"command\">" + escape("\n".join(commands)) + "</pre>"
            if commands else "")


def _candidate_formulas(path: Path, names: list[str]) -> str:
    """Each candidate's formula, from its spec in ``winners/<name>.json`` beside the results
    file (where the repository keeps them; read as JSON only); a candidate without one there
    (or a neural one) is named without."""
    from lossforge.search.rundir import loss_text

    items = []
    for name in map(str, names):
        spec_file = path.parent / "winners" / f"{name}.json"
        try:
            plain = re.fullmatch(r"[A-Za-z0-9][\w.-]*", name) is not None
            data = json.loads(spec_file.read_text()) if plain and spec_file.is_file() else {}
            spec = data.get("spec", data) if isinstance(data, dict) else {}
            text = (f"h(p) = {spec['mirror_map']};  {loss_text(spec)}{_spec_extras(spec)}"
                    if spec and spec.get("kind", "symbolic") == "symbolic" else "")
        except (ValueError, KeyError, TypeError, AttributeError):
            text = ""
        items.append(f"<li><b>{escape(name)}</b>: " + (escape(text) if text else
                     "no formula (no symbolic spec in winners/ beside this file)") + "</li>")
    return (f"<h2>Candidates</h2><ul id=\"candidates\">{''.join(items)}</ul>" if items else "")


def _scenario_table(scen: str, entries: list[dict], vs: dict, best: dict,
                    metrics: tuple[str, ...] = ("auc", "final")) -> str:
    """One scenario's rows: each of ``metrics`` (AUC and final; final alone where the AUC is
    only the final score) as mean ± CI over draws, the best of each in bold, and each against
    the best tuned baseline (``vs``: (loss, metric) -> paired comparison)."""
    top = {m: max((_finite(e[m]["mean"]) for e in entries), default=-math.inf) for m in metrics}
    body = []
    for e in entries:
        tds = [f"<td class=\"l\">{escape(e['loss'])}</td><td>{escape(e['role'])}</td>"]
        for m in metrics:
            txt = escape(f"{num_text(e[m]['mean'])} ± {num_text(e[m]['ci95'])}")
            tds.append(f"<td class=\"best\"><b>{txt}</b></td>"
                       if _finite(e[m]["mean"]) == top[m] > -math.inf else f"<td>{txt}</td>")
        for m in metrics:
            c = vs.get((e["loss"], m))
            tds.append("<td>best tuned</td>" if best.get(m) == e["loss"] else
                       f"<td>{escape(num_text(c['mean'], '+.1f'))} ± {escape(num_text(c['ci95']))}"
                       "</td>" if c else "<td></td>")
        tds.append(f"<td>{len(e[metrics[0]]['per_draw'])}</td>")
        body.append(f"<tr data-loss=\"{escape(e['loss'])}\">{''.join(tds)}</tr>")
    name = {"auc": "AUC", "final": "final"}
    return (f"<table class=\"confirmation\" data-scenario=\"{escape(scen)}\"><tr>"
            "<th class=\"l\">row</th><th>role</th>"
            + "".join(f"<th>{name[m]}</th>" for m in metrics)
            + "".join(f"<th>{name[m]} vs best</th>" for m in metrics)
            + f"<th>draws</th></tr>{''.join(body)}</table>")


def _scenario_notes(entries: list[dict]) -> list[str]:
    """What the report says is wrong with a scenario's rows: unfinished, not clean pairs."""
    out = []
    notes = [f"{e['loss']}: {e['missing']}" for e in entries if e.get("missing")]
    if notes:
        out.append("<p class=\"warn\"><b>Unfinished, not a claim:</b> "
                   + escape("; ".join(notes)) + ".</p>")
    split = entries[0].get("data_split_draws", []) if entries else []
    if split:
        out.append(f"<p class=\"warn\"><b>Not clean pairs on draw(s) "
                   f"{escape(', '.join(split))}:</b> rows of one draw trained on "
                   "different datasets or references there.</p>")
    rebuilt = entries[0].get("rebuilt_draws", []) if entries else []
    if rebuilt:
        out.append(f"<p class=\"meta\">Draw(s) {escape(', '.join(rebuilt))} pool two builds of "
                   "the draw (seeds run on another machine); every seed's rows share one, so "
                   "each pair is clean.</p>")
    return out


def _curves_chart(title: str, shown: list[dict], best: str | None, curves: dict) -> str:
    """The mean training curves of the ``shown`` report entries (a flat line at the mean AUC
    of a row without one, such as the reference); a line saying so when no row has a curve."""
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
    return chart(series, title=f"{title}: mean training curve over draws",
                 xlabel="training step", ylabel="normalised score", width=900,
                 height=max(360, 80 + 18 * len(series)), legend_width=300)


def _spec_extras(spec: dict) -> str:
    """What ``loss_text`` leaves out of a spec: no reference, the terms' weights, parameters."""
    out = [] if spec.get("reference", True) else ["reference-free (no l_ref terms)"]
    out += [f"{w} = {spec[w]}" for w in ("w_pref", "w_sft") if str(spec.get(w, "1")) != "1"]
    out += [f"{k} = {v}" for k, v in (spec.get("params") or {}).items()]
    return ";  " + ", ".join(out) if out else ""


def _finite(x: float) -> float:
    """x, or -inf for NaN (a row that failed on a draw ranks last)."""
    return x if math.isfinite(x) else -math.inf
