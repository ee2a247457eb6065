"""The MPO objective: one class for every member of the family (``docs/design/mpo.md``).

    r(y)   = beta * [phi~(l_theta(y)) - phi~(l_ref(y))]     (reference=True)
    r(y)   = beta *  phi~(l_theta(y))                       (reference=False)
    D      = r(y_w) - r(y_l)
    L      = w_pref(t) * G(D, r_w, r_l, t) + w_sft(t) * Psi(l_theta(y_w), n_w, t)

Every piece is a formula: the mirror map h(p) gives phi~; the link G, the imitation term Psi and
the weights are formulas over the variables below, parsed by the safe parser and compiled by the
op-table compiler, so a zoo member is a handful of strings (``zoo.py``) and a discovered loss is
the same kind of object as DPO.

Link variables:      D (the margin), rw, rl (the two rewards), t (training progress in [0,1]).
Imitation variables: l (the chosen log-prob, aggregated as ``aggregation`` says), n (the chosen
                     response's length in tokens/steps; pass ``chosen_lengths``), t.
Weight variables:    t.
Named constants (``params``, e.g. eps, tau, gamma, lam) may appear in any of them; ``beta`` is
always available too.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import sympy as sp
import torch

from lossforge.errors import ConfigError, FormulaError
from lossforge.symbolic import printers
from lossforge.symbolic.compile import compile_torch
from lossforge.symbolic.logdomain import L
from lossforge.symbolic.mirror_map import MirrorMap
from lossforge.symbolic.parser import formula_text, parse_formula, sum_text

D = sp.Symbol("D", real=True)
RW = sp.Symbol("rw", real=True)
RL = sp.Symbol("rl", real=True)
T = sp.Symbol("t", nonnegative=True)
N = sp.Symbol("n", positive=True)

LINK_VARS = {"D": D, "rw": RW, "rl": RL, "t": T}
IMITATION_VARS = {"l": L, "n": N, "t": T}
WEIGHT_VARS = {"t": T}
AGGREGATIONS = ("sum", "mean")


@dataclass(frozen=True)
class MPOSpec:
    """A member of the MPO family as plain data (JSON round-trips; see module docstring)."""

    name: str = "custom"
    mirror_map: str = "p*log(p)"
    beta: float = 0.1
    reference: bool = True
    link: str = "-logsigmoid(D)"
    imitation: str | None = None
    w_pref: str = "1"
    w_sft: str = "1"
    aggregation: str = "sum"
    params: Mapping[str, float] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"objective {self.name!r}: aggregation must be one of "
                              f"{AGGREGATIONS}, got {self.aggregation!r}")
        if not isinstance(self.beta, (int, float)) or not self.beta > 0:
            raise ConfigError(f"objective {self.name!r}: beta must be a positive number, "
                              f"got {self.beta!r}")
        object.__setattr__(self, "params", dict(self.params))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "MPOSpec":
        if not isinstance(data, Mapping):
            raise ConfigError(f"objective spec must be a JSON object, got {_json_text(data)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"objective spec has unknown fields: {', '.join(sorted(unknown))}")
        return cls(**data)


#: The JSON type of each ``MPOSpec`` field (``spec_json_problems``): what ``to_json`` writes.
SPEC_JSON_TYPES = {"name": "string", "mirror_map": "string", "beta": "number",
                   "reference": "boolean", "link": "string", "imitation": "string or null",
                   # a weight in t, or a constant weight written as a number (Objective takes both)
                   "w_pref": "string or number", "w_sft": "string or number",
                   "aggregation": "string",
                   "params": "object of numbers", "description": "string"}


def _json_text(value: Any) -> str:
    """``value`` as JSON spells it (``Infinity``, ``null``, ``"no"``), cut to 40 characters."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: Any) -> bool:
    """A finite JSON number: not a boolean (``true`` is not 1), not ``Infinity`` or ``NaN``."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _value_problems(value: Any, kind: str, name: str) -> list[str]:
    """Why ``value`` (the field ``name``) is not a JSON ``kind`` (see ``spec_json_problems``)."""
    if kind == "object of numbers":
        if not isinstance(value, Mapping):
            return [f"{name} must be a JSON object of named numbers, got {_json_text(value)}"]
        return [p for k, v in value.items() for p in _value_problems(v, "number", f"{name}.{k}")]
    ok = {"string": isinstance(value, str),
          "string or null": value is None or isinstance(value, str),
          "string or number": isinstance(value, str) or _is_number(value),
          "boolean": isinstance(value, bool),
          "number": _is_number(value),
          "integer": isinstance(value, int) and not isinstance(value, bool),
          "list of numbers": isinstance(value, list) and all(map(_is_number, value))}[kind]
    want = {"string": "a string", "string or null": "a string or null",
            "string or number": "a formula string or a finite number",
            "boolean": "a JSON boolean (true or false)", "number": "a finite number",
            "integer": "an integer", "list of numbers": "a list of finite numbers"}[kind]
    return [] if ok else [f"{name} must be {want}, got {_json_text(value)}"]


def spec_json_problems(data: Any, types: Mapping[str, str] = SPEC_JSON_TYPES,
                       where: str = "spec") -> list[str]:
    """One line per field of the JSON spec ``data`` whose value has the wrong JSON type, naming
    the field as ``where.field``. ``types`` maps a field to "string", "string or null",
    "boolean", "number" (finite, not a boolean), "integer", "list of numbers" or "object of
    numbers"; fields it does not name are left to ``from_json`` (which rejects unknown ones)."""
    if not isinstance(data, Mapping):
        return [f"{where or 'the file'} must be a JSON object, got {_json_text(data)}"]
    return [p for key, kind in types.items() if key in data
            for p in _value_problems(data[key], kind, f"{where}.{key}" if where else key)]


def latex_text(text: str) -> str:
    """``text`` as LaTeX text: every special character (``\\ { } $ & # ^ _ ~ %``) escaped."""
    special = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
               "#": r"\#", "^": r"\textasciicircum{}", "_": r"\_", "~": r"\textasciitilde{}",
               "%": r"\%"}
    return "".join(special.get(c, c) for c in text)


#: The LaTeX of each ``aggregation`` of the token log-probs into ell, and its name in words.
AGGREGATION_LATEX = {
    "mean": (r"\frac{1}{|y|} \sum_{k=1}^{|y|}", "per-token mean log-probability"),
    "sum": (r"\sum_{k=1}^{|y|}", "summed log-probability, not length-normalised"),
}


def log_prob_latex(aggregation: str, reference: bool) -> str:
    """The ``aligned`` rows defining ell_theta(y|x) (and ell_ref(y|x) with a reference) as the
    per-token mean or the sum of the response's token log-probs, as ``aggregation`` says."""
    agg, words = AGGREGATION_LATEX[aggregation]
    rows = [rf"  \ell_\theta(y|x) &= {agg} \log \pi_\theta(y_k | x, y_{{<k}})"
            rf" \quad \text{{({words})}} \\"]
    if reference:
        rows.append(rf"  \ell_{{\mathrm{{ref}}}}(y|x) &= {agg} \log \pi_{{\mathrm{{ref}}}}"
                    rf"(y_k | x, y_{{<k}}) \\")
    return "".join(row + "\n" for row in rows)


#: The ``aligned`` row defining each variable a link, imitation term or weight may use (the
#: names it prints as: ``Objective.latex`` substitutes them), in this order.
VARIABLE_LATEX = (
    (RW, r"  r_w &= r_\theta(x,y_w), \quad r_l = r_\theta(x,y_l) \\"),
    (L, r"  \ell_w &= \ell_\theta(y_w|x) \quad \text{(the chosen response's log-prob)} \\"),
    (N, r"  n_w &= |y_w| \quad \text{(the chosen response's length)} \\"),
    (T, r"  t &\in [0, 1] \quad \text{(training progress)} \\"),
)


def as_factor(w: sp.Expr, text: str, parens: tuple[str, str] = ("(", ")")) -> str:
    """``text``, the weight w in some output format, as a factor of a product: in ``parens``
    when w is a sum (``1 - t`` times G is (1 - t) G, not 1 - t G, another loss). The one rule
    behind the text form, the LaTeX and the report page's MathML."""
    return f"{parens[0]}{text}{parens[1]}" if isinstance(w, sp.Add) else text


def weight_latex(w: sp.Expr) -> str:
    """A weight's LaTeX as a factor (``as_factor``)."""
    return as_factor(w, printers.latex(w), (r"\left(", r"\right)"))


def _weighted_text(w: sp.Expr, term: sp.Expr) -> str:
    """``w*(term)`` in formula syntax, ``(term)`` when w is 1."""
    text = formula_text(term)
    return f"({text})" if w == 1 else f"{as_factor(w, formula_text(w))}*({text})"


#: How ``aggregation`` makes l of a response's token log-probs, in the plain-text forms' words.
AGGREGATION_WORDS = {"sum": "SUMMED over the response's tokens (as DPO)", "mean":
                     "AVERAGED per token of the response (length-normalised, as ORPO/SimPO)"}


def _spelling(text: str, expr: sp.Expr, variables) -> str:
    """A formula's text as its spec spells it (``-1.31*logsigmoid(0.5*D)``, not SymPy's
    ``-131*logsigmoid(D/2)/100``) when it reads back alone, with no named constant (``lam``,
    ``beta``); else the text of its value (``formula_text``), which does."""
    try:
        if parse_formula(str(text), variables) == expr:
            return str(text).strip()
    except FormulaError:
        pass
    return formula_text(expr)


@dataclass(frozen=True)
class LossParts:
    """The named pieces of a loss that every plain-text form prints (``Objective.formula``,
    ``search.rundir.loss_text``, the exported module's docstring), so that they cannot disagree:
    r = beta * [phi~(l) - phi~(l_ref)] (``reference``; else beta * phi~(l)), D = r(y_w) - r(y_l),
    L = w_pref * G + w_sft * Psi (Psi: the imitation term, if any). The expressions are those the
    objective computes with; ``link_text``, ``imitation_text`` spell G, Psi (``_spelling``)."""

    beta: float
    reference: bool
    aggregation: str
    link: sp.Expr
    w_pref: sp.Expr
    imitation: sp.Expr | None
    w_sft: sp.Expr
    link_text: str
    imitation_text: str | None

    @classmethod
    def of(cls, spec, link, w_pref, imitation, w_sft) -> "LossParts":
        """The parts of ``spec`` (an ``MPOSpec`` or a ``NeuralSpec``) with its parsed formulas."""
        psi = None if imitation is None else _spelling(spec.imitation, imitation, IMITATION_VARS)
        return cls(spec.beta, spec.reference, spec.aggregation, link, w_pref, imitation, w_sft,
                   _spelling(spec.link, link, LINK_VARS), psi)

    def terms(self) -> list[tuple[sp.Expr, sp.Expr, str]]:
        """(weight, expression, spelling) of G, and of Psi when there is one."""
        psi = [] if self.imitation is None else [(self.w_sft, self.imitation, self.imitation_text)]
        return [(self.w_pref, self.link, self.link_text)] + psi

    def loss_formula(self) -> str:
        """w_pref*(G) + w_sft*(Psi) in formula syntax (``1/10*(-logsigmoid(D)) + (-l)``)."""
        return " + ".join(_weighted_text(w, e) for w, e, _ in self.terms())

    def loss_line(self) -> str:
        """``L = ...`` for people, in formula syntax: a term of weight 1 bare, G and Psi as the
        spec spells them, Psi after a minus when it starts with one (``L = -logsigmoid(D) -
        l``; ORPO's ``L = 1/10*(-logsigmoid(D)) - l``)."""
        first, *rest = [t if w == 1 else f"{as_factor(w, formula_text(w))}*({t})"
                        for w, _, t in self.terms()]
        return "L = " + sum_text(first, rest[0] if rest else None)

    def reward_text(self, of: str = "l", ref: str = "l_ref") -> str:
        """The bracket of r = beta * [...]: phi~(of) - phi~(ref), or phi~(of) (no reference)."""
        return f"phi~({of}) - phi~({ref})" if self.reference else f"phi~({of})"

    def margin_text(self) -> str:
        """D = r(y_w) - r(y_l) written out: ``0.1 * [(phi~(l_w) - phi~(l_ref,w)) - (...)]``."""
        w, lose = self.reward_text("l_w", "l_ref,w"), self.reward_text("l_l", "l_ref,l")
        if self.reference:
            return f"{self.beta:g} * [({w}) - ({lose})]"
        return f"{self.beta:g} * [{w} - {lose}] (reference-free)"

    def symbols(self) -> set[sp.Symbol]:
        """The variables of the printed loss (a weight of an absent term is not printed)."""
        return set().union(*(w.free_symbols | e.free_symbols for w, e, _ in self.terms()))


def variables_latex(used: set) -> str:
    """The rows defining the variables in ``used`` (the free symbols of the link, imitation term
    and weights), so no letter in the loss's LaTeX is left undefined; r_l shares r_w's row."""
    if RL in used:
        used = used | {RW}
    return "".join(row + "\n" for sym, row in VARIABLE_LATEX if sym in used)


def printed_number(x: float) -> sp.Expr:
    """A spec's number (beta) as the formulas print it, the LaTeX export's and the report's
    MathML alike: a simple exact fraction where its shortest decimal is one (0.1 -> 1/10,
    0.5 -> 1/2, 2.0 -> 2), else the short decimal ``loss_text`` prints (``format(x, "g")``,
    6 significant digits: 3.7568966218677904 -> 3.7569), never the float's 17-digit fraction.
    Printing only: the formulas compute with the exact value (``param_values``)."""
    q = sp.Rational(repr(float(x)))
    if q.q == 1 or (q.q <= 1000 and abs(q.p) <= 1000):
        return q
    text = format(float(x), "g")     # 123457 for 123456.7: an integer, not "123457.0"
    return sp.Integer(text) if text.lstrip("-").isdigit() else sp.Float(text)


def param_values(spec: MPOSpec) -> dict[str, sp.Expr]:
    """beta and the named parameters of ``spec`` as exact SymPy numbers (the values its
    formulas are parsed with)."""
    values = {"beta": sp.Rational(repr(float(spec.beta)))}
    for k, v in spec.params.items():
        if not isinstance(v, (int, float)) or v != v:
            raise ConfigError(f"objective {spec.name!r}: parameter {k} must be a number, got {v!r}")
        values[k] = sp.Rational(repr(float(v)))
    return values


class Objective:
    """A compiled MPO loss; call it with log-probs, get per-example losses.

    ``objective(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps=None,
    ref_rejected_logps=None, progress=None, chosen_lengths=None) -> Tensor[B]``

    Attributes the trainers read: ``name``, ``aggregation`` ("sum" or "mean" log-probs),
    ``needs_reference``, ``temporal`` (reads ``progress``), ``needs_lengths``.
    Pickles as its spec (workers recompile it).
    """

    def __init__(self, spec: MPOSpec, *, check: bool = True):
        self.spec = spec
        self.mirror_map = MirrorMap.from_formula(spec.mirror_map)  # shared: parsed once
        if check:
            self.mirror_map.require_valid()
        self._phi = self.mirror_map.compile()
        self._phi_is_identity = self.mirror_map.phi_tilde == L
        self._compile_formulas(spec)

    def _compile_formulas(self, spec: MPOSpec) -> None:
        """Everything of ``spec`` but its mirror map: the trainers' attributes, the link G,
        the imitation term Psi and the weights (``NeuralObjective`` has a network for phi~)."""
        self.name = spec.name
        self.aggregation = spec.aggregation
        self.needs_reference = spec.reference
        params = param_values(spec)
        self.link_expr = self._parse(spec.link, LINK_VARS, params, "link")
        self.imitation_expr = (self._parse(spec.imitation, IMITATION_VARS, params, "imitation")
                               if spec.imitation else None)
        self.w_pref_expr = self._parse(spec.w_pref, WEIGHT_VARS, params, "w_pref")
        self.w_sft_expr = self._parse(spec.w_sft, WEIGHT_VARS, params, "w_sft")
        exprs = [self.link_expr, self.w_pref_expr]
        if self.imitation_expr is not None:
            exprs += [self.imitation_expr, self.w_sft_expr]
        self.temporal = any(T in e.free_symbols for e in exprs)
        self.needs_lengths = self.imitation_expr is not None and N in self.imitation_expr.free_symbols
        self._link = compile_torch(self.link_expr, [D, RW, RL, T])
        self._uses_rewards = bool({RW, RL} & self.link_expr.free_symbols)
        self._psi = (compile_torch(self.imitation_expr, [L, N, T])
                     if self.imitation_expr is not None else None)
        self._w_pref = compile_torch(self.w_pref_expr, [T])
        self._w_sft = compile_torch(self.w_sft_expr, [T])

    def _parse(self, text: str, variables, params, what: str) -> sp.Expr:
        try:
            return parse_formula(str(text), variables, params)
        except FormulaError as exc:
            raise FormulaError(f"objective {self.name!r}, {what}: {exc}") from None

    def __reduce__(self):
        return (Objective, (self.spec,))

    def __repr__(self) -> str:
        return f"Objective({self.name!r})"

    # ---- the loss --------------------------------------------------------------------------

    def __call__(self, policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
                 ref_chosen_logps: torch.Tensor | None = None,
                 ref_rejected_logps: torch.Tensor | None = None,
                 progress: float | torch.Tensor | None = None,
                 chosen_lengths: torch.Tensor | None = None) -> torch.Tensor:
        pc, pr = policy_chosen_logps, policy_rejected_logps
        if self.needs_reference:
            if ref_chosen_logps is None or ref_rejected_logps is None:
                raise ValueError(f"objective {self.name!r} needs reference log-probs")
        if self.temporal and progress is None:
            raise ValueError(f"objective {self.name!r} is temporally aware: pass progress t")
        if self.needs_lengths and chosen_lengths is None:
            raise ValueError(f"objective {self.name!r} uses n: pass chosen_lengths")
        phi = (lambda x: x) if self._phi_is_identity else self._phi
        if self.needs_reference:
            # same association as TRL: beta * ((pc - rc) - (pr - rr)) when phi~ is the identity
            d_w = phi(pc) - phi(ref_chosen_logps)
            d_l = phi(pr) - phi(ref_rejected_logps)
        else:
            d_w, d_l = phi(pc), phi(pr)
        beta = float(self.spec.beta)
        margin = beta * (d_w - d_l)
        rw, rl = (beta * d_w, beta * d_l) if self._uses_rewards else (margin, margin)
        t = torch.as_tensor(0.0 if progress is None else progress, dtype=pc.dtype)
        loss = self._link(margin, rw, rl, t)
        if self.w_pref_expr != 1:
            loss = self._w_pref(t) * loss
        if self._psi is not None:
            n = (torch.as_tensor(chosen_lengths, dtype=pc.dtype) if chosen_lengths is not None
                 else torch.ones_like(pc))
            loss = loss + self._w_sft(t) * self._psi(pc, n, t)
        return loss

    def phi_tilde(self, logps: torch.Tensor) -> torch.Tensor:
        """phi~ applied to (aggregated) log-probs: the reward transform of this objective."""
        return logps if self._phi_is_identity else self._phi(logps)

    def rewards(self, policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
                ref_chosen_logps: torch.Tensor | None = None,
                ref_rejected_logps: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The implicit rewards (r_w, r_l): beta [phi~(l) - phi~(l_ref)], or beta phi~(l)
        without a reference. What trainers log as rewards/chosen and rewards/rejected."""
        beta = float(self.spec.beta)
        pc, pr = self.phi_tilde(policy_chosen_logps), self.phi_tilde(policy_rejected_logps)
        if self.needs_reference:
            return (beta * (pc - self.phi_tilde(ref_chosen_logps)),
                    beta * (pr - self.phi_tilde(ref_rejected_logps)))
        return beta * pc, beta * pr

    # ---- text forms ------------------------------------------------------------------------

    def parts(self) -> LossParts:
        """The named pieces every plain-text form of this loss prints (``LossParts``)."""
        return LossParts.of(self.spec, self.link_expr, self.w_pref_expr, self.imitation_expr,
                            self.w_sft_expr)

    def formula(self) -> str:
        """A one-line plain-text form of the whole loss; its ``L = ...`` reads back as the loss."""
        p = self.parts()
        return (f"{self.phi_tilde_text()};  r = {p.beta:g}*[{p.reward_text()}];  "
                f"L = {p.loss_formula()}")

    def phi_tilde_text(self) -> str:
        """phi~ as ``formula`` starts: ``phi~(l) = <formula>``."""
        return f"phi~(l) = {formula_text(self.mirror_map.phi_tilde)}"

    def latex(self) -> str:
        """The whole objective as a printable LaTeX ``aligned`` block."""
        s = self.spec
        sub = {D: sp.Symbol(r"\Delta"), RW: sp.Symbol("r_w"), RL: sp.Symbol("r_l"),
               L: sp.Symbol(r"\ell_w"), N: sp.Symbol("n_w")}
        phi = self.mirror_map.latex()["phi_tilde"]
        beta = "" if s.beta == 1 else printers.latex(printed_number(s.beta))
        ref = r" - \tilde\phi(\ell_{\mathrm{ref}}(y|x))" if s.reference else ""
        link = printers.latex(self.link_expr.subs(sub))
        total = (link if self.w_pref_expr == 1
                 else rf"{weight_latex(self.w_pref_expr)} \left[{link}\right]")
        if self.imitation_expr is not None:
            psi = printers.latex(self.imitation_expr.subs(sub))
            w = "" if self.w_sft_expr == 1 else weight_latex(self.w_sft_expr) + r"\,"
            total += rf" + {w}\left[{psi}\right]"
        used = self.printed_symbols()
        head = ("\\begin{aligned}\n"
                f"  h(p) &= {printers.latex(self.mirror_map.h)} \\\\\n"
                f"  \\phi^{{-1}}(p) = h'(p) &= {printers.latex(self.mirror_map.phi_inv)} + c \\\\\n"
                f"  \\tilde\\phi(\\ell) &= {phi} \\\\\n")
        return (head + log_prob_latex(s.aggregation, s.reference) +
                f"  r_\\theta(x,y) &= {beta}\\left[\\tilde\\phi(\\ell_\\theta(y|x)){ref}\\right] "
                "\\\\\n"
                "  \\Delta &= r_\\theta(x,y_w) - r_\\theta(x,y_l) \\\\\n"
                + variables_latex(used) +
                f"  \\mathcal{{L}} &= {total}\n"
                "\\end{aligned}")

    def printed_symbols(self) -> set[sp.Symbol]:
        """The variables of the formulas the loss line prints: the link and its weight, and the
        imitation term and its weight when there is one (a weight of an absent term is not
        printed)."""
        exprs = [self.link_expr, self.w_pref_expr]
        if self.imitation_expr is not None:
            exprs += [self.imitation_expr, self.w_sft_expr]
        return set().union(*(e.free_symbols for e in exprs))

    def latex_document(self) -> str:
        """A complete LaTeX document (article + amsmath) showing this objective; compiles alone."""
        title = latex_text(self.name)
        return ("\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n"
                f"\\section*{{{title}}}\n\\[\n{self.latex()}\n\\]\n\\end{{document}}\n")

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec.to_json(), "formula": self.formula(), "latex": self.latex()}


def from_mirror_map(mm: "MirrorMap | str", *, beta: float = 0.1, reference: bool = True,
                    link: str = "-logsigmoid(D)", imitation: str | None = None,
                    w_pref: str = "1", w_sft: str = "1", aggregation: str = "sum",
                    params: Mapping[str, float] | None = None, name: str | None = None,
                    check: bool = True) -> Objective:
    """Build the MPO objective of a mirror map, given first: a ``MirrorMap``, or formula text,
    h(p) in p (``"p*log(p)"``) or phi~(l) in l (``"-sqrt(-l)"``)."""
    formula = mm.source if isinstance(mm, MirrorMap) else str(mm)
    spec = MPOSpec(name=name or f"mpo[{formula}]", mirror_map=formula, beta=beta,
                   reference=reference, link=link, imitation=imitation, w_pref=w_pref,
                   w_sft=w_sft, aggregation=aggregation, params=dict(params or {}))
    return Objective(spec, check=check)


def spec_from_json_text(text: str) -> MPOSpec:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"objective JSON is malformed: {exc}") from None
    return MPOSpec.from_json(data.get("spec", data))
