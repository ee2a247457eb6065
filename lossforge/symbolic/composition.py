"""Composition rules that prove a loss's properties in the margin D (properties.py): whether
an expression is monotone in D, and an exact Lipschitz bound in D, for every t in [0, 1].

The rules read the expression tree: sums of terms monotone the same way, a factor of constant
sign in t (bounded by interval arithmetic, ``t_range``) times a monotone term, increasing
functions of a monotone argument; Lipschitz constants multiply through compositions
(softplus, logsigmoid, tanh, atan, asinh, sin, cos, |x| have constant 1, sigmoid 1/4). A rule
that cannot tell returns None: the caller then samples, it never guesses.
"""

from __future__ import annotations

import mpmath
import sympy as sp
from sympy.codegen.cfunctions import expm1 as Expm1
from sympy.codegen.cfunctions import log1p as Log1p

from lossforge.grammar.ops import LogSigmoid, Sigmoid, Softplus

_INCREASING = (Softplus, LogSigmoid, Sigmoid, sp.tanh, sp.exp, sp.log, Log1p, Expm1, sp.atan,
               sp.asinh, sp.erf, sp.sinh)
_LIPSCHITZ = {Softplus: 1, LogSigmoid: 1, sp.tanh: 1, sp.atan: 1, sp.asinh: 1, sp.sin: 1,
              sp.cos: 1, sp.Abs: 1, Sigmoid: sp.Rational(1, 4)}


def t_range(e: sp.Expr, t: sp.Symbol):
    """An interval enclosing e(t) for t in [0, 1] (mpmath.iv), or None (unsupported)."""
    iv = mpmath.iv
    if e.is_Number:
        # a Rational's own numerator and denominator (nsimplify took 10-20 ms a number and
        # could return another rational: 333333333/10**9 -> 1/3, not an enclosure)
        p, q = (e.p, e.q) if e.is_Rational else (e, 1)
        try:
            return iv.mpf(int(p)) / iv.mpf(int(q)) if e.is_Rational else iv.mpf(float(e))
        except (TypeError, ValueError):
            return None
    if e == t:
        return iv.mpf([0, 1])
    if e.is_NumberSymbol:
        return iv.mpf(float(e))
    if isinstance(e, Sigmoid) and t_range(e.args[0], t) is None:
        return iv.mpf([0, 1])  # whatever its (real) argument, e.g. a length gate sigmoid(n - c)
    args = [t_range(a, t) for a in e.args]
    if any(a is None for a in args):
        return None
    try:
        if isinstance(e, sp.Add):
            out = args[0]
            for a in args[1:]:
                out = out + a
            return out
        if isinstance(e, sp.Mul):
            out = args[0]
            for a in args[1:]:
                out = out * a
            return out
        if isinstance(e, sp.Pow) and e.args[1].is_Integer:
            n = int(e.args[1])
            return args[0] ** n if n >= 0 else 1 / (args[0] ** -n)
        if isinstance(e, sp.exp):
            return iv.exp(args[0])
        if isinstance(e, Sigmoid):
            return 1 / (1 + iv.exp(-args[0]))
        if isinstance(e, sp.log):
            return iv.log(args[0]) if args[0].a > 0 else None
    except (ZeroDivisionError, ValueError):
        return None
    return None


def sign_on_t(c: sp.Expr, t: sp.Symbol) -> int | None:
    """+1 if c >= 0 for every t in [0, 1], -1 if c <= 0, else None."""
    r = t_range(c, t)
    if r is None:
        return None
    if r.a >= 0:
        return 1
    if r.b <= 0:
        return -1
    return None


def abs_on_t(c: sp.Expr, t: sp.Symbol):
    """An exact upper bound of |c(t)| on [0, 1] (|c| itself when c is a number), or None."""
    if c.is_Number:
        return abs(c)
    r = t_range(c, t)
    if r is None:
        return None
    top = max(abs(r.a), abs(r.b))
    return None if top == mpmath.inf else sp.Rational(float(top))


def _split(e: sp.Mul, d: sp.Symbol) -> tuple[sp.Expr, list[sp.Expr]]:
    coeff = [a for a in e.args if d not in a.free_symbols]
    return sp.Mul(*coeff), [a for a in e.args if d in a.free_symbols]


def monotone(e: sp.Expr, d: sp.Symbol, t: sp.Symbol) -> int | None:
    """+1 non-decreasing, -1 non-increasing, 0 constant in D (for all t in [0, 1]), None
    when the rules cannot tell."""
    if d not in e.free_symbols:
        return 0
    if e == d:
        return 1
    if isinstance(e, sp.Add):
        signs = {monotone(a, d, t) for a in e.args} - {0}
        return signs.pop() if len(signs) == 1 and None not in signs else None
    if isinstance(e, sp.Mul):
        c, fs = _split(e, d)
        if len(fs) != 1:
            return None
        s, m = sign_on_t(c, t), monotone(fs[0], d, t)
        return None if s is None or m is None else s * m
    if isinstance(e, _INCREASING) or isinstance(e, (sp.Max, sp.Min)):
        signs = {monotone(a, d, t) for a in e.args} - {0}
        return signs.pop() if len(signs) == 1 and None not in signs else None
    if isinstance(e, sp.Pow) and d not in e.args[1].free_symbols:
        n = e.args[1]
        if n.is_Integer and int(n) % 2 == 1 and n > 0:
            return monotone(e.args[0], d, t)
    return None


def lipschitz_bound(e: sp.Expr, d: sp.Symbol, t: sp.Symbol):
    """An upper bound of sup |de/dD| over D real and t in [0, 1] (exact), or None."""
    if d not in e.free_symbols:
        return sp.Integer(0)
    if e == d:
        return sp.Integer(1)
    if isinstance(e, sp.Add):
        parts = [lipschitz_bound(a, d, t) for a in e.args]
        return None if any(p is None for p in parts) else sp.Add(*parts)
    if isinstance(e, sp.Mul):
        c, fs = _split(e, d)
        if len(fs) != 1:
            return None
        bound, inner = abs_on_t(c, t), lipschitz_bound(fs[0], d, t)
        return None if bound is None or inner is None else bound * inner
    if isinstance(e, (sp.Max, sp.Min)):
        parts = [lipschitz_bound(a, d, t) for a in e.args]
        return None if any(p is None for p in parts) else sp.Max(*parts)
    for cls, k in _LIPSCHITZ.items():
        if isinstance(e, cls):
            inner = lipschitz_bound(e.args[0], d, t)
            return None if inner is None else k * inner
    return None
