"""Run-directory exports of discovered losses: one standalone torch file per loss and the
Pareto table. The exporters themselves live in ``lossforge.export``; this module only adds
what a search run knows (run, scenario, score) to the file's docstring.
"""

from __future__ import annotations

from lossforge.export import ExportError, module_source, pareto_table, score_text
from lossforge.objectives.neural import from_spec

__all__ = ["ExportError", "loss_module_source", "pareto_table"]


def loss_module_source(loss: dict, *, run: str, scenario: str, rung: str, metric: str) -> str:
    """The standalone torch module of a hall-of-fame / Pareto row of a run."""
    # the search checked the mirror map before scoring it: no need to prove convexity again
    # (an ES network is valid by construction; its file holds the network's parameters)
    objective = from_spec(loss["spec"], check=False)
    notes = [f"Run {run}, scenario {scenario}.",
             f"Score ({rung}, {metric}): {score_text(loss.get(rung), '+/-', 2)}"]
    return module_source(objective, notes=notes)
