"""Exports of a loss, for use outside lossforge (``python -m lossforge.export``).

    torch   a standalone Python module that imports only torch: the WHOLE objective (mirror map,
            link, imitation term, weights, beta, reference or not) as ``loss(...)``, with the
            stable log-domain kernels kept (``torch_source.py``)
    latex   the objective as an amsmath block or a complete document (``latex.py``; the
            search's Pareto table lives there too)
    json    the ``MPOSpec`` plus its plain-text formula and LaTeX; lossforge loads it back with
            ``MPOSpec.from_json(data["spec"])`` or ``objectives.from_json`` on the file

    from lossforge import objectives
    from lossforge.export import export
    print(export(objectives.from_run("runs/<run>", rank=0), "torch"))

The TRL adapter is ``lossforge.integrations.trl`` (it needs the ``llm`` extra).
"""

from __future__ import annotations

import json

from lossforge.export.latex import objective_latex, pareto_table, score_text
from lossforge.export.torch_source import ExportError, expr_source, module_source
from lossforge.objectives.mpo import Objective

__all__ = ["FORMATS", "ExportError", "export", "expr_source", "module_source",
           "objective_json", "objective_latex", "pareto_table", "score_text"]

FORMATS = ("torch", "latex", "latex-document", "json")


def objective_json(objective: Objective) -> str:
    """``{"spec": ..., "formula": ..., "latex": ...}`` as indented JSON text."""
    return json.dumps(objective.to_json(), indent=2, allow_nan=False) + "\n"


def export(objective: Objective, fmt: str, *, notes: list[str] | tuple[str, ...] = ()) -> str:
    """``objective`` in one of ``FORMATS`` (``notes``: extra docstring lines of a torch file)."""
    if fmt == "torch":
        return module_source(objective, notes=notes)
    if fmt in ("latex", "latex-document"):
        return objective_latex(objective, document=fmt == "latex-document")
    if fmt == "json":
        return objective_json(objective)
    raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
