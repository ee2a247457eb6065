"""The safe formula parser: exact SymPy for good input, a clear error and no execution for bad."""

import builtins
import os

import pytest
import sympy as sp

from lossforge.errors import FormulaError
from lossforge.symbolic.mirror_map import P
from lossforge.symbolic.parser import parse_formula

V = {"p": P}


@pytest.mark.parametrize("text,expected", [
    ("p*log(p)", P * sp.log(P)),
    ("p*log(p) + (1-p)*log(1-p)", P * sp.log(P) + (1 - P) * sp.log(1 - P)),
    ("0.1*p**2", sp.Rational(1, 10) * P**2),          # floats become exact rationals
    ("-sqrt(p) + 2.5", -sp.sqrt(P) + sp.Rational(5, 2)),
    ("exp(p)/3", sp.exp(P) / 3),
    ("pi*p + E", sp.pi * P + sp.E),
    ("+p", P),
])
def test_parses_to_exact_sympy(text, expected):
    assert sp.simplify(parse_formula(text, V) - expected) == 0


@pytest.mark.parametrize("text,fragment", [
    ("__import__('os').system('touch /tmp/lossforge_pwned')", "only plain function names"),
    ("__import__('os')", "unknown function '__import__'"),
    ("open('/tmp/lossforge_pwned', 'w')", "unknown function 'open'"),
    ("p.__class__", "Attribute is not allowed"),
    ("().__class__.__bases__", "Attribute is not allowed"),
    ("os.system('x')", "only plain function names"),
    ("(lambda: 1)()", "only plain function names"),
    ("[x for x in p]", "ListComp is not allowed"),
    ("'p'", "is not a number"),
    ("True", "is not a number"),
    ("log(p, 2)", "takes 1 argument"),
    ("log(x=p)", "takes no keyword arguments"),
    ("q + 1", "unknown name 'q'"),
    ("p^2", "write '**'"),
    ("p**10**10", "exceeds the limit"),
    ("p @ p", "MatMult is not allowed"),
    ("p if p else 1", "IfExp is not allowed"),
    ("p/0", "division by zero"),
    ("p +", "not valid syntax"),
    ("", "empty"),
    ("p" + "+p" * 1500, "characters long"),
    ("(" * 500 + "p" + ")" * 500, "nested parentheses"),
    ("1e999*p", "not finite"),
])
def test_rejects_bad_input_with_a_clear_message(text, fragment):
    with pytest.raises(FormulaError) as info:
        parse_formula(text, V)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_nothing_is_ever_executed(monkeypatch, tmp_path):
    """The parser never reaches eval/exec/sympify/parse_expr, and hostile text has no effect."""
    def forbidden(*a, **k):
        raise AssertionError("the parser executed or sympified user text")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sp, "sympify", forbidden)
    monkeypatch.setattr(sp.parsing.sympy_parser, "parse_expr", forbidden)
    target = tmp_path / "pwned"
    for text in [f"open({str(target)!r}, 'w')", f"__import__('pathlib').Path({str(target)!r})"
                 ".touch()", "exec('1')", "eval('p')"]:
        with pytest.raises(FormulaError):
            parse_formula(text, V)
    assert parse_formula("p*log(p)", V) == P * sp.log(P)
    assert not target.exists()
    assert not os.path.exists("/tmp/lossforge_pwned")
