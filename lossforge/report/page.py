"""The HTML page of a search run directory: one self-contained file (inline CSS, SVG and MathML;
no script, nothing fetched when it is viewed).

The run is read as plain JSON (config.json, hall_of_fame.json, pareto.json, generations.jsonl);
the result files as ``search show`` and ``export`` read them (``runfiles.read_checked``: one whose
checksum does not match its content is refused). Each loss's formulas are compiled from its JSON
spec by the safe parser, never executed.
"""

from __future__ import annotations

import json
import math
import shlex
from html import escape
from pathlib import Path

from lossforge import runfiles
from lossforge.errors import CheckpointError, LossforgeError
from lossforge.report.svg import COLOURS, Series, chart
from lossforge.search.summary import _opponents, glossary, known_text
from lossforge.search.words import score_axis
from lossforge.search.verdict import paired_scores, paired_verdict
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
.formulas{display:grid;grid-template-columns:max-content auto;gap:0 14px;align-items:center}
.formulas .lab{color:#666;font-size:.85em} math{font-size:1.2em;math-style:normal}
.better{color:#087a35;font-weight:600} .worse{color:#b3261e;font-weight:600}
.level{color:#555;font-weight:600} .na,.undecided{color:#999}
.known{color:#8a4b00;font-weight:600}
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
    hof, par, unchecked = runfiles.read_results(path)
    run = {"path": path, "start": start, "hof": hof, "pareto": par, "generations": [],
           "unchecked": unchecked}
    gens = path / "generations.jsonl"
    if gens.exists():
        for line in gens.read_text().splitlines():
            try:
                run["generations"].append(json.loads(line))
            except json.JSONDecodeError:
                continue    # a torn last line of a killed run
    for name, key in (("hall_of_fame.json", "hall_of_fame"), ("pareto.json", "pareto")):
        data = run["hof" if key == "hall_of_fame" else "pareto"]
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise CheckpointError(f"{path / name}: field {key!r} missing or not a list")
    return run


# ---- numbers ---------------------------------------------------------------------------------


def _score(rec: dict | None, rung: str) -> float:
    f = (rec or {}).get(rung)
    if not f or f.get("status") != "ok" or f.get("score") is None:
        return math.nan
    return float(f["score"])


def _num(x, nd: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def _pm(f: dict | None) -> str:
    if not f or f.get("status") != "ok" or f.get("score") is None:
        return "–" if not f else escape(str(f.get("status")))
    ci = f.get("ci95")
    n = len(f.get("per_seed") or [])
    txt = _num(f["score"])
    if ci is not None and isinstance(ci, (int, float)) and math.isfinite(ci) and n > 1:
        txt += f" ± {_num(ci)}"
    what = "unit" if f.get("suite") else "seed"    # a suite run's unit: (scenario, seed)
    return txt + f" <span class=\"na\">({n} {what}{'s' if n != 1 else ''})</span>"


def _verdict_cell(loss_f: dict | None, base_f: dict | None) -> tuple[str, str, str]:
    """(difference text, verdict word, css class) of a loss against a baseline at one rung: the
    search's own paired verdict (``search/verdict.py``), so page and terminal always agree."""
    a, b = paired_scores(loss_f or {}, base_f or {})
    a, b = ([math.nan if x is None else x for x in xs] for xs in (a, b))
    if not a or not b or len(a) != len(b):
        return "–", "n/a", "na"
    try:
        v = paired_verdict(a, b)
    except ValueError:                    # a seed without a finite score: nothing to pair
        return "–", "n/a (a seed has no score)", "na"
    if math.isinf(v.halfwidth):
        return f"{v.diff:+.2f}", "undecided (1 seed: no interval)", "undecided"
    return f"{v.diff:+.2f} ± {v.halfwidth:.2f}", v.word, v.word


# ---- the reproduce command -------------------------------------------------------------------


def reproduce_command(start: dict) -> str:
    """The `python -m lossforge.search` command that makes this run again (from config.json)."""
    c = start.get("config", {})
    method = start.get("method", "es" if "sigma0" in c else "gp")
    args = ["python", "-m", "lossforge.search"]

    def flag(name: str, key: str) -> None:
        if c.get(key) is not None:
            args.extend([name, str(c[key])])

    if method == "es":
        args += ["--method", "es"]
    flag("--scenario", "scenario")
    if method != "es":
        flag("--grammar", "grammar")
        flag("--link-grammar", "link_grammar")
        flag("--imitation-grammar", "imitation_grammar")
    for name, key in (("--budget", "budget"), ("--generations", "generations"),
                      ("--population", "population"), ("--seed", "seed"),
                      ("--fitness", "fitness"), ("--aggregation", "aggregation"),
                      ("--beta", "beta")):
        flag(name, key)
    if method == "es":
        flag("--sigma0", "sigma0")
        flag("--hidden", "hidden")
    else:
        flag("--top-fraction", "top_fraction")
        if c.get("multi_fidelity") is False:
            args.append("--single-fidelity")
        if c.get("suite"):            # a suite run: its scores mean nothing without these
            for name in ("suite", "suite_objective", "suite_baselines", "race_delta"):
                flag("--" + name.replace("_", "-"), name)
            if c.get("race") is False:
                args.append("--no-race")
    return " ".join(shlex.quote(a) for a in args)


# ---- the page --------------------------------------------------------------------------------


def _points(curve: list) -> list[tuple[float, float]]:
    """[[step, score or null], ...] from the JSON as floats (null: NaN, left out of the plot)."""
    return [(float(x), math.nan if y is None else float(y)) for x, y in curve]


def _card_id(name: str) -> str:
    return "loss-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def _baseline_name(b: dict) -> str:
    return str((b.get("spec") or {}).get("name") or b.get("name") or "baseline")


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


def _card(row: dict, roles: list[str], ladder: list[str], baselines: list[dict],
          metric: str, axis: str) -> str:
    name = str(row.get("name", "?"))
    top = ladder[-1]
    formulas, props = _formulas(row)
    props = {"loss id": str(row.get("loss_id", "")), "complexity (tree size)":
             str(row.get("complexity", "")), "born in generation": str(row.get("born", "")),
             "origin": str(row.get("origin", "")), **props}
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in props.items())
    head = ("<tr><th class=\"l\">budget</th><th>this loss</th><th class=\"l\">baseline</th>"
            "<th>baseline score</th><th>paired difference (95 % CI)</th><th>verdict</th></tr>")
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
        curve_html = ("<p class=\"na\">no training curve recorded (this fitness does not "
                      "keep one)</p>")
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


def _front_chart(hof: list[dict], front: list[dict], baselines: list[dict], top: str,
                 metric: str, axis: str) -> str:
    others = [r for r in hof if r["name"] not in {f["name"] for f in front}]
    front = sorted(front, key=lambda r: r.get("complexity", 0))
    series = [Series(f"Pareto front ({top})",
                     [(float(r["complexity"]), _score(r, top)) for r in front], "#D55E00",
                     kind="step", links=["#" + _card_id(r["name"]) for r in front],
                     tips=[f"{r['name']}: size {r['complexity']}, {_num(_score(r, top))}"
                           for r in front])]
    if others:
        series.append(Series("hall of fame", [(float(r["complexity"]), _score(r, top))
                                              for r in others], "#0072B2", kind="points",
                             links=["#" + _card_id(r["name"]) for r in others],
                             tips=[f"{r['name']}: size {r['complexity']}, "
                                   f"{_num(_score(r, top))}" for r in others]))
    for k, b in enumerate(baselines):
        series.append(Series(f"{_baseline_name(b)} ({top})", [(0.0, _score(b, top))],
                             "#444", kind="hline", dash=("6,3", "2,3", "8,3,2,3")[k % 3]))
    return chart(series, title=f"Pareto front: {metric} at the {top} budget vs size",
                 xlabel="complexity (tree size)", ylabel=axis, element_id="front")


def _verdict_section(hof: list[dict], baselines: list[dict], top: str, unit: str = "seed"
                     ) -> str:
    ranked = [r for r in hof if math.isfinite(_score(r, top))]
    if not ranked:
        return "<p>No loss reached the top budget: no verdict.</p>"
    best = ranked[0]
    parts = []
    for b in baselines:
        diff, why, cls = _verdict_cell(best.get(top), b.get(top))
        word = {"better": "than", "worse": "than", "level": "with"}.get(cls, "against")
        parts.append(f"<li><span class=\"{cls}\">{escape(why)}</span> {word} "
                     f"<b>{escape(_baseline_name(b))}</b> ({_pm(b.get(top))}): "
                     f"paired difference {diff}</li>")
    known = known_text(best)
    return (f"<p>Best loss <a href=\"#{escape(_card_id(best['name']))}\">"
            f"<b>{escape(best['name'])}</b></a> scores {_pm(best.get(top))} at the "
            f"{escape(top)} budget. Per-{unit} paired difference, 95 % t-interval (better / "
            "worse: the whole interval is above / below zero; level: it contains zero):</p>"
            f"<ul id=\"verdict-list\">{''.join(parts)}</ul>"
            + (f'<p class="known" id="verdict-known"><b>{escape(best["name"])}</b> '
               f"{escape(known)}</p>" if known else ""))


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
        cards.append(_card(row, roles, ladder, baselines, label, axis))
        seen.add(row["name"])
    for row in front:
        if row["name"] not in seen:
            cards.append(_card(row, ["on the Pareto front"], ladder, baselines, label, axis))
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
        f"<section id=\"verdict\"><h2>Verdict</h2>"
        f"{_verdict_section(hof, baselines, top, 'unit' if cfg.get('suite') else 'seed')}"
        f"{_suite_note(state, hof_data)}</section>"
        f"<section id=\"pareto\"><h2>Pareto front</h2>"
        f"{_front_chart(hof, front, baselines, top, label, front_axis)}"
        "<p class=\"meta\">Click a point for its card; hover for its name and score.</p>"
        f"<table><tr><th>size</th><th class=\"l\">loss</th><th>score ({escape(top)})</th>"
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
