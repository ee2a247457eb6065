"""phi~(l) = phi^-1(exp(l)): the link from a log-probability l < 0 to the mirror space.

Losses see log-probabilities, never probabilities: exp(l) underflows for summed log-probs of
long responses (l = -500) and 1 - exp(l) cancels for l near 0. So phi~ is derived symbolically
and rewritten into stable kernels before it is compiled:

* log(exp(x))       -> x              (SymPy does this itself for real x)
* log(a * b**k)     -> log(a) + k log(b)   when every factor is provably positive for l < 0
* log(1 - exp(x))   -> log1mexp(x)
* log(1 + exp(x))   -> softplus(x)
* 1 - exp(x)        -> -expm1(x),  exp(x) - 1 -> expm1(x)

Positivity "for l < 0" is decided by substituting exp(l) = 1/(1+u) with u > 0, which lets
SymPy's assumptions see both exp(l) > 0 and 1 - exp(l) > 0.
"""

from __future__ import annotations

import sympy as sp

from lossforge.grammar.ops import Expm1, Log1mexp, Softplus
from lossforge.grammar.symbols import L

_U = sp.Symbol("u", positive=True)


def log_domain(phi_inv: sp.Expr, p: sp.Symbol) -> sp.Expr:
    """phi~(l) = phi_inv(exp(l)), in the stable form described in the module docstring."""
    return stabilise(phi_inv.subs(p, sp.exp(L)))


def stabilise(expr: sp.Expr) -> sp.Expr:
    """Apply the rewrite rules bottom-up."""
    if not expr.args:
        return expr
    args = [stabilise(a) for a in expr.args]
    expr = expr.func(*args) if args != list(expr.args) else expr
    if isinstance(expr, sp.log):
        return _stable_log(expr.args[0])
    if expr.is_Add:
        x = _one_minus_exp(expr)
        if x is not None:
            return -Expm1(x)
        x = _one_minus_exp(-expr)
        if x is not None:
            return Expm1(x)
    return expr


def _one_minus_exp(e: sp.Expr) -> sp.Expr | None:
    """x when e is 1 - exp(x), else None."""
    if e.is_Add and len(e.args) == 2 and sp.S.One in e.args:
        other = e.args[0] if e.args[1] == 1 else e.args[1]
        neg = -other
        if isinstance(neg, sp.exp):
            return neg.args[0]
    return None


def _positive_for_negative_l(e: sp.Expr) -> bool:
    e = e.replace(Expm1, lambda x: sp.exp(x) - 1)
    return bool(e.subs(sp.exp(L), 1 / (1 + _U)).is_positive) or bool(e.is_positive)


def _stable_log(arg: sp.Expr) -> sp.Expr:
    factors = sp.Mul.make_args(arg)
    if len(factors) > 1 or arg.is_Pow:
        parts = [f.as_base_exp() for f in factors]
        if parts[0] == (sp.S.NegativeOne, 1):  # fold the sign into an odd power of expm1
            odd = [i for i, (b, k) in enumerate(parts)
                   if isinstance(b, Expm1) and k.is_integer and k.is_odd]
            if odd:
                b, k = parts[odd[0]]
                parts = [(-b, k) if i == odd[0] else bk for i, bk in enumerate(parts)][1:]
        if all(_positive_for_negative_l(b) for b, _ in parts):
            return sp.Add(*(k * _stable_log_factor(b) for b, k in parts))
    return _stable_log_factor(arg)


def _stable_log_factor(b: sp.Expr) -> sp.Expr:
    if isinstance(b, sp.exp):
        return b.args[0]
    if isinstance(b, Expm1):           # log(expm1(x)) arises from log(exp(x) - 1)
        return sp.log(b)
    x = _one_minus_exp(b)
    if x is not None:
        return Log1mexp(x)
    if b.is_Mul and b.args[0] == -1 and isinstance(b.args[1], Expm1) and len(b.args) == 2:
        return Log1mexp(b.args[1].args[0])  # log(-expm1(x)) = log(1 - e^x)
    if b.is_Add and len(b.args) == 2 and sp.S.One in b.args:
        other = b.args[0] if b.args[1] == 1 else b.args[1]
        if isinstance(other, sp.exp):
            return Softplus(other.args[0])
    return sp.log(b)
