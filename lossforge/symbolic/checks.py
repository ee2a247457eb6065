"""Validity checks of a mirror map h on the open interval (0, 1).

Numeric first, symbolic second (``docs/design/mpo.md``, "Checking convexity fast"):

1. Non-smooth h (relu = Max(0, x), Min, Abs) is split at its kinks (where the branches cross)
   into smooth pieces: one-sided limits of h, h', h'' at each kink decide C2 (a jump: failed,
   the kink as witness) and convexity (h jumping or h' jumping down: failed; h' jumping up is
   convex), each piece is sampled as in 3 off the kinks, and no proof is tried (``sampled``
   at best). Other non-smooth functions (sign, floor, Piecewise, ...) are not analysed:
   ``sampled`` with holds False (neither shown nor refuted), never a guessed ``failed``.
2. h'' identically 0 (h affine): failed.
3. h, h', h'' sampled on 2000 points log-spaced towards both ends (one numpy lambdify). Any
   non-finite value or h'' <= 0 is re-evaluated in 40-digit mpmath before it counts, so float
   overflow (exp(1/p**2)) or underflow (p**30 near 0) is never mistaken for a failure; a point
   where h'' is confirmed negative is the witness. A point that high precision cannot settle
   either (|h''| within the resolution of 0, or too large to evaluate) is no witness: the
   verdict's detail names it instead of guessing.
4. Survivors get a symbolic proof attempt under a time limit: substitute p = t/(1+t) with t > 0
   (so SymPy's positivity reasoning sees 0 < p < 1), put h'' over a common denominator and ask
   the signs of numerator and denominator; rational h'' are settled exactly by real-root
   isolation (Sturm), which also finds isolated zeros such as (p - 1/2)**4.

Statuses: ``proved`` (a symbolic proof), ``sampled`` (passed sampling, no proof found),
``timeout`` (passed sampling, the proof ran out of time), ``failed`` (with a witness p).
No status is ever a guess: ``failed`` always comes with a point confirmed in high precision.

Size: one pipeline (sampling, kinks of non-smooth h, proof) whose steps share the grid and
the high-precision helpers; splitting it would scatter them.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, replace

import mpmath
import numpy as np
import sympy as sp

from lossforge.grammar.ops import to_elementary
from lossforge.symbolic.timelimit import TimeLimitExceeded, time_limit

PROVED, SAMPLED, FAILED, TIMEOUT = "proved", "sampled", "failed", "timeout"

_NONSMOOTH = (sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside, sp.DiracDelta, sp.Piecewise,
              sp.floor, sp.ceiling)
_MP_DPS = 40
_MAX_CONFIRM = 32  # flagged grid points re-evaluated in mpmath (most telling first)
_RESOLUTION = mpmath.mpf(10) ** -25  # |h''| / max(1, |h|) below this: indistinguishable from 0


@dataclass(frozen=True)
class Check:
    """The outcome of one check: how it is known, whether the property holds, and why."""

    status: str
    holds: bool
    witness: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class CheckReport:
    convex: Check
    differentiable: Check
    legendre: Check | None
    seconds: float

    @property
    def valid(self) -> bool:
        """Usable as a mirror map: strictly convex and twice differentiable (not refuted)."""
        return self.convex.holds and self.differentiable.holds

    def to_dict(self) -> dict:
        return asdict(self) | {"valid": self.valid}


def sample_grid(n: int = 2000) -> np.ndarray:
    """Points in (0, 1), log-spaced towards both ends (1e-12 and 1 - 1e-12), 0.5 included."""
    half = n // 2
    left = np.logspace(-12.0, np.log10(0.5), half)
    right = 1.0 - np.logspace(np.log10(0.5), -12.0, half)[1:]
    return np.concatenate([left, right])


_GRID = sample_grid()


def check_mirror_map(h: sp.Expr, p: sp.Symbol, *, time_limit_s: float = 1.0,
                     legendre: bool = True, derivatives: tuple[sp.Expr, ...] | None = None,
                     numeric=None, prove: bool = True, order: int = 2) -> CheckReport:
    """Run every validity check of mpo.md on h(p); see the module docstring.

    ``order=1`` checks a map given by its derivative instead: ``h`` is then h'(p) (a map written
    as phi~(l), whose antiderivative need not be elementary), and the same checks run one
    derivative lower (h' finite, h'' = d/dp h' > 0, h' -> -oo at 0+ for Legendre).
    ``derivatives``: the derivatives up to h'' ((h', h'') for order 2, (h'',) for order 1) if the
    caller has them already (MirrorMap caches them);
    ``numeric``: a function x -> [h, h', h''] (``numeric_derivatives``), likewise (for order 1:
    x -> [h', h'', ...]; entries past h'' are ignored).
    ``prove=False`` stops after sampling (status ``sampled`` at best): the fast screen a search
    can use in its inner loop, upgrading finalists with a proof later."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 (h' given) or 2 (h given), got {order}")
    start = time.perf_counter()
    convex, differentiable = _convexity(h, p, time_limit_s, derivatives, numeric, prove, order)
    leg = _legendre(h, p, time_limit_s, order) if legendre else None
    return CheckReport(convex, differentiable, leg, time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# convexity and differentiability
# --------------------------------------------------------------------------------------------


def _convexity(h: sp.Expr, p: sp.Symbol, limit: float,
               derivatives: tuple[sp.Expr, ...] | None = None,
               numeric=None, prove: bool = True, order: int = 2) -> tuple[Check, Check]:
    if not h.free_symbols <= {p}:
        extra = ", ".join(sorted(str(s) for s in h.free_symbols - {p}))
        bad = Check(FAILED, False, None, f"h depends on symbols other than p: {extra}")
        return bad, bad
    h = to_elementary(h)
    nodes = [e for e in sp.preorder_traversal(h) if isinstance(e, _NONSMOOTH)]
    if nodes:
        return _nonsmooth_convexity(h, p, nodes, order)
    # 1. numeric first: h, h', h'' on the grid by torch autograd (no symbolic derivative yet)
    failure, caveat = _sample(h, p, numeric or numeric_derivatives(h, p), order)
    if failure is not None:
        return failure
    convex, differentiable = _after_sampling(h, p, limit, derivatives, prove, order)
    if caveat and convex.status in (SAMPLED, TIMEOUT):   # a proof or a refutation supersedes it
        convex = replace(convex, detail=f"{convex.detail}; {caveat}")
    return convex, differentiable


def _after_sampling(h: sp.Expr, p: sp.Symbol, limit: float,
                    derivatives: tuple[sp.Expr, ...] | None, prove: bool,
                    order: int) -> tuple[Check, Check]:
    """The convexity and differentiability verdicts of an h that passed sampling: a symbolic
    proof attempt (unless ``prove`` is False)."""
    listed = "h, h', h''" if order == 2 else "h', h''"
    if not prove:
        ok = Check(SAMPLED, True, None, f"{listed} finite and h'' > 0 on {_GRID.size} points "
                   "(no proof attempted)")
        return ok, ok
    # 2. survivors only: symbolic derivatives and a proof attempt
    if derivatives is not None:
        h2 = to_elementary(tuple(derivatives)[-1])
    else:
        h2 = sp.diff(h, p, order)
    if h2 == 0:
        why = "h'' is identically 0 (h is affine in p)"
        return Check(FAILED, False, 0.5, why), Check(PROVED, True, None, "h is affine")

    diff_ok = Check(SAMPLED, True, None, f"{listed} finite on {_GRID.size} sample points")
    try:
        with time_limit(limit) as armed:
            if not armed and sp.count_ops(h2) > 60:
                detail = "proof skipped: no time limit available here and h'' is large"
                return Check(SAMPLED, True, None, detail), diff_ok
            proof = _prove_positive(h2, p)
    except TimeLimitExceeded:
        return Check(TIMEOUT, True, None, f"passed sampling; proof exceeded {limit:g} s"), diff_ok
    if proof is None:
        return Check(SAMPLED, True, None, "passed sampling; SymPy found no proof"), diff_ok
    ok, witness, how = proof
    if ok:
        return (Check(PROVED, True, None, how),
                Check(PROVED, True, None, "h'' is finite on (0,1) (" + how + ")"))
    return Check(FAILED, False, witness, how), diff_ok


_EXP_LIMIT = 1e5  # mpmath.exp(1e5) ~ 1e43429 is cheap; exp(exp(1e12)) would never finish
UNDECIDED = object()  # a value too large for any evaluation here: neither pass nor witness


def _guarded_exp(x):
    if abs(mpmath.re(x)) > _EXP_LIMIT:
        raise OverflowError("exp argument beyond the evaluation limit")
    return mpmath.exp(x)


def mp_lambdify(var: sp.Symbol, expr: sp.Expr):
    """mpmath lambdify whose exp refuses astronomically large arguments (OverflowError)."""
    return sp.lambdify(var, to_elementary(expr), modules=[{"exp": _guarded_exp}, "mpmath"],
                       docstring_limit=0)


def np_lambdify(var: sp.Symbol, exprs: list[sp.Expr]):
    """numpy lambdify of several expressions at once (no docstring: it costs 2/3 of the time)."""
    return sp.lambdify(var, [to_elementary(e) for e in exprs], modules="numpy", docstring_limit=0)


def _mp_eval(fn, x: float):
    """Evaluate an mpmath-lambdified function at x in 40 digits.

    Returns the real value, None when the function is undefined or not real there, or
    UNDECIDED when its magnitude is beyond what can be evaluated (exp of a huge argument).
    """
    with mpmath.workdps(_MP_DPS):
        try:
            v = fn(mpmath.mpf(x))
        except OverflowError:
            return UNDECIDED
        except (ZeroDivisionError, ValueError, TypeError):
            return None
        return _real_finite(v)


def _real_finite(v):
    """v as a real mpf, or None when it is complex (beyond rounding) or not finite."""
    if isinstance(v, mpmath.mpc):
        if abs(v.imag) > mpmath.mpf(10) ** (-30) * max(1, abs(v.real)):
            return None
        v = v.real
    return v if mpmath.isfinite(v) else None


def numeric_derivatives(h: sp.Expr, p: sp.Symbol):
    """Function x -> [h(x), h'(x), h''(x)] (numpy arrays) for float64 x.

    h is compiled to torch through the op table and differentiated by autograd, so no symbolic
    derivative is needed to sample; falls back to SymPy derivatives + lambdify when h uses
    something the op table cannot compile."""
    import torch

    from lossforge.symbolic.compile import CompileError, compile_torch

    try:
        f = compile_torch(h, [p])
    except CompileError:
        h1 = sp.diff(h, p)
        return np_lambdify(p, [h, h1, sp.diff(h1, p)])

    def numeric(x):
        xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
        y = f(xt)
        zeros = torch.zeros_like(xt)
        if not y.requires_grad:
            return [y.detach().numpy(), zeros.numpy(), zeros.numpy()]
        (g1,) = torch.autograd.grad(y.sum(), xt, create_graph=True)
        g2 = (torch.autograd.grad(g1.sum(), xt)[0] if g1.requires_grad else zeros)
        return [y.detach().numpy(), g1.detach().numpy(), g2.numpy()]

    return numeric


def _mp_confirm(fh, x: float, order: int = 2, dps: int = _MP_DPS):
    """[f, f', ..., f^(order)] at x in ``dps`` digits (derivatives by high-precision central
    differences with a step relative to the distance from 0 and 1, 10**-12 of it at 40 digits,
    smaller with more digits); None where undefined, UNDECIDED if too large."""
    with mpmath.workdps(dps + 20):
        xm = mpmath.mpf(x)
        step = min(xm, 1 - xm) * mpmath.mpf(10) ** -(dps * 3 // 10)
        try:
            vals = [fh(xm)] + [mpmath.diff(fh, xm, k, h=step) for k in range(1, order + 1)]
        except OverflowError:
            return UNDECIDED
        except (ZeroDivisionError, ValueError, TypeError):
            return None
        out = [_real_finite(v) for v in vals]
        return None if any(v is None for v in out) else out


def _sign_settled(fh, x: float, order: int, h2):
    """A tiny h'' (``h2``, at 40 digits) again at twice the digits and a smaller step: the
    value when both have the same sign (a real sign, not rounding or truncation noise), else
    None (unsettled)."""
    again = _mp_confirm(fh, x, order, dps=2 * _MP_DPS)
    if again is None or again is UNDECIDED or again[order] == 0 or h2 == 0:
        return None
    return again[order] if (again[order] < 0) == (h2 < 0) else None


def _sample(h, p, numeric, order: int = 2,
            grid: np.ndarray = _GRID) -> tuple[tuple[Check, Check] | None, str]:
    """Grid sampling with mpmath confirmation: (a failure pair, "") or, when sampling passed,
    (None, caveat); the caveat ("" if none) names the flagged points that high precision could
    not settle either way. ``numeric(x)`` gives [f, f', ...]; the first ``order + 1`` are used,
    the last of them is h''."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vals = [np.broadcast_to(np.asarray(v, dtype=complex), grid.shape)
                for v in numeric(grid)[:order + 1]]
    stacked = np.stack(vals)
    real_finite = np.isfinite(stacked).all(axis=0) & (np.abs(stacked.imag) == 0).all(axis=0)
    h2r = stacked[order].real
    bad = ~real_finite | (h2r <= 0)
    if not bad.any():
        return None, ""
    # undefined points first, then the most negative h'': the most telling witness
    ranked = np.lexsort((np.where(real_finite, h2r, -np.inf), real_finite))
    flagged = ranked[: int(bad.sum())]
    if flagged.size > _MAX_CONFIRM:  # confirm an evenly spread subset, ends included
        flagged = flagged[np.linspace(0, flagged.size - 1, _MAX_CONFIRM).round().astype(int)]
    fh = mp_lambdify(p, h)
    unresolved = []   # flagged points that prove nothing either way, described
    for i in flagged:
        x = float(grid[i])
        values = _mp_confirm(fh, x, order)
        if values is UNDECIDED:
            unresolved.append(f"h'' is too large to evaluate at p = {x:.15g}")
            continue
        if values is None:
            what = "h is not real, finite and twice" if order == 2 else "h' is not real, finite and"
            why = f"{what} differentiable at p = {x:.15g}"
            return (Check(FAILED, False, x, why), Check(FAILED, False, x, why)), ""
        h2 = values[order]
        if abs(h2) <= _RESOLUTION * max(1, abs(values[0])):   # tiny: its sign may be noise
            h2 = _sign_settled(fh, x, order, h2)
            if h2 is None:
                unresolved.append(f"h''(p) = {mpmath.nstr(values[order], 6)} at p = {x:.15g} "
                                  "is too small to tell from 0")
                continue
        if h2 < 0:
            diff_ok = Check(SAMPLED, True, None, "finite where sampled")
            return (Check(FAILED, False, x, f"h''(p) = {mpmath.nstr(h2, 6)} < 0 at "
                          f"p = {x:.15g}"), diff_ok), ""
    if not unresolved:
        return None, ""  # every flagged point was a float artefact
    return None, (f"sampling could not settle h'' > 0 at {len(unresolved)} point(s), e.g. "
                  f"{unresolved[0]}")


# --------------------------------------------------------------------------------------------
# non-smooth h (relu = Max(0, x), Min, Abs): kinks, smooth pieces and one-sided limits
# --------------------------------------------------------------------------------------------

_BRANCHED = (sp.Max, sp.Min, sp.Abs)   # continuous, smooth except where their branches cross
_KINK_DPS = 60
_JUMP = mpmath.mpf(10) ** -30   # one-sided limits differing by more (relative) jump
_NEAR_KINK = 1e-9               # grid points this close (relative) to a kink are not sampled


def _nonsmooth_convexity(h: sp.Expr, p: sp.Symbol, nodes: list, order: int) -> tuple[Check, Check]:
    """Verdicts for an h with Max/Min/Abs. h is smooth between its kinks (where branches cross:
    sign changes on the grid, refined in 60 digits); each smooth piece (the active branches) is
    sampled off the kinks like a smooth h, and at each kink the one-sided limits of h, h', h''
    (the two pieces' exact derivatives at the kink) are compared: any jump refutes C2; h jumping
    or h' jumping down refutes convexity, h' jumping up does not. At best ``sampled``: the kinks
    are found by sampling, and no proof is attempted."""
    names = ["h", "h'", "h''"][2 - order:]
    others = sorted({type(n).__name__ for n in nodes if not isinstance(n, _BRANCHED)})
    if others:
        c = Check(SAMPLED, False, None, f"{names[0]} contains {', '.join(others)}(...), whose "
                  "kinks are not analysed: neither shown nor refuted")
        return c, c
    kinks = _kink_points(nodes, p)
    bounds = [mpmath.mpf(0), *kinks, mpmath.mpf(1)]
    spans = list(zip(bounds, bounds[1:]))
    pieces = [_branch_at(h, p, (a + b) / 2) for a, b in spans]
    if None in pieces:
        x = float(sum(spans[pieces.index(None)]) / 2)
        if _mp_confirm(mp_lambdify(p, h), x, order) is None:
            why = f"{names[0]} is not real and finite at p = {x:.15g}"
            return Check(FAILED, False, x, why), Check(FAILED, False, x, why)
        c = Check(SAMPLED, False, None, f"the branch of {names[0]} at p = {x:.15g} is undecided")
        return c, c
    differentiable, convex = _kink_jumps(pieces, kinks, p, names)
    for piece, (a, b) in zip(pieces, spans):
        if convex is None and _is_zero(sp.diff(piece, p, order)):
            x = float((a + b) / 2)
            convex = Check(FAILED, False, x, f"h'' = 0 on ({mpmath.nstr(a, 15)}, "
                           f"{mpmath.nstr(b, 15)}): h is affine there, not strictly convex")
    far = np.ones(_GRID.shape, dtype=bool)
    for k in kinks:
        far &= np.abs(_GRID - float(k)) > _NEAR_KINK * min(float(k), 1 - float(k))
    caveats, n = [], int(far.sum())
    for piece, (a, b) in zip(pieces, spans):
        grid = _GRID[far & (_GRID > float(a)) & (_GRID < float(b))]
        if grid.size:
            failure, caveat = _sample(piece, p, numeric_derivatives(piece, p), order, grid)
            if failure is not None:
                if failure[1].status != FAILED and differentiable.status == FAILED:
                    failure = (failure[0], differentiable)
                return (convex or failure[0]), failure[1]
            caveats += [caveat] if caveat else []
    listed = ", ".join(names)
    if convex is None:
        convex = Check(SAMPLED, True, None, f"{listed} finite and h'' > 0 on {n} points off the "
                       f"kinks, h' continuous or jumping up at them (non-smooth {names[0]}: no "
                       "proof attempted)" + "".join(f"; {c}" for c in caveats[:1]))
    if differentiable.holds:
        differentiable = replace(differentiable, detail=f"{differentiable.detail}; {listed} "
                                 f"finite on {n} points off the kinks")
    return convex, differentiable


def _kink_jumps(pieces: list, kinks: list, p: sp.Symbol, names: list[str]):
    """(differentiable, convex failure or None) from the one-sided limits at each kink."""
    levels = [[mp_lambdify(p, sp.diff(piece, p, k)) for k in range(len(names))]
              for piece in pieces]
    differentiable = convex = None
    with mpmath.workdps(_KINK_DPS):
        for i, k in enumerate(kinks):
            x = float(k)
            for name, left, right in zip(names, levels[i], levels[i + 1]):
                lv, rv = _real_at(left, k), _real_at(right, k)
                if lv is None or rv is None:
                    c = Check(SAMPLED, False, None, f"the one-sided limits of {name} at the "
                              f"kink p = {x:.15g} could not be evaluated")
                    return differentiable or c, convex or c
                if abs(lv - rv) <= _JUMP * max(1, abs(lv), abs(rv)):
                    continue
                what = (f"{name} jumps from {mpmath.nstr(lv, 8)} to {mpmath.nstr(rv, 8)} at "
                        f"the kink p = {x:.15g}")
                differentiable = differentiable or Check(FAILED, False, x, what)
                if convex is None and name == "h":
                    convex = Check(FAILED, False, x, what + ": a convex function is continuous")
                if convex is None and name == "h'" and rv < lv:
                    convex = Check(FAILED, False, x, what + ": h' decreases, h is not convex")
    at = ", ".join(f"{float(k):.15g}" for k in kinks) or "none in (0,1)"
    ok = Check(SAMPLED, True, None, f"kinks p = {at}: one-sided limits of {', '.join(names)} "
               "agree to 30 digits")
    return differentiable or ok, convex


def _real_at(fn, x):
    """fn(x) as a real finite mpf at the current precision, else None."""
    try:
        return _real_finite(fn(x))
    except (OverflowError, ZeroDivisionError, ValueError, TypeError):
        return None


def _is_zero(expr: sp.Expr) -> bool:
    return expr == 0 or (sp.count_ops(expr) <= 40 and sp.simplify(expr) == 0)


def _switches(node: sp.Expr) -> list[sp.Expr]:
    """Functions whose sign changes are the kinks of a Max/Min (pairwise differences of the
    arguments) or an Abs (its argument)."""
    a = node.args
    if isinstance(node, sp.Abs):
        return [a[0]]
    return [a[i] - a[j] for i in range(len(a)) for j in range(i + 1, len(a))]


def _kink_points(nodes: list, p: sp.Symbol) -> list:
    """Every sign change on the grid of a switch of ``nodes``, bisected to ~1e-55 in 60 digits
    (mpf), sorted, duplicates merged."""
    found = []
    with mpmath.workdps(_KINK_DPS):
        for g in {s for node in nodes for s in _switches(node)}:
            fn = mp_lambdify(p, g)
            signs = [_sign_at(fn, mpmath.mpf(x)) for x in _GRID]
            nz = [i for i, s in enumerate(signs) if s]   # zero or undefined: no side
            found += [_bisect(fn, mpmath.mpf(_GRID[i]), mpmath.mpf(_GRID[j]), signs[i])
                      for i, j in zip(nz, nz[1:]) if signs[i] != signs[j]]
    out = []
    for k in sorted(found):
        if not out or k - out[-1] > mpmath.mpf(10) ** -40:
            out.append(k)
    return out


def _sign_at(fn, x) -> int:
    v = _real_at(fn, x)
    return 0 if v is None else int(mpmath.sign(v))


def _bisect(fn, lo, hi, s_lo: int):
    for _ in range(400):
        mid = (lo + hi) / 2
        s = _sign_at(fn, mid)
        if s == 0:
            return mid
        lo, hi = (mid, hi) if s == s_lo else (lo, mid)
        if hi - lo < mpmath.mpf(10) ** -55:
            break
    return (lo + hi) / 2


def _branch_at(expr: sp.Expr, p: sp.Symbol, x):
    """expr with each Max/Min/Abs replaced by its branch active at p = x (an mpf between
    kinks), innermost first; None when an argument is not real and finite at x."""
    if not expr.args or not expr.has(*_BRANCHED):
        return expr
    args = [_branch_at(a, p, x) for a in expr.args]
    if None in args:
        return None
    if not isinstance(expr, _BRANCHED):
        return expr.func(*args)
    with mpmath.workdps(_KINK_DPS):
        vals = [_real_at(mp_lambdify(p, a), x) for a in args]
    if None in vals:
        return None
    if isinstance(expr, sp.Abs):
        return args[0] if vals[0] >= 0 else -args[0]
    return args[vals.index(max(vals) if isinstance(expr, sp.Max) else min(vals))]


def _sign(expr: sp.Expr) -> int | None:
    """+1 / -1 when SymPy can decide the sign of expr (t > 0), else None.

    Cheapest forms first: as is, expanded (a polynomial with positive coefficients), and
    factored only while small (factoring dominates the cost of a proof)."""
    forms = [lambda: expr, lambda: sp.expand(expr)]
    if sp.count_ops(expr) <= 40:
        forms.append(lambda: sp.factor(expr))
    for make in forms:
        form = make()
        if form.is_positive:
            return 1
        if form.is_negative:
            return -1
    return None


def _prove_positive(h2: sp.Expr, p: sp.Symbol) -> tuple[bool, float | None, str] | None:
    """(True, None, how) when h'' > 0 on (0,1) is proved; (False, witness, why) when refuted;
    None when undecided."""
    if h2.is_rational_function(p):
        num, den = sp.fraction(sp.together(h2))
        result = _sturm(num, den, p)
        if result is not None:
            return result
    t = sp.Symbol("t", positive=True)
    e = sp.together(h2.subs(p, t / (1 + t)))
    num, den = sp.fraction(e)
    s_num, s_den = _sign(num), _sign(den)
    if s_num is not None and s_den is not None:
        if s_num * s_den > 0:
            return True, None, "numerator and denominator of h''(t/(1+t)) have one sign for t > 0"
        return False, 0.5, "h'' has a fixed negative sign on (0,1)"
    return None


def _roots_in_open_unit(poly: sp.Poly) -> list[sp.Expr]:
    if poly.degree() <= 0:
        return []
    return [r for r in sp.real_roots(poly) if (r > 0) == sp.true and (r < 1) == sp.true]


def _sturm(num: sp.Expr, den: sp.Expr, p: sp.Symbol):
    """Exact sign analysis of a rational h'' = num/den by real-root isolation."""
    try:
        pn, pd = sp.Poly(num, p), sp.Poly(den, p)
    except sp.PolynomialError:
        return None
    # real-root isolation needs exact coefficients in a plain domain (ZZ, QQ, an algebraic
    # field): not ZZ[E] or QQ[pi], which e or pi in either polynomial brings (1/(p (1 + e p)))
    if not all(d.is_Exact and not d.is_Composite for d in (pn.domain, pd.domain)):
        return None
    try:
        den_roots, num_roots = _roots_in_open_unit(pd), _roots_in_open_unit(pn)
    except NotImplementedError:   # a domain SymPy cannot isolate roots over: not decided here
        return None
    if den_roots:
        x = float(den_roots[0])
        return False, x, f"h'' has a pole at p = {x:.15g}"
    if num_roots:
        x = float(num_roots[0])
        return False, x, f"h''(p) = 0 at p = {x:.15g} (an isolated zero: not strictly convex)"
    half = sp.Rational(1, 2)
    sign = sp.sign(pn.eval(half)) * sp.sign(pd.eval(half))
    if sign > 0:
        return True, None, "rational h'': no real roots of numerator or denominator in (0,1) " \
                           "(Sturm) and h''(1/2) > 0"
    return False, 0.5, "rational h'' is negative on (0,1)"


# --------------------------------------------------------------------------------------------
# Legendre type: h'(p) -> -inf as p -> 0+
# --------------------------------------------------------------------------------------------


def _legendre(h: sp.Expr, p: sp.Symbol, limit: float, order: int = 2) -> Check:
    h1 = sp.diff(to_elementary(h), p) if order == 2 else to_elementary(h)
    try:
        with time_limit(limit) as armed:
            if armed or sp.count_ops(h1) <= 30:
                lim = sp.limit(h1, p, 0, "+")
                if lim == -sp.oo:
                    return Check(PROVED, True, None, "lim_{p->0+} h'(p) = -oo")
                if lim.is_extended_real:
                    return Check(PROVED, False, None, f"lim_{{p->0+}} h'(p) = {lim}")
    except TimeLimitExceeded:
        pass
    except (NotImplementedError, ValueError, TypeError, AttributeError):
        pass
    fn = mp_lambdify(p, h1)
    xs = [1e-10, 1e-30, 1e-100, 1e-300]
    vals = [_mp_eval(fn, x) for x in xs]
    if any(v is UNDECIDED for v in vals):
        return Check(SAMPLED, False, None, "h' too large to evaluate near 0")
    if any(v is None for v in vals):
        return Check(SAMPLED, False, None, "h' not finite near 0")
    decreasing = all(a > b for a, b in zip(vals, vals[1:]))
    holds = decreasing and vals[-1] < -10
    detail = "h'(p) at p = 1e-10 ... 1e-300: " + ", ".join(mpmath.nstr(v, 4) for v in vals)
    return Check(SAMPLED, holds, None, detail)
