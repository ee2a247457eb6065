"""A search run directory's losses as callable objectives.

``load_run`` reads the run's JSON result files (``lossforge.runfiles``, JSON only; nothing is
unpickled or executed) and builds one ``Objective`` per loss of the hall of fame and the
Pareto front from its spec. It lives in the objectives layer, below the search, so the bench
CLI, export, distill and ``objectives.from_run`` read run directories without importing the
search (or DEAP); ``lossforge.search`` re-exports it for its users.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lossforge.objectives.mpo import Objective
from lossforge.objectives.neural import from_spec
from lossforge.runfiles import read_run


@dataclass(frozen=True)
class Run:
    path: Path
    config: dict
    hall_of_fame: list[dict]
    pareto: list[dict]
    baselines: list[dict]
    objectives: dict[str, Objective]   # every loss of the hall of fame and the front, by name
    unchecked: tuple[str, ...] = ()    # result files without a checksum (older run directories)
    header: dict = field(default_factory=dict)   # ``runfiles.RunFiles.header``

    def __getitem__(self, name: str) -> Objective:
        return self.objectives[name]


def load_run(path: str | Path) -> Run:
    """A run directory as callable objectives (from its JSON files; nothing is executed)."""
    files = read_run(path)
    objectives: dict[str, Objective] = {}
    for row in files.hall_of_fame + files.pareto:
        if row["name"] not in objectives:
            objectives[row["name"]] = from_spec(row["spec"])
    return Run(files.path, files.config, files.hall_of_fame, files.pareto, files.baselines,
               objectives, files.unchecked, files.header)
