"""The HTML page of a search run directory: one self-contained file (inline CSS, SVG and MathML;
no script, nothing fetched when it is viewed).

The run is read as plain JSON (config.json, hall_of_fame.json, pareto.json, generations.jsonl);
the result files as ``search show`` and ``export`` read them (``runfiles.read_result``: one whose
checksum does not match its content, or that names another run, is refused). Each loss's
formulas are compiled from its JSON spec by the safe parser, never executed.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

from lossforge import runfiles
from lossforge.io import read_lines
from lossforge.errors import CheckpointError, LossforgeError
from lossforge.report.cells import (_baseline_name, _card_id, _pm, _verdict_cell,
                                    no_curve_reason, raced_text)
from lossforge.report.front import front_chart, raced_note
from lossforge.report.glossary import glossary_html
from lossforge.report.svg import COLOURS, Series, chart
from lossforge.search.summary import _opponents, best_row, glossary, known_text
from lossforge.search.verdict import known_verdict_note, optimism_note
from lossforge.search.words import score_axis
from lossforge.objectives.properties import property_line

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1100px;padding:0 18px 40px;color:#222}
h1{font-size:1.5em;margin:18px 0 4px} h2{margin-top:28px;border-bottom:1px solid #ddd}
.meta{color:#555} code,pre{font:13px/1.4 ui-monospace,Menlo,Consolas,monospace}
pre{background:#f6f6f6;padding:8px 10px;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right} th{background:#f3f3f3} td.l,th.l{text-align:left}
.card{border:1px solid #ccc;border-radius:8px;padding:4px 16px 12px;margin:18px 0;
background:#fcfcfc} .card h3{margin:10px 0 4px}
.formulas{display:grid;grid-template-columns:max-content auto;gap:10px 14px;align-items:center;
margin:8px 0}
.formulas .lab{color:#666;font-size:.85em} math{font-size:1.2em;math-style:normal}
.better{color:#087a35;font-weight:600} .worse{color:#b3261e;font-weight:600}
.level{color:#555;font-weight:600} .na,.undecided{color:#999}
.known{color:#8a4b00;font-weight:600} .raced{color:#8a4b00}
.warnbox{background:#fff4e5;border-left:4px solid #d97706;padding:2px 12px;margin:10px 0;
color:#4a2a00} caption{caption-side:top;text-align:left;color:#555;padding:2px 0 4px}
td.other{color:#666;font-style:italic} td.failed{color:#b3261e}
details.glossary{margin:10px 0;border:1px solid #ddd;border-radius:6px;padding:4px 12px}
details.glossary summary{cursor:pointer;font-weight:600}
dl.props{display:grid;grid-template-columns:max-content auto;gap:1px 12px}
dl.props dt{color:#666} dl.props dd{margin:0}
svg.chart{max-width:100%;height:auto;background:#fff} svg .ct{font-weight:600;font-size:13px}
svg .tk{font-size:11px;fill:#555} svg .ax{font-size:12px} svg .lg{font-size:11px}
svg .pt:hover{stroke:#000;stroke-width:2}
"""


def page(title: str, body: str) -> str:
    """A whole HTML document around ``body`` (already escaped)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
            "</body></html>\n")


# ---- reading the run -------------------------------------------------------------------------


def read_run(run_dir: str | Path) -> dict:
    """The run's JSON files as plain data: start (config.json), hof, pareto, generations, and
    unchecked: the result files that carry no checksum (older run directories). A result file
    whose checksum does not match its content is refused (``CheckpointError`` naming it)."""
    path = runfiles.run_dir(run_dir)
    start = runfiles.read_json(path / "config.json")
    hof, par, unchecked = runfiles.read_results(path, start)
    run = {"path": path, "start": start, "hof": hof, "pareto": par, "generations": [],
           "unchecked": unchecked}
    gens = path / "generations.jsonl"
    if gens.exists():
        run["generations"] = read_lines(gens)[0]   # a torn or damaged line skipped
    for name, key in (("hall_of_fame.json", "hall_of_fame"), ("pareto.json", "pareto")):
        data = run["hof" if key == "hall_of_fame" else "pareto"]
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise CheckpointError(f"{path / name}: field {key!r} missing or not a list")
    return run


# the numbers and names of the cells (_score, _num, _pm, _verdict_cell, _card_id,
# _baseline_name) are in cells.py, imported above


# ---- the reproduce command -------------------------------------------------------------------


# reproduce_command(start): the search command of a run, from its config.json; it lives
# next to the command line it must agree with (search/reproduce.py), imported here for
# the page and for code that imports it from this module
from lossforge.search.reproduce import reproduce_command  # noqa: E402,F401


# ---- the page --------------------------------------------------------------------------------


def _points(curve: list) -> list[tuple[float, float]]:
    """[[step, score or null], ...] from the JSON as floats (null: NaN, left out of the plot)."""
    return [(float(x), math.nan if y is None else float(y)) for x, y in curve]


def _formulas(row: dict) -> tuple[str, dict]:
    """(MathML block of the loss's equations, properties) from its JSON spec."""
    from lossforge.objectives import from_spec
    from lossforge.objectives.neural import NeuralObjective
    from lossforge.report.mathml import objective_equations

    props: dict[str, str] = {}
    try:
        obj = from_spec(row["spec"])
    except (LossforgeError, KeyError, TypeError, ValueError) as exc:
        return f"<p class=\"na\">formula not shown: {escape(str(exc))}</p>", props
    props["reference model"] = "needed" if obj.needs_reference else "not needed (reference-free)"
    props["log-probs"] = f"{obj.aggregation} over the segment"
    props["beta"] = f"{obj.spec.beta:g}"
    props["temporal (reads t)"] = "yes" if obj.temporal else "no"
    props["uses response length n"] = "yes" if obj.needs_lengths else "no"
    line = property_line(row.get("properties"))
    props["properties in the margin D"] = (line.removeprefix("properties: ") if line else
                                           "not recorded (a run from before properties were "
                                           "checked)")
    if isinstance(obj, NeuralObjective):
        props["mirror map"] = "neural phi~ (monotone network): convex by construction"
        return "", props          # no closed form: the card's loss text says what it is
    report = obj.mirror_map.check()
    for what in ("convex", "differentiable", "legendre"):
        chk = getattr(report, what)
        if chk is not None:
            props[f"{what} (h)"] = check_text(chk)
    rows = "".join(f'<div class="lab">{escape(label)}</div><div>{mml}</div>'
                   for label, mml in objective_equations(obj))
    return f'<div class="formulas">{rows}</div>', props


def check_text(chk) -> str:
    """A check of h (``symbolic/checks.py``) in words: whether it holds, then how that is known
    ("does not hold (proved)", never "proved — does not hold")."""
    if chk.status == "failed":
        return ("does not hold (a counterexample" + (f" at p = {chk.witness:g})"
                                                    if chk.witness is not None else ")"))
    if chk.status == "proved":
        return "holds (proved)" if chk.holds else "does not hold (proved)"
    how = "the proof timed out" if chk.status == "timeout" else "no proof found"
    return (f"holds where sampled ({how})" if chk.holds else
            f"not shown: sampling neither shows nor refutes it ({chk.status})")


def units(cfg: dict) -> tuple[str, str]:
    """(what a score of the run is, what a paired difference is in): "auc" and "auc"; in a
    suite run the suite score (-100 x regret) and the metric of each unit, which the paired
    verdict compares (``summary._opponents``)."""
    metric = str(cfg.get("metric", "auc"))
    return ("suite score", f"{metric} per unit") if cfg.get("suite") else (metric, metric)


def _card(row: dict, roles: list[str], ladder: list[str], baselines: list[dict],
          metric: str, axis: str, cfg: dict | None = None) -> str:
    name = str(row.get("name", "?"))
    top = ladder[-1]
    score_unit, diff_unit = units(cfg or {})
    formulas, props = _formulas(row)
    props = {"loss id": str(row.get("loss_id", "")), "complexity (tree size)":
             str(row.get("complexity", "")), "born in generation": str(row.get("born", "")),
             "origin": str(row.get("origin", "")), **props}
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in props.items())
    head = (f"<tr><th class=\"l\">budget</th><th>this loss<br>({escape(score_unit)})</th>"
            f"<th class=\"l\">baseline</th><th>baseline score<br>({escape(score_unit)})</th>"
            f"<th>paired difference (95 % CI)<br>(in {escape(diff_unit)})</th><th>verdict</th>"
            "</tr>")
    trs = []
    for rung in ladder:
        f = row.get(rung)
        for b in baselines:
            diff, why, cls = _verdict_cell(f, b.get(rung))
            trs.append(f"<tr><td class=\"l\">{escape(rung)}</td><td>{_pm(f)}</td>"
                       f"<td class=\"l\">{escape(_baseline_name(b))}</td><td>{_pm(b.get(rung))}"
                       f"</td><td>{diff}</td><td class=\"{cls}\">{escape(why)}</td></tr>")
    curves = []
    mine = (row.get(top) or {}).get("curve") or []
    if mine:
        curves.append(Series(name, _points(mine), COLOURS[0]))
        for k, b in enumerate(baselines):
            pts = ((b.get(top) or {}).get("curve")) or []
            if pts:
                curves.append(Series(_baseline_name(b), _points(pts),
                                     COLOURS[(k + 1) % len(COLOURS)], dash="5,3"))
        curve_html = chart(curves, title=f"training curve ({top} budget, mean over seeds)",
                           xlabel="training step", ylabel=axis, width=600,
                           height=300)
    else:
        curve_html = f"<p class=\"na\">{escape(no_curve_reason(row.get(top), cfg or {}, top))}</p>"
    torch_file = f"losses/{name}.py"
    known = known_text(row)
    return (f'<article class="card" id="{escape(_card_id(name))}" data-loss="{escape(name)}">'
            f"<h3>{escape(name)} <small class=\"meta\">{escape(', '.join(roles))}</small></h3>"
            f"<p class=\"meta\">{escape(metric)} at the {escape(top)} budget: "
            f"{_pm(row.get(top))}</p>"
            + (f'<p class="known">{escape(known)}</p>' if known else "") +
            f"{formulas}<pre class=\"loss-text\">{escape(str(row.get('loss', '')))}</pre>"
            f"<dl class=\"props\">{dl}</dl>"
            f"<table class=\"scores\">{head}{''.join(trs)}</table>{curve_html}"
            f"<p class=\"meta\">standalone torch file: <code>{escape(torch_file)}</code> in the "
            "run directory</p></article>")


def _verdict_section(results: dict, baselines: list[dict], ladder: list[str], cfg: dict
                     ) -> str:
    """The best loss against each baseline, chosen and judged as the terminal's verdict does
    (``summary.best_row``: the top rung where a loss was scored on all its units there, else a
    screening verdict at the next rung down); baselines named with their beta."""
    found = best_row(results, ladder)
    if found is None:
        return "<p>No loss of this run has a score to compare: no verdict.</p>"
    best, rung = found
    top, (score_unit, diff_unit) = ladder[-1], units(cfg)
    where = (f"at the {top} budget" if rung == top else f"at the {rung} budget only (no loss "
             f"reached {top}: a screening verdict)")
    parts = []
    for b in baselines:
        diff, why, cls = _verdict_cell(best.get(rung), b.get(rung))
        word = {"better": "than", "worse": "than", "level": "with"}.get(cls, "against")
        who = _baseline_name(b)
        parts.append(f"<li><span class=\"{cls}\">{escape(why)}</span> {word} "
                     f"<b>{escape(who)}</b> ({escape(score_unit)} {_pm(b.get(rung))}): "
                     f"paired difference in {escape(diff_unit)} {diff}</li>")
    known = known_verdict_note(best, [b for b in baselines if b.get("spec")])
    unit = "unit" if cfg.get("suite") else "seed"
    return (f"<p>Best loss <a href=\"#{escape(_card_id(best['name']))}\">"
            f"<b>{escape(best['name'])}</b></a> scores {_pm(best.get(rung))} {escape(where)}. "
            f"Per-{unit} paired difference, 95 % t-interval (better / worse: the whole interval "
            "is above / below zero; level: it contains zero):</p>"
            + (f'<p class="known" id="verdict-known"><b>{escape(best["name"])}</b>'
               f"{escape(known.removeprefix(best['name']))}</p>" if known else "")
            + f"<ul id=\"verdict-list\">{''.join(parts)}</ul>"
            + ("" if cfg.get("suite") else
               f"<p class=\"meta\" id=\"verdict-optimistic\">{escape(optimism_note('RUN'))}"
               "</p>"))


def _search_section(counters: dict, generations: list[dict], top: str, axis: str) -> str:
    rej = counters.get("rejected") or {}
    total = sum(int(v) for v in rej.values())
    rows = "".join(f"<tr><td class=\"l\">{escape(str(k))}</td><td>{int(v)}</td></tr>"
                   for k, v in sorted(rej.items(), key=lambda kv: (-int(kv[1]), kv[0])))
    evaluated = counters.get("evaluated") or {}
    facts = [("proposed", counters.get("proposed")), ("rejected before training", total),
             ("duplicates skipped", counters.get("duplicates")),
             ("cache hits", counters.get("cache_hits")),
             *((f"trained at the {k} budget", v) for k, v in evaluated.items()),
             ("failed in training", counters.get("failed_training"))]
    fact_rows = "".join(f"<tr><td class=\"l\">{escape(k)}</td><td>{escape(str(v))}</td></tr>"
                        for k, v in facts if v is not None)
    html = (f"<table id=\"counters\">{fact_rows}</table><h3>Rejections by reason</h3>"
            f"<table id=\"rejections\"><tr><th class=\"l\">reason</th><th>losses</th></tr>"
            f"{rows}</table>")
    if generations:
        gens = [(float(g["generation"]), g.get("best_full", g.get("best"))) for g in generations
                if "generation" in g]
        pts = [(x, float(y)) for x, y in gens if isinstance(y, (int, float))]
        if pts:
            html += chart([Series(f"best score ({top})", pts, COLOURS[0])],
                          title="best score by generation", xlabel="generation",
                          ylabel=axis, width=600, height=260, integer_x=True)
    return html


def _state(run: dict, ladder: list[str], metric: str) -> dict:
    """What the search's own report reads of a run (``summary.glossary`` and the verdict): the
    configuration, and in a suite run the baseline table its checkpoint.json keeps (the best
    baseline of each scenario; None where that file cannot be read: ``_suite_note`` says so)."""
    from lossforge.search import checkpoint

    cfg, table = dict(run["start"].get("config", {})), None
    if cfg.get("suite"):
        cfg, table = checkpoint.saved_config(run["path"], cfg)
    return {"ladder": ladder, "config": {**cfg, "metric": metric}, "suite": table}


#: the page's name for a suite run's best baseline of each scenario (the terminal's is upper case)
SUITE_RIVAL = "the best baseline of each scenario"


def _suite_rivals(state: dict) -> list[dict]:
    """A suite run's best baseline of each scenario as one more baseline row of the page, its
    unit scores at every rung as the terminal's verdict has them (``summary._opponents`` with
    no baseline of the run: that one alone); [] elsewhere."""
    recs = {rung: found[0][1] for rung in state["ladder"]
            if (found := _opponents({"baselines": []}, state, rung))}
    return [{"name": SUITE_RIVAL, **recs}] if recs else []


def score_label(metric: str, suite: str | None = None, objective: str | None = None) -> str:
    """What a run's score is called beside a number: "auc score"; in a suite run "suite score
    (-100 x mean regret of auc)": the number is not the metric (``words.suite_words``)."""
    if suite:
        return f"suite score (-100 x {objective or 'mean'} regret of {metric})"
    return f"{metric} score"


def _suite_note(state: dict, hof_data: dict) -> str:
    """A suite run's verdict says what is paired (the metric of each unit, not regret) and what
    the regret's reference is at the top rung (``summary.suite_reference_lines``)."""
    if not state["config"].get("suite"):
        return ""
    from lossforge.search.summary import suite_reference_lines

    lines = suite_reference_lines({"baselines": hof_data.get("baselines") or []}, state)
    return (f"<p class=\"meta\" id=\"suite-verdict\">A suite run: the paired difference is of "
            f"the {escape(state['config']['metric'])} of each unit (one scenario, one training "
            f"seed), not of regret; {SUITE_RIVAL} scores 0 on the suite score by its "
            "definition.</p><pre id=\"suite-reference\">"
            + escape("\n".join(line.strip() if i == 0 else line[2:]
                                for i, line in enumerate(lines))) + "</pre>")


def run_report(run_dir: str | Path) -> str:
    """The whole HTML page of one run directory."""
    return run_page(read_run(run_dir))


def unchecked_note(run: dict) -> str | None:
    """``runfiles.unchecked_note`` of a ``read_run``: its result files without a checksum."""
    from types import SimpleNamespace

    return runfiles.unchecked_note(SimpleNamespace(path=run["path"], unchecked=run["unchecked"]))


def run_page(run: dict) -> str:
    """The whole HTML page of a run as ``read_run`` read it."""
    hof_data, par_data = run["hof"], run["pareto"]
    hof, front = hof_data["hall_of_fame"], par_data["pareto"]
    ladder = list(hof_data.get("ladder") or run["start"].get("ladder") or ["full"])
    top = ladder[-1]
    metric = str(hof_data.get("metric", "auc"))
    name = Path(run["path"]).resolve().name
    state = _state(run, ladder, metric)
    cfg = state["config"]
    baselines = list(hof_data.get("baselines") or []) + _suite_rivals(state)
    axis = score_axis(cfg.get("fitness"), cfg.get("suite"))
    label = score_label(metric, cfg.get("suite"), cfg.get("suite_objective"))
    front_axis = axis if cfg.get("suite") else f"{axis} ({metric})"
    front_names = {r["name"] for r in front}
    note = unchecked_note(run)
    cards, seen = [], set()
    for rank, row in enumerate(hof):
        roles = [f"hall of fame rank {rank}"] + (["on the Pareto front"]
                                                 if row["name"] in front_names else [])
        roles += [f"{top}: {raced_text(row.get(top))}"] if raced_text(row.get(top)) else []
        cards.append(_card(row, roles, ladder, baselines, label, axis, cfg))
        seen.add(row["name"])
    for row in front:
        if row["name"] not in seen:
            cards.append(_card(row, ["on the Pareto front"], ladder, baselines, label, axis,
                               cfg))
    front_rows = "".join(
        f"<tr><td>{escape(str(r.get('complexity')))}</td><td class=\"l\">"
        f"<a href=\"#{escape(_card_id(r['name']))}\">{escape(r['name'])}</a></td>"
        f"<td>{_pm(r.get(top))}</td><td class=\"l\"><code>{escape(str(r.get('h', '')))}</code>"
        f"</td></tr>" for r in sorted(front, key=lambda r: r.get("complexity", 0)))
    body = (
        f"<h1>lossforge run <code>{escape(name)}</code></h1>"
        f"<p class=\"meta\">scenario <b>{escape(str(hof_data.get('scenario', '?')))}</b> · "
        f"method {escape(str(run['start'].get('method', 'gp')))} · generation "
        f"{escape(str(hof_data.get('generation', '?')))} of "
        f"{escape(str(cfg.get('generations', '?')))} · population "
        f"{escape(str(cfg.get('population', '?')))} · budgets {escape(' → '.join(ladder))} · "
        f"metric {escape(metric)} · fitness {escape(str(cfg.get('fitness', '?')))}</p>"
        + (f'<p class="meta" id="unchecked">{escape(note)}</p>' if note else "") +
        f"<p class=\"meta\" id=\"words\">{escape(glossary(state, baselines))}</p>"
        + glossary_html(str(run['start'].get('method', 'gp'))) +
        f"<section id=\"verdict\"><h2>Verdict</h2>"
        f"{_verdict_section({'hall_of_fame': hof, 'pareto': front}, baselines, ladder, cfg)}"
        f"{_suite_note(state, hof_data)}</section>"
        f"<section id=\"pareto\"><h2>Pareto front</h2>"
        f"{front_chart(hof, front, baselines, top, label, front_axis)}"
        "<p class=\"meta\">Click a point for its card; hover for its name and score (where "
        "points coincide, the click opens the one on top, a front loss where there is one, "
        "and its tooltip names the others).</p>"
        + (f"<p class=\"meta\" id=\"raced-note\">{escape(raced_note(hof, top))}</p>"
           if raced_note(hof, top) else "") +
        f"<table><tr><th>size</th><th class=\"l\">loss</th><th>{escape(units(cfg)[0])} "
        f"({escape(top)})</th>"
        f"<th class=\"l\">h(p)</th></tr>{front_rows}</table></section>"
        f"<section id=\"losses\"><h2>Losses</h2>{''.join(cards)}</section>"
        f"<section id=\"search\"><h2>The search</h2>"
        f"{_search_section(hof_data.get('counters') or {}, run['generations'], top, axis)}"
        "</section>"
        f"<section id=\"reproduce\"><h2>Reproduce</h2><pre id=\"command\">"
        f"{escape(reproduce_command(run['start']))}</pre><p class=\"meta\">The full "
        "configuration is <code>config.json</code> in the run directory; numbers depend only "
        "on it, the scenario and the code.</p></section>")
    return page(f"lossforge run {name}", body)
