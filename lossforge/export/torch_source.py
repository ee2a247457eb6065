"""A whole MPO objective as a standalone Python module that needs only torch.

Two layers:

* ``expr_source(expr, names)`` prints a SymPy expression as torch source. It is driven by the op
  table (``lossforge.grammar.ops``): every SymPy head the objective compiler accepts has a spelling
  in ``FUNCTION_SOURCE`` here, and an import-time check fails loudly if the op table gains an op
  this printer cannot spell. SymPy's n-ary Add/Mul/Pow are printed as Python arithmetic (a product
  with negative powers becomes one division, as the compiler does it).
* ``module_source(objective)`` writes the file: the stable kernels (log1mexp, softplus), one
  function per piece of the objective (phi~, the link G, the imitation term Psi, the weights) and
  ``loss(...)``, which assembles them exactly as ``Objective.__call__`` does (same arguments, same
  order of operations), so the file returns the same per-example losses as lossforge to float
  precision (the tests import it in a fresh interpreter without lossforge and compare).

Nothing a user typed is copied into the file as code: expressions are printed from SymPy trees,
numbers as float literals, and names/descriptions only inside an escaped docstring or ``repr``.
"""

from __future__ import annotations

import math
import pprint
from typing import Mapping

import sympy as sp

from lossforge.errors import LossforgeError
from lossforge.grammar.ops import OPS, op_for_head
from lossforge.objectives.mpo import D, N, RL, RW, T, Objective
from lossforge.symbolic.logdomain import L

__all__ = ["ExportError", "FUNCTION_SOURCE", "expr_source", "module_source"]


class ExportError(LossforgeError):
    """An objective (or expression) cannot be written as standalone torch source."""


#: torch source of every op that reaches the printer as a SymPy function head. ``{0}`` is the
#: argument. log1mexp and softplus are the stable kernels the module defines (_KERNELS below).
FUNCTION_SOURCE: dict[str, str] = {
    "exp": "torch.exp({0})",
    "log": "torch.log({0})",
    "log1p": "torch.log1p({0})",
    "expm1": "torch.expm1({0})",
    "log1mexp": "log1mexp({0})",
    "softplus": "softplus({0})",
    "logsigmoid": "F.logsigmoid({0})",
    "sigmoid": "torch.sigmoid({0})",
    "tanh": "torch.tanh({0})",
    "sin": "torch.sin({0})",
    "cos": "torch.cos({0})",
    "relu": "torch.relu({0})",  # SymPy Max(0, x)
}
#: Ops printed from SymPy's Add / Mul / Pow structure rather than by name.
_STRUCTURAL = {"add", "mul", "pow"}


def _validate_spellings() -> None:
    """Every op with a SymPy head must be printable: fail at import, naming the op."""
    missing = [op.name for op in OPS
               if op.heads and op.name not in FUNCTION_SOURCE and op.name not in _STRUCTURAL]
    if missing:
        raise AssertionError(f"lossforge.export.torch_source has no torch spelling for op(s) "
                             f"{', '.join(missing)}: add them to FUNCTION_SOURCE")


_validate_spellings()

# precedence levels of the printed forms (higher binds tighter)
_ADD, _MUL, _UNARY, _POW, _ATOM = 1, 2, 3, 4, 5


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise ExportError(f"constant {value!r} is not a finite number")
    return repr(float(value))


def expr_source(expr: sp.Expr, names: Mapping[sp.Symbol, str]) -> str:
    """torch source of ``expr``; ``names`` maps each free symbol to a Python identifier."""
    return _print(sp.sympify(expr), names)[0]


def _wrap(printed: tuple[str, int], level: int) -> str:
    text, prec = printed
    return f"({text})" if prec < level else text


def _print(e: sp.Expr, names) -> tuple[str, int]:
    if not e.free_symbols:
        try:
            value = float(e)
        except TypeError:
            raise ExportError(f"constant {e} is not a real number") from None
        return (_number(value), _ATOM if value >= 0 else _UNARY)
    if e.is_Symbol:
        if e not in names:
            raise ExportError(f"expression uses {e}, which is not an input here")
        return (names[e], _ATOM)
    if e.is_Add:
        return _print_add(e, names)
    if e.is_Mul:
        return _print_mul(e, names)
    if e.is_Pow:
        return _print_pow(e.base, e.exp, names)
    if isinstance(e, sp.Max):
        others = [a for a in e.args if a != 0]
        if len(e.args) == 2 and len(others) == 1:
            return (FUNCTION_SOURCE["relu"].format(_print(others[0], names)[0]), _ATOM)
        raise ExportError(f"only max(0, x) can be exported, got {e}")
    op = op_for_head(e.func)
    if op is None or op.name not in FUNCTION_SOURCE or op.arity != len(e.args):
        raise ExportError(f"no torch spelling for {e.func.__name__} in {e}")
    args = ", ".join(_print(a, names)[0] for a in e.args)
    return (FUNCTION_SOURCE[op.name].format(args), _ATOM)


def _print_add(e: sp.Expr, names) -> tuple[str, int]:
    terms = list(e.as_ordered_terms())
    text = _wrap(_print(terms[0], names), _ADD)
    for term in terms[1:]:
        if term.could_extract_minus_sign():
            text += " - " + _wrap(_print(-term, names), _MUL)
        else:
            text += " + " + _wrap(_print(term, names), _ADD + 1)
    return (text, _ADD)


def _print_mul(e: sp.Expr, names) -> tuple[str, int]:
    coeff, factors = e.as_coeff_mul()
    if coeff < 0:
        return ("-" + _wrap(_print(-e, names), _UNARY), _UNARY)
    num, den = [], []
    for f in factors:
        if f.is_Pow and f.exp.is_Number and f.exp < 0:
            den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp))
        else:
            num.append(f)
    parts = ([_number(float(coeff))] if coeff != 1 else [])
    parts += [_wrap(_print(f, names), _MUL) for f in num]
    text = " * ".join(parts) if parts else "1.0"
    if den:
        bottom = " * ".join(_wrap(_print(f, names), _MUL) for f in den)
        bottom = f"({bottom})" if len(den) > 1 else _wrap(_print(den[0], names), _MUL + 1)
        text = f"{_wrap((text, _MUL if len(parts) > 1 else _ATOM), _MUL)} / {bottom}"
    return (text, _MUL)


def _print_pow(base: sp.Expr, exp: sp.Expr, names) -> tuple[str, int]:
    b = _print(base, names)[0]
    if exp == 2:
        return (f"torch.square({b})", _ATOM)
    if exp == sp.Rational(1, 2):
        return (f"torch.sqrt({b})", _ATOM)
    if exp == -1:
        return (f"torch.reciprocal({b})", _ATOM)
    if exp == sp.Rational(-1, 2):
        return (f"torch.rsqrt({b})", _ATOM)
    if exp.is_Integer:
        return (f"torch.pow({b}, {int(exp)})", _ATOM)
    return (f"torch.pow({b}, {_print(exp, names)[0]})", _ATOM)


# ---- the module ------------------------------------------------------------------------------

_KERNELS = '''

def log1mexp(x):
    """log(1 - exp(x)) for x < 0, accurate near 0 and for very negative x (Maechler 2012)."""
    return torch.where(x > -0.6931471805599453, torch.log(-torch.expm1(x)),
                       torch.log1p(-torch.exp(x)))


def softplus(x):
    """log(1 + exp(x)) without overflow."""
    return torch.logaddexp(x, torch.zeros_like(x))
'''

_NAMES = {L: "l", D: "D", RW: "rw", RL: "rl", T: "t", N: "n"}


def _docstring_text(text: str) -> str:
    """Make ``text`` safe inside a (non-raw) triple-quoted string."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _function(name: str, args: str, expr: sp.Expr, doc: str, shape_of: str | None,
              shape_vars: set) -> str:
    """``def name(args): return <expr>``; broadcast to ``shape_of`` when expr ignores it."""
    body = expr_source(expr, _NAMES)
    if shape_of is not None and not (expr.free_symbols & shape_vars):
        body = f"{body} + torch.zeros_like({shape_of})" if expr.free_symbols else \
            f"torch.full_like({shape_of}, {body})"
    return f"\n\ndef {name}({args}):\n    \"\"\"{doc}\"\"\"\n    return {body}\n"


def module_source(objective: Objective, *, notes: list[str] | tuple[str, ...] = ()) -> str:
    """The standalone torch module of ``objective`` (see the module docstring).

    ``notes`` are extra lines for the file's docstring (e.g. the run and score it came from).
    """
    s = objective.spec
    mm = objective.mirror_map
    if getattr(objective, "network", None) is not None:
        return _neural_module_source(objective, notes)
    if mm is None:
        raise ExportError(f"{s.name!r} has no closed-form mirror map: distil it to a formula "
                          "first")
    uses_psi = objective.imitation_expr is not None
    has_w_pref = objective.w_pref_expr != 1
    beta = float(s.beta)
    for k, v in s.params.items():
        _number(float(v))  # non-finite parameters cannot be literals
    _number(beta)

    ref = " - phi~(l_ref(y))" if s.reference else ""
    total = "G(D, r_w, r_l, t)" if not has_w_pref else "w_pref(t) * G(D, r_w, r_l, t)"
    if uses_psi:
        total += " + w_sft(t) * Psi(l_w, n_w, t)"
    agg = {"sum": "SUMMED over the response's tokens (as DPO)",
           "mean": "AVERAGED per token of the response (length-normalised, as ORPO/SimPO)"}
    lines = [f"{s.name}: an MPO preference loss exported by lossforge (standalone: needs only "
             "torch).", ""]
    if s.description:
        lines += [s.description, ""]
    lines += list(notes) + ([""] if notes else [])
    lines += [f"    h(p)      = {mm.h_text}",
              f"    phi^-1(p) = {mm.phi_inv}   (+ const)",
              f"    phi~(l)   = {mm.phi_tilde}   (+ const)",
              f"    r(y)      = beta * [phi~(l_theta(y)){ref}],   beta = {beta!r}",
              "    D         = r(y_w) - r(y_l)",
              f"    loss      = {total}",
              f"    G         = {objective.link_expr}"]
    if has_w_pref:
        lines.append(f"    w_pref(t) = {objective.w_pref_expr}")
    if uses_psi:
        lines += [f"    Psi       = {objective.imitation_expr}",
                  f"    w_sft(t)  = {objective.w_sft_expr}"]
    lines += ["",
              f"Log-probs l: {agg[s.aggregation]}.",
              "Reference log-probs: " + ("required." if s.reference else "not used "
                                         "(reference-free)."),
              "Progress t in [0, 1] (training step / total steps): " +
              ("required." if objective.temporal else "not used."),
              "Chosen lengths n (tokens): " + ("required." if objective.needs_lengths
                                              else "not used."),
              "",
              "    losses = loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps,",
              "                  ref_rejected_logps, progress=None, chosen_lengths=None)  # [B]",
              "    loss_value = losses.mean()",
              "",
              "SPEC is the objective as lossforge data: "
              "lossforge.objectives.Objective(MPOSpec.from_json(SPEC))."]
    doc = _docstring_text("\n".join(lines))

    spec_literal = pprint.pformat(s.to_json(), sort_dicts=False, width=96)
    out = [f'"""{doc}\n"""\n\nimport torch\nimport torch.nn.functional as F\n\n'
           f"NAME = {s.name!r}\nBETA = {beta!r}\nAGGREGATION = {s.aggregation!r}\n"
           f"NEEDS_REFERENCE = {bool(s.reference)}\nTEMPORAL = {bool(objective.temporal)}\n"
           f"NEEDS_LENGTHS = {bool(objective.needs_lengths)}\nSPEC = {spec_literal}\n",
           _KERNELS]
    out.append(_function("phi_tilde", "l", mm.phi_tilde,
                         "phi~(l) = phi^-1(exp(l)) in stable log-domain form.", "l", {L}))
    out.append(_function("link", "D, rw, rl, t", objective.link_expr,
                         "G: the preference link of the margin D and the rewards rw, rl.",
                         "D", {D, RW, RL}))
    if has_w_pref:
        out.append(_function("w_pref", "t", objective.w_pref_expr,
                             "Weight of the preference term at progress t.", "t", {T}))
    if uses_psi:
        out.append(_function("imitation", "l, n, t", objective.imitation_expr,
                             "Psi: imitation term on the chosen log-prob l (length n).",
                             "l", {L, N}))
        out.append(_function("w_sft", "t", objective.w_sft_expr,
                             "Weight of the imitation term at progress t.", "t", {T}))
    out.append(_loss_source(objective, has_w_pref, uses_psi))
    return "".join(out)


def _neural_module_source(objective, notes) -> str:
    """An ES network's objective (``objectives/neural.py``) as a standalone module: phi~ is the
    monotone network with its parameters as float literals, computed in the order of
    ``NeuralMap.phi_tilde`` (so the file returns lossforge's losses bit for bit); the rest (link,
    beta, reference) as for a symbolic objective. A network has no imitation term or weights."""
    s, net = objective.spec, objective.network
    a, v, w, b = net.unpack()
    mid, half = net._mid_half
    beta = float(s.beta)
    for x in (beta, mid, half, *v, *w, *b):
        _number(float(x))
    ref = " - phi~(l_ref(y))" if s.reference else ""
    agg = {"sum": "SUMMED over the response's tokens (as DPO)",
           "mean": "AVERAGED per token of the response (length-normalised, as ORPO/SimPO)"}
    lines = [f"{s.name}: an MPO preference loss with a neural phi~ (CMA-ES, python -m "
             "lossforge.search --method es), exported by lossforge (standalone: needs only "
             "torch).", ""]
    if s.description:
        lines += [s.description, ""]
    lines += list(notes) + ([""] if notes else [])
    lines += ["    phi~(l)   = SLOPE * l + HALF * sum_k AMP_k * tanh(W_k * (l - MID) / HALF + B_k)",
              f"                ({net.describe()}; strictly increasing: h is a valid mirror "
              "map with no closed form)",
              f"    r(y)      = beta * [phi~(l_theta(y)){ref}],   beta = {beta!r}",
              "    D         = r(y_w) - r(y_l)",
              "    loss      = G(D, r_w, r_l, t)",
              f"    G         = {objective.link_expr}",
              "",
              f"Log-probs l: {agg[s.aggregation]}.",
              "Reference log-probs: " + ("required." if s.reference else "not used "
                                         "(reference-free)."),
              "Progress t in [0, 1] (training step / total steps): " +
              ("required." if objective.temporal else "not used."),
              "",
              "    losses = loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps,",
              "                  ref_rejected_logps, progress=None)  # [B]",
              "    loss_value = losses.mean()",
              "",
              "SPEC is the objective as lossforge data: lossforge.objectives.from_spec(SPEC)."]
    doc = _docstring_text("\n".join(lines))
    spec_literal = pprint.pformat(s.to_json(), sort_dicts=False, width=96)

    def floats(xs) -> str:
        return "[" + ", ".join(_number(float(x)) for x in xs) + "]"

    out = [f'"""{doc}\n"""\n\nimport torch\nimport torch.nn.functional as F\n\n'
           f"NAME = {s.name!r}\nBETA = {beta!r}\nAGGREGATION = {s.aggregation!r}\n"
           f"NEEDS_REFERENCE = {bool(s.reference)}\nTEMPORAL = {bool(objective.temporal)}\n"
           f"NEEDS_LENGTHS = False\nSPEC = {spec_literal}\n\n"
           f"# the network: slope floor exp(a), centre and half-width of its l range, |v|, |w|, b\n"
           f"SLOPE = {_number(math.exp(a))}\nMID = {_number(mid)}\nHALF = {_number(half)}\n"
           f"AMP = {floats(abs(x) for x in v)}\nW = {floats(abs(x) for x in w)}\n"
           f"B = {floats(b)}\n",
           _KERNELS,
           '\n\ndef phi_tilde(l):\n'
           '    """phi~(l): the monotone network (strictly increasing in l)."""\n'
           '    out = l * SLOPE\n'
           '    if any(AMP):\n'
           '        u = ((l - MID) / HALF).unsqueeze(-1)\n'
           '        like = dict(dtype=l.dtype, device=l.device)\n'
           '        hidden = torch.tanh(u * torch.tensor(W, **like) + torch.tensor(B, **like))\n'
           '        out = out + HALF * (hidden * torch.tensor(AMP, **like)).sum(-1)\n'
           '    return out\n',
           _function("link", "D, rw, rl, t", objective.link_expr,
                     "G: the preference link of the margin D and the rewards rw, rl.",
                     "D", {D, RW, RL}),
           _loss_source(objective, False, False)]
    return "".join(out)


def _loss_source(objective: Objective, has_w_pref: bool, uses_psi: bool) -> str:
    """``loss(...)``: the same steps, in the same order, as ``Objective.__call__``."""
    s = objective.spec
    body = ['    pc, pr = policy_chosen_logps, policy_rejected_logps']
    if s.reference:
        body += ['    if ref_chosen_logps is None or ref_rejected_logps is None:',
                 f'        raise ValueError({s.name + " needs reference log-probs"!r})',
                 '    d_w = phi_tilde(pc) - phi_tilde(ref_chosen_logps)',
                 '    d_l = phi_tilde(pr) - phi_tilde(ref_rejected_logps)']
    else:
        body += ['    d_w, d_l = phi_tilde(pc), phi_tilde(pr)  # reference-free']
    if objective.temporal:
        body += ['    if progress is None:',
                 f'        raise ValueError({s.name + " is temporally aware: pass progress t"!r})']
    if objective.needs_lengths:
        body += ['    if chosen_lengths is None:',
                 f'        raise ValueError({s.name + " uses n: pass chosen_lengths"!r})']
    body += ['    margin = BETA * (d_w - d_l)',
             '    t = torch.as_tensor(0.0 if progress is None else progress, dtype=pc.dtype)',
             '    out = link(margin, BETA * d_w, BETA * d_l, t)']
    if has_w_pref:
        body += ['    out = w_pref(t) * out']
    if uses_psi:
        body += ['    n = (torch.as_tensor(chosen_lengths, dtype=pc.dtype)'
                 ' if chosen_lengths is not None',
                 '         else torch.ones_like(pc))',
                 '    out = out + w_sft(t) * imitation(pc, n, t)']
    body += ['    return out']
    return ('\n\ndef loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps=None,\n'
            '         ref_rejected_logps=None, progress=None, chosen_lengths=None):\n'
            '    """Per-example losses, shape [B]; average them for the batch loss."""\n'
            + "\n".join(body) + "\n")
