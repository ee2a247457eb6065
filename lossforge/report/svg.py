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


def chart(series: list[Series], *, title: str, xlabel: str, ylabel: str, width: int = 640,
          height: int = 360, element_id: str = "", integer_x: bool = False,
          legend_width: int = 170) -> str:
    """An SVG line/scatter chart of ``series`` with axes, ticks and a legend right of the plot,
    ``legend_width`` pixels wide (``integer_x``: x ticks at whole numbers only, e.g.
    generations)."""
    ml, mr, mt, mb = 58, legend_width, 30, 44
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
    for k, s in enumerate(series):
        good = [(x, y) for x, y in s.points if math.isfinite(x) and math.isfinite(y)]
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        if s.kind == "hline" and good:
            y = good[0][1]
            out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{Y(y):.1f}" y2="{Y(y):.1f}" '
                       f'stroke="{s.colour}" stroke-width="1.5"{dash}>'
                       f"<title>{escape(s.label)}: {y:.2f}</title></line>")
        elif s.kind in ("line", "step") and len(good) > 1:
            if s.kind == "step":
                path = [good[0]]
                for (_, ya), (xb, yb) in zip(good, good[1:]):
                    path += [(xb, ya), (xb, yb)]
            else:
                path = good
            d = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in path)
            out.append(f'<polyline points="{d}" fill="none" stroke="{s.colour}" '
                       f'stroke-width="2"{dash}/>')
        if s.kind in ("points", "step") or (s.kind == "line" and len(good) == 1):
            r = 4.5 if s.kind == "step" else 3.5
            for i, (x, y) in enumerate(s.points):
                if not (math.isfinite(x) and math.isfinite(y)):
                    continue
                tip = s.tips[i] if i < len(s.tips) else f"{s.label}: ({_fmt(x)}, {y:.2f})"
                dot = (f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="{r}" fill="{s.colour}" '
                       f'class="pt"><title>{escape(tip)}</title></circle>')
                link = s.links[i] if i < len(s.links) else ""
                out.append(f'<a href="{escape(link)}">{dot}</a>' if link else dot)
        out.append(_legend_entry(s, ml + pw + 12, mt + 12 + 18 * k, dash))
    out.append("</svg>")
    return "\n".join(out)


def _legend_entry(s: Series, lx: float, ly: float, dash: str) -> str:
    """A series' mark and label in the legend right of the plot, its baseline at ``ly``."""
    if s.kind == "points":
        mark = f'<circle cx="{lx + 10}" cy="{ly - 4}" r="3.5" fill="{s.colour}"/>'
    else:
        mark = (f'<line x1="{lx}" x2="{lx + 20}" y1="{ly - 4}" y2="{ly - 4}" '
                f'stroke="{s.colour}" stroke-width="2"{dash}/>')
    return f'{mark}<text x="{lx + 26}" y="{ly}" class="lg">{escape(s.label)}</text>'
