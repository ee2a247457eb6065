"""Drive a search: set up or resume, run generations, checkpoint each, show progress, report.

    run_search(SearchConfig(...), runs_root="runs")      -> run directory
    run_search(resume="runs/2026...-quick-s0")           -> the same run, continued
    run_search(ESConfig(...))                            -> CMA-ES over a neural phi~ (es.py)

The driver is the same for both methods; a ``_Method`` names the pieces that differ (state,
generation step, result files, table columns). What it shows while running is display.py's;
the final report and ``show`` are summary.py's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from lossforge.bench.progress import stamped
from lossforge.errors import CheckpointError, ConfigError
from lossforge.runfiles import read_json
from lossforge.search import checkpoint, engine, es, inputs, rundir
from lossforge.search.executors import make_executor, resolve_warm_up
from lossforge.search.display import Display, fitness_label, gp_columns, gp_row, gp_title
from lossforge.search.journal import Journal
from lossforge.search.summary import es_report, print_brief, print_front


@dataclass(frozen=True)
class _Method:
    """What the driver needs from a search method."""

    config_cls: type
    make_context: Callable
    init_state: Callable
    step: Callable
    write_start: Callable
    write_results: Callable
    title: Callable          # ctx -> table title
    columns: Callable        # state -> table columns before elapsed / ETA
    row: Callable            # (history entry, elapsed seconds) -> cells
    report: Callable         # (results, state, console, run_dir) -> None


def _method(name: str) -> _Method:
    if name == es.METHOD:
        return _Method(es.ESConfig, es.make_context, es.init_state, es.step, es.write_start,
                       es.write_results, lambda ctx: es.title(ctx) + fitness_label(ctx.config),
                       lambda state: es.COLUMNS,
                       lambda h, elapsed: es.row(h), es_report)
    return _Method(engine.SearchConfig, engine.make_context, engine.init_state, engine.step,
                   rundir.write_start, rundir.write_results, gp_title, gp_columns, gp_row,
                   lambda results, state, console, run_dir: print_front(results, state,
                                                                        console))


def run_search(config: Any = None, *, runs_root: str | Path = "runs",
               resume: str | Path | None = None, quiet: bool = False, executor=None,
               overrides: dict | None = None, console=None, stop_after: int | None = None
               ) -> Path:
    """Run (or resume) a search (``SearchConfig``: GP; ``es.ESConfig``: CMA-ES); returns the
    run directory.

    ``overrides`` on resume may change only ``generations``, ``executor`` and ``workers`` (none
    of them changes a result). ``stop_after`` ends this call after that many generations (the
    run stays resumable), for tests and time-sliced use.
    """
    if resume is not None:
        run_dir = Path(resume)
        method, config, ctx, state = _resume(run_dir, overrides)
    else:
        if config is None:
            config = engine.SearchConfig()
        method = _method(es.METHOD if isinstance(config, es.ESConfig) else "gp")
        ctx = method.make_context(config)
        label = ctx.scenario.name + _fitness_suffix(config.fitness)
        run_dir = rundir.new_run_dir(runs_root, label, config.seed)
        method.write_start(run_dir, ctx)
        inputs.record(run_dir, config)
        state = method.init_state(ctx)
    if resume is not None and state["generation"] >= config.generations:
        _finished_note(run_dir, state, console)
    if hasattr(ctx, "journal"):  # evaluations finished mid-generation survive a kill
        ctx.journal = Journal(run_dir)
    warm_up = resolve_warm_up(config.fitness)
    if warm_up is not None and state["generation"] < config.generations:
        console = _warm_up(warm_up, ctx, config.workers, quiet, console)
    own_executor = executor is None
    if own_executor:
        executor = make_executor(config.executor, config.workers)
    display = Display(ctx, state, quiet, console, method)
    if hasattr(ctx, "progress"):
        ctx.progress = display.evaluations      # progress inside a generation
    try:
        _generations(method, state, ctx, config.generations, run_dir, executor, stop_after,
                     display)
    except BaseException as exc:    # Ctrl-C, a fitness that raised: the CLI names the run
        try:                        # directory to --resume
            exc.run_dir = run_dir
        except Exception:           # an exception that takes no attributes stays as it is
            pass
        raise
    finally:
        if own_executor:
            executor.close()
    results = method.write_results(run_dir, state, ctx, plot=True)
    if state["generation"] >= config.generations:  # quiet: the best formula and the verdict
        if quiet:
            print_brief(results, state, console)
        else:
            method.report(results, state, console, run_dir)
    return run_dir


def _fitness_suffix(fitness: str) -> str:
    """A run directory's name says when its scores are not MuJoCo's: "-probe", or a fitness of
    one's own by its function's name ("mymod:evaluate" -> "-evaluate")."""
    if fitness in ("bench", "llm"):
        return ""
    return "-" + "".join(c if c.isalnum() or c in "_-" else "_" for c in fitness.split(":")[-1])


def _resume(run_dir: Path, overrides: dict | None):
    """(method, config, context, state) of a run directory to continue; ``overrides`` may change
    only what changes no result."""
    state = _first_checkpoint_missing(run_dir)
    if state is None:
        state = checkpoint.load(run_dir)
        method = _method(state.get("method", "gp"))
        config = method.config_cls.from_json(state["config"])
    else:  # killed in generation 1: start it again (its journaled evaluations are kept)
        method = _method(state["method"])
        config = method.config_cls.from_json(state["config"])
        state = None
    if overrides:
        bad = set(overrides) - {"generations", "executor", "workers"}
        if bad:
            raise ConfigError(f"--resume continues a run as configured; it cannot change "
                              f"{', '.join(sorted(bad))}")
        config = replace(config, **overrides)
        if state is not None:
            state["config"] = config.to_json()
    inputs.check(run_dir, config)
    ctx = method.make_context(config)
    if state is None:
        state = method.init_state(ctx)
    rundir.rewrite_generations(run_dir, state["history"],
                               state.get("timing", {}).get("generation_s", []))
    return method, config, ctx, state


def _warm_up(warm_up: Callable, ctx, workers: int, quiet: bool, console):
    """The fitness's one-off preparation (e.g. building the scenario's datasets), with progress
    unless ``quiet``; returns the console made for it (None when quiet and none was given)."""
    bars, log = False, None
    if not quiet:
        from lossforge.cli import PipeConsole

        console = console or PipeConsole()
        bars = console  # a live bar on a terminal, timestamped lines with an ETA in a log

        def say(message: str, name: str = ctx.scenario.name) -> None:
            console.print(stamped(f"{name}: {message}"), highlight=False, soft_wrap=True)
        log = say
    suite = getattr(ctx, "suite", None)
    for name, path in ([(s.name, s.path) for s in suite] if suite else
                       [(ctx.scenario.name, ctx.scenario_path)]):
        warm_up(path, workers=workers, progress=bars,
                log=log and (lambda message, name=name: log(message, name)))
    return console


def _generations(method: _Method, state: dict, ctx, generations: int, run_dir: Path, executor,
                 stop_after: int | None, display: Display) -> None:
    """Run generations until the configured number (or ``stop_after`` of them in this call),
    checkpointing and writing the results after each."""
    done_here = 0
    with display:
        while state["generation"] < generations:
            if stop_after is not None and done_here >= stop_after:
                break
            t0 = time.perf_counter()
            display.running(state["generation"] + 1)
            summary = method.step(state, ctx, executor)
            dt = time.perf_counter() - t0
            state["timing"]["elapsed_s"] += dt
            state["timing"].setdefault("generation_s", []).append(round(dt, 3))
            checkpoint.save(run_dir, state)
            rundir.append_generation(run_dir, {**summary, "seconds": round(dt, 3)})
            method.write_results(run_dir, state, ctx, plot=False)
            display.generation_done(summary, dt)
            done_here += 1


def _finished_note(run_dir: Path, state: dict, console) -> None:
    from lossforge.cli import PipeConsole

    n = state["generation"]
    (console or PipeConsole()).print(
        f"{run_dir}: this run finished all {n} generations already; nothing to run. "
        f"--generations N (more than {n}) extends it; python -m lossforge.search show "
        f"{run_dir} prints it again.", markup=False, highlight=False, soft_wrap=True)


def _first_checkpoint_missing(run_dir: Path) -> dict | None:
    """For a run killed before its first checkpoint: {"method", "config"} from its config.json
    (the state at generation 0 is a function of the config); None when a checkpoint exists."""
    if not run_dir.is_dir() or (run_dir / checkpoint.NAME).exists():
        return None
    start = read_json(run_dir / "config.json")
    if not isinstance(start, dict) or "config" not in start:
        raise CheckpointError(f"{run_dir / 'config.json'}: not a lossforge run configuration")
    return {"method": start.get("method", "gp"), "config": start["config"]}
