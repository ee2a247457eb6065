"""Objectives: the MPO family compiled to torch, and the zoo of known members.

    from lossforge import objectives
    dpo = objectives.get("dpo", beta=0.1)
    mine = objectives.from_mirror_map("p*log(p) + p**2", beta=0.1, reference=True)
    found = objectives.from_run("runs/<run>", rank=0)      # best loss of a search run
    saved = objectives.from_file("orpo.json")   # export --format json, or a distill output
    losses = mine(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
"""

from __future__ import annotations

from pathlib import Path

from lossforge.errors import ConfigError
from lossforge.objectives.files import from_file
from lossforge.objectives.mpo import MPOSpec, Objective, from_mirror_map
from lossforge.objectives.neural import NeuralObjective, NeuralSpec, from_spec
from lossforge.objectives.run import Run, load_run
from lossforge.objectives.zoo import ZOO, get, get_spec, names

__all__ = ["MPOSpec", "NeuralObjective", "NeuralSpec", "Objective", "Run", "ZOO",
           "from_file", "from_mirror_map", "from_run", "from_spec", "get", "get_spec", "load_run",
           "names"]


def from_run(run_dir, rank: int = 0, *, name: str | None = None) -> Objective:
    """A loss of a search run directory, as a callable ``Objective``.

    ``rank`` counts the run's hall of fame from 0, the best (as ``python -m lossforge.search
    show`` numbers it). ``name`` (a loss id such as ``lf-706647a5``, from the hall
    of fame or the Pareto front) picks by name instead. Only the run's JSON files are read.
    ``run_dir`` is a path or a ``Run`` that ``load_run`` (also ``lossforge.search.load_run``)
    read already.
    Raises ``CheckpointError`` for a missing or malformed run directory and ``ConfigError`` for
    a rank or name the run does not have.
    """
    run = load_run(run_dir) if isinstance(run_dir, (str, Path)) else run_dir
    if name is not None:
        if name not in run.objectives:
            raise ConfigError(f"{run.path}: no loss named {name!r}; the run has "
                              f"{', '.join(sorted(run.objectives)) or 'none'}")
        return run.objectives[name]
    if isinstance(rank, bool) or not isinstance(rank, int):
        raise ConfigError(f"rank must be an integer, got {rank!r}")
    k = len(run.hall_of_fame)
    if not 0 <= rank < k:
        have = f"ranks 0..{k - 1}" if k else "an empty hall of fame"
        raise ConfigError(f"{run.path}: no rank {rank} (0 = best); the run has {have}")
    return run.objectives[run.hall_of_fame[rank]["name"]]
