"""The op table is the only mapping: an op added there (and nowhere else) reaches the parser,
SymPy, the torch compiler, exported torch source, LaTeX and the text form."""

from __future__ import annotations

import linecache
import math

import pytest
import sympy as sp
import torch

from lossforge.grammar import ops
from lossforge.objectives import MPOSpec, Objective
from lossforge.objectives.torch_module import module_source
from lossforge.symbolic.compile import compile_torch
from lossforge.symbolic.mirror_map import MirrorMap
from lossforge.symbolic.parser import formula_text, parse_formula
from lossforge.symbolic.printers import expr_source, latex

X = sp.Symbol("x", real=True)


class ScaledSoftplus(ops.OpFunction):
    """2 log(1 + e^x): an op that exists only in this test."""

    def fdiff(self, argindex=1):
        return 2 * ops.Sigmoid(self.args[0])

    @staticmethod
    def elementary(x):
        return 2 * sp.log(1 + sp.exp(x))


def scaled_softplus(x):
    """2 log(1 + exp(x)) without overflow."""
    return 2.0 * torch.logaddexp(x, torch.zeros_like(x))


TEMPLATE = r"\operatorname{{ssp}}\left({0}\right)"
FAKE = ops.Op("ssp", 1, ScaledSoftplus, scaled_softplus, TEMPLATE, (ops.REAL,),
              (ScaledSoftplus,), source="scaled_softplus({0})")


@pytest.fixture
def fake_op():
    with ops.extended(FAKE):
        yield FAKE
    assert "ssp" not in ops.OP_BY_NAME and ops.op_for_head(ScaledSoftplus) is None


def _ssp(x: float) -> float:
    """2 log(1 + e^x), by hand."""
    return 2.0 * math.log1p(math.exp(x))


def test_a_new_op_reaches_every_output(fake_op):
    # parser: the name is a known function now, and it builds the op's SymPy form
    expr = parse_formula("ssp(x) + 1", {"x": X})
    assert expr == ScaledSoftplus(X) + 1 and expr.has(ScaledSoftplus)
    # text form: reads back through the parser
    assert formula_text(expr) == "ssp(x) + 1"
    assert parse_formula(formula_text(expr), {"x": X}) == expr
    # compiled torch equals the hand value
    xs = [-3.0, -0.5, 0.0, 1.25, 4.0]
    got = compile_torch(expr, [X])(torch.tensor(xs, dtype=torch.float64))
    for x, g in zip(xs, got.tolist()):
        assert g == pytest.approx(_ssp(x) + 1, rel=1e-15)
    # exported torch source: the kernel's definition and the expression, run with torch only
    src = expr_source(expr, {X: "x"})
    assert "scaled_softplus(x)" in src
    kernels = "".join(ops.kernel_sources())
    assert "def scaled_softplus(x):" in kernels
    namespace = {"torch": torch}
    exec(kernels, namespace)  # our own table's source, not user text
    value = eval(src, namespace, {"x": torch.tensor(0.7, dtype=torch.float64)})
    assert value.item() == pytest.approx(_ssp(0.7) + 1, rel=1e-15)
    # LaTeX: the op's template, also under a power (SymPy would call it Scaledsoftplus)
    assert latex(expr) == r"\operatorname{ssp}\left(x\right) + 1"
    assert latex(ScaledSoftplus(X) ** 2) == r"\left(\operatorname{ssp}\left(x\right)\right)^{2}"
    # MathML (the HTML report's formulas): the op's name, applied to its argument
    from lossforge.report.mathml import expression

    assert expression(expr).startswith("<mrow><mrow><mi>ssp</mi><mrow><mo>(</mo><mi>x</mi>")


def test_a_new_op_in_an_exported_objective_module(fake_op):
    # a loss whose link uses the op: the standalone module (only torch in its namespace)
    # returns the hand-computed loss ssp(-D)
    obj = Objective(MPOSpec(name="ssp_link", link="ssp(-D)", reference=False))
    namespace = {}
    exec(module_source(obj), namespace)
    assert set(namespace) >= {"torch", "scaled_softplus", "loss"}
    pc = torch.tensor([-1.0, -3.0], dtype=torch.float64)
    pr = torch.tensor([-2.0, -1.5], dtype=torch.float64)
    got = namespace["loss"](pc, pr)
    want = [_ssp(-0.1 * (c - r)) for c, r in zip(pc.tolist(), pr.tolist())]
    assert got.tolist() == pytest.approx(want, rel=1e-14)
    assert torch.equal(got, obj(pc, pr))


def test_the_table_is_restored_after_the_fixture():
    assert "ssp" not in ops.OP_BY_NAME
    with pytest.raises(Exception, match="unknown function 'ssp'"):
        parse_formula("ssp(x)", {"x": X})
    assert "scaled_softplus" not in "".join(ops.kernel_sources())


def test_exported_kernels_are_read_once_not_from_the_file_at_export_time(monkeypatch):
    """A search runs for hours; its checkout may be edited meanwhile. The kernels it exports are
    the ones it computes with (read at import), not whatever the file holds at that line now
    (reading them at export time put an unrelated function into an exported loss file)."""
    before = ops.kernel_sources()
    assert [k.split("(")[0] for k in before] == ["def log1mexp", "def softplus", "def step"]
    edited = ["# edited after import\n"] * 500
    monkeypatch.setitem(linecache.cache, ops.__file__, (len(edited), None, edited, ops.__file__))
    assert ops.kernel_sources() == before


def test_extending_the_table_validates_the_new_op():
    wrong = ops.Op("ssp", 1, ScaledSoftplus, torch.exp, TEMPLATE, (ops.REAL,), (ScaledSoftplus,),
                   source="torch.exp({0})")
    with pytest.raises(AssertionError, match="op ssp: torch"):
        with ops.extended(wrong):
            pass
    headless = ops.Op("ssp", 1, ScaledSoftplus, scaled_softplus, TEMPLATE, (ops.REAL,),
                      (ScaledSoftplus,))
    with pytest.raises(AssertionError, match="op ssp: a SymPy head reaches the torch exporter"):
        with ops.extended(headless):
            pass
    assert "ssp" not in ops.OP_BY_NAME


def test_latex_templates_of_sympy_heads_are_what_sympy_prints():
    """For SymPy's own functions the table's template is SymPy's LaTeX (so objectives print as
    before the printer took the table); lossforge's functions print their template."""
    arg = X + 1
    for op in ops.OPS:
        if not op.heads or op.infix is not None:
            continue
        e = op.sympy(arg)
        want = op.latex.format(sp.latex(arg))
        assert latex(e) == want, op.name
        if not isinstance(e, ops.OpFunction) and op.name not in ops.LATEX_DEPARTS:
            assert sp.latex(e) == want, op.name
    # a declared departure prints its own template, also raised to a power
    h = sp.Heaviside(X - 1)
    assert latex(h) == r"H\left(x - 1\right)" and r"\theta" in sp.latex(h)
    assert latex(h**2) == r"\left(H\left(x - 1\right)\right)^{2}"


def test_relu_is_max_with_zero_in_every_output():
    e = sp.Max(0, X - 1)
    op, args = ops.applied_op(e)
    assert op.name == "relu" and args == (X - 1,)
    assert ops.applied_op(sp.Max(X, 2)) is None
    assert formula_text(e) == "relu(x - 1)"
    assert expr_source(e, {X: "x"}) == "torch.relu(x - 1.0)"
    xs = torch.tensor([-1.0, 0.5, 3.0], dtype=torch.float64)
    assert compile_torch(e, [X])(xs).tolist() == [0.0, 0.0, 2.0]


@pytest.mark.parametrize("power, kernel, source", [
    (2, "square", "torch.square(x)"), (-1, "inv", "torch.reciprocal(x)"),
    (sp.Rational(1, 2), "sqrt", "torch.sqrt(x)"), (sp.Rational(-1, 2), "rsqrt", "torch.rsqrt(x)"),
    (3, "pow", "torch.pow(x, 3)"), (sp.Rational(1, 3), "pow", "torch.pow(x, 0.3333333333333333)")])
def test_powers_compile_and_print_with_the_same_kernel(power, kernel, source):
    y = sp.Symbol("x", positive=True)
    assert ops.power_op(sp.sympify(power))[0].name == kernel
    assert expr_source(y**power, {y: "x"}) == source
    xs = torch.tensor([0.25, 1.0, 7.5], dtype=torch.float64)
    got = compile_torch(y**power, [y])(xs)
    assert got.tolist() == pytest.approx([x ** float(power) for x in xs.tolist()], rel=1e-15)


def test_latex_of_a_power_of_a_lossforge_function():
    # h = (1 - p^2) / softplus(p) has softplus(p)**-2 in h': sympy.latex raised TypeError
    # (Softplus._latex took no exponent), so `show --latex` and pareto.tex failed on such maps
    tex = MirrorMap.from_formula("(1 - p**2)/softplus(p)").latex()
    assert r"\left(\operatorname{softplus}\left(p\right)\right)^{2}" in tex["phi_inv"]
    assert latex(ops.Sigmoid(X) ** 3) == r"\left(\sigma\left(x\right)\right)^{3}"
