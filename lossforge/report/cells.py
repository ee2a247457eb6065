"""What the cells of a run's page (``page.py``, ``front.py``) say: a score, a score with its
interval and how many seeds or units it is over (and, for a loss racing dropped, that it is a
partial mean), the paired verdict of two fitness records, a card's anchor, a baseline's name,
and why a card has no training curve."""

from __future__ import annotations

import math
from html import escape

from lossforge.search.rundir import raced_out
from lossforge.search.verdict import paired_scores, paired_verdict


def _score(rec: dict | None, rung: str) -> float:
    f = (rec or {}).get(rung)
    if not f or f.get("status") != "ok" or f.get("score") is None:
        return math.nan
    return float(f["score"])


def _num(x, nd: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def raced_text(f: dict | None) -> str | None:
    """"raced out after 14/35 units: a partial mean, not comparable with complete scores" for a
    fitness racing dropped (suite runs, ``rundir.raced_out``; the terminal says "raced out after
    14/35 units"), else None."""
    if not raced_out(f):
        return None
    suite = f["suite"]
    return (f"raced out after {suite.get('units', '?')}/{suite.get('of_units', '?')} units: a "
            "partial mean, not comparable with complete scores")


def _pm(f: dict | None) -> str:
    if not f or f.get("status") != "ok" or f.get("score") is None:
        return "–" if not f else escape(str(f.get("status")))
    ci = f.get("ci95")
    n = len(f.get("per_seed") or [])
    txt = _num(f["score"])
    if ci is not None and isinstance(ci, (int, float)) and math.isfinite(ci) and n > 1:
        txt += f" ± {_num(ci)}"
    raced = raced_text(f)
    if raced:
        return txt + f" <span class=\"raced\">({escape(raced)})</span>"
    what = "unit" if f.get("suite") else "seed"    # a suite run's unit: (scenario, seed)
    return txt + f" <span class=\"na\">({n} {what}{'s' if n != 1 else ''})</span>"


def _verdict_cell(loss_f: dict | None, base_f: dict | None) -> tuple[str, str, str]:
    """(difference text, verdict word, css class) of a loss against a baseline at one rung: the
    search's own paired verdict (``search/verdict.py``), so page and terminal always agree. A
    loss racing dropped is paired on the units it was scored on (the text says how many)."""
    a, b = paired_scores(loss_f or {}, base_f or {})
    a, b = ([math.nan if x is None else x for x in xs] for xs in (a, b))
    if not a or not b or len(a) != len(b):
        return "–", "n/a", "na"
    try:
        v = paired_verdict(a, b)
    except ValueError:                    # a seed without a finite score: nothing to pair
        return "–", "n/a (a seed has no score)", "na"
    on = f" (on its {len(a)} units)" if raced_out(loss_f) else ""
    if math.isinf(v.halfwidth):
        return f"{v.diff:+.2f}{on}", "undecided (1 seed: no interval)", "undecided"
    return f"{v.diff:+.2f} ± {v.halfwidth:.2f}{on}", v.word, v.word


def _card_id(name: str) -> str:
    return "loss-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def _baseline_name(b: dict) -> str:
    """A baseline as every part of the page names it: with its settings where the run kept its
    spec ("DPO (beta 0.1)", ``verdict.baseline_label``, the terminal's words), else its name."""
    from lossforge.search.verdict import baseline_label

    spec = b.get("spec") or {}
    return baseline_label(spec) if spec.get("name") else str(b.get("name") or "baseline")


def no_curve_reason(f: dict | None, config: dict, top: str) -> str:
    """Why a card shows no training curve at the top rung ``top``: a suite run keeps none, the
    loss was not trained or failed there, the fitness keeps none (probe, llm: their records
    have no ``curve``), or the run's files hold none for it."""
    fitness = config.get("fitness") or "bench"
    if config.get("suite"):
        return ("no training curve: a suite run keeps each unit's score (one scenario, one "
                "training seed), not its training curve")
    if not f:
        return f"no training curve: not trained at the {top} budget"
    if f.get("status") != "ok":
        return f"no training curve: training failed at the {top} budget ({f.get('status')})"
    if fitness in ("probe", "llm"):
        return f"no training curve: the {fitness} fitness does not keep one"
    if fitness == "bench":
        return "no training curve stored for this loss in the run's files"
    return (f"no training curve: the fitness {fitness} returned none (a curve is optional in "
            "the fitness interface)")
