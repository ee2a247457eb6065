"""SymPy expressions as torch source and as LaTeX, both driven by the op table.

* ``expr_source(expr, names)``: torch source of an expression, what an exported module
  (``objectives/torch_module.py``) returns from its functions. Every op is spelled with its
  ``source`` template (``lossforge.grammar.ops``); SymPy's n-ary Add/Mul/Pow are printed as
  Python arithmetic, a product with negative powers as one division and a power by the kernel
  ``ops.power_op`` names. The source performs the compiler's (``symbolic/compile.py``)
  operations in the compiler's order, so it computes the compiled value bit for bit (for
  an expression with a free symbol: of ``log(2)`` alone, ``compile_torch`` returns a float64
  tensor whatever the inputs' dtype, a literal has theirs). In particular: the terms
  of a sum left to right in ``compile.ordered_terms`` order (a leading number may trade places
  with the next term, ``x - 1.0``: ``a + b`` is ``b + a`` exactly), a product's factors in
  ``compile.split_fraction`` order (a negative coefficient as a negation, exact), a number over
  a denominator as ``torch.div`` (Python's ``2.0 / x`` is ``x.reciprocal() * 2.0``: two
  roundings), and a constant that is not a number (``log(2)``) as the float64 value the
  compiled nodes compute (``compile.constant_float``), not its correctly rounded value.
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
from lossforge.symbolic.compile import (CompileError, constant_float, ordered_terms,
                                        split_fraction)

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
        value = _compiled_constant(e)
        return (number_source(value), _ATOM if value >= 0 else _UNARY)
    if e.is_Symbol:
        if e not in names:
            raise ExportError(f"expression uses {e}, which is not an input here")
        return (names[e], _ATOM)
    if e.is_Add:
        return _print_add(e, names)
    if e.is_Mul:
        negative, printed = _print_product(e, names)
        return ("-" + _wrap(printed, _UNARY), _UNARY) if negative else printed
    if e.is_Pow:
        return _print_pow(e.base, e.exp, names)
    found = applied_op(e)
    if found is None:
        raise ExportError(f"no torch spelling for {e.func.__name__} in {e}")
    op, args = found
    return _apply_source(op.source, [_print(a, names) for a in args])


def _compiled_constant(e: sp.Expr) -> float:
    """A constant as the compiled expression has it (``compile.constant_float``); its exact
    value when no op compiles it (then no compiled objective has it either). ``ExportError``
    when it is not a real number."""
    try:
        value = constant_float(e)
    except CompileError:
        return constant_value(e)
    if not math.isfinite(value):
        constant_value(e)   # ExportError when the value is not real (log1mexp(1))
    return value


def _apply_source(template: str, args: list[tuple[str, int]]) -> tuple[str, int]:
    if _CALL.fullmatch(template):
        return (template.format(*(text for text, _ in args)), _ATOM)
    return (f"({template.format(*(_wrap(a, _ATOM) for a in args))})", _ATOM)


def _print_add(e: sp.Expr, names) -> tuple[str, int]:
    """The terms added left to right in the compiler's order; a term with a negative sign (a
    product with a negative coefficient, a negative constant) is subtracted: ``a - b`` is
    ``a + (-b)`` exactly. SymPy puts the number first; it is written after the next term
    unless that term is subtracted (``x - 1.0``, ``1.0 - x``): ``a + b`` is ``b + a`` exactly,
    so only the first two terms may trade places."""
    terms = [(t, *_signed_term(t, names)) for t in ordered_terms(e)]
    if not terms[0][0].free_symbols and not terms[1][1]:
        terms[:2] = terms[1::-1]
    _, negative, printed = terms[0]
    text = "-" + _wrap(printed, _UNARY) if negative else _wrap(printed, _ADD)
    for _, negative, printed in terms[1:]:
        text += f" - {_wrap(printed, _MUL)}" if negative else f" + {_wrap(printed, _ADD + 1)}"
    return (text, _ADD)


def _signed_term(term: sp.Expr, names) -> tuple[bool, tuple[str, int]]:
    """A term of a sum as (whether it is negative, the source of its magnitude)."""
    if not term.free_symbols:
        value = _compiled_constant(term)
        return value < 0, (number_source(abs(value)), _ATOM)
    if term.is_Mul:
        return _print_product(term, names)
    return False, _print(term, names)


def _print_product(e: sp.Expr, names) -> tuple[bool, tuple[str, int]]:
    """A product as (whether its coefficient is negative, the source of its magnitude): the
    factors of ``split_fraction`` multiplied left to right after the coefficient's magnitude,
    divided by the denominator's product, as the compiler computes them (a negated coefficient
    and a negation of the result round alike)."""
    coeff, num, den = split_fraction(e)
    factors = [(number_source(float(abs(coeff))), _ATOM)] if abs(coeff) != 1 else []
    factors += [_print(f, names) for f in num]
    if not den:
        if len(factors) == 1:
            return coeff < 0, factors[0]
        return coeff < 0, (" * ".join(_wrap(f, _MUL) for f in factors), _MUL)
    bottom = [_print(f, names) for f in den]
    if not num:   # a number over the denominator: Python's 2.0 / x is x.reciprocal() * 2.0
        top = factors[0][0] if factors else "1.0"
        return coeff < 0, (f"torch.div({top}, {' * '.join(_wrap(f, _MUL) for f in bottom)})",
                           _ATOM)
    text = " * ".join(_wrap(f, _MUL) for f in factors)
    under = (f"({' * '.join(_wrap(f, _MUL) for f in bottom)})" if len(bottom) > 1
             else _wrap(bottom[0], _MUL + 1))
    return coeff < 0, (f"{text} / {under}", _MUL)


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
