"""Statistics for confirming results over dataset draws: paired t-tests and Holm's correction.

    d = paired_t(candidate_per_draw, baseline_per_draw)   # mean difference, 95 % CI, p
    adjusted = holm([d.p for d in family])                # family-wise error control

The unit of analysis is the dataset draw: each value is one draw's mean over its training seeds,
and candidate and baseline values of a draw are paired (same dataset, reference and episodes).
Student's t distribution comes from the regularised incomplete beta function (mpmath, a
dependency already): two-sided p = I_{df/(df+t^2)}(df/2, 1/2).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import mpmath

from lossforge.errors import ConfigError


def t_two_sided_p(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ConfigError(f"t-test needs at least 1 degree of freedom, got {df}")
    if math.isnan(t):
        return float("nan")
    if math.isinf(t):
        return 0.0
    x = df / (df + t * t)
    return float(mpmath.betainc(df / 2, 0.5, 0, x, regularized=True))


@functools.lru_cache(maxsize=1024)
def t_quantile(q: float, df: int) -> float:
    """The q-quantile of Student's t (0 < q < 1), by bisection on ``t_two_sided_p`` (cached,
    since tables and racing ask for the same few again and again). Within 1e-12 of scipy's
    for the project's uses (df < 1e4, q >= 0.9); less accurate very near the median (q within
    1e-4 of 1/2) or at df >= 1e5, where df / (df + t^2) rounds towards 1. The one t quantile
    of the project: intervals, tests and racing's bounds all use it."""
    if not 0 < q < 1:
        raise ConfigError(f"t quantile: q must lie in (0, 1), got {q}")
    if q <= 0.5:                          # the t distribution is symmetric about 0
        return 0.0 if q == 0.5 else -t_quantile(1 - q, df)
    target = 2 * (1 - q)
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > target:
        hi *= 2
    while hi - lo > 1e-15 * hi:           # about 55 halvings: double precision
        mid = (lo + hi) / 2
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class PairedT:
    n: int             # pairs (draws) compared
    mean: float        # mean of x - y
    ci95: float        # half-width of its 95 % t-interval (NaN for n < 2)
    t: float           # mean / (sd / sqrt(n))
    p: float           # two-sided p-value, df = n - 1 (NaN for n < 2)

    def to_json(self) -> dict:
        return {"n": self.n, "mean": self.mean, "ci95": self.ci95, "t": self.t, "p": self.p}


def paired_t(x: Sequence[float], y: Sequence[float]) -> PairedT:
    """Paired t-test of x against y (equal lengths): is the mean of x - y zero?
    Matches scipy.stats.ttest_rel. Identical pairs (sd 0) give t = +-inf or NaN (all zero)."""
    if len(x) != len(y):
        raise ConfigError(f"paired t-test: {len(x)} values against {len(y)}")
    d = [float(a) - float(b) for a, b in zip(x, y)]
    n = len(d)
    if n == 0:
        return PairedT(0, float("nan"), float("nan"), float("nan"), float("nan"))
    mean = sum(d) / n
    if n < 2:
        return PairedT(n, mean, float("nan"), float("nan"), float("nan"))
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / (n - 1))
    se = sd / math.sqrt(n)
    if se == 0:
        t = float("nan") if mean == 0 else math.copysign(math.inf, mean)
    else:
        t = mean / se
    return PairedT(n, mean, t_quantile(0.975, n - 1) * se, t, t_two_sided_p(t, n - 1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order: the k-th smallest of m is
    multiplied by m - k + 1, made non-decreasing in that order and capped at 1. Rejecting
    where adjusted p < alpha, as every caller does (an adjusted p equal to alpha is not
    rejected), controls the family-wise error rate at alpha. A NaN p-value (a comparison
    without a test: too few draws, or a candidate's failed run) stays NaN, is never rejected,
    and still counts in m, as p = 1 would: a comparison that cannot be tested must not make
    the others' correction milder (a candidate failing in one scenario would otherwise ease
    its claims in every other)."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(pvalues)
    out = [float("nan")] * len(pvalues)
    running = 0.0
    for k, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - k) * p))
        out[i] = running
    return out


def num_text(x: float | None, spec: str = ".1f") -> str:
    """A number as a table shows it: "n/a" for a missing (None) or NaN value."""
    return "n/a" if x is None or x != x else format(x, spec)


def comparison_cells(c: dict, holm: bool = True) -> str:
    """The Markdown cells every confirmation table gives a paired comparison (a dict with mean,
    ci95, p, p_holm, per_draw_diff): 'difference ± CI | p | p (Holm) | per draw' (without
    ``holm``: no p (Holm) cell, and no p_holm needed)."""
    return (f"{num_text(c['mean'], '+.1f')} ± {num_text(c['ci95'], '.1f')} | "
            f"{num_text(c['p'], '.3g')} | "
            + (f"{num_text(c['p_holm'], '.3g')} | " if holm else "")
            + ", ".join(num_text(v, "+.1f") for v in c["per_draw_diff"]))


#: the metrics every row of a confirmation report has
REPORT_METRICS = ("auc", "final")


def finite_draws(metric_summary: dict) -> list[float]:
    """A report row's per-draw values in one metric, without the draws where its run failed."""
    return [v for v in metric_summary["per_draw"].values() if v is not None and math.isfinite(v)]


def ranking_mean(metric_summary: dict) -> float:
    """How a report row is ranked when a table picks its best (tuned) baseline or flags a
    shortcut: the mean of its finite per-draw values, NaN when it has none. A baseline whose
    run failed on some draw keeps its rank from the other draws instead of dropping out of
    "best" (which would hand a candidate a weaker rival); its summary mean stays NaN, and
    comparisons with it leave that draw out (``confirmation.report``)."""
    vals = finite_draws(metric_summary)
    return sum(vals) / len(vals) if vals else float("nan")


def eligible_best(metric_summary: dict) -> bool:
    """Whether a row may be a table's best: finite on at least two draws and on at least half
    of its draws (a row that failed on most draws is not the best because of the rest)."""
    n = len(finite_draws(metric_summary))
    return n >= 2 and 2 * n >= len(metric_summary["per_draw"])


def best_row(entries: Sequence[dict], metric: str) -> dict | None:
    """The ``eligible_best`` report entry with the highest ``ranking_mean`` in ``metric``
    (first of ties; None if no entry is eligible)."""
    ranked = [(ranking_mean(e[metric]), i) for i, e in enumerate(entries)
              if eligible_best(e[metric])]
    return entries[max(ranked, key=lambda r: (r[0], -r[1]))[1]] if ranked else None


def require_complete(entries: Sequence[dict], where: str) -> None:
    """Refuse (one-line ConfigError) unless every report entry given ran its scenario's whole
    grid of draws x seeds: a claim read off an unfinished confirmation would compare rows on
    fewer draws, or draw means over fewer seeds, than were declared. Reports record what each
    row lacks (``missing``, written by ``baselines.py report``); one without that record comes
    from older code and is refused too."""
    old = [e for e in entries if "missing" not in e]
    if old:
        raise ConfigError(f"{where}: the report does not record whether its rows are complete "
                          f"({old[0]['loss']}); write it again: python benchmarks/baselines.py "
                          "report <its .jsonl>")
    short = [e for e in entries if e["missing"]]
    if short:
        e = short[0]
        more = f" (and {len(short) - 1} more rows)" if len(short) > 1 else ""
        raise ConfigError(f"{where}: {e['scenario']}: {e['loss']}: {e['missing']}{more}; "
                          "finish the confirmation before reading a claim off it")


def read_report(path: str | Path) -> tuple[list[dict], list[dict]]:
    """(summary, comparisons) of a confirmation report (``<stem>.confirm.json`` written by
    ``benchmarks/baselines.py confirm``/``report``), checked, or a one-line ConfigError."""
    where = f"{path}: not a confirm report"
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: not JSON ({exc})") from None
    summary = data.get("summary") if isinstance(data, dict) else None
    comparisons = data.get("comparisons") if isinstance(data, dict) else None
    ok = isinstance(summary, list) and isinstance(comparisons, list) and all(
        isinstance(e, dict) and {"budget", "scenario", "loss"} <= set(e)
        and all(isinstance(e.get(m), dict) and isinstance(e[m].get("per_draw"), dict)
                and {"mean", "ci95"} <= set(e[m]) for m in REPORT_METRICS) for e in summary
    ) and all(isinstance(c, dict) and {"candidate", "metric", "p"} <= set(c) for c in comparisons)
    if not ok:
        raise ConfigError(f"{where} of baselines.py report (expected \"summary\": [{{budget, "
                          "scenario, loss, auc: {per_draw, mean, ci95}, final: {...}}, ...] and "
                          "\"comparisons\": [{candidate, metric, p, ...}, ...])")
    return summary, comparisons
