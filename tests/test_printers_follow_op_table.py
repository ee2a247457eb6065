"""Every printer prints every op of the table by the table: the text form (``formula_text``),
the report's MathML (``report/mathml.py``) and LaTeX (``symbolic/printers.py``).

The text and MathML printers had their own lists: the text printer named ``Max`` and
``Heaviside`` one by one, and the MathML printer left SymPy's own function heads to SymPy, so
``step(x)`` appeared in the HTML report as SymPy's ``Θ(x, 1/2)`` (a theta the loss's own
notation uses for the policy's parameters) while the LaTeX wrote ``H(x)``.
"""

from __future__ import annotations

import html
import re

import pytest
import sympy as sp
import torch

from lossforge.grammar import ops
from lossforge.report.mathml import expression
from lossforge.symbolic.parser import formula_text, parse_formula
from lossforge.symbolic.printers import latex

X = sp.Symbol("x", real=True)
Y = sp.Symbol("y", real=True)
VARS = {"x": X, "y": Y}

#: SymPy's names for heads of the table, and its theta: none may reach typeset output
SYMPY_INTERNAL = ("Heaviside", "Max", "θ", "Θ", "ϑ")

#: the MathML of each op that SymPy builds from structure (no applied head): what shows it
STRUCTURAL = {"add": "<mo>+</mo>", "sub": "<mo>-</mo>", "mul": "&InvisibleTimes;",
              "div": "<mfrac>", "pow": "<msup>", "neg": "<mo>-</mo>", "inv": "<mfrac>",
              "square": "<msup>", "cube": "<msup>", "sqrt": "<msqrt>", "xlogx": "<mi>log</mi>"}


def _applied(op: ops.Op) -> sp.Expr:
    return op.sympy(*[X + 1, Y][:op.arity])


def _typeset_name(op: ops.Op) -> str:
    """The op's name as its LaTeX template writes it: ``text`` where the table gives one
    (sigma, H), else the template's first word (``\\max`` -> max, ``e^{...}`` -> e)."""
    if op.text:
        return op.text
    return re.match(r"\\?(?:operatorname\{\{)?([A-Za-z]\w*)", op.latex).group(1)


def _mathml_text(mathml: str) -> str:
    """The characters a reader sees (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", mathml))


@pytest.mark.parametrize("name", list(ops.OP_BY_NAME))
def test_every_op_prints_by_the_table_in_text_mathml_and_latex(name):
    op = ops.OP_BY_NAME[name]
    e = _applied(op)
    found = ops.applied_op(e)
    # in context too: a power, a product and a sum around the op (SymPy's printers take those
    # apart and print the op inside them)
    for expr in (e, 3 * e**2 + Y * e - Y, sp.tanh(e) * X):
        text = formula_text(expr)
        assert parse_formula(text, VARS) == expr, (name, text)
        assert not any(f"{s}(" in text for s in SYMPY_INTERNAL), (name, text)
        mathml = expression(expr)
        seen = _mathml_text(mathml)
        assert not any(s in html.unescape(mathml) for s in SYMPY_INTERNAL), (name, mathml)
        if found is not None:
            assert f"{op.name}(" in text, (name, text)
            assert _typeset_name(op) in seen, (name, seen)
        tex = latex(expr)
        assert r"\theta" not in tex and "Heaviside" not in tex, (name, tex)
    if found is None:
        assert STRUCTURAL[name] in expression(e), (name, expression(e))
    else:   # LaTeX: the op's template, as before
        assert latex(e) == op.latex.format(*(latex(a) for a in found[1])), name


def test_the_structural_list_is_the_table_s_ops_without_a_head():
    assert set(STRUCTURAL) == {op.name for op in ops.OPS if ops.applied_op(_applied(op)) is None}


def test_step_relu_abs_and_sign_in_each_printer():
    step, relu = sp.Heaviside(X - 1), sp.Max(0, X - 1)
    # MathML: H(x - 1), as the LaTeX writes it; SymPy wrote Θ(x - 1, 1/2)
    assert expression(step) == ("<mrow><mi>H</mi><mrow><mo>(</mo><mrow><mi>x</mi><mo>-</mo>"
                                "<mn>1</mn></mrow><mo>)</mo></mrow></mrow>")
    assert "<mfrac>" not in expression(step) and latex(step) == r"H\left(x - 1\right)"
    assert expression(step**2).startswith("<msup><mrow><mi>H</mi>")
    assert _mathml_text(expression(relu)) == "max(0,x-1)"
    assert latex(relu) == r"\max\left(0, x - 1\right)"
    assert formula_text(step) == "step(x - 1)" and formula_text(relu) == "relu(x - 1)"
    assert formula_text(2 * step * relu**2) == "2*step(x - 1)*relu(x - 1)**2"
    # not ops of the table: SymPy's forms, which the parser refuses
    assert formula_text(sp.Heaviside(X, 0)) == "Heaviside(x, 0)"
    assert formula_text(sp.Max(X, 2)) == "Max(2, x)"
    # abs and sign: text that reads back to the same function (sign as 2*step(x) - 1, equal at
    # every point), and their usual typeset forms
    assert parse_formula(formula_text(sp.Abs(X)), VARS) == sp.Abs(X)
    back = parse_formula(formula_text(sp.sign(X)), VARS)
    for v in (-2.5, 0, 0.5):
        assert back.subs(X, v) == sp.sign(v)
    assert _mathml_text(expression(sp.Abs(X))) == "|x|"
    assert _mathml_text(expression(sp.sign(X))) == "sign(x)"


def _fake_arctan(text: str | None = None) -> ops.Op:
    """An op whose SymPy head (atan) SymPy prints under another name than the op's."""
    return ops.Op("arctan", 1, sp.atan, torch.atan, r"\operatorname{{atan}}{{\left({0} \right)}}",
                  (ops.REAL,), (sp.atan,), source="torch.atan({0})", text=text)


def test_a_new_op_with_a_sympy_head_prints_by_the_table(monkeypatch):
    """An op added to the table and nowhere else: the text form writes its name (SymPy's str
    writes atan, which the parser refuses), and the MathML follows the table's departures."""
    with ops.extended(_fake_arctan("tan⁻¹")):
        e = sp.atan(X) ** 2 + 1
        assert formula_text(e) == "arctan(x)**2 + 1"
        assert parse_formula(formula_text(e), VARS) == e
        assert latex(e) == r"\operatorname{atan}^{2}{\left(x \right)} + 1"
        assert "tan⁻¹" not in _mathml_text(expression(e))   # SymPy's notation: the template's
        monkeypatch.setitem(ops.LATEX_DEPARTS, "arctan", "a test of the departures")
        assert _mathml_text(expression(e)).startswith("tan⁻¹(x)")
