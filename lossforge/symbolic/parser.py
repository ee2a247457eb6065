"""The safe formula parser: user text -> SymPy, without ever executing the text.

The text is parsed by Python's ``ast`` module (which only builds a syntax tree) and the tree is
walked against a whitelist: numbers, the allowed variable names, the named constants, the
arithmetic operators ``+ - * / **`` and calls of op-table functions by name. Everything else is
rejected with a ``FormulaError`` that names the construct and its column. Expressions are built
with the op table's own SymPy constructors, so the parser accepts exactly what the compiler and
the grammars understand. ``eval``, ``sympify`` and ``parse_expr`` are never called on user text.
"""

from __future__ import annotations

import ast
import math
from typing import Mapping, NamedTuple

import sympy as sp
from sympy.printing.str import StrPrinter

from lossforge.errors import FormulaError
from lossforge.grammar.ops import CONSTANTS, OP_BY_NAME, applied_op

MAX_LENGTH = 2000      # characters
MAX_NODES = 400        # syntax-tree nodes
MAX_EXPONENT = 64      # |numeric exponent|, also through nesting (p**10**10 would stall SymPy)
MAX_INTEGER = 10**9    # |integer literal|
MAX_NUMBER_BITS = (MAX_INTEGER**MAX_EXPONENT).bit_length()  # any number: a literal's power at most

_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def parse_formula(text: str, variables: Mapping[str, sp.Symbol],
                  params: Mapping[str, sp.Expr] | None = None) -> sp.Expr:
    """Parse ``text`` into a SymPy expression over ``variables``.

    ``params`` are named constants (e.g. ``beta``) replaced by their values. Float literals
    become exact rationals (``0.1`` -> 1/10) so symbolic checks stay exact.
    """
    if not isinstance(text, str):
        raise FormulaError(f"formula must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if not text.strip():
        raise FormulaError("formula is empty")
    if "#" in text:   # Python would read the rest as a comment: "p*log(p) #+ p**2" is p*log(p)
        raise FormulaError(f"formula {_short(text)} contains '#' at column {text.index('#') + 1}: "
                           "formulas have no comments")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise FormulaError(f"formula {_short(text)} is not valid syntax{col}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise FormulaError(f"formula {_short(text)} cannot be parsed: {type(exc).__name__}") from None
    n_nodes = sum(1 for _ in ast.walk(tree))
    if n_nodes > MAX_NODES:
        raise FormulaError(f"formula has {n_nodes} syntax nodes; the limit is {MAX_NODES}")
    names = dict(CONSTANTS)
    names.update(params or {})
    names.update(variables)
    try:
        return _Builder(text, names).build(tree.body)
    except RecursionError:
        raise FormulaError(f"formula {_short(text)} is nested too deeply") from None


def _digits(bits: int) -> int:
    """About how many decimal digits a number of ``bits`` bits has."""
    return int(bits * math.log10(2)) + 1


class _Size(NamedTuple):
    """How far constant powers have grown an expression."""

    exponent: sp.Rational   # |exponent| reached by nested constant powers: (p**a + 1)**b -> |a*b|
    bits: int               # bits of its largest rational number


class _Builder:
    def __init__(self, text: str, names: Mapping[str, sp.Expr]):
        self.text = text
        self.names = names
        self.sizes: dict[sp.Expr, _Size] = {}

    def size(self, expr: sp.Expr) -> _Size:
        """The growth of expr; SymPy merges powers ((p**8)**8 is p**64, p**64*p**64 is
        p**128, square(square(p)) is p**4), so it is measured on the built expression."""
        got = self.sizes.get(expr)
        if got is None:
            if expr.is_Rational:
                got = _Size(sp.Integer(1), max(abs(expr.p).bit_length(), expr.q.bit_length()))
            else:
                parts = [self.size(a) for a in expr.args] or [_Size(sp.Integer(1), 0)]
                exponent = max(part.exponent for part in parts)
                if isinstance(expr, sp.Pow) and expr.exp.is_Rational:
                    exponent = abs(expr.exp) * parts[0].exponent
                elif isinstance(expr, sp.Function):   # log(p**64)**2: nothing merges through
                    exponent = sp.Integer(1)          # a function, so its powers start anew
                got = _Size(exponent, max(part.bits for part in parts))
            self.sizes[expr] = got
        return got

    def bounded(self, node: ast.AST, expr: sp.Expr) -> sp.Expr:
        """expr, if it is finite where defined (no ``log(0)``, ``inv(0)``, ``0**-1``: SymPy
        makes them its complex infinity, which no op compiles) and the powers in it stay within
        the limits a single power has."""
        if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise self.fail(node, f"{ast.unparse(node)} is not a finite number (SymPy: "
                                  f"{expr}); a formula may not contain log(0), 1/0 or 0**-1")
        exponent, bits = self.size(expr)
        if exponent > MAX_EXPONENT:
            raise self.fail(node, f"powers combine to the exponent {exponent}, beyond the "
                                  f"limit {MAX_EXPONENT}")
        if bits > MAX_NUMBER_BITS:
            raise self.fail(node, f"a number reaches about {_digits(bits)} digits, beyond the "
                                  f"limit of {_digits(MAX_NUMBER_BITS)} ({MAX_INTEGER}**"
                                  f"{MAX_EXPONENT})")
        return expr

    def fail(self, node: ast.AST, why: str) -> FormulaError:
        col = getattr(node, "col_offset", None)
        where = f" at column {col}" if col is not None else ""
        return FormulaError(f"formula {_short(self.text)}{where}: {why}")

    def build(self, node: ast.AST) -> sp.Expr:
        return self.bounded(node, self.build_unchecked(node))

    def build_unchecked(self, node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            allowed = ", ".join(sorted(self.names))
            raise self.fail(node, f"unknown name {node.id!r}{_look_alike(node.id)} (allowed "
                                  f"names: {allowed})")
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return OP_BY_NAME["neg"].sympy(self.build(node.operand))
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand)
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.BitXor):
                raise self.fail(node, "'^' is not a power here; write '**'")
            op_name = _BINOPS.get(type(node.op))
            if op_name is None:
                raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
            left, right = self.build(node.left), self.build(node.right)
            if op_name == "pow" and right.is_number and abs(right) > MAX_EXPONENT:
                raise self.fail(node, f"exponent {_short(ast.unparse(node.right))} exceeds the "
                                      f"limit {MAX_EXPONENT}")   # as typed: 1e308, not 309 digits
            if op_name == "div" and right.is_zero:
                raise self.fail(node, "division by zero")
            return OP_BY_NAME[op_name].sympy(left, right)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(node, f"{type(node).__name__} is not allowed in a formula")

    def number(self, node: ast.Constant) -> sp.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(node, f"literal {value!r} is not a number")
        if isinstance(value, int):
            if abs(value) > MAX_INTEGER:
                raise self.fail(node, f"integer {value} exceeds the limit {MAX_INTEGER}")
            return sp.Integer(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail(node, f"literal {value!r} is not finite")
        return sp.Rational(repr(value))  # shortest decimal repr: 0.1 -> 1/10 exactly

    def call(self, node: ast.Call) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only plain function names may be called (no attributes)")
        name = node.func.id
        op = OP_BY_NAME.get(name)
        if op is None or op.infix is not None:
            known = ", ".join(sorted(o.name for o in OP_BY_NAME.values() if o.infix is None))
            raise self.fail(node, f"unknown function {name!r}{_look_alike(name)} (known "
                                  f"functions: {known})")
        if node.keywords:
            raise self.fail(node, f"{name}() takes no keyword arguments")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(node, f"{name}() takes no *arguments")
        if len(node.args) != op.arity:
            raise self.fail(node, f"{name}() takes {op.arity} argument(s), got {len(node.args)}")
        return op.sympy(*(self.build(a) for a in node.args))


def _look_alike(name: str) -> str:
    """Where a name has letters outside ASCII, which one(s): a Greek omicron in 'lοg' prints
    like an o, and the message would otherwise name what looks like a known function."""
    import unicodedata

    odd = [f"{c!r} (U+{ord(c):04X}, {unicodedata.name(c, 'unnamed')})" for c in
           dict.fromkeys(name) if not c.isascii()]
    return f", which has non-ASCII {', '.join(odd)}" if odd else ""


class _TextPrinter(StrPrinter):
    """SymPy's ``str`` with every application of an op of the table printed as the op's name
    applied to its arguments (``Max(0, x)`` is ``relu(x)``, ``Heaviside(x)`` is ``step(x)``),
    the same override as the LaTeX printer's (``symbolic/printers.py``), so that
    ``parse_formula(formula_text(e))`` gives ``e`` back."""

    def _print(self, expr, **kwargs) -> str:
        found = applied_op(expr) if isinstance(expr, sp.Basic) else None
        if found is None:   # Max(x, y), Heaviside(x, 0): SymPy's form, which does not parse
            return super()._print(expr, **kwargs)
        op, args = found
        return f"{op.name}({', '.join(self._print(a) for a in args)})"

    def _print_Abs(self, expr):   # SymPy's form of sqrt(square(x)) for real x
        return f"sqrt(square({self._print(expr.args[0])}))"

    def _print_sign(self, expr):   # Abs's derivative: 2*step(x) - 1 is -1, 0, 1 as sign(x) is
        return f"(2*step({self._print(expr.args[0])}) - 1)"


def formula_text(expr: sp.Expr) -> str:
    """The text form of a SymPy expression, what a user would type: ``parse_formula`` reads it
    back whenever its functions are the op table's (every expression parsed from a formula or
    built from a grammar; SymPy's own forms elsewhere, e.g. ``Max(x, y)``, print as SymPy's
    ``str`` and do not parse). Every text form of an expression that people read uses it."""
    return _TextPrinter().doprint(expr)


def sum_text(first: str, second: str | None) -> str:
    """The formula text ``first + second`` for people (``first`` alone when ``second`` is
    None or empty): a ``second`` with a leading unary minus is written ``first - rest``
    ("-l*n" -> "first - l*n"). Same value, since in formula syntax a leading minus binds only
    to its first term (``-a*b`` is ``(-a)*b``, ``-a**b`` is ``-(a**b)``)."""
    if not second or not second.strip():
        return first
    second = second.strip()
    if second.startswith("-") and not second.startswith("--"):
        return f"{first} - {second[1:].lstrip()}"
    return f"{first} + {second}"
