"""Exports of a loss, for use outside lossforge (``python -m lossforge.export``).

    torch   a standalone Python module that imports only torch: the WHOLE objective (mirror map,
            link, imitation term, weights, beta, reference or not) as ``loss(...)``, with the
            stable log-domain kernels kept (``objectives/torch_module.py``; expressions are
            printed by ``symbolic/printers.py``)
    latex   the objective as an amsmath block or a complete document (``Objective.latex``;
            the search's Pareto table is ``search/export.py``)
    json    the ``MPOSpec`` plus its plain-text formula and LaTeX; lossforge loads it back with
            ``MPOSpec.from_json(data["spec"])`` or ``objectives.from_json`` on the file

    from lossforge import objectives
    from lossforge.export import export
    print(export(objectives.from_run("runs/<run>", rank=0), "torch"))

The TRL adapter is ``lossforge.integrations.trl`` (it needs the ``llm`` extra).
"""

from __future__ import annotations

import json

from lossforge.objectives.mpo import Objective
from lossforge.objectives.torch_module import ExportError, module_source
from lossforge.search.export import pareto_table, score_text
from lossforge.symbolic.printers import expr_source

__all__ = ["FORMATS", "ExportError", "export", "expr_source", "module_source",
           "objective_json", "objective_latex", "pareto_table", "score_text"]

FORMATS = ("torch", "latex", "latex-document", "json")


def objective_latex(objective: Objective, *, document: bool = False) -> str:
    """The whole objective as LaTeX: an amsmath ``aligned`` block, or (``document``) a complete
    article that compiles on its own."""
    return objective.latex_document() if document else objective.latex() + "\n"


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
