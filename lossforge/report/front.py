"""The Pareto chart of a run's page: the front as a step line with its losses as dots, the rest
of the hall of fame as dots, each baseline as a horizontal line.

Draw order (``svg.chart``: lines first, then the dots in series order): the hall of fame's
dots, then the rings of the losses racing dropped at the top rung (suite runs), then the
front's dots on top. Where dots coincide (equal size and score: a front loss and a copy of it
in the hall of fame), a click opens the dot on top, a front loss where there is one, and its
tooltip names every loss whose dot it covers. A loss racing dropped is drawn as a ring, its
tooltip and legend saying its score is a partial mean: it is not comparable with the front's
complete scores, and the front leaves it out (``rundir.pareto``).
"""

from __future__ import annotations

from lossforge.report.cells import _baseline_name, _card_id, _num, _score, raced_text
from lossforge.report.svg import Series, chart
from lossforge.search.rundir import raced_out

FRONT_COLOUR, HOF_COLOUR, RACED_COLOUR = "#D55E00", "#0072B2", "#7A7A7A"


def _dots(rows: list[dict], top: str, what: str) -> tuple[list, list[str], list[str]]:
    """(points, links, tooltips) of ``rows`` at the top rung; ``what`` ends each tooltip."""
    pts = [(float(r["complexity"]), _score(r, top)) for r in rows]
    links = ["#" + _card_id(r["name"]) for r in rows]
    tips = [f"{r['name']}: size {r['complexity']}, {_num(_score(r, top))} ({what})"
            + (f"; {raced_text(r.get(top))}" if raced_out(r.get(top)) else "") for r in rows]
    return pts, links, tips


def front_chart(hof: list[dict], front: list[dict], baselines: list[dict], top: str,
                metric: str, axis: str) -> str:
    """The chart of the page's Pareto section (see the module docstring)."""
    on_front = {f["name"] for f in front}
    others = [r for r in hof if r["name"] not in on_front and not raced_out(r.get(top))]
    raced = [r for r in hof if r["name"] not in on_front and raced_out(r.get(top))]
    front = sorted(front, key=lambda r: r.get("complexity", 0))
    series = []
    if others:
        pts, links, tips = _dots(others, top, "hall of fame")
        series.append(Series("hall of fame", pts, HOF_COLOUR, kind="points", links=links,
                             tips=tips))
    if raced:
        pts, links, tips = _dots(raced, top, "raced out")
        series.append(Series("raced out: partial mean", pts, RACED_COLOUR, kind="points",
                             links=links, tips=tips, hollow=True))
    pts, links, tips = _dots(front, top, "Pareto front")
    series.append(Series(f"Pareto front ({top})", pts, FRONT_COLOUR, kind="step", links=links,
                         tips=tips))
    for k, b in enumerate(baselines):
        series.append(Series(f"{_baseline_name(b)} ({top})", [(0.0, _score(b, top))],
                             "#444", kind="hline", dash=("6,3", "2,3", "8,3,2,3")[k % 3]))
    return chart(series, title=f"Pareto front: {metric} at the {top} budget vs size",
                 xlabel="complexity (tree size)", ylabel=axis, element_id="front")


def raced_note(hof: list[dict], top: str) -> str:
    """One sentence under the chart when some loss was raced out at the top rung, else ""."""
    raced = [r["name"] for r in hof if raced_out(r.get(top))]
    if not raced:
        return ""
    return (f"Rings: {', '.join(raced)}, raced out at the {top} budget (dropped by racing "
            "before all units): each score is a mean over the units it was scored on, not "
            "comparable with the complete scores of the front, which leaves them out.")
