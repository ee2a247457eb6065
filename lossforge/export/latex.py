"""LaTeX exports: one objective (an ``aligned`` block or a whole document) and the search's
Pareto table.

The formulas themselves come from ``Objective.latex()`` / ``MirrorMap.latex()`` (the op table's
LaTeX templates); this module only lays them out.
"""

from __future__ import annotations

from lossforge.objectives.mpo import Objective
from lossforge.symbolic.mirror_map import MirrorMap

__all__ = ["objective_latex", "pareto_table", "score_text"]


def objective_latex(objective: Objective, *, document: bool = False) -> str:
    """The whole objective as LaTeX: an amsmath ``aligned`` block, or (``document``) a complete
    article that compiles on its own."""
    return objective.latex_document() if document else objective.latex() + "\n"


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
