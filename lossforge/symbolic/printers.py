"""SymPy expressions as torch source and as LaTeX, both driven by the op table.

* ``expr_source(expr, names)``: torch source of an expression, what an exported module
  (``objectives/torch_module.py``) returns from its functions. Every op is spelled with its
  ``source`` template (``lossforge.grammar.ops``); SymPy's n-ary Add/Mul/Pow are printed as
  Python arithmetic, a product with negative powers as one division and a power by the kernel
  ``ops.power_op`` names, exactly as the compiler (``symbolic/compile.py``) computes them.
* ``latex(expr)``: SymPy's LaTeX printer, except that every application of an op prints with
  the op's ``latex`` template (for SymPy's own heads the template is what SymPy prints).

Nothing a user typed is copied into source as code: expressions are printed from SymPy trees and
numbers as float literals.
"""

from __future__ import annotations

import math
import re
from typing import Mapping

import sympy as sp
from sympy.printing.latex import LatexPrinter as _SympyLatexPrinter

from lossforge.errors import LossforgeError
from lossforge.grammar.ops import LATEX_DEPARTS, OpFunction, applied_op, power_op, to_elementary
from lossforge.symbolic.compile import split_fraction

__all__ = ["ExportError", "LatexPrinter", "constant_value", "expr_source", "latex",
           "number_source"]


class ExportError(LossforgeError):
    """An objective (or expression) cannot be written as standalone torch source."""


# ---- torch source ----------------------------------------------------------------------------

# precedence levels of the printed forms (higher binds tighter)
_ADD, _MUL, _UNARY, _POW, _ATOM = 1, 2, 3, 4, 5

#: a source template that is one call, ``name(...)``: it binds as an atom and takes its
#: arguments bare (any other template is bracketed and brackets its arguments)
_CALL = re.compile(r"[\w.]+\(.*\)")


def number_source(value: float) -> str:
    """A finite float as a Python literal (``ExportError`` for inf and nan)."""
    if not math.isfinite(value):
        raise ExportError(f"constant {value!r} is not a finite number")
    return repr(float(value))


def constant_value(e: sp.Expr) -> float:
    """The float value of a constant expression (one without free symbols), for any op of the
    table. SymPy evaluates its own numbers and functions; lossforge's functions (``softplus``,
    ``sigmoid``, ``log1mexp``...: ``OpFunction``) have no numeric evaluation in SymPy, so the
    constant is evaluated in its elementary form (``ops.to_elementary``: exp/log) at 30 digits
    and rounded once to float. ``ExportError`` when the value is not real (``log1mexp(1)``)."""
    try:
        return float(e)
    except TypeError:
        pass
    try:
        return float(to_elementary(e).evalf(30))
    except TypeError:
        raise ExportError(f"constant {e} is not a real number") from None


def expr_source(expr: sp.Expr, names: Mapping[sp.Symbol, str]) -> str:
    """torch source of ``expr``, a SymPy expression (never a string: SymPy's ``sympify`` would
    evaluate it as Python; parse text with ``parser.parse_formula``); ``names`` maps each free
    symbol to a Python identifier."""
    if not isinstance(expr, (sp.Basic, int, float)):
        raise TypeError(f"expr_source takes a SymPy expression, not {type(expr).__name__} "
                        "(parse formula text with lossforge.symbolic.parser.parse_formula)")
    return _print(sp.S(expr), names)[0]


def _wrap(printed: tuple[str, int], level: int) -> str:
    text, prec = printed
    return f"({text})" if prec < level else text


def _print(e: sp.Expr, names) -> tuple[str, int]:
    if not e.free_symbols:
        value = constant_value(e)
        return (number_source(value), _ATOM if value >= 0 else _UNARY)
    if e.is_Symbol:
        if e not in names:
            raise ExportError(f"expression uses {e}, which is not an input here")
        return (names[e], _ATOM)
    if e.is_Add:
        return _print_add(e, names)
    if e.is_Mul:
        return _print_mul(e, names)
    if e.is_Pow:
        return _print_pow(e.base, e.exp, names)
    found = applied_op(e)
    if found is None:
        raise ExportError(f"no torch spelling for {e.func.__name__} in {e}")
    op, args = found
    return _apply_source(op.source, [_print(a, names) for a in args])


def _apply_source(template: str, args: list[tuple[str, int]]) -> tuple[str, int]:
    if _CALL.fullmatch(template):
        return (template.format(*(text for text, _ in args)), _ATOM)
    return (f"({template.format(*(_wrap(a, _ATOM) for a in args))})", _ATOM)


def _print_add(e: sp.Expr, names) -> tuple[str, int]:
    terms = list(e.as_ordered_terms())
    text = _wrap(_print(terms[0], names), _ADD)
    for term in terms[1:]:
        # a constant SymPy cannot evaluate (-log1mexp(-1)) is subtracted by its value's sign
        if (term.could_extract_minus_sign() if term.free_symbols
                else constant_value(term) < 0):
            text += " - " + _wrap(_print(-term, names), _MUL)
        else:
            text += " + " + _wrap(_print(term, names), _ADD + 1)
    return (text, _ADD)


def _print_mul(e: sp.Expr, names) -> tuple[str, int]:
    coeff, num, den = split_fraction(e)
    if coeff < 0:
        return ("-" + _wrap(_print(-e, names), _UNARY), _UNARY)
    parts = ([number_source(float(coeff))] if coeff != 1 else [])
    parts += [_wrap(_print(f, names), _MUL) for f in num]
    text = " * ".join(parts) if parts else "1.0"
    if den:
        bottom = " * ".join(_wrap(_print(f, names), _MUL) for f in den)
        bottom = f"({bottom})" if len(den) > 1 else _wrap(_print(den[0], names), _MUL + 1)
        text = f"{_wrap((text, _MUL if len(parts) > 1 else _ATOM), _MUL)} / {bottom}"
    return (text, _MUL)


def _print_pow(base: sp.Expr, exp: sp.Expr, names) -> tuple[str, int]:
    op, k = power_op(exp)
    args = [_print(base, names)]
    if op.arity == 2:
        args.append((str(k), _ATOM) if k is not None else _print(exp, names))
    return _apply_source(op.source, args)


# ---- LaTeX -----------------------------------------------------------------------------------


class LatexPrinter(_SympyLatexPrinter):
    """SymPy's LaTeX printer with the op table's templates for every applied op."""

    def _print(self, expr, **kwargs) -> str:
        found = applied_op(expr) if isinstance(expr, sp.Basic) else None
        if found is None:
            return super()._print(expr, **kwargs)
        op, args = found
        exp = kwargs.get("exp")
        if exp is not None and not isinstance(expr, OpFunction) and op.name not in LATEX_DEPARTS:
            return super()._print(expr, **kwargs)  # SymPy's place for the power of its function
        tex = op.latex.format(*(self._print(a) for a in args))
        return tex if exp is None else rf"\left({tex}\right)^{{{exp}}}"


def latex(expr: sp.Expr) -> str:
    """LaTeX of a SymPy expression (``sympy.latex`` with the op table's templates)."""
    return LatexPrinter().doprint(expr)
