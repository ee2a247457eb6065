"""Convexity, differentiability and Legendre checks on a varied set of maps.

Every expected status is derived by hand (h'' written out in the comment). Every failure must
carry a witness p in (0,1) at which an independent 50-digit evaluation confirms the failure:
h'' <= 0 there, or h / h'' not real and finite there.
"""

import mpmath
import pytest
import sympy as sp

from lossforge.symbolic.checks import FAILED, PROVED, SAMPLED, TIMEOUT, check_mirror_map
from lossforge.symbolic.mirror_map import P, MirrorMap

VALID = {PROVED, SAMPLED}

CASES = [
    # formula, convex holds, expected statuses (h'' by hand)
    ("p*log(p)", True, {PROVED}),                        # 1/p
    ("p*log(p) + (1-p)*log(1-p)", True, {PROVED}),       # 1/p + 1/(1-p)
    ("p**2", True, {PROVED}),                            # 2
    ("p**4", True, {PROVED}),                            # 12 p^2 > 0 on the open interval
    ("1/p", True, {PROVED}),                             # 2/p^3
    ("-log(p)", True, {PROVED}),                         # 1/p^2
    ("exp(p)", True, {PROVED}),                          # e^p
    ("-sqrt(p)", True, {PROVED}),                        # p^(-3/2)/4
    ("exp(1/p**2)", True, VALID),                        # overflows float64 near 0: not a failure
    ("p*log(p) + 3*p + 2", True, {PROVED}),              # constants and affine terms
    ("0.5*p**2 - 7", True, {PROVED}),
    ("-p**2", False, {FAILED}),                          # -2: concave
    ("sqrt(p)", False, {FAILED}),                        # -p^(-3/2)/4
    ("sin(p)", False, {FAILED}),                         # -sin p
    ("log(p)", False, {FAILED}),                         # -1/p^2
    ("(p - 0.5)**3", False, {FAILED}),                   # 6(p - 1/2): convex on half only
    ("p**3 - 1.5*p**2", False, {FAILED}),                # 6p - 3: convex on half only
    ("sin(6*p)", False, {FAILED}),                       # -36 sin 6p: changes sign
    ("(p - 0.5)**4", False, {FAILED}),                   # 12(p-1/2)^2: isolated zero at 1/2
    ("(p - 0.3)**4 + p**2/1000000", True, {PROVED}),     # h'' > 0 though tiny near 0.3
    ("log(p - 0.5)", False, {FAILED}),                   # undefined on (0, 1/2]
    ("sqrt(p - 0.25)", False, {FAILED}),                 # undefined on (0, 1/4)
    ("1/(p - 1/3)**2", False, {FAILED}),                 # pole at 1/3
    ("3*p + 1", False, {FAILED}),                        # affine: h'' = 0
    ("relu(p - 0.5)**2", False, {FAILED}),               # h'' = 0 on (0, 1/2): affine there
    # non-smooth maps: never proved (kinks are found by sampling), never a false failure
    ("p*log(p) + relu(p - 0.3)**3", True, {SAMPLED}),    # 1/p + 6 relu(p - 0.3) > 0
    ("p*log(p) + relu(p - 1/2)**2", True, {SAMPLED}),    # 1/p + 2 [p > 1/2]; h' continuous
    ("p*log(p) + relu(p - 0.3)", True, {SAMPLED}),       # 1/p off 0.3; h' jumps up by 1
    ("p*log(p) - relu(p - 0.5)", False, {FAILED}),       # h' jumps down by 1 at 1/2
]


def _confirm_failure(h: sp.Expr, x: float) -> bool:
    """Independent confirmation at the witness: h'' <= 0, h or h'' undefined there, or (float
    witness of an exact pole) |h''| astronomically large."""
    h2 = sp.diff(h, P, 2)
    xr = sp.Rational(x)
    if any(isinstance(e, (sp.Max, sp.Heaviside, sp.DiracDelta)) for e in sp.preorder_traversal(h2)):
        # non-smooth: h is not strictly convex at the witness: the centred second difference is
        # <= 0 there (h' jumps down at a kink: about -jump/d; h affine near it: 0)
        f = sp.lambdify(P, h, "mpmath")
        with mpmath.workdps(50):
            d = mpmath.mpf("1e-6")
            xm = mpmath.mpf(x)
            return (f(xm + d) - 2 * f(xm) + f(xm - d)) / d**2 <= 1e-30
    for e in (h, h2):
        v = sp.N(e.subs(P, xr), 50)
        if v.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or not v.is_real:
            return True
    v2 = sp.N(h2.subs(P, xr), 50)
    # a float witness of an exact pole sits within 1e-16 of it: |h''| is then astronomically large
    return bool(v2 <= 0) or bool(abs(v2) > 1e25)


@pytest.mark.parametrize("formula,holds,statuses", CASES)
def test_convexity_status(formula, holds, statuses):
    mm = MirrorMap.from_formula(formula)
    report = mm.check(time_limit_s=5.0)
    assert report.convex.holds is holds, report.convex
    assert report.convex.status in statuses, report.convex
    if report.convex.status == FAILED:
        x = report.convex.witness
        assert x is not None and 0 < x < 1, report.convex
        assert _confirm_failure(mm.h, x), f"witness p={x} does not confirm: {report.convex}"
    assert report.valid is (holds and report.differentiable.holds)


def test_differentiability_failures_name_the_point():
    for formula in ["log(p - 0.5)", "relu(p - 0.5)**2", "1/(p - 1/3)**2"]:
        report = MirrorMap.from_formula(formula).check()
        assert not report.valid
        c = report.differentiable if not report.differentiable.holds else report.convex
        assert c.witness is not None and 0 < c.witness < 1


def test_sturm_finds_the_exact_isolated_zero_and_pole():
    r = check_mirror_map(sp.Rational(1, 12) * (P - sp.Rational(2, 7))**4 + P**3 * 0, P)
    assert r.convex.status == FAILED and abs(r.convex.witness - 2 / 7) < 1e-12
    r = check_mirror_map(1 / (P - sp.Rational(1, 3))**2, P)
    assert r.convex.status == FAILED and abs(r.convex.witness - 1 / 3) < 1e-12


def test_timeout_status_when_the_proof_runs_out_of_time():
    # passes sampling, needs the non-rational proof path; a 1 microsecond limit cannot finish it
    r = check_mirror_map(sp.exp(P) + P * sp.log(P) + sp.sqrt(1 + P**2), P, time_limit_s=1e-6,
                         legendre=False)
    assert r.convex.status == TIMEOUT and r.convex.holds


@pytest.mark.parametrize("formula,legendre", [
    ("p*log(p)", True),                      # h' = log p + 1 -> -inf
    ("p*log(p) + (1-p)*log(1-p)", True),     # log-odds -> -inf
    ("-sqrt(p)", True),                      # -1/(2 sqrt p) -> -inf
    ("p**2", False),                         # 2p -> 0
    ("exp(p)", False),                       # e^p -> 1
])
def test_legendre_property(formula, legendre):
    c = MirrorMap.from_formula(formula).check().legendre
    assert c.holds is legendre and c.status in {PROVED, SAMPLED}


def test_semantic_hash_identifies_equal_links():
    h = MirrorMap.from_formula("p*log(p)").semantic_hash()
    assert MirrorMap.from_formula("p*log(p) + 3*p - 2").semantic_hash() == h
    assert MirrorMap.from_formula("log(p**p)").semantic_hash() == h
    assert MirrorMap.from_formula("2*p*log(p)").semantic_hash() != h
    assert (MirrorMap.from_formula("p*(p + 1)").semantic_hash()
            == MirrorMap.from_formula("p**2 + p").semantic_hash())
    assert (MirrorMap.from_formula("p**2").semantic_hash()
            != MirrorMap.from_formula("p**3").semantic_hash())


def test_a_time_limit_swallowed_by_a_finalizer_still_stops_the_block(capsys):
    """The alarm landing in a weakref callback (garbage collection inside SymPy) is swallowed
    by Python there; the limit must fire again and stop the block, silently (a search's log
    showed "Exception ignored in ... TimeLimitExceeded" and checks running on unlimited)."""
    import time
    import weakref

    from lossforge.symbolic.timelimit import TimeLimitExceeded, time_limit

    class Thing:
        pass

    def slow_callback(_ref) -> None:           # the alarm (0.05 s) fires in here
        t = time.perf_counter()
        while time.perf_counter() - t < 0.3:
            pass

    thing = Thing()
    ref = weakref.ref(thing, slow_callback)
    t0 = time.perf_counter()
    with pytest.raises(TimeLimitExceeded):
        with time_limit(0.05) as armed:
            assert armed
            del thing                          # runs the callback, which swallows the alarm
            while time.perf_counter() - t0 < 3.0:
                pass
    assert time.perf_counter() - t0 < 1.0 and ref() is None
    assert "TimeLimitExceeded" not in capsys.readouterr().err


def test_a_limit_that_fires_at_once_leaves_the_next_one_armed():
    """An alarm firing before the block even starts (a 1 microsecond limit) must still restore
    the handler and the 'one limit at a time' flag; before, the next limit never armed again
    in that process (every later check ran unlimited)."""
    import signal as sig

    from lossforge.symbolic.timelimit import TimeLimitExceeded, time_limit

    handler = sig.getsignal(sig.SIGALRM)
    for _ in range(50):
        try:
            with time_limit(1e-6):
                sum(range(10**5))
        except TimeLimitExceeded:
            pass
        assert sig.getsignal(sig.SIGALRM) is handler
    with time_limit(5.0) as armed:
        assert armed


def test_an_underflowing_positive_second_derivative_is_not_a_failure():
    """p**30: h'' = 870 p**28 > 0 on (0,1) (Sturm proves it), though at p = 1e-12 it is
    8.7e-334, 0.0 in float64 and below the sampling's resolution of 0."""
    r = MirrorMap.from_formula("p**30").check(time_limit_s=5.0)
    assert r.convex.holds and r.convex.status == PROVED, r.convex


def test_a_tiny_positive_second_derivative_is_settled_not_guessed():
    """p**262144 (what "((p**64)**64)**64" meant): h''(1e-12) = 262144*262143 * 1e-12**262142
    = 6.87192e-3145694 > 0, below the sampling's resolution of 0 but positive again at twice
    the digits: sampled, holds, and never called <= 0."""
    r = check_mirror_map(P**262144, P, prove=False, legendre=False)
    assert r.convex.status == SAMPLED and r.convex.holds, r.convex
    assert "<= 0" not in r.convex.detail and "could not settle" not in r.convex.detail


def test_a_tiny_negative_second_derivative_confirmed_at_twice_the_digits_fails():
    """h = p**40 e^p - 1e-20 p**30: h'' = p**28 (p**10 e^p (p**2 + 80 p + 1560) - 8.7e-18), so
    h'' < 0 where p**10 * 1560 < 8.7e-18, p < about 0.0094: tiny values (about -1e-75) but a
    real sign, the same at 40 and 80 digits. A review found the sampler had let it pass."""
    h = P**40 * sp.exp(P) - sp.Rational(1, 10**20) * P**30
    r = check_mirror_map(h, P, prove=False, legendre=False)
    assert r.convex.status == FAILED and not r.convex.holds, r.convex
    assert 0 < r.convex.witness < 0.0094 and _confirm_failure(h, r.convex.witness)
    assert r.convex.detail.startswith("h''(p) = -")


def test_a_tiny_value_whose_sign_changes_with_the_digits_is_named_not_guessed(monkeypatch):
    """Where the 40- and 80-digit values of a tiny h'' disagree in sign, the point proves
    nothing: the verdict passes with the point named in its detail (never a witness)."""
    from lossforge.symbolic import checks

    real = checks._mp_confirm

    def noisy(fh, x, order=2, dps=checks._MP_DPS):
        values = real(fh, x, order, dps)
        if values in (None, checks.UNDECIDED) or x > 1e-9:
            return values
        return values[:order] + [mpmath.mpf("-1e-40") if dps == checks._MP_DPS else
                                 mpmath.mpf("1e-41")]

    monkeypatch.setattr(checks, "_mp_confirm", noisy)
    r = check_mirror_map(P**30, P, prove=False, legendre=False)
    assert r.convex.status == SAMPLED and r.convex.holds, r.convex
    assert "sampling could not settle h'' > 0 at " in r.convex.detail
    assert "is too small to tell from 0" in r.convex.detail


def test_a_negative_second_derivative_still_fails_with_its_sign():
    """-p**30: h'' = -870 p**28 < 0, about -870 near p = 1 (where the most negative sample,
    the witness, is); its tiny values near 0 do not hide that."""
    r = check_mirror_map(-P**30, P, prove=False, legendre=False)
    assert r.convex.status == FAILED and not r.convex.holds
    assert r.convex.witness > 0.5 and _confirm_failure(-P**30, r.convex.witness)
    assert r.convex.detail.startswith("h''(p) = -870.0 < 0 at p = "), r.convex.detail


# Non-smooth maps (relu = Max(0, x)): h is smooth between its kinks; at a kink x0 the one-sided
# limits of h, h', h'' decide C2 (any jump: failed, witness x0) and convexity (h' jumping down:
# failed; h' jumping up: still strictly convex). By hand, with g = relu(p - x0):
#   p log p + g**3,  x0 = 0.3: h' = log p + 1 + 3 g**2, h'' = 1/p + 6 g: both continuous (g -> 0
#       from both sides), h'' > 0: strictly convex and C2, sampled (not proved).
#   p log p + g**2,  x0 = 1/2: h' = log p + 1 + 2 g continuous and increasing;
#                               h'' = 1/p + 2 [p > 1/2]
#       jumps from 2 to 4 at 1/2: strictly convex (sampled), C2 failed at 0.5.
#   p log p + g,     x0 = 0.3: h' = log p + 1 + [p > 0.3] jumps UP by 1 at 0.3, h'' = 1/p > 0 on
#       both pieces: strictly convex (sampled), not C1 so C2 failed at 0.3.
#   p log p - g,     x0 = 1/2: h' jumps DOWN by 1 at 1/2: not convex, failed at 0.5 (both checks).
#   relu(p - 1/2)**2: h'' = 0 on (0, 1/2): not strictly convex (witness in (0, 1/2)); h'' jumps
#       0 -> 2 at 1/2: C2 failed at 0.5.
NONSMOOTH = [
    # formula, (convex status, holds, witness), (C2 status, holds, witness)
    ("p*log(p) + relu(p - 0.3)**3", (SAMPLED, True, None), (SAMPLED, True, None)),
    ("p*log(p) + relu(p - 1/2)**2", (SAMPLED, True, None), (FAILED, False, 0.5)),
    ("p*log(p) + relu(p - 0.3)", (SAMPLED, True, None), (FAILED, False, 0.3)),
    ("p*log(p) - relu(p - 0.5)", (FAILED, False, 0.5), (FAILED, False, 0.5)),
    ("relu(p - 1/2)**2", (FAILED, False, "left"), (FAILED, False, 0.5)),
    ("p*log(p)", (PROVED, True, None), (PROVED, True, None)),   # smooth: unchanged
]


def _agrees(check, expected):
    status, holds, witness = expected
    assert (check.status, check.holds) == (status, holds), check
    if witness == "left":
        assert 0 < check.witness < 0.5, check
    elif witness is None:
        assert check.witness is None, check
    else:
        assert check.witness == pytest.approx(witness, abs=1e-12), check


@pytest.mark.parametrize("formula,convex,c2", NONSMOOTH)
def test_non_smooth_map_verdicts_are_true(formula, convex, c2):
    report = MirrorMap.from_formula(formula).check(time_limit_s=5.0)
    _agrees(report.convex, convex)
    _agrees(report.differentiable, c2)
    # the search's acceptance rule is unchanged: strictly convex AND C2
    assert report.valid is (convex[1] and c2[1])


def test_non_smooth_c2_witness_is_a_real_jump():
    """Independent check of a C2 witness: h'' just left and right of 0.5 differ by 2 (50 digits)."""
    h = MirrorMap.from_formula("p*log(p) + relu(p - 1/2)**2").h
    report = check_mirror_map(h, P, time_limit_s=5.0)
    x = report.differentiable.witness
    f = sp.lambdify(P, h, "mpmath")
    with mpmath.workdps(50):
        d, xm = mpmath.mpf("1e-8"), mpmath.mpf(x)
        left = (f(xm - d) - 2 * f(xm - 2 * d) + f(xm - 3 * d)) / d**2
        right = (f(xm + 3 * d) - 2 * f(xm + 2 * d) + f(xm + d)) / d**2
    assert abs((right - left) - 2) < 1e-4


def test_grid_point_on_a_kink_is_no_witness():
    """0.5 is a sample point and the kink of relu(p - 1/2): sampling it must not refute."""
    report = check_mirror_map(MirrorMap.from_formula("p*log(p) + relu(p - 1/2)**3").h, P)
    assert (report.convex.status, report.differentiable.status) == (SAMPLED, SAMPLED)
    assert report.valid


@pytest.mark.parametrize("scale, at_minus_30", [("1e300", -3e301), ("1e307", float("-inf"))])
def test_a_map_with_values_near_the_float64_limit_compiles(scale, at_minus_30):
    """h = c p log p: phi^-1(p) = c (log p + 1), so phi~(l) = c l up to its constant, by hand.
    At the grid's l = -30, c = 1e300 gives -3e301, finite in float64 (to 1.8e308): the compiled
    phi~ gives it, and the check used to fail the map ("disagrees", equal to 15 digits) as it
    required +-inf above 1e300. c = 1e307 gives -3e308, beyond float64: -inf."""
    import torch

    fn = MirrorMap.from_formula(f"p*log(p)*{scale}").compile()   # raised CheckError before
    got = fn(torch.tensor([-30.0], dtype=torch.float64)).item()
    assert got == pytest.approx(at_minus_30, rel=1e-12)


@pytest.mark.parametrize("shift", ["1", "100"])
def test_a_rational_h2_with_e_in_its_denominator_is_decided_not_a_crash(shift):
    """phi~(l) = logsigmoid(l + c): h'(p) = logsigmoid(log p + c), so by hand
    h''(p) = 1 / (p (1 + e^c p)) > 0 on (0,1): convex, C2, and h' -> -inf at 0. The
    denominator's coefficients hold e (SymPy's ZZ[E]), where real-root isolation raised
    NotImplementedError through `formula` and `distill`."""
    res = MirrorMap.from_formula(f"logsigmoid(l + {shift})").check(time_limit_s=5.0)
    assert res.convex.holds is True and res.convex.status == PROVED
    assert res.differentiable.holds is True
    assert res.legendre.holds is True


def test_each_ops_smooth_flag_is_what_the_checks_see_in_its_elementary_form():
    """The checks find kinks in h after ``to_elementary`` (every op of the table has an
    elementary form, so an op's own head never reaches them): an op the table calls not smooth
    (``Op.smooth``: relu, step) must expand to a head the checks treat as a kink, and a smooth
    one to none, so the table's flag and the checks cannot disagree."""
    from lossforge.grammar import ops
    from lossforge.symbolic.checks import _NONSMOOTH

    x, y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)
    for op in ops.OPS:
        e = ops.to_elementary(op.sympy(*(x, y)[:op.arity]))
        kinks = [n for n in sp.preorder_traversal(e) if isinstance(n, _NONSMOOTH)]
        assert bool(kinks) == (not op.smooth), (op.name, e)
