"""The op table: the one place that says what every operator means.

Each ``Op`` gives, for one operator, its SymPy form, its torch form and its LaTeX form, plus the
numeric domain of its arguments. Everything else is driven from this table:

* the safe formula parser accepts exactly these function names (``symbolic/parser.py``);
* grammar files may only name these ops (``grammar/loader.py``);
* SymPy expressions compile to torch by looking up SymPy heads here (``symbolic/compile.py``);
* LaTeX of trees and of derived expressions uses the templates here.

The table is validated when this module is imported (``validate_op_table``): every op must build
in every target, and SymPy and torch must agree numerically on sample points of its domain.

A few numerically careful functions that SymPy lacks (``log1mexp``, ``softplus``, ``logsigmoid``,
``sigmoid``) are defined here as SymPy ``Function`` classes with exact derivatives and an
elementary expansion (used for high-precision sampling with mpmath), and compile to the stable
torch kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import sympy as sp
import torch
import torch.nn.functional as F
from sympy.codegen.cfunctions import expm1 as Expm1
from sympy.codegen.cfunctions import log1p as Log1p

# --------------------------------------------------------------------------------------------
# SymPy functions lossforge adds (stable kernels that SymPy has no name for)
# --------------------------------------------------------------------------------------------


class Log1mexp(sp.Function):
    """log(1 - exp(x)) for x < 0; the stable form of log(1 - p) in the log domain."""

    def _sympystr(self, printer):
        return "log1mexp(%s)" % printer._print(self.args[0])

    def fdiff(self, argindex=1):
        x = self.args[0]
        return -1 / Expm1(-x)  # d/dx log(1 - e^x) = -e^x / (1 - e^x) = -1 / (e^-x - 1)

    def _eval_rewrite_as_elementary(self, x, **kwargs):
        return sp.log(1 - sp.exp(x))

    def _latex(self, printer):
        return r"\log\left(1 - e^{%s}\right)" % printer._print(self.args[0])


class Softplus(sp.Function):
    """log(1 + exp(x))."""

    def _sympystr(self, printer):
        return "softplus(%s)" % printer._print(self.args[0])

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])

    def _eval_rewrite_as_elementary(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))

    def _latex(self, printer):
        return r"\operatorname{softplus}\left(%s\right)" % printer._print(self.args[0])


class LogSigmoid(sp.Function):
    """log(sigmoid(x)) = -softplus(-x)."""

    def _sympystr(self, printer):
        return "logsigmoid(%s)" % printer._print(self.args[0])

    def fdiff(self, argindex=1):
        return Sigmoid(-self.args[0])

    def _eval_rewrite_as_elementary(self, x, **kwargs):
        return -sp.log(1 + sp.exp(-x))

    def _latex(self, printer):
        return r"\log\sigma\left(%s\right)" % printer._print(self.args[0])


class Sigmoid(sp.Function):
    """1 / (1 + exp(-x))."""

    def _sympystr(self, printer):
        return "sigmoid(%s)" % printer._print(self.args[0])

    def fdiff(self, argindex=1):
        x = self.args[0]
        return Sigmoid(x) * Sigmoid(-x)

    def _eval_rewrite_as_elementary(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _latex(self, printer):
        return r"\sigma\left(%s\right)" % printer._print(self.args[0])


def _expand_cfunction(cls: type, x: sp.Expr) -> sp.Expr:
    return cls(x).rewrite(sp.exp if cls is Expm1 else sp.log)


#: SymPy functions that are not elementary, with their elementary expansion.
_NON_ELEMENTARY: dict[type, Callable[[sp.Expr], sp.Expr]] = {
    Log1mexp: lambda x: sp.log(1 - sp.exp(x)),
    Softplus: lambda x: sp.log(1 + sp.exp(x)),
    LogSigmoid: lambda x: -sp.log(1 + sp.exp(-x)),
    Sigmoid: lambda x: 1 / (1 + sp.exp(-x)),
    Log1p: lambda x: sp.log(1 + x),
    Expm1: lambda x: sp.exp(x) - 1,
}


def to_elementary(expr: sp.Expr) -> sp.Expr:
    """Rewrite lossforge's and SymPy's codegen functions into exp/log (for mpmath sampling)."""
    for cls, expand in _NON_ELEMENTARY.items():
        if expr.has(cls):
            expr = expr.replace(cls, expand)
    return expr


# --------------------------------------------------------------------------------------------
# torch kernels
# --------------------------------------------------------------------------------------------

_LN2 = math.log(2.0)


def torch_log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, accurate near 0 and for very negative x (Maechler 2012)."""
    return torch.where(x > -_LN2, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def torch_softplus(x: torch.Tensor) -> torch.Tensor:
    return torch.logaddexp(x, torch.zeros_like(x))


def _t_pow(a, b):
    return torch.pow(a, b)


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------

#: Argument domains, as open intervals (lo, hi); used to pick validation samples and to check
#: that grammar types feed ops only where they are defined.
REAL = (-math.inf, math.inf)
POS = (0.0, math.inf)
NEG = (-math.inf, 0.0)
GT_M1 = (-1.0, math.inf)


@dataclass(frozen=True)
class Op:
    """One operator in every target language.

    name:    how formulas, grammar files and trees spell it.
    arity:   number of arguments.
    sympy:   builds the SymPy expression from SymPy arguments.
    torch:   the torch kernel (elementwise on tensors).
    latex:   LaTeX template; ``{0}``, ``{1}`` are the arguments' LaTeX.
    domain:  per-argument open interval on which the op is defined (and smooth).
    heads:   SymPy classes that compile back to this op (reverse map for the torch compiler).
    infix:   the Python operator symbol for binary arithmetic ops (``+ - * / **``), else None.
    smooth:  infinitely differentiable on its domain (relu is not).
    """

    name: str
    arity: int
    sympy: Callable[..., sp.Expr]
    torch: Callable[..., torch.Tensor]
    latex: str
    domain: tuple[tuple[float, float], ...]
    heads: tuple[type, ...] = ()
    infix: str | None = None
    smooth: bool = True


OPS: tuple[Op, ...] = (
    # arithmetic (SymPy's Add/Mul/Pow are n-ary; the compiler handles that)
    Op("add", 2, lambda a, b: a + b, torch.add, r"{0} + {1}", (REAL, REAL), (sp.Add,), "+"),
    Op("sub", 2, lambda a, b: a - b, torch.sub, r"{0} - {1}", (REAL, REAL), (), "-"),
    Op("mul", 2, lambda a, b: a * b, torch.mul, r"{0} {1}", (REAL, REAL), (sp.Mul,), "*"),
    Op("div", 2, lambda a, b: a / b, torch.div, r"\frac{{{0}}}{{{1}}}", (REAL, POS), (), "/"),
    Op("pow", 2, lambda a, b: a**b, _t_pow, r"{0}^{{{1}}}", (POS, REAL), (sp.Pow,), "**"),
    Op("neg", 1, lambda a: -a, torch.neg, r"-{0}", (REAL,)),
    Op("inv", 1, lambda a: 1 / a, torch.reciprocal, r"\frac{{1}}{{{0}}}", (POS,)),
    Op("square", 1, lambda a: a**2, torch.square, r"{0}^{{2}}", (REAL,)),
    Op("cube", 1, lambda a: a**3, lambda a: a * a * a, r"{0}^{{3}}", (REAL,)),
    Op("sqrt", 1, sp.sqrt, torch.sqrt, r"\sqrt{{{0}}}", (POS,)),
    # exponentials and logarithms
    Op("exp", 1, sp.exp, torch.exp, r"e^{{{0}}}", (REAL,), (sp.exp,)),
    Op("log", 1, sp.log, torch.log, r"\log\left({0}\right)", (POS,), (sp.log,)),
    Op("log1p", 1, Log1p, torch.log1p, r"\log\left(1 + {0}\right)", (GT_M1,), (Log1p,)),
    Op("expm1", 1, Expm1, torch.expm1, r"\left(e^{{{0}}} - 1\right)", (REAL,), (Expm1,)),
    Op("log1mexp", 1, Log1mexp, torch_log1mexp, r"\log\left(1 - e^{{{0}}}\right)", (NEG,),
       (Log1mexp,)),
    Op("softplus", 1, Softplus, torch_softplus, r"\operatorname{{softplus}}\left({0}\right)",
       (REAL,), (Softplus,)),
    Op("logsigmoid", 1, LogSigmoid, F.logsigmoid, r"\log\sigma\left({0}\right)", (REAL,),
       (LogSigmoid,)),
    Op("sigmoid", 1, Sigmoid, torch.sigmoid, r"\sigma\left({0}\right)", (REAL,), (Sigmoid,)),
    Op("xlogx", 1, lambda a: a * sp.log(a), lambda a: torch.special.xlogy(a, a),
       r"{0} \log\left({0}\right)", (POS,)),
    # others
    Op("tanh", 1, sp.tanh, torch.tanh, r"\tanh\left({0}\right)", (REAL,), (sp.tanh,)),
    Op("sin", 1, sp.sin, torch.sin, r"\sin\left({0}\right)", (REAL,), (sp.sin,)),
    Op("cos", 1, sp.cos, torch.cos, r"\cos\left({0}\right)", (REAL,), (sp.cos,)),
    Op("relu", 1, lambda a: sp.Max(0, a), torch.relu, r"\max\left(0, {0}\right)", (REAL,),
       (sp.Max,), smooth=False),
)

OP_BY_NAME: dict[str, Op] = {op.name: op for op in OPS}

#: Named constants a formula may use.
CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "E": sp.E}


def op_for_head(head: type) -> Op | None:
    """The op a SymPy head class compiles to (None if the table has none)."""
    return _OP_BY_HEAD.get(head)


_OP_BY_HEAD: dict[type, Op] = {h: op for op in OPS for h in op.heads}


# --------------------------------------------------------------------------------------------
# Validation at import
# --------------------------------------------------------------------------------------------


def _samples(interval: tuple[float, float]) -> list[float]:
    lo, hi = interval
    if interval == REAL:
        return [-3.0, -0.7, 0.0, 0.4, 2.5]
    if interval == POS:
        return [1e-3, 0.3, 1.0, 2.2, 7.0]
    if interval == NEG:
        return [-30.0, -2.0, -0.6931, -0.3, -1e-6]
    return [lo + 0.01, lo + 0.5, lo + 1.3, lo + 4.0]


def validate_op_table(ops: tuple[Op, ...] = OPS) -> None:
    """Check every op builds in SymPy, torch and LaTeX and that SymPy and torch agree.

    Raises AssertionError naming the op; runs at import (about 20 ms).
    """
    import itertools

    names = [op.name for op in ops]
    assert len(names) == len(set(names)), f"duplicate op names in the op table: {names}"
    heads = [h for op in ops for h in op.heads]
    assert len(heads) == len(set(heads)), "a SymPy head maps to two ops"
    for op in ops:
        assert op.arity == len(op.domain), f"op {op.name}: arity {op.arity} != domain arity"
        op.latex.format(*(f"x_{i}" for i in range(op.arity)))
        syms = sp.symbols(f"a0:{op.arity}", real=True)
        expr = op.sympy(*syms)
        assert isinstance(expr, sp.Expr), f"op {op.name}: SymPy form is not an expression"
        sp.latex(expr)
        elementary = to_elementary(expr)
        for point in itertools.islice(itertools.product(*(_samples(d) for d in op.domain)), 12):
            exact = {s: sp.Rational(v) for s, v in zip(syms, point)}  # no float rounding
            want = complex(elementary.subs(exact).evalf(30))
            assert abs(want.imag) < 1e-12, f"op {op.name}: complex at {point}"
            got = op.torch(*(torch.tensor(v, dtype=torch.float64) for v in point)).item()
            tol = 1e-12 * max(1.0, abs(want.real))
            assert abs(got - want.real) <= tol, (
                f"op {op.name}: torch {got!r} != SymPy {want.real!r} at {point}")


validate_op_table()
