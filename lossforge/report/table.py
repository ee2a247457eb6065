"""The HTML page of a ``benchmarks/baselines.py`` results file, whichever command wrote it:

- a run table (``baselines.py run``, draw 0) or a sweep (``baselines.py sweep``, the tuning
  draw): mean ± 95 % t-interval over training seeds per scenario and loss (losses down,
  scenarios across, one table per budget, its caption naming the metric and the seeds per
  cell), with a chart of the seeds' scores per scenario (a list of them instead where a sweep's
  grid has more losses than the chart has colours);
- a confirmation (``baselines.py confirm``, fresh draws): ``confirm_page.py``.

The metric of a run table is each row's own score (``baselines.py``'s ``score``): the AUC for a
loss, and for bc-on-chosen its final, as ``baselines.py`` scores it and the headline judges it
(it trains from scratch). Its row is marked "final†", with a footnote, and is not ranked against
the losses' AUC. A cell where some seeds failed says how many, and its mean (over the seeds that
ran) is not ranked either. Where a scenario's AUC is only its final score (the LLM test bed:
``cells.auc_is_final``), its table shows final alone under ``baselines.py report``'s note,
``confirmation.FINAL_ONLY_TEXT``.

The rows are read by ``benchmarks/baselines.py``'s own reader (torn lines skipped, rows two jobs
both wrote counted once, disagreeing copies refused). The numbers are those of ``baselines.py
table`` (the interval is the benchmark's ``ci95_halfwidth``) and, for a confirmation, of
``baselines.py report`` (``confirmation.analyse``), which that page calls.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from html import escape
from pathlib import Path

from lossforge.bench.draws import TUNING
from lossforge.bench.fitness import ci95_halfwidth
from lossforge.bench.result import BC_ON_CHOSEN, REFERENCE
from lossforge.errors import ConfigError
from lossforge.report.confirm_page import confirmation_page, mean_curves  # noqa: F401
from lossforge.report.page import page
from lossforge.report.svg import COLOURS, Series, chart
from lossforge.report.tableparts import caption, final_only_note, glossary, made_by, reading
from lossforge.report.tableparts import baselines_module as _baselines_module

#: Row order of the README's tables; other losses follow, sorted.
KNOWN = (REFERENCE, BC_ON_CHOSEN, "dpo", "dpo[beta=0.5]", "dpo[beta=2]", "orpo", "ipo",
         "robust", "hinge")
#: The row whose score is its final, not its AUC (``baselines.py``: "score ... final for the
#: reference and BC-on-chosen"; the reference does not train, so its AUC is that score too).
FINAL_SCORED = BC_ON_CHOSEN


def summarise(path: str | Path, draw: int | str = 0) -> tuple[list[dict], list[str]]:
    """One dict per (budget, scenario, loss) of the rows on ``draw``: seeds, per-seed scores
    (NaN where a run failed), mean and 95 % CI (NaN when any seed failed), and the seeds that
    ran (``ok``) with their mean and CI; and the commands that wrote the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such results file")
    baselines = _baselines_module()
    with reading(path):
        cells = baselines._summary(path, draw=draw)
        commands = sorted({str(r.get("command", "")) for r in baselines.records(path)} - {""})
    out = []
    for (budget, scenario, loss), xs in sorted(cells.items()):
        scores = [float(v) for _, v in sorted(xs)]
        ok = [x for x in scores if math.isfinite(x)]
        out.append({"budget": budget, "scenario": scenario, "loss": loss,
                    "seeds": [s for s, _ in sorted(xs)], "per_seed": scores,
                    "mean": sum(scores) / len(scores), "ci95": ci95_halfwidth(scores),
                    "ok": len(ok), "mean_ok": sum(ok) / len(ok) if ok else math.nan,
                    "ci95_ok": ci95_halfwidth(ok)})
    if not out:
        raise ConfigError(f"{path}: no result rows")
    return out, commands


def _ranked(r: dict) -> bool:
    """Whether a cell competes for the scenario's best (bold): every seed ran, and its number
    is an AUC (not bc-on-chosen's final)."""
    return r["loss"] != FINAL_SCORED and math.isfinite(r["mean"])


def _cell(r: dict, best: bool, most: int, pick: bool = False) -> str:
    """One cell: mean ± CI; [n] where it has fewer seeds than ``most``; where seeds failed, how
    many, and the mean and CI of those that ran, said to be theirs."""
    n, failed = len(r["per_seed"]), len(r["per_seed"]) - r["ok"]
    if not failed:
        txt = f"{r['mean']:.1f}" + (f" ± {r['ci95']:.1f}" if math.isfinite(r["ci95"]) else "")
        txt += f" [{n}]" if n < most else ""
    elif not r["ok"]:
        txt = f"all {n} failed" if n > 1 else "failed"
    else:
        txt = (f"{r['ok']} ok, {failed} failed: {r['mean_ok']:.1f}"
               + (f" ± {r['ci95_ok']:.1f}" if math.isfinite(r["ci95_ok"]) else "")
               + f" ({r['ok']} seed{'s' * (r['ok'] != 1)})")
    if pick:
        txt += " (pick)"
    txt = escape(txt)
    cls = " ".join(c for c, on in (("best", best), ("pick", pick), ("failed", failed),
                                   ("other", r["loss"] == FINAL_SCORED)) if on)
    attrs = f" class=\"{cls}\"" if cls else ""
    return f"<td{attrs}><b>{txt}</b></td>" if best else f"<td{attrs}>{txt}</td>"


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
             f"<p class=\"meta\">{_score_words(rows)}, mean ± 95 % t-interval over training "
             "seeds, on " + which + ". Each table's caption names its metric and its seeds per "
             "cell; [n]: a cell with n seeds, fewer than the caption's; a cell where seeds "
             "failed says how many, and its mean is over the seeds that ran; the best mean of "
             "each scenario in bold (cells whose every seed ran"
             + ("; bc-on-chosen, scored on final†, is not ranked against the AUCs)"
                if any(r["loss"] == FINAL_SCORED for r in rows) else ")")
             + ("; (pick): the config <code>baselines.py tuned</code> froze for the scenario"
                if picks else "") + ".</p>", glossary()]
    for budget, rs in sorted(by_budget.items()):
        parts += _budget_section(budget, rs, picks, final_only)
    parts.append(made_by(commands))
    return page(f"baselines {path.name}", "".join(parts))


def _budget_section(budget: str, rs: list[dict], picks: set, final_only: set) -> list[str]:
    """One budget's table (losses down, scenarios across), its footnote and its charts."""
    scenarios = sorted({r["scenario"] for r in rs})
    found = {r["loss"] for r in rs}
    losses = [n for n in KNOWN if n in found] + sorted(found - set(KNOWN))
    cell = {(r["scenario"], r["loss"]): r for r in rs}
    most = max(len(r["per_seed"]) for r in rs)
    best = {s: max((cell[(s, n)]["mean"] for n in losses if (s, n) in cell
                    and _ranked(cell[(s, n)])), default=math.nan) for s in scenarios}
    head = "".join(f"<th>{escape(s)}</th>" for s in scenarios)
    body = []
    for n in losses:
        tds = "".join(_cell(cell[(s, n)], _ranked(cell[(s, n)]) and cell[(s, n)]["mean"]
                            == best[s], most, (s, n) in picks)
                      if (s, n) in cell else "<td></td>" for s in scenarios)
        label = escape(n) + (" <small>(final†)</small>" if n == FINAL_SCORED else "")
        body.append(f"<tr data-loss=\"{escape(n)}\"><td class=\"l\">{label}</td>{tds}</tr>")
    fin = [s for s in scenarios if (budget, s) in final_only]
    out = [f"<h2>{escape(budget)} budget</h2>" + final_only_note(fin, len(scenarios))
           + f"<table class=\"baselines\" data-budget=\"{escape(budget)}\">"
           + caption(_caption(scenarios, fin, FINAL_SCORED in found, rs, most))
           + f"<tr><th class=\"l\">loss</th>{head}</tr>{''.join(body)}</table>"]
    if FINAL_SCORED in found:
        out.append("<p class=\"meta\" data-note=\"bc-on-chosen\">† bc-on-chosen: its final score "
                   "(the last parameters), not its AUC, as <code>baselines.py</code> scores it "
                   "and the headline (<code>benchmarks/headline.py</code>) judges it: it trains "
                   "from scratch, not from the reference, so its AUC would average a curve that "
                   "starts from nothing. It stays in the table as a shortcut baseline "
                   "(<code>lossforge/bench/audit.py</code>), but is not ranked against the "
                   "losses' AUC; <code>baselines.py table</code> gives every row's final.</p>")
    out += [_seeds_chart(f"{s} ({budget})", [(n, cell[(s, n)]) for n in losses
                                             if (s, n) in cell], _axis(s)) for s in scenarios]
    return out


def _caption(scenarios: list[str], final: list[str], bc: bool, rs: list[dict], most: int) -> str:
    """A seeds table's caption: its metric (AUC, or final where the AUC is only the final
    score; bc-on-chosen's final†) and its training seeds per cell."""
    if len(final) == len(scenarios):
        metric = "Final score (the last parameters; AUC not measured on this bed)"
    else:
        metric = ("AUC (mean score over the training checkpoints)"
                  + (f"; final for {', '.join(final)} (see the note)" if final else "")
                  + ("; bc-on-chosen: final†" if bc else ""))
    seeds = ("training seed" if most == 1 else "training seeds")
    uniform = all(len(r["per_seed"]) == most for r in rs)
    per = (f"{most} {seeds} per cell" if uniform else
           f"{most} {seeds} per cell, fewer where [n] says")
    return f"<b>{escape(metric)}</b>: mean ± 95 % t-interval over {escape(per)}."


def _final_only_groups(path: Path, draw: int | str) -> set[tuple[str, str]]:
    """The (budget, scenario) groups of the rows on ``draw`` whose AUC is only their final
    score, as ``baselines.py report`` finds them (``confirmation.auc_final_groups``)."""
    baselines = _baselines_module()    # puts benchmarks/ first on sys.path
    import confirmation

    with reading(path):
        return confirmation.auc_final_groups([r for r in baselines.records(path)
                                              if None not in baselines.row_key(r)
                                              and r.get("draw", 0) == draw])


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
    """Every seed's score of each loss of one scenario (bc-on-chosen's final, so labelled);
    where there are more losses than colours (a sweep's grid), which the chart could not tell
    apart, a note saying so and every seed's score as a list, collapsed."""
    if len(cells) > len(COLOURS):
        return (f"<p class=\"meta\" data-note=\"no-chart\">{escape(title)}: no chart of every "
                f"seed's score: {len(cells)} losses, more than a chart can tell apart (it has "
                f"{len(COLOURS)} colours). Every seed's score is in the list below (click to "
                "open it); each loss's mean is in the table above.</p>"
                + _seeds_list(title, cells))
    def name(n: str) -> str:
        return n + (" (final)" if n == FINAL_SCORED else "")

    series = [Series(name(n), [(float(seed), v) for seed, v in zip(r["seeds"], r["per_seed"])],
                     COLOURS[k], kind="points",
                     tips=[f"{name(n)}, seed {seed}: " + (f"{v:.1f}" if math.isfinite(v)
                                                          else "failed")
                           for seed, v in zip(r["seeds"], r["per_seed"])])
              for k, (n, r) in enumerate(cells)]
    return chart(series, title=f"{title}: score per training seed", xlabel="training seed",
                 ylabel=axis, width=640, height=300, integer_x=True)


def _seeds_list(title: str, cells: list[tuple[str, dict]]) -> str:
    """Every seed's score of each loss, one row a loss, one column a seed ("failed" where the
    run failed, empty where the seed did not run), in a collapsed ``<details>``."""
    seeds = sorted({s for _, r in cells for s in r["seeds"]})
    rows = []
    for n, r in cells:
        got = dict(zip(r["seeds"], r["per_seed"]))
        tds = "".join("<td></td>" if s not in got else
                      f"<td>{got[s]:.1f}</td>" if math.isfinite(got[s]) else
                      "<td class=\"failed\">failed</td>" for s in seeds)
        rows.append(f"<tr><td class=\"l\">{escape(n)}</td>{tds}</tr>")
    head = "".join(f"<th>seed {escape(str(s))}</th>" for s in seeds)
    return (f"<details class=\"per-seed\"><summary>{escape(title)}: every seed's score "
            f"({len(cells)} losses)</summary><table class=\"per-seed\"><tr><th class=\"l\">loss"
            f"</th>{head}</tr>{''.join(rows)}</table></details>")


def _draws(path: Path) -> set:
    """The dataset draws the file's rows ran on."""
    baselines = _baselines_module()
    with reading(path):
        return {r.get("draw", 0) for r in baselines.records(path)
                if None not in baselines.row_key(r)}
