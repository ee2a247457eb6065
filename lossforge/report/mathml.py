"""A loss's formulas as presentation MathML (SymPy's printer), which browsers render natively:
no script and no network when the page is viewed.

The formulas come from the objective compiled from the run's JSON spec (the safe parser; nothing
is executed), printed in the same notation as ``Objective.latex()``.
"""

from __future__ import annotations

import html

import sympy as sp
from sympy.printing.mathml import MathMLPresentationPrinter

from lossforge.grammar.ops import LATEX_DEPARTS, applied_op
from lossforge.objectives.mpo import D, RL, RW, L, N, T, Objective, as_factor, printed_number


#: The space TeX sets between a factor and a function name (a thin space: "54 p log(p)", not
#: "54plog(p)"); MathML's invisible times has none of its own.
THIN_SPACE = "0.1667em"


class _Printer(MathMLPresentationPrinter):
    def _print_Exp1(self, e):
        """Euler's number as an upright e (SymPy writes the double-struck ⅇ, U+2147)."""
        x = self.dom.createElement("mi")
        x.setAttribute("mathvariant", "normal")
        x.appendChild(self.dom.createTextNode("e"))
        return x

    def _print_exp(self, e):
        msup = self.dom.createElement("msup")
        msup.appendChild(self._print_Exp1(None))
        msup.appendChild(self._print(e.args[0]))
        return msup

    def _print_Mul(self, expr):
        """A product as SymPy prints it, with a thin space after each invisible times that
        precedes a function application (a name and its parenthesised arguments)."""
        mrow = super()._print_Mul(expr)
        kids = [k for k in mrow.childNodes if k.nodeType == k.ELEMENT_NODE]
        for times, factor in zip(kids, kids[1:]):
            if (times.tagName == "mo" and times.firstChild is not None
                    and times.firstChild.nodeValue == "&InvisibleTimes;"
                    and _is_application(factor)):
                times.setAttribute("rspace", THIN_SPACE)
        return mrow

    def doprint(self, expr):
        """SymPy's ``doprint``, except that the expression itself goes through ``_print`` too
        (SymPy's calls ``Printer._print``, which would skip the op table at the top level)."""
        return self._print(expr).toxml().encode("ascii", "xmlcharrefreplace").decode()

    def _print(self, expr, **kwargs):
        """Every application of an op of the table, the same override as the LaTeX printer's
        (``symbolic/printers.py``): SymPy's own functions (exp, log, tanh, relu's ``Max(0, x)``)
        print as SymPy prints them, which is the notation of their LaTeX templates, except the
        ops whose LaTeX departs from SymPy's (``ops.LATEX_DEPARTS``: step is H(x), not SymPy's
        Θ(x, 1/2)); every other op (softplus, sigmoid, log1mexp, expm1, ...) prints as the
        table's name for it (``Op.text``, else its name) applied to its arguments."""
        found = applied_op(expr) if isinstance(expr, sp.Basic) else None
        if found is None or (type(expr).__module__.startswith("sympy.functions")
                             and found[0].name not in LATEX_DEPARTS):
            return super()._print(expr, **kwargs)
        op, args = found
        x = self.dom.createElement("mi")
        x.appendChild(self.dom.createTextNode(op.text or op.name))
        mrow = self.dom.createElement("mrow")
        mrow.appendChild(x)
        mrow.appendChild(self._paren_comma_separated(*args))
        return mrow


def _is_application(node) -> bool:
    """Whether a printed node is a function applied to its arguments: <mrow><mi>name</mi>
    <mrow><mo>(</mo>...</mrow></mrow>, as both SymPy and ``_Printer._print`` print one."""
    kids = [k for k in node.childNodes if k.nodeType == k.ELEMENT_NODE]
    return (node.tagName == "mrow" and len(kids) == 2 and kids[0].tagName == "mi"
            and kids[1].tagName == "mrow" and kids[1].firstChild is not None
            and getattr(kids[1].firstChild, "tagName", "") == "mo"
            and kids[1].firstChild.firstChild.nodeValue == "(")


_ELL = sp.Symbol("ℓ")
#: Names in the loss line as the LaTeX export writes them: D -> Delta, l -> l_w, n -> n_w.
_LOSS_NAMES = {D: sp.Symbol("Δ"), RW: sp.Symbol("r_w"), RL: sp.Symbol("r_l"),
               L: sp.Symbol("ℓ_w"), N: sp.Symbol("n_w")}


def _mi(name: str) -> str:
    return f"<mi>{html.escape(name)}</mi>"


def _mo(op: str) -> str:
    return f"<mo>{html.escape(op)}</mo>"


def _call(f: str, arg: str) -> str:
    return f"<mrow>{f}{_mo('(')}{arg}{_mo(')')}</mrow>"


def expression(e: sp.Expr) -> str:
    """Presentation MathML of a SymPy expression (no <math> wrapper)."""
    return _Printer().doprint(e)


def _tilde_phi() -> str:
    return "<mover><mi>φ</mi><mo>˜</mo></mover>"   # a spacing tilde, set above (no overlap)


def _sub(base: str, sub: str) -> str:
    return f"<msub>{base}<mrow>{sub}</mrow></msub>"


def block(lhs: str, rhs: str) -> str:
    """One equation ``lhs = rhs`` (both MathML fragments), laid out as a display formula."""
    return f'<math><mrow>{lhs}{_mo("=")}{rhs}</mrow></math>'


def objective_equations(obj: Objective) -> list[tuple[str, str]]:
    """(label, MathML) of h, h', phi~, the margin and the loss, in that order, then the
    variables the loss uses."""
    mm, spec = obj.mirror_map, obj.spec
    ell, p = _mi("ℓ"), _mi("p")
    phi = _tilde_phi()
    eqs = [("mirror map", block(_call(_mi("h"), p), expression(mm.h))),
           ("its derivative", block(_call("<msup><mi>φ</mi><mrow><mo>−</mo><mn>1</mn></mrow>"
                                          "</msup>", p),
                                    f"<mrow>{expression(mm.phi_inv)}{_mo('+')}<mi>c</mi></mrow>")),
           ("log domain", block(_call(phi, ell), expression(mm.phi_tilde.subs(
               {v: _ELL for v in mm.phi_tilde.free_symbols if v.name == "l"}))))]
    # Delta = beta [(phi~(l_w) - phi~(l_ref,w)) - (phi~(l_l) - phi~(l_ref,l))]
    def side(s: str) -> str:
        term = _call(phi, _sub(ell, _mi(s)))
        if spec.reference:
            ref = _call(phi, _sub(ell, f"<mi>ref</mi><mo>,</mo><mi>{s}</mi>"))
            term = f"<mrow>{_mo('(')}{term}{_mo('−')}{ref}{_mo(')')}</mrow>"
        return term
    beta = expression(printed_number(spec.beta))   # 0.1 -> 1/10, 3.75689662... -> 3.7569
    margin = f"<mrow>{beta}<mo>&#x2062;</mo><mrow>{_mo('[')}{side('w')}{_mo('−')}" \
             f"{side('l')}{_mo(']')}</mrow></mrow>"
    eqs.append(("margin", block(_mi("Δ"), margin)))
    link = expression(obj.link_expr.subs(_LOSS_NAMES))
    if obj.w_pref_expr != 1:
        link = f"<mrow>{_factor(obj.w_pref_expr)}<mo>&#x2062;</mo>" \
               f"<mrow>{_mo('[')}{link}{_mo(']')}</mrow></mrow>"
    total = link
    if obj.imitation_expr is not None:
        psi = expression(obj.imitation_expr.subs(_LOSS_NAMES))
        w = "" if obj.w_sft_expr == 1 else f"{_factor(obj.w_sft_expr)}<mo>&#x2062;</mo>"
        total = f"<mrow>{link}{_mo('+')}{w}<mrow>{_mo('[')}{psi}{_mo(']')}</mrow></mrow>"
    eqs.append(("loss", block("<mi>ℒ</mi>", total)))
    return eqs + variable_equations(obj)


def _factor(w: sp.Expr) -> str:
    """A weight as a factor (``mpo.as_factor``)."""
    return as_factor(w, expression(w), (f"<mrow>{_mo('(')}", f"{_mo(')')}</mrow>"))


def variable_equations(obj: Objective) -> list[tuple[str, str]]:
    """(label, MathML) defining each variable the loss line uses besides Δ, as the LaTeX
    export's rows do (``mpo.variables_latex``): r_w and r_l, ℓ_w, n_w and t."""
    used = obj.printed_symbols()
    r = "<msub><mi>r</mi><mi>θ</mi></msub>"

    def given_x(s: str) -> str:   # "x, y_s" for a reward, "y_s | x" for a log-prob (the LaTeX's)
        return f"<mi>x</mi>{_mo(',')}{_sub(_mi('y'), _mi(s))}"

    eqs = []
    for s in ("w", "l"):
        if {RW, RL} & used:
            eqs.append((f"{'chosen' if s == 'w' else 'rejected'} reward",
                        block(_sub(_mi("r"), _mi(s)), _call(r, given_x(s)))))
    if L in used:
        eqs.append(("chosen log-prob", block(_sub(_mi("ℓ"), _mi("w")),
                                             _call(_sub(_mi("ℓ"), _mi("θ")),
                                                   f"{_sub(_mi('y'), _mi('w'))}{_mo('|')}"
                                                   "<mi>x</mi>"))))
    if N in used:
        eqs.append(("chosen length", block(_sub(_mi("n"), _mi("w")),
                                           f"<mrow>{_mo('|')}{_sub(_mi('y'), _mi('w'))}"
                                           f"{_mo('|')}</mrow>")))
    if T in used:
        eqs.append(("training progress", f"<math><mrow>{_mi('t')}{_mo('∈')}{_mo('[')}<mn>0</mn>"
                                         f"{_mo(',')}<mn>1</mn>{_mo(']')}</mrow></math>"))
    return eqs
