"""The safe formula parser: exact SymPy for good input, a clear error and no execution for bad."""

import builtins
import os

import pytest
import sympy as sp

from lossforge.errors import FormulaError
from lossforge.symbolic.mirror_map import P
from lossforge.symbolic.parser import parse_formula, sum_text

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
    # Python would drop the rest as a comment and read p*log(p): a silent, wrong map
    ("p*log(p) #+ p**2", "contains '#' at column 10"),
    # SymPy makes these its complex infinity (zoo), which crashed the checks with a KeyError
    ("log(0)*p", "at column 0: log(0) is not a finite number"),
    ("p + log(0)", "at column 4: log(0) is not a finite number"),
    ("inv(0) + p**2", "inv(0) is not a finite number"),
    ("0**-1*p", "is not a finite number"),
    ("p*log(p - p)", "is not a finite number"),     # zero only once simplified
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


# Constant powers are bounded like one power when nested or merged: by hand, (p**64)**64 (the
# inner part, where the error is raised) is p**4096; p**64*p**64 = p**128; (p**8 + 1)**9 has
# degree 72; seven squares give p**(2**7); 1/(1/p**32)**3 = p**96. A number is bounded by the
# largest literal to the largest power, 10**(9*64): 2**4096 has floor(4096*log10(2)) + 1 = 1234
# digits, and ((10**9)**64*p)**64 has the coefficient 10**(576*64) = 10**36864, 36865 digits.
@pytest.mark.parametrize("text,fragment", [
    ("((p**64)**64)**64", "powers combine to the exponent 4096, beyond the limit 64"),
    ("p**64*p**64", "powers combine to the exponent 128"),
    ("(p**8 + 1)**9", "powers combine to the exponent 72"),
    ("square(" * 7 + "p" + ")" * 7, "powers combine to the exponent 128"),
    ("1/(1/p**32)**3", "powers combine to the exponent 96"),
    ("p*((2**64)**64)**64", "a number reaches about 1234 digits"),
    ("p*((10**9)**64*p)**64", "a number reaches about 36865 digits"),
])
def test_nested_powers_are_bounded_like_one_power(text, fragment):
    with pytest.raises(FormulaError) as info:
        parse_formula(text, V)
    message = str(info.value)
    assert message.startswith(f"formula {text!r} at column ") and fragment in message
    assert "\n" not in message


@pytest.mark.parametrize("text,expected", [
    ("(p**8)**8", P**64),                                  # 8*8 = 64: at the limit
    ("(p**8 + 1)**8", (P**8 + 1)**8),
    ("square(square(square(square(square(square(p))))))", P**64),   # 2**6
    ("p**32*p**32", P**64),
    ("p*(10**9)**64", P * sp.Integer(10)**576),           # the largest literal's largest power
    # a function stops the count: nothing merges through it into one power
    ("tanh(p**10)**7", sp.tanh(P**10)**7),
    ("log(1 + p**8)**9", sp.log(P**8 + 1)**9),
    ("log(p**64)**2", sp.log(P**64)**2),
])
def test_powers_within_the_limit_still_parse(text, expected):
    assert parse_formula(text, V) == expected


@pytest.mark.parametrize("first,second,expected", [
    ("-logsigmoid(D)", "-l*n", "-logsigmoid(D) - l*n"),
    ("-logsigmoid(D)", " -l", "-logsigmoid(D) - l"),
    ("-logsigmoid(D)", "-l**2 + n", "-logsigmoid(D) - l**2 + n"),
    ("-logsigmoid(D)", "l", "-logsigmoid(D) + l"),
    ("-logsigmoid(D)", "l - n", "-logsigmoid(D) + l - n"),
    ("-logsigmoid(D)", None, "-logsigmoid(D)"),
])
def test_sum_text_writes_a_leading_minus_as_a_subtraction(first, second, expected):
    text = sum_text(first, second)
    assert text == expected
    # and it is the sum of the two formulas (each parsed on its own)
    names = {"D": sp.Symbol("D"), "l": sp.Symbol("l"), "n": sp.Symbol("n")}
    both = parse_formula(first, names) + (parse_formula(second, names) if second else 0)
    assert sp.expand(parse_formula(text, names) - both) == 0


def test_a_look_alike_letter_is_named():
    """'lοg' with a Greek omicron prints like 'log'; the message said "unknown function 'lοg'"
    beside a list holding what looks like the same name."""
    with pytest.raises(FormulaError, match=r"unknown function 'lοg', which has non-ASCII 'ο' "
                                           r"\(U\+03BF, GREEK SMALL LETTER OMICRON\)"):
        parse_formula("p*lοg(p)", {"p": sp.Symbol("p", positive=True)})
    with pytest.raises(FormulaError, match=r"unknown function 'logg' \(known"):
        parse_formula("p*logg(p)", {"p": sp.Symbol("p", positive=True)})


def test_a_huge_exponent_is_named_as_typed():
    """'p**1e308' printed the exponent as an exact 309-digit integer."""
    with pytest.raises(FormulaError) as info:
        parse_formula("p**1e308", {"p": P})
    assert "exponent '1e+308' exceeds the limit" in str(info.value)
    assert len(str(info.value)) < 120
