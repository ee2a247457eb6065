"""Run-directory exports of discovered losses: standalone torch source and the LaTeX table.

The torch file of a loss depends on nothing but torch: phi~ printed from its SymPy form (the
stable kernels log1mexp and softplus are copied into the file), DPO's link and reference, the
run's beta. It computes the same per-example loss as ``Objective(spec)`` (the tests compare
them). (``lossforge/export`` will own the general exporters and the TRL adapter, issue 6.)
"""

from __future__ import annotations

import sympy as sp

from lossforge.symbolic.logdomain import L
from lossforge.symbolic.mirror_map import MirrorMap

_FUNCS = {"exp": "torch.exp", "log": "torch.log", "tanh": "torch.tanh", "sin": "torch.sin",
          "cos": "torch.cos", "log1p": "torch.log1p", "expm1": "torch.expm1",
          "Log1mexp": "log1mexp", "Softplus": "softplus", "LogSigmoid": "F.logsigmoid",
          "Sigmoid": "torch.sigmoid"}


class ExportError(ValueError):
    pass


def torch_source(e: sp.Expr) -> str:
    """Python/torch source of a SymPy expression in the log-prob variable ``l``."""
    if not e.free_symbols:
        v = float(e)
        return repr(v) if v >= 0 else f"({v!r})"
    if e == L or (e.is_Symbol and e.name == "l"):
        return "l"
    if e.is_Add:
        return "(" + " + ".join(torch_source(a) for a in e.args) + ")"
    if e.is_Mul:
        return "(" + " * ".join(torch_source(a) for a in e.args) + ")"
    if e.is_Pow:
        b, k = torch_source(e.base), e.exp
        if k == sp.Rational(1, 2):
            return f"torch.sqrt({b})"
        if k == 2:
            return f"torch.square({b})"
        if k == -1:
            return f"torch.reciprocal({b})"
        if not k.free_symbols:
            return f"torch.pow({b}, {float(k)!r})"
        return f"torch.pow({b}, {torch_source(k)})"
    if isinstance(e, sp.Max) and len(e.args) == 2 and 0 in e.args:
        other = e.args[0] if e.args[1] == 0 else e.args[1]
        return f"torch.relu({torch_source(other)})"
    name = e.func.__name__
    if name in _FUNCS and len(e.args) == 1:
        return f"{_FUNCS[name]}({torch_source(e.args[0])})"
    raise ExportError(f"no torch spelling for {name} in {e}")


_TEMPLATE = '''"""{name}: a preference loss discovered by lossforge (standalone: needs only torch).

Run {run}, scenario {scenario}.
Score ({rung}, {metric}): {score}

    h(p)      = {h}
    phi^-1(p) = {phi_inv}   (+ const)
    phi~(l)   = {phi_tilde}   (+ const)
    r(y)      = beta * [phi~(l_theta(y)) - phi~(l_ref(y))],   beta = {beta!r}
    loss      = -log sigmoid(r(y_w) - r(y_l))

Log-probs: {aggregation} over the response's tokens/steps. Returns per-example losses.
"""

import torch
import torch.nn.functional as F

BETA = {beta!r}


def log1mexp(x):
    """log(1 - exp(x)) for x < 0, stable at both ends (Maechler 2012)."""
    return torch.where(x > -0.6931471805599453, torch.log(-torch.expm1(x)),
                       torch.log1p(-torch.exp(x)))


def softplus(x):
    return torch.logaddexp(x, torch.zeros_like(x))


def phi_tilde(l):
    return {phi_src} + torch.zeros_like(l)


def loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
         beta=BETA):
    d_w = phi_tilde(policy_chosen_logps) - phi_tilde(ref_chosen_logps)
    d_l = phi_tilde(policy_rejected_logps) - phi_tilde(ref_rejected_logps)
    return -F.logsigmoid(beta * (d_w - d_l))
'''


def loss_module_source(loss: dict, *, run: str, scenario: str, rung: str, metric: str) -> str:
    spec = loss["spec"]
    if spec["link"] != "-logsigmoid(D)" or spec.get("imitation") or not spec["reference"]:
        raise ExportError(f"{spec['name']}: only DPO-link members are exported as standalone "
                          "torch files so far")
    mm = MirrorMap.from_formula(spec["mirror_map"])
    f = loss.get(rung) or {}
    score = _score_text(f, "+/-", 2)
    return _TEMPLATE.format(name=spec["name"], run=run, scenario=scenario, rung=rung,
                            metric=metric, score=score, h=mm.h, phi_inv=mm.phi_inv,
                            phi_tilde=mm.phi_tilde, beta=float(spec["beta"]),
                            aggregation={"sum": "summed", "mean": "averaged"}[spec["aggregation"]],
                            phi_src=torch_source(mm.phi_tilde))


def _score_text(f: dict, pm: str, nd: int) -> str:
    if not f or f.get("score") is None:
        return "--"
    if f.get("ci95") is None:
        return f"{f['score']:.{nd}f}"
    return f"{f['score']:.{nd}f} {pm} {f['ci95']:.{nd}f}"


def _tex_escape(s: str) -> str:
    return s.replace("_", r"\_")


def pareto_table(rows: list[dict], baselines: list[dict], rung: str) -> str:
    """A LaTeX ``tabular`` of the Pareto front (complexity, h, phi~, score) and baselines."""
    lines = [r"\begin{tabular}{lrlll}", r"\toprule",
             r"loss & size & $h(p)$ & $\tilde\phi(\ell)$ & score ($\pm$ 95\,\% CI) \\",
             r"\midrule"]
    lines += [_table_row(r, _tex_escape(r["name"]), str(r["complexity"]), rung) for r in rows]
    if baselines:
        lines.append(r"\midrule")
        lines += [_table_row(b, _tex_escape(b["spec"]["name"]) + " (baseline)", "--", rung)
                  for b in baselines]
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def _table_row(record: dict, label: str, size: str, rung: str) -> str:
    tex = MirrorMap.from_formula(record["spec"]["mirror_map"]).latex()
    score = _score_text(record.get(rung) or {}, "$\\pm$", 1)
    return f"{label} & {size} & ${tex['h']}$ & ${tex['phi_tilde']}$ & {score} \\\\"
