"""SymPy expression -> torch function, driven by the op table.

The compiler walks the expression once and builds a tree of small Python closures; no source
code is generated and nothing is ``exec``-ed. Every SymPy node is looked up in the op table
(``lossforge.grammar.ops.applied_op``); the n-ary ``Add``/``Mul`` are taken apart here, and
powers by ``ops.power_op``, because their best torch form depends on the arguments:

* the terms of a sum are added left to right in ``ordered_terms`` order, and a product's
  factors multiplied in ``split_fraction`` order: both are shared with the torch-source printer
  (``symbolic/printers.py``), which writes the same operations in the same order, so an exported
  module computes what the compiled objective computes, bit for bit (``printers.py`` says how);
* ``a * b**-1`` becomes a division ``a / b`` (one rounding instead of two; ``split_fraction``);
* ``x**2 -> square``, ``x**(1/2) -> sqrt``, ``x**-1 -> reciprocal``, ``x**(-1/2) -> rsqrt``;
* ``-1 * x`` becomes ``neg(x)`` (exact);
* numbers become Python floats (correctly rounded), so tensors keep their dtype; any other
  constant (``log(2)``, ``sqrt(3)/2``) is computed op by op in float64 (``constant_float``).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import sympy as sp
import torch

from lossforge.errors import LossforgeError
from lossforge.grammar.ops import OP_BY_NAME, applied_op, power_op

Env = Mapping[sp.Symbol, torch.Tensor]
Node = Callable[[Env], "torch.Tensor | float"]


class CompileError(LossforgeError):
    """A SymPy expression uses something the op table cannot compile to torch."""


def compile_torch(expr: sp.Expr, variables: Sequence[sp.Symbol]) -> Callable[..., torch.Tensor]:
    """Compile ``expr`` to ``f(*tensors)`` with one positional tensor per variable.

    The result always has the broadcast shape of the inputs (constants are broadcast).
    """
    variables = tuple(variables)
    extra = expr.free_symbols - set(variables)
    if extra:
        names = ", ".join(sorted(map(str, extra)))
        raise CompileError(f"expression {expr} has free symbols {names} that are not inputs")
    node = _compile(expr)

    def fn(*tensors: torch.Tensor) -> torch.Tensor:
        if len(tensors) != len(variables):
            raise TypeError(f"expected {len(variables)} tensors, got {len(tensors)}")
        env = dict(zip(variables, tensors))
        out = node(env)
        if not isinstance(out, torch.Tensor):  # constant expression
            like = torch.broadcast_tensors(*tensors)[0] if tensors else torch.tensor(0.0)
            return torch.full_like(like, float(out))
        if tensors:
            out = out.expand(torch.broadcast_shapes(*(t.shape for t in tensors)))
        return out

    fn.expr = expr  # type: ignore[attr-defined]
    return fn


def _const(value: float) -> Node:
    return lambda env: value


def _compile(e: sp.Expr) -> Node:
    if e.is_Symbol:
        return lambda env: env[e]
    if e.is_Number or e in (sp.pi, sp.E):
        if not e.is_real or not e.is_finite:
            raise CompileError(f"constant {e} is not a finite real number")
        return _const(float(e))
    if e.is_Add:
        return _fold(OP_BY_NAME["add"].torch, [_compile(a) for a in ordered_terms(e)])
    if e.is_Mul:
        return _compile_mul(e)
    if e.is_Pow:
        return _compile_pow(e.base, e.exp)
    found = applied_op(e)
    if found is None:
        raise CompileError(f"no op in the op table compiles SymPy's {e.func.__name__} ({e})")
    op, args = found
    return _apply(op.torch, [_compile(a) for a in args])


def _lift(args: list) -> list:
    """Turn float arguments into tensors of the tensor arguments' dtype (or float64)."""
    like = next((a for a in args if isinstance(a, torch.Tensor)), None)
    dtype = like.dtype if like is not None else torch.float64
    return [a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=dtype) for a in args]


def _apply(fn, children: list[Node]) -> Node:
    def node(env):
        return fn(*_lift([c(env) for c in children]))
    return node


def _fold(fn, children: list[Node]) -> Node:
    def node(env):
        acc = children[0](env)
        for child in children[1:]:
            acc = fn(*_lift([acc, child(env)]))
        return acc
    return node


def ordered_terms(e: sp.Expr) -> tuple[sp.Expr, ...]:
    """The terms of a sum in the order the compiler adds them, left to right: SymPy's ``args``
    order (a number first), not ``as_ordered_terms`` (the order ``str`` prints). Floating-point
    addition is not associative, so the torch-source printer writes the terms in this order."""
    return e.args


def constant_float(e: sp.Expr) -> float:
    """The value a compiled expression uses for the constant ``e`` (no free symbols): a number
    is its correctly rounded float; anything else (``log(2)``, ``3*sqrt(2)/2``, ``softplus(1)``)
    is computed by its nodes, op by op in float64, and may differ from the correctly rounded
    value in the last bit. The torch-source printer writes this value. ``CompileError`` when
    no op compiles ``e``; nan when its value is not real (``log1mexp(1)``)."""
    if e.free_symbols:
        raise CompileError(f"{e} is not a constant: it has free symbols")
    return float(_compile(e)({}))


def split_fraction(e: sp.Expr) -> tuple[sp.Expr, list[sp.Expr], list[sp.Expr]]:
    """A product as ``(coeff, numerator factors, denominator factors)``: the factors with a
    negative numeric exponent go to the denominator with the exponent's sign flipped."""
    coeff, factors = e.as_coeff_mul()
    num, den = [], []
    for f in factors:
        if f.is_Pow and f.exp.is_Number and f.exp < 0:
            den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp))
        else:
            num.append(f)
    return coeff, num, den


def _compile_mul(e: sp.Expr) -> Node:
    """coeff * prod(numerator) / prod(denominator), with -1 as an exact negation."""
    coeff, num_factors, den_factors = split_fraction(e)
    num = [_compile(f) for f in num_factors]
    den = [_compile(f) for f in den_factors]
    if coeff not in (1, -1):
        num.insert(0, _const(float(coeff)))
    mul, div, neg = (OP_BY_NAME[n].torch for n in ("mul", "div", "neg"))
    top = _fold(mul, num) if num else _const(1.0)
    if den:
        top = _apply(div, [top, _fold(mul, den)])
    return _apply(neg, [top]) if coeff == -1 else top


def _compile_pow(base: sp.Expr, exp: sp.Expr) -> Node:
    b = _compile(base)
    op, k = power_op(exp)
    if op.arity == 1:
        return _apply(op.torch, [b])
    if k is not None:  # an integer exponent stays a Python int (exact repeated products)
        return _apply(lambda x: op.torch(x, k), [b])
    return _apply(op.torch, [b, _compile(exp)])
