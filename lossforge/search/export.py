"""Run-directory exports of discovered losses: one standalone torch file per loss and the
Pareto table (``pareto.tex``). The torch module itself is ``objectives.torch_module``; this
module adds what a search run knows (run, scenario, score) to the file's docstring, and lays out
the Pareto front as LaTeX (the ``lossforge.export`` package re-exports both for users).
"""

from __future__ import annotations

from lossforge.objectives.neural import from_spec
from lossforge.objectives.torch_module import ExportError, module_source
from lossforge.symbolic.mirror_map import MirrorMap

__all__ = ["ExportError", "loss_module_source", "pareto_table", "score_text"]


def loss_module_source(loss: dict, *, run: str, scenario: str, rung: str, metric: str) -> str:
    """The standalone torch module of a hall-of-fame / Pareto row of a run."""
    # the search checked the mirror map before scoring it: no need to prove convexity again
    # (an ES network is valid by construction; its file holds the network's parameters)
    objective = from_spec(loss["spec"], check=False)
    notes = [f"Run {run}, scenario {scenario}.",
             f"Score ({rung}, {metric}): {score_text(loss.get(rung), '+/-', 2)}"]
    return module_source(objective, notes=notes)


def score_text(fitness: dict | None, pm: str, digits: int) -> str:
    """"12.30 +/- 1.20" from a fitness record (score, ci95); "--" when there is no score."""
    if not fitness or fitness.get("score") is None:
        return "--"
    if fitness.get("ci95") is None:
        return f"{fitness['score']:.{digits}f}"
    return f"{fitness['score']:.{digits}f} {pm} {fitness['ci95']:.{digits}f}"


def _tex_escape(s: str) -> str:
    """Escape LaTeX's special characters in a name (backslash first, via a placeholder)."""
    s = s.replace("\\", "\0")
    for a in "_#&%${}":
        s = s.replace(a, "\\" + a)
    return s.replace("\0", r"\textbackslash{}")


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
    score = score_text(record.get(rung), "$\\pm$", 1)
    spec = record["spec"]
    if spec.get("kind") == "neural":  # an ES network: no formula until it is distilled
        return (f"{label} & {size} & neural (no closed form) & monotone network, "
                f"{len(spec['params'])} parameters & {score} \\\\")
    tex = MirrorMap.from_formula(spec["mirror_map"]).latex()
    return f"{label} & {size} & ${tex['h']}$ & ${tex['phi_tilde']}$ & {score} \\\\"
