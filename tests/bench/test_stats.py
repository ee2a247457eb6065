"""lossforge/bench/stats.py against hand-worked values, a t-table and scipy."""

from __future__ import annotations

import math

import pytest

from lossforge.bench import stats
from lossforge.errors import ConfigError


def test_holm_by_hand():
    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> max so far 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02],
                                                                   abs=1e-15)
    # at alpha 0.05 Holm rejects 0.005 (<= 0.05/4) and 0.01 (<= 0.05/3), then stops at 0.03
    assert [p <= 0.05 for p in stats.holm([0.01, 0.04, 0.03, 0.005])] == [True, False, False,
                                                                          True]
    # a NaN (no test: too few draws, a failed candidate) stays NaN but counts in m, as p = 1
    # would: 0.02 x3 = 0.06, 0.6 x2 = 1.2 -> capped at 1
    out = stats.holm([0.02, float("nan"), 0.6])
    assert out[0] == pytest.approx(0.06) and math.isnan(out[1]) and out[2] == 1.0
    # the same family with the untestable comparison as p = 1 adjusts the others identically
    assert stats.holm([0.02, 1.0, 0.6])[0::2] == pytest.approx([out[0], out[2]])
    assert stats.holm([0.7, 0.9]) == [1.0, 1.0]


def test_t_distribution_against_the_table():
    # two-sided 5 % critical values from a t-table
    for df, t in ((1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228)):
        assert stats.t_quantile(0.975, df) == pytest.approx(t, abs=5e-4)
        assert stats.t_two_sided_p(t, df) == pytest.approx(0.05, abs=1e-4)   # 3-decimal table
    # df 1 is Cauchy: p = 1 - 2 atan(|t|) / pi
    assert stats.t_two_sided_p(3.0, 1) == pytest.approx(1 - 2 * math.atan(3.0) / math.pi,
                                                        rel=1e-12)


def test_t_quantile_below_the_median_by_symmetry():
    """Racing asks for 1 - delta_each, which can be under 1/2 (a --race-delta over 0.5 split
    over one comparison); Cauchy (df 1) has the closed form tan(pi (q - 1/2))."""
    for q in (0.1, 0.3, 0.5, 0.7, 0.975):
        assert stats.t_quantile(q, 1) == pytest.approx(math.tan(math.pi * (q - 0.5)),
                                                       rel=1e-12, abs=1e-15)
    with pytest.raises(ConfigError, match="q must lie in"):
        stats.t_quantile(1.0, 3)


def test_paired_t_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")   # installed here; the t-table test stands
    x, y = [3.1, 4.2, 2.0, 5.5, 3.3], [2.0, 4.0, 2.5, 3.0, 1.0]
    mine, ref = stats.paired_t(x, y), scipy_stats.ttest_rel(x, y)
    assert mine.t == pytest.approx(ref.statistic, rel=1e-12)
    assert mine.p == pytest.approx(ref.pvalue, rel=1e-10)
    d = [a - b for a, b in zip(x, y)]
    sd = math.sqrt(sum((v - sum(d) / 5) ** 2 for v in d) / 4)
    assert mine.mean == pytest.approx(sum(d) / 5)
    assert mine.ci95 == pytest.approx(scipy_stats.t.ppf(0.975, 4) * sd / math.sqrt(5), rel=1e-9)
    one = stats.paired_t([1.0], [0.5])
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.p)
    assert stats.paired_t([2.0, 3.0], [1.0, 2.0]).t == math.inf   # identical differences


def test_best_row_ranks_on_finite_draws_and_needs_most_of_them():
    """A row that failed on one of three draws is ranked on the other two (it is the best
    here: 12.5 > 10); one finite on a single draw of three is not eligible, however high."""
    nan = float("nan")

    def row(name, *vals):
        m = {"per_draw": {str(i + 1): v for i, v in enumerate(vals)}, "mean": nan, "ci95": nan}
        return {"loss": name, "auc": m}

    a, b, c = row("a", 9, 10, 11), row("b", 12, nan, 13), row("c", 99, nan, nan)
    assert stats.ranking_mean(b["auc"]) == 12.5 and stats.ranking_mean(c["auc"]) == 99
    assert not stats.eligible_best(c["auc"]) and stats.eligible_best(b["auc"])
    assert stats.best_row([c, a, b], "auc") is b
    assert stats.best_row([a, row("a2", 11, 10, 9)], "auc") is a          # first of ties
    assert stats.best_row([c], "auc") is None
