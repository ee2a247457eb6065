"""A whole MPO objective as a standalone Python module that needs only torch.

``module_source(objective)`` writes the file: the stable kernels (log1mexp, softplus: the op
table's own source), one function per piece of the objective (phi~, the link G, the imitation
term Psi, the weights), each printed by ``symbolic.printers.expr_source``, and ``loss(...)``,
which assembles them exactly as ``Objective.__call__`` does (same arguments, same order of
operations), so the file returns the same per-example losses as lossforge to float precision
(the tests import it in a fresh interpreter without lossforge and compare). An ES network's
objective (``objectives/neural.py``) is written with the network's parameters as literals.

Nothing a user typed is copied into the file as code: expressions are printed from SymPy trees,
numbers as float literals, and names/descriptions only inside an escaped docstring or ``repr``.
``python -m lossforge.export`` and a search's run directory (``search/export.py``) use it.
"""

from __future__ import annotations

import math
import pprint

import sympy as sp

from lossforge.grammar.ops import kernel_sources
from lossforge.objectives.mpo import AGGREGATION_WORDS, D, N, RL, RW, T, Objective
from lossforge.symbolic.logdomain import L
from lossforge.symbolic.printers import ExportError, expr_source, number_source
from lossforge.symbolic.parser import formula_text

__all__ = ["ExportError", "module_source"]


def _kernels() -> str:
    """The stable kernels an exported module defines: the op table's own source."""
    return "".join("\n\n" + text for text in kernel_sources())

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


def _equation_lines(objective: Objective) -> list[str]:
    """The docstring's equations from r on, rendered from the objective's ``parts`` (as every
    plain-text form of a loss is), in formula syntax: r, D, the loss, G and Psi and their weights
    (w_pref when it is not 1; a network's objective has weight 1)."""
    p = objective.parts()
    has_w_pref = p.w_pref != 1
    total = "w_pref(t) * G(D, r_w, r_l, t)" if has_w_pref else "G(D, r_w, r_l, t)"
    if p.imitation is not None:
        total += " + w_sft(t) * Psi(l_w, n_w, t)"
    lines = [f"    r(y)      = beta * [{p.reward_text('l_theta(y)', 'l_ref(y)')}],   "
             f"beta = {float(p.beta)!r}",
             "    D         = r(y_w) - r(y_l)",
             f"    loss      = {total}",
             f"    G         = {formula_text(p.link)}"]
    if has_w_pref:
        lines.append(f"    w_pref(t) = {formula_text(p.w_pref)}")
    if p.imitation is not None:
        lines += [f"    Psi       = {formula_text(p.imitation)}   (l: l_w, n: n_w)",
                  f"    w_sft(t)  = {formula_text(p.w_sft)}"]
    return lines


def _input_lines(objective: Objective) -> list[str]:
    """The docstring's lines on the inputs: how l aggregates, which inputs are required."""
    s = objective.spec
    return [f"Log-probs l: {AGGREGATION_WORDS[s.aggregation]}.",
            "Reference log-probs: " + ("required." if s.reference else "not used "
                                       "(reference-free)."),
            "Progress t in [0, 1] (training step / total steps): " +
            ("required." if objective.temporal else "not used.")]


def _doc_lines(objective: Objective, notes) -> list[str]:
    """The exported file's docstring: the loss's equations and what its inputs must be."""
    s, mm = objective.spec, objective.mirror_map
    lines = [f"{s.name}: an MPO preference loss exported by lossforge (standalone: needs only "
             "torch).", ""]
    if s.description:
        lines += [s.description, ""]
    lines += list(notes) + ([""] if notes else [])
    texts = mm.texts()
    lines += [f"    h(p)      = {texts['h']}",
              f"    phi^-1(p) = {texts['phi_inv']}   (+ const)",
              f"    phi~(l)   = {texts['phi_tilde']}   (+ const)"]
    lines += _equation_lines(objective)
    lines += ["",
              "y_w is the chosen response, y_l the rejected one; l_w and l_l their log-probs "
              "under the policy."]
    lines += _input_lines(objective)
    lines += ["Chosen lengths n_w: " + ("required." if objective.needs_lengths else "not used.")
              + (" The chosen response's length: tokens in TRL (EOS included), environment "
                 "steps\nin a MuJoCo segment; a constant beside n is on the scale of the data "
                 "the loss was found on." if objective.needs_lengths else ""),
              "",
              "    losses = loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps,",
              "                  ref_rejected_logps, progress=None, chosen_lengths=None)  # [B]",
              "    loss_value = losses.mean()",
              "",
              "SPEC is the objective as lossforge data: "
              "lossforge.objectives.Objective(MPOSpec.from_json(SPEC))."]
    return lines


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
        number_source(float(v))  # non-finite parameters cannot be literals
    number_source(beta)

    doc = _docstring_text("\n".join(_doc_lines(objective, notes)))

    spec_literal = pprint.pformat(s.to_json(), sort_dicts=False, width=96)
    out = [f'"""{doc}\n"""\n\nimport torch\nimport torch.nn.functional as F\n\n'
           f"NAME = {s.name!r}\nBETA = {beta!r}\nAGGREGATION = {s.aggregation!r}\n"
           f"NEEDS_REFERENCE = {bool(s.reference)}\nTEMPORAL = {bool(objective.temporal)}\n"
           f"NEEDS_LENGTHS = {bool(objective.needs_lengths)}\nSPEC = {spec_literal}\n",
           _kernels()]
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
    imitation term, beta, reference) as for a symbolic objective. A network has no weights."""
    s, net = objective.spec, objective.network
    uses_psi = objective.imitation_expr is not None
    a, v, w, b = net.unpack()
    mid, half = net._mid_half
    beta = float(s.beta)
    for x in (beta, mid, half, *v, *w, *b):
        number_source(float(x))
    lines = _neural_doc_lines(objective, notes, uses_psi)
    doc = _docstring_text("\n".join(lines))
    spec_literal = pprint.pformat(s.to_json(), sort_dicts=False, width=96)

    def floats(xs) -> str:
        return "[" + ", ".join(number_source(float(x)) for x in xs) + "]"

    out = [f'"""{doc}\n"""\n\nimport torch\nimport torch.nn.functional as F\n\n'
           f"NAME = {s.name!r}\nBETA = {beta!r}\nAGGREGATION = {s.aggregation!r}\n"
           f"NEEDS_REFERENCE = {bool(s.reference)}\nTEMPORAL = {bool(objective.temporal)}\n"
           f"NEEDS_LENGTHS = {bool(objective.needs_lengths)}\nSPEC = {spec_literal}\n\n"
           f"# the network: slope floor exp(a), centre and half-width of its l range, |v|, |w|, b\n"
           f"SLOPE = {number_source(math.exp(a))}\nMID = {number_source(mid)}\n"
           f"HALF = {number_source(half)}\n"
           f"AMP = {floats(abs(x) for x in v)}\nW = {floats(abs(x) for x in w)}\n"
           f"B = {floats(b)}\n",
           _kernels(),
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
                     "D", {D, RW, RL})]
    if uses_psi:
        out += [_function("imitation", "l, n, t", objective.imitation_expr,
                          "Psi: imitation term on the chosen log-prob l (length n).", "l", {L, N}),
                _function("w_sft", "t", objective.w_sft_expr,
                          "Weight of the imitation term at progress t.", "t", {T})]
    out.append(_loss_source(objective, False, uses_psi))
    return "".join(out)


def _neural_doc_lines(objective, notes, uses_psi: bool) -> list[str]:
    """The docstring of an ES network's exported module: its equations and inputs."""
    s, net = objective.spec, objective.network
    lines = [f"{s.name}: an MPO preference loss with a neural phi~ (CMA-ES, python -m "
             "lossforge.search --method es), exported by lossforge (standalone: needs only "
             "torch).", ""]
    if s.description:
        lines += [s.description, ""]
    lines += list(notes) + ([""] if notes else [])
    lines += ["    phi~(l)   = SLOPE * l + HALF * sum_k AMP_k * tanh(W_k * (l - MID) / HALF + B_k)",
              f"                ({net.describe()}; strictly increasing: h is a valid mirror "
              "map with no closed form)"]
    lines += _equation_lines(objective)
    lines += [""] + _input_lines(objective)
    if uses_psi:
        lines.append("Chosen lengths n (tokens): " + ("required." if objective.needs_lengths
                                                    else "not used."))
    lines += ["",
              "    losses = loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps,",
              "                  ref_rejected_logps, progress=None"
              + (", chosen_lengths=None" if uses_psi else "") + ")  # [B]",
              "    loss_value = losses.mean()",
              "",
              "SPEC is the objective as lossforge data: lossforge.objectives.from_spec(SPEC)."]
    return lines


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
