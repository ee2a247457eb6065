"""Symbolic search for MPO losses (``python -m lossforge.search``).

The flow, one module per stage:

    engine.py      SearchConfig, the JSON state, one generation = ask / assess / evaluate / tell
    gp.py          the search's only DEAP calls: typed variation with an explicit RNG,
                   NSGA-II selection, the Pareto front
    candidates.py  tree -> checks -> compile -> smoke test -> fingerprint (or a rejection)
    executors.py   where fitness runs: local process pool or Ray, same results
    checkpoint.py  the state as checksummed JSON, atomic writes
    rundir.py      run directory outputs (read back by ``lossforge.runfiles`` and
                   ``load_run``, below the search); export.py: torch source, LaTeX table
    run.py         the driver (checkpoint per generation, resume)
    display.py     the live table or timestamped lines while a search runs
    summary.py     the final report and ``show``: front, baselines, the words, the verdict
    verdict.py     better / level / worse on the paired per-seed difference (t-interval)
    probe_fitness.py  a cheap synthetic stand-in fitness for engine tests and smoke runs

    from lossforge.search import SearchConfig, run_search, load_run
    run_dir = run_search(SearchConfig(scenario="quick", generations=3, population=8))
    run = load_run(run_dir); run.objectives["lf-1a2b3c4d"](pc, pr, rc, rr)
"""

from lossforge.objectives.run import Run, load_run
from lossforge.search.engine import SearchConfig
from lossforge.search.run import run_search

__all__ = ["Run", "SearchConfig", "load_run", "run_search"]
