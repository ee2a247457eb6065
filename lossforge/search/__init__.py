"""Symbolic search for MPO losses (``python -m lossforge.search``).

The flow, one module per stage:

    context.py     SearchConfig, and what a run loads once from it (scenario, grammars, baselines)
    engine.py      the JSON state, one generation = ask / assess / evaluate / tell
    genome.py      a candidate: its mirror-map tree and the optional link / imitation slots
    gp.py          the search's only DEAP calls: typed variation with an explicit RNG,
                   NSGA-II selection, the Pareto front
    candidates.py  tree -> checks -> compile -> smoke test -> fingerprint (or a rejection)
    executors.py   which fitness scores a loss (bench, probe, llm or a plug-in: resolve_fitness)
                   and where it runs: local process pool or Ray, same results
    suite_fitness.py  --suite: one number from every scenario of a suite, with racing
    journal.py     every finished evaluation, appended as it lands (a resume reads it)
    checkpoint.py  the state as checksummed JSON, atomic writes
    rundir.py      run directory outputs (read back by ``lossforge.runfiles`` and
                   ``load_run``, below the search); export.py: torch source, LaTeX table
    run.py         the driver (checkpoint per generation, resume)
    stops.py       how a search stopped early says so: Ctrl-C, SIGTERM, a full disk, a bug
    display.py     the live table or timestamped lines while a search runs
    summary.py     the final report and ``show``: front, baselines, the words, the verdict
    verdict.py     better / level / worse on the paired per-seed difference (t-interval)
    probe_fitness.py  a cheap synthetic stand-in fitness for engine tests and smoke runs
    es.py, es_slots.py  --method es: CMA-ES over a neural phi~ (and the link / imitation slots)
    reproduce.py   the command that runs a search again, from its config.json

    from lossforge.search import SearchConfig, run_search, load_run
    run_dir = run_search(SearchConfig(scenario="quick", generations=3, population=8))
    run = load_run(run_dir); run.objectives["lf-1a2b3c4d"](pc, pr, rc, rr)
"""

from lossforge.objectives.run import Run, load_run
from lossforge.search.engine import SearchConfig
from lossforge.search.run import run_search

__all__ = ["Run", "SearchConfig", "load_run", "run_search"]
