"""Exports of a loss, for use outside lossforge (``python -m lossforge.export``).

    torch   a standalone Python module that imports only torch: the WHOLE objective (mirror map,
            link, imitation term, weights, beta, reference or not) as ``loss(...)``, with the
            stable log-domain kernels kept (``objectives/torch_module.py``; expressions are
            printed by ``symbolic/printers.py``)
    latex   the objective as an amsmath block or a complete document (``Objective.latex``;
            the search's Pareto table is ``search/export.py``)
    json    the spec plus its plain-text formula and LaTeX; with ``data = json.load(file)``,
            lossforge loads it back as an objective with ``objectives.from_spec(data["spec"])``
            (symbolic or neural; a symbolic spec alone: ``MPOSpec.from_json(data["spec"])``),
            and ``python -m lossforge.export FILE.json`` reads it as a source

Where the loss came from (``notes``, e.g. a run and rank, and whether options changed it) goes
into the torch file's docstring, the JSON's ``"provenance"`` and the LaTeX document's text.

    from lossforge import objectives
    from lossforge.export import export
    print(export(objectives.from_run("runs/<run>", rank=0), "torch"))

The TRL adapter is ``lossforge.integrations.trl`` (it needs the ``llm`` extra).
"""

from __future__ import annotations

import json

from lossforge.objectives.mpo import Objective, latex_text
from lossforge.objectives.torch_module import ExportError, module_source
from lossforge.search.export import pareto_table, score_text
from lossforge.symbolic.printers import expr_source

__all__ = ["FORMATS", "ExportError", "export", "expr_source", "module_source",
           "objective_json", "objective_latex", "pareto_table", "score_text"]

FORMATS = ("torch", "latex", "latex-document", "json")


def objective_latex(objective: Objective, *, document: bool = False,
                    notes: list[str] | tuple[str, ...] = ()) -> str:
    """The whole objective as LaTeX: an amsmath ``aligned`` block, or (``document``) a complete
    article that compiles on its own, with ``notes`` as a paragraph under its title."""
    if not document:
        return objective.latex() + "\n"
    text = objective.latex_document()
    if not notes:
        return text
    head, sep, rest = text.partition("\\[\n")  # the display math follows the title
    return head + latex_text(" ".join(notes)) + "\n" + sep + rest


def objective_json(objective: Objective, notes: list[str] | tuple[str, ...] = ()) -> str:
    """``{"spec": ..., "formula": ..., "latex": ...}`` as indented JSON text, plus
    ``"provenance"`` (the ``notes``) when there are any."""
    data = objective.to_json()
    if notes:
        data["provenance"] = list(notes)
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def export(objective: Objective, fmt: str, *, notes: list[str] | tuple[str, ...] = ()) -> str:
    """``objective`` in one of ``FORMATS``. ``notes``: where it came from, in the torch file's
    docstring, the JSON's ``"provenance"`` and the LaTeX document (not in a bare ``latex``
    block)."""
    if fmt == "torch":
        return module_source(objective, notes=notes)
    if fmt in ("latex", "latex-document"):
        return objective_latex(objective, document=fmt == "latex-document", notes=notes)
    if fmt == "json":
        return objective_json(objective, notes)
    raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
