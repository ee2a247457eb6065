"""The op table: the one place that says what every operator means.

Each ``Op`` gives, for one operator, its SymPy form, its torch kernel, its torch source and its
LaTeX form, plus the numeric domain of its arguments. Everything else is driven from this table,
so a new op is added here and nowhere else:

* the safe formula parser accepts exactly these function names (``symbolic/parser.py``);
* grammar files may only name these ops (``grammar/loader.py``);
* SymPy expressions compile to torch by looking up SymPy heads here (``symbolic/compile.py``),
  with ``applied_op`` (which op a SymPy node is) and ``power_op`` (which kernel computes a power);
* exported torch modules spell ops with the ``source`` templates (``symbolic/printers.py``)
  and define the kernels of ``kernel_sources`` (written into the module by
  ``objectives/torch_module.py``, ``_kernels``);
* LaTeX of derived expressions (``symbolic/printers.py``) and of trees uses the templates here;
* the text form of every op is its name (``symbolic/parser.py``, ``formula_text``; for
  lossforge's own SymPy functions also their ``str``: ``OpFunction``), and the report's MathML
  (``report/mathml.py``) writes an op as its LaTeX template does, by ``text`` where SymPy's
  notation is not the template's (``LATEX_DEPARTS``).

The table is validated when this module is imported (``validate_op_table``): every op must build
in every target, and SymPy and torch must agree numerically on sample points of its domain.

A few numerically careful functions that SymPy lacks (``log1mexp``, ``softplus``, ``logsigmoid``,
``sigmoid``) are defined here as SymPy ``Function`` classes with exact derivatives and an
elementary expansion (used for high-precision sampling with mpmath), and compile to the stable
torch kernels.
"""

from __future__ import annotations

import inspect
import math
import textwrap
from contextlib import contextmanager
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


class OpFunction(sp.Function):
    """A SymPy function whose text form is its op-table name (``log1mexp(x)``), so that the
    safe parser reads ``str(expr)`` back; its LaTeX is the op's template (the LaTeX printer of
    ``symbolic/printers.py``). Subclass it for a new op that SymPy has no function for, with
    ``fdiff`` (its exact derivative) and ``elementary`` (its form in exp/log, for mpmath)."""

    @staticmethod
    def elementary(*args: sp.Expr) -> sp.Expr:
        raise NotImplementedError

    def _eval_rewrite_as_elementary(self, *args, **kwargs):
        return self.elementary(*args)

    def _sympystr(self, printer):
        op = op_for_head(type(self))
        args = ", ".join(printer._print(a) for a in self.args)
        return f"{op.name if op is not None else type(self).__name__}({args})"


class Log1mexp(OpFunction):
    """log(1 - exp(x)) for x < 0; the stable form of log(1 - p) in the log domain."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return -1 / Expm1(-x)  # d/dx log(1 - e^x) = -e^x / (1 - e^x) = -1 / (e^-x - 1)

    @staticmethod
    def elementary(x):
        return sp.log(1 - sp.exp(x))


class Softplus(OpFunction):
    """log(1 + exp(x))."""

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])

    @staticmethod
    def elementary(x):
        return sp.log(1 + sp.exp(x))


class LogSigmoid(OpFunction):
    """log(sigmoid(x)) = -softplus(-x)."""

    def fdiff(self, argindex=1):
        return Sigmoid(-self.args[0])

    @staticmethod
    def elementary(x):
        return -sp.log(1 + sp.exp(-x))


class Sigmoid(OpFunction):
    """1 / (1 + exp(-x))."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return Sigmoid(x) * Sigmoid(-x)

    @staticmethod
    def elementary(x):
        return 1 / (1 + sp.exp(-x))


#: SymPy's codegen functions in the table, with their elementary expansion (lossforge's own
#: functions carry theirs: ``OpFunction.elementary``).
_CODEGEN_ELEMENTARY: dict[type, Callable[[sp.Expr], sp.Expr]] = {
    Log1p: lambda x: sp.log(1 + x),
    Expm1: lambda x: sp.exp(x) - 1,
}


def to_elementary(expr: sp.Expr) -> sp.Expr:
    """Rewrite lossforge's functions (every ``OpFunction`` head of the table, in table order)
    and SymPy's codegen functions into exp/log (for mpmath sampling)."""
    own = {h: h.elementary for op in OPS for h in op.heads
           if isinstance(h, type) and issubclass(h, OpFunction)}
    for cls, expand in (own | _CODEGEN_ELEMENTARY).items():
        if expr.has(cls):
            expr = expr.replace(cls, expand)
    return expr


# --------------------------------------------------------------------------------------------
# torch kernels (an exported torch module carries their source: see ``kernel_sources``)
# --------------------------------------------------------------------------------------------


def log1mexp(x):
    """log(1 - exp(x)) for x < 0, accurate near 0 and for very negative x (Maechler 2012)."""
    return torch.where(x > -0.6931471805599453, torch.log(-torch.expm1(x)),
                       torch.log1p(-torch.exp(x)))


def softplus(x):
    """log(1 + exp(x)) without overflow."""
    return torch.logaddexp(x, torch.zeros_like(x))


def step(x):
    """The Heaviside step, 1/2 at 0 as SymPy's ``Heaviside(x)``; its gradient is 0 (relu's
    derivative, which SymPy writes with it; torch's own heaviside has no backward)."""
    return (torch.sign(x) + 1) / 2


torch_log1mexp, torch_softplus = log1mexp, softplus  # the names lossforge code calls them by


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
    latex:   LaTeX template; ``{0}``, ``{1}`` are the arguments' LaTeX. For an op with a SymPy
             head it is exactly what the LaTeX printer prints for that head.
    domain:  per-argument open interval on which the op is defined (and smooth).
    heads:   SymPy classes that compile back to this op (reverse map for the torch compiler and
             the printers).
    infix:   the Python operator symbol for binary arithmetic ops (``+ - * / **``), else None.
    smooth:  infinitely differentiable on its domain (relu is not).
    source:  torch source template of the kernel (``{0}``... are the arguments' source), as an
             exported module spells it; ``torch``, ``F`` (torch.nn.functional) and the kernels
             this module defines by name (``log1mexp``, ``softplus``, ``step``) are in scope there.
    match:   the op's arguments from a SymPy node of one of its heads, or None when the node is
             not this op (default: the node's arguments; relu reads ``Max(0, x)`` as ``(x,)``).
    text:    its name in typeset output that is not LaTeX (the report's MathML), as the LaTeX
             template writes it (sigma for the sigmoid, H for step); default ``name``. Used for
             the ops SymPy does not typeset itself (lossforge's functions) and the ones whose
             LaTeX departs from SymPy's (``LATEX_DEPARTS``).
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
    source: str | None = None
    match: Callable[[sp.Expr], tuple | None] | None = None
    text: str | None = None


def _max_with_zero(e: sp.Expr) -> tuple | None:
    """``Max(0, x)`` -> ``(x,)``: the only Max that is relu."""
    others = [a for a in e.args if a != 0]
    return tuple(others) if len(e.args) == 2 and len(others) == 1 else None


def _heaviside_half(e: sp.Expr) -> tuple | None:
    """``Heaviside(x)`` (1/2 at 0) -> ``(x,)``; another value at 0 is not ``step``."""
    return e.args[:1] if len(e.args) == 1 or e.args[1] == sp.S.Half else None


OPS: tuple[Op, ...] = (
    # arithmetic (SymPy's Add/Mul/Pow are n-ary; the compiler and printers handle that)
    Op("add", 2, lambda a, b: a + b, torch.add, r"{0} + {1}", (REAL, REAL), (sp.Add,), "+",
       source="{0} + {1}"),
    Op("sub", 2, lambda a, b: a - b, torch.sub, r"{0} - {1}", (REAL, REAL), (), "-",
       source="{0} - {1}"),
    Op("mul", 2, lambda a, b: a * b, torch.mul, r"{0} {1}", (REAL, REAL), (sp.Mul,), "*",
       source="{0} * {1}"),
    Op("div", 2, lambda a, b: a / b, torch.div, r"\frac{{{0}}}{{{1}}}", (REAL, POS), (), "/",
       source="{0} / {1}"),
    Op("pow", 2, lambda a, b: a**b, _t_pow, r"{0}^{{{1}}}", (POS, REAL), (sp.Pow,), "**",
       source="torch.pow({0}, {1})"),
    Op("neg", 1, lambda a: -a, torch.neg, r"-{0}", (REAL,), source="-{0}"),
    Op("inv", 1, lambda a: 1 / a, torch.reciprocal, r"\frac{{1}}{{{0}}}", (POS,),
       source="torch.reciprocal({0})"),
    Op("square", 1, lambda a: a**2, torch.square, r"{0}^{{2}}", (REAL,),
       source="torch.square({0})"),
    Op("cube", 1, lambda a: a**3, lambda a: a * a * a, r"{0}^{{3}}", (REAL,),
       source="{0} * {0} * {0}"),
    Op("sqrt", 1, sp.sqrt, torch.sqrt, r"\sqrt{{{0}}}", (POS,), source="torch.sqrt({0})"),
    # exponentials and logarithms
    Op("exp", 1, sp.exp, torch.exp, r"e^{{{0}}}", (REAL,), (sp.exp,), source="torch.exp({0})"),
    Op("log", 1, sp.log, torch.log, r"\log{{\left({0} \right)}}", (POS,), (sp.log,),
       source="torch.log({0})"),
    Op("log1p", 1, Log1p, torch.log1p, r"\operatorname{{log1p}}{{\left({0} \right)}}", (GT_M1,),
       (Log1p,), source="torch.log1p({0})"),
    Op("expm1", 1, Expm1, torch.expm1, r"\operatorname{{expm}}_{{1}}{{\left({0} \right)}}",
       (REAL,), (Expm1,), source="torch.expm1({0})"),
    Op("log1mexp", 1, Log1mexp, log1mexp, r"\log\left(1 - e^{{{0}}}\right)", (NEG,),
       (Log1mexp,), source="log1mexp({0})"),
    Op("softplus", 1, Softplus, softplus, r"\operatorname{{softplus}}\left({0}\right)",
       (REAL,), (Softplus,), source="softplus({0})"),
    Op("logsigmoid", 1, LogSigmoid, F.logsigmoid, r"\log\sigma\left({0}\right)", (REAL,),
       (LogSigmoid,), source="F.logsigmoid({0})", text="log σ"),
    Op("sigmoid", 1, Sigmoid, torch.sigmoid, r"\sigma\left({0}\right)", (REAL,), (Sigmoid,),
       source="torch.sigmoid({0})", text="σ"),
    Op("xlogx", 1, lambda a: a * sp.log(a), lambda a: torch.special.xlogy(a, a),
       r"{0} \log\left({0}\right)", (POS,), source="torch.special.xlogy({0}, {0})"),
    # others
    Op("tanh", 1, sp.tanh, torch.tanh, r"\tanh{{\left({0} \right)}}", (REAL,), (sp.tanh,),
       source="torch.tanh({0})"),
    Op("sin", 1, sp.sin, torch.sin, r"\sin{{\left({0} \right)}}", (REAL,), (sp.sin,),
       source="torch.sin({0})"),
    Op("cos", 1, sp.cos, torch.cos, r"\cos{{\left({0} \right)}}", (REAL,), (sp.cos,),
       source="torch.cos({0})"),
    Op("relu", 1, lambda a: sp.Max(0, a), torch.relu, r"\max\left(0, {0}\right)", (REAL,),
       (sp.Max,), smooth=False, source="torch.relu({0})", match=_max_with_zero),
    # relu's derivative: SymPy writes h' of a map with relu with it, so phi~ needs it
    Op("step", 1, sp.Heaviside, step, r"H\left({0}\right)", (REAL,), (sp.Heaviside,),
       smooth=False, source="step({0})", match=_heaviside_half, text="H"),
)

#: Ops with a SymPy head whose LaTeX is not SymPy's, and why (the others print as SymPy does);
#: the report's MathML departs alike, writing the op's ``text`` (``report/mathml.py``)
LATEX_DEPARTS: dict[str, str] = {
    "step": "SymPy's theta(x) would read as the policy's parameters (pi_theta, ell_theta)",
}

#: x**(-1/2): a kernel of the compiler and the printers (one rounding), not a formula function
#: (formulas write ``1/sqrt(x)``), so it is not in ``OPS``.
RSQRT = Op("rsqrt", 1, lambda a: 1 / sp.sqrt(a), torch.rsqrt, r"\frac{{1}}{{\sqrt{{{0}}}}}",
           (POS,), source="torch.rsqrt({0})")

OP_BY_NAME: dict[str, Op] = {op.name: op for op in OPS}

#: Named constants a formula may use.
CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "E": sp.E}


def op_for_head(head: type) -> Op | None:
    """The op a SymPy head class compiles to (None if the table has none)."""
    return _OP_BY_HEAD.get(head)


_OP_BY_HEAD: dict[type, Op] = {h: op for op in OPS for h in op.heads}


def applied_op(e: sp.Expr) -> tuple[Op, tuple[sp.Expr, ...]] | None:
    """``(op, arguments)`` when ``e`` is an op of the table applied to arguments (``Max(0, x)``
    is relu of ``x``), else None. SymPy's n-ary Add/Mul/Pow are structure, not applications:
    the compiler and the printers take them apart themselves."""
    op = _OP_BY_HEAD.get(e.func)
    if op is None or op.infix is not None:
        return None
    args = op.match(e) if op.match is not None else e.args
    return (op, tuple(args)) if args is not None and len(args) == op.arity else None


def power_op(exponent: sp.Expr) -> tuple[Op, int | None]:
    """How ``x**exponent`` is computed: ``(op, k)``. A unary op (inv, square, sqrt, rsqrt) for
    the exponents that have one kernel; else ``pow`` with the integer ``k`` as its literal
    exponent, or with ``k = None`` when the exponent is an expression of its own."""
    if exponent == -1:
        return OP_BY_NAME["inv"], None
    if exponent == 2:
        return OP_BY_NAME["square"], None
    if exponent == sp.Rational(1, 2):
        return OP_BY_NAME["sqrt"], None
    if exponent == sp.Rational(-1, 2):
        return RSQRT, None
    return OP_BY_NAME["pow"], (int(exponent) if exponent.is_Integer else None)


def _kernel_source(op: Op) -> str | None:
    """The source of ``op``'s kernel when its ``source`` calls the kernel by the kernel's own
    name (the Python functions ``log1mexp`` and ``softplus`` above), else None."""
    name = getattr(op.torch, "__name__", None)
    if op.source is None or name is None or not op.source.startswith(f"{name}("):
        return None
    return textwrap.dedent(inspect.getsource(op.torch))


def _kernel_sources(ops: tuple[Op, ...]) -> dict[str, str]:
    return {op.name: text for op in ops if (text := _kernel_source(op)) is not None}


def kernel_sources() -> list[str]:
    """What an exported torch module defines before its formulas: the source of every kernel
    an op calls by name (``_kernel_source``), in table order. Read when the op enters the table
    (at import, or by ``extended``): a source file edited later cannot change an export."""
    return [_KERNEL_SOURCES[op.name] for op in OPS if op.name in _KERNEL_SOURCES]


@contextmanager
def extended(*new: Op):
    """The op table with ``new`` ops added (validated), restored on exit: how a test or an
    experiment tries an op without editing ``OPS``."""
    global OPS
    saved = (OPS, dict(OP_BY_NAME), dict(_OP_BY_HEAD), dict(_KERNEL_SOURCES))
    OPS = OPS + tuple(new)
    OP_BY_NAME.update((op.name, op) for op in new)
    _OP_BY_HEAD.update((h, op) for op in new for h in op.heads)
    try:
        validate_op_table(OPS)  # with the new ops in place: to_elementary expands them
        _KERNEL_SOURCES.update(_kernel_sources(new))
        yield
    finally:
        OPS = saved[0]
        for table, old in zip((OP_BY_NAME, _OP_BY_HEAD, _KERNEL_SOURCES), saved[1:]):
            table.clear()
            table.update(old)


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
    """Check every op builds in SymPy, torch, torch source and LaTeX and that SymPy and torch
    agree.

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
        if op.heads and op.infix is None:
            assert op.source is not None, (
                f"op {op.name}: a SymPy head reaches the torch exporter, which needs its source")
        if op.source is not None:
            op.source.format(*(f"x{i}" for i in range(op.arity)))
        syms = sp.symbols(f"a0:{op.arity}", real=True)
        expr = op.sympy(*syms)
        assert isinstance(expr, sp.Expr), f"op {op.name}: SymPy form is not an expression"
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
validate_op_table((RSQRT,))

#: kernel sources by op name, read once here (see ``kernel_sources``)
_KERNEL_SOURCES: dict[str, str] = _kernel_sources(OPS)
