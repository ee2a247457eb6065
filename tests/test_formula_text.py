"""Text forms say the expression they print, in formula syntax that reads back.

An objective's one line: its ``L = ...`` part, read back by the formula parser, is
w_pref * G + w_sft * Psi as built from the spec (the reference: the spec itself, parsed part by
part, independent of how the text is put together). Before the fix, a weight that was a sum
printed as ``1 - t*(G)`` (1 - t G, another loss), a weight ending in 1 lost that digit (``11*(``
became ``1(``), and relu printed as SymPy's ``Max(0, x)``, which does not parse.
"""

import pytest
import sympy as sp

from lossforge.objectives import get
from lossforge.objectives.mpo import LINK_VARS, MPOSpec, Objective
from lossforge.grammar.symbols import L, P
from lossforge.symbolic.mirror_map import MirrorMap
from lossforge.symbolic.parser import parse_formula

VARIABLES = {**LINK_VARS, "l": sp.Symbol("l", negative=True), "n": sp.Symbol("n", positive=True)}


def _parsed(text: str) -> sp.Expr:
    return parse_formula(text, VARIABLES)


def _loss_of_text(obj: Objective) -> sp.Expr:
    return _parsed(obj.formula().split("L = ", 1)[1])


def _loss_of_spec(spec: MPOSpec) -> sp.Expr:
    subs = {k: str(v) for k, v in spec.params.items()}

    def part(text):
        for k, v in subs.items():   # the zoo's named constants (lam, alpha) by value
            text = text.replace(k, f"({v})")
        return _parsed(text)

    loss = part(spec.w_pref) * part(spec.link)
    if spec.imitation is not None:
        loss += part(spec.w_sft) * part(spec.imitation)
    return loss


@pytest.mark.parametrize("kw", [
    {"w_pref": "1 - t"},
    {"w_pref": "11"},
    {"w_pref": "0.1", "link": "relu(1 - D)"},
    {"w_pref": "t/2 + 1/3", "imitation": "-l/n", "w_sft": "1 - t"},
    {"imitation": "-l", "w_sft": "21"},
    {"w_pref": "-t", "imitation": "-l", "w_sft": "t**2 + t"},
])
def test_the_text_form_reads_back_as_the_loss(kw):
    spec = MPOSpec(**kw)
    assert sp.simplify(_loss_of_text(Objective(spec)) - _loss_of_spec(spec)) == 0


@pytest.mark.parametrize("name", ["orpo", "rpo", "dpo", "hinge"])
def test_zoo_text_forms_read_back(name):
    obj = get(name)
    assert sp.simplify(_loss_of_text(obj) - _loss_of_spec(obj.spec)) == 0


def test_mirror_map_texts_read_back_in_op_names():
    """h, phi^-1 and phi~ as the search's results and ``formula --json`` write them: in the
    op table's names (relu, step), which parse back to the same expressions; SymPy's own
    ``str`` writes Max(0, x) and Heaviside(x), which the parser refuses."""
    mm = MirrorMap.from_formula("p*log(p) + relu(p - 1/2)**3")
    texts = mm.texts()
    assert sp.simplify(parse_formula(texts["h"], {"p": P}) - mm.h) == 0
    assert sp.simplify(parse_formula(texts["phi_inv"], {"p": P}) - mm.phi_inv) == 0
    assert sp.simplify(parse_formula(texts["phi_tilde"], {"l": L}) - mm.phi_tilde) == 0
    assert mm.to_json()["phi_inv"] == texts["phi_inv"]


def test_a_phi_tilde_map_prints_relu_and_no_integral():
    """A map given as phi~(l): its canonical formula reads back (it printed Max(0, l + 1)),
    and its h text is a closed form or a sentence, never SymPy's unevaluated Integral."""
    mm = MirrorMap.from_formula("l + relu(l + 1)")
    assert sp.simplify(parse_formula(mm.formula, {"l": L}) - mm.phi_tilde) == 0
    assert "Integral" not in mm.texts()["h"] and "Integral" not in mm.to_json()["h"]


def test_abs_prints_as_the_grammar_writes_it():
    """sqrt(square(1 - p)) (a mirror-map grammar tree) is Abs(p - 1) to SymPy; the parser has
    no abs, so the text is the grammar's spelling, which reads back."""
    from lossforge.symbolic.parser import formula_text

    e = sp.sqrt(sp.expand((1 - P) ** 2))
    text = formula_text(sp.Abs(P - 1))
    assert text == "sqrt(square(p - 1))" and parse_formula(text, {"p": P}) == sp.Abs(P - 1)
    assert parse_formula(formula_text(e), {"p": P}) == e


def test_sign_from_differentiating_abs_prints_as_steps_that_read_back():
    """d/dp |p - 1/2| is SymPy's sign(p - 1/2), which the parser has no name for; its text is
    2*step(x) - 1, equal to sign at every point, the kink included (step is 1/2 at 0)."""
    from lossforge.symbolic.parser import formula_text

    d = sp.diff(sp.sqrt((P - sp.Rational(1, 2)) ** 2) + P * sp.log(P), P)
    assert d.has(sp.sign)
    back = parse_formula(formula_text(d), {"p": P})
    for p in (sp.Rational(1, 10), sp.Rational(1, 2), sp.Rational(9, 10)):
        assert sp.simplify(back.subs(P, p) - d.subs(P, p)) == 0, p
