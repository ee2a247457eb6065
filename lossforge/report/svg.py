"""Small inline SVG charts (no script, no fonts to fetch): a scatter with a step line (the
Pareto front) and line charts (training curves). Every point has a <title> (its tooltip) and may
link to an anchor of the page; every text is escaped."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

#: Line colours, in order (colour-blind safe: Okabe-Ito, then grey and brown: a baselines
#: table has nine losses).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442", "#999999", "#8C564B")


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]
    colour: str = "#0072B2"
    kind: str = "line"          # "line", "step" (post), "points" or "hline" (y of points[0])
    dash: str = ""
    links: list[str] = field(default_factory=list)    # per point: "#anchor" or ""
    tips: list[str] = field(default_factory=list)     # per point: tooltip text
    hollow: bool = False        # "points" drawn as rings (e.g. a partial score: not comparable)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi] (steps of 1, 2 or 5 times 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], first
    while t <= hi + 1e-9 * step:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"


#: Legend text is 11 px; this many pixels per character is a generous estimate of its width in
#: the usual sans-serif fonts (the legend is sized to its longest label with it, never clipped).
LEGEND_CHAR_PX = 6.5


def legend_space(series: list[Series], at_least: int = 170) -> int:
    """Pixels right of the plot for the legend: its longest label's estimated width plus the
    mark and the gaps (``at_least``: the narrowest legend)."""
    longest = max((len(s.label) for s in series), default=0)
    return max(at_least, math.ceil(12 + 26 + LEGEND_CHAR_PX * longest + 8))


def chart(series: list[Series], *, title: str, xlabel: str, ylabel: str, width: int = 640,
          height: int = 360, element_id: str = "", integer_x: bool = False,
          legend_width: int = 170) -> str:
    """An SVG line/scatter chart of ``series`` with axes, ticks and a legend right of the plot
    (``integer_x``: x ticks at whole numbers only, e.g. generations). The plot is ``width`` minus
    ``legend_width`` pixels wide; a legend whose labels need more room widens the chart by that
    much (``legend_space``: a label is never cut off).

    Drawing order: reference lines (``hline``) first, then lines and steps, then the point marks
    of every series in list order, so a later series' marks lie on top and no line covers a
    mark. Where a mark covers the centre of an earlier one (the same or nearly the same point),
    a click opens the mark on top (its own link) and its tooltip names the losses under it."""
    legend = legend_space(series, legend_width)
    ml, mr, mt, mb = 58, legend, 30, 44
    width += legend - legend_width
    pts = [(x, y) for s in series for x, y in s.points if math.isfinite(x) and math.isfinite(y)]
    xs = [x for s in series if s.kind != "hline" for x, _ in s.points if math.isfinite(x)]
    ys = [y for _, y in pts]
    if not ys:
        return (f'<svg width="{width}" height="60" '
                f'role="img"><text x="8" y="30">{escape(title)}: nothing to plot</text></svg>')
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y0, y1 = min(ys), max(ys)
    xpad = (x1 - x0) * 0.05 or 1.0
    ypad = (y1 - y0) * 0.08 or 1.0
    x0, x1, y0, y1 = x0 - xpad, x1 + xpad, y0 - ypad, y1 + ypad
    pw, ph = width - ml - mr, height - mt - mb

    def X(x: float) -> float:
        return ml + (x - x0) / (x1 - x0) * pw

    def Y(y: float) -> float:
        return mt + (1 - (y - y0) / (y1 - y0)) * ph

    out = [f'<svg viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" class="chart"'
           + (f' id="{escape(element_id)}"' if element_id else "") + ">",
           f"<title>{escape(title)}</title>",
           f'<text x="{ml}" y="18" class="ct">{escape(title)}</text>',
           f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for t in nice_ticks(y0, y1):
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" '
                   f'stroke="#eee"/><text x="{ml - 6}" y="{Y(t) + 4:.1f}" text-anchor="end" '
                   f'class="tk">{_fmt(t)}</text>')
    for t in nice_ticks(x0, x1):
        if integer_x and t != int(t):
            continue
        out.append(f'<text x="{X(t):.1f}" y="{mt + ph + 16}" text-anchor="middle" '
                   f'class="tk">{_fmt(t)}</text>')
    out.append(f'<text x="{ml + pw / 2:.1f}" y="{height - 8}" text-anchor="middle" '
               f'class="ax">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(14 {mt + ph / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle" class="ax">{escape(ylabel)}</text>')
    out += _lines(series, X, Y, ml, ml + pw)
    out += _marks(series, X, Y)
    out += [_legend_entry(s, ml + pw + 12, mt + 12 + 18 * k, _dash(s))
            for k, s in enumerate(series)]
    out.append("</svg>")
    return "\n".join(out)


def _dash(s: Series) -> str:
    return f' stroke-dasharray="{s.dash}"' if s.dash else ""


def _finite(s: Series) -> list[tuple[float, float]]:
    return [(x, y) for x, y in s.points if math.isfinite(x) and math.isfinite(y)]


def _lines(series: list[Series], X, Y, left: float, right: float) -> list[str]:
    """The reference lines (``hline``) of every series, then its lines and steps."""
    out = []
    for s in series:
        good = _finite(s)
        if s.kind == "hline" and good:
            y = good[0][1]
            out.append(f'<line x1="{left}" x2="{right}" y1="{Y(y):.1f}" y2="{Y(y):.1f}" '
                       f'stroke="{s.colour}" stroke-width="1.5"{_dash(s)}>'
                       f"<title>{escape(s.label)}: {y:.2f}</title></line>")
    for s in series:
        good = _finite(s)
        if s.kind in ("line", "step") and len(good) > 1:
            path = good
            if s.kind == "step":
                path = [good[0]]
                for (_, ya), (xb, yb) in zip(good, good[1:]):
                    path += [(xb, ya), (xb, yb)]
            d = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in path)
            out.append(f'<polyline points="{d}" fill="none" stroke="{s.colour}" '
                       f'stroke-width="2"{_dash(s)}/>')
    return out


def _marks(series: list[Series], X, Y) -> list[str]:
    """Every series' point marks in list order (later ones on top). A mark whose centre a later
    mark covers is named in the tooltip of the topmost such mark, whose link a click there
    follows (each link opens the loss its own tooltip names first)."""
    marks = []      # (cx, cy, r, series, tip, link)
    for s in series:
        if not (s.kind in ("points", "step") or (s.kind == "line" and len(_finite(s)) == 1)):
            continue
        r = 4.5 if s.kind == "step" else 3.5
        for i, (x, y) in enumerate(s.points):
            if math.isfinite(x) and math.isfinite(y):
                tip = s.tips[i] if i < len(s.tips) else f"{s.label}: ({_fmt(x)}, {y:.2f})"
                link = s.links[i] if i < len(s.links) else ""
                marks.append((round(X(x), 1), round(Y(y), 1), r, s, tip, link))
    under: dict[int, list[str]] = {}
    for i, (cx, cy, *_rest) in enumerate(marks):
        tops = [j for j in range(i + 1, len(marks))
                if math.hypot(marks[j][0] - cx, marks[j][1] - cy) <= marks[j][2]]
        if tops:
            under.setdefault(tops[-1], []).append(marks[i][4])
    out = []
    for j, (cx, cy, r, s, tip, link) in enumerate(marks):
        if j in under:
            tip += "\nalso here, under this point (click opens the one named first):\n" \
                   + "\n".join(under[j])
        fill = ('fill="#fff" stroke="{}" stroke-width="1.5"'.format(s.colour) if s.hollow
                else f'fill="{s.colour}"')
        dot = (f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" {fill} class="pt">'
               f"<title>{escape(tip)}</title></circle>")
        out.append(f'<a href="{escape(link)}">{dot}</a>' if link else dot)
    return out


def _legend_entry(s: Series, lx: float, ly: float, dash: str) -> str:
    """A series' mark and label in the legend right of the plot, its baseline at ``ly``."""
    if s.kind == "points":
        fill = (f'fill="#fff" stroke="{s.colour}" stroke-width="1.5"' if s.hollow
                else f'fill="{s.colour}"')
        mark = f'<circle cx="{lx + 10}" cy="{ly - 4}" r="3.5" {fill}/>'
    else:
        mark = (f'<line x1="{lx}" x2="{lx + 20}" y1="{ly - 4}" y2="{ly - 4}" '
                f'stroke="{s.colour}" stroke-width="2"{dash}/>')
    return f'{mark}<text x="{lx + 26}" y="{ly}" class="lg">{escape(s.label)}</text>'
