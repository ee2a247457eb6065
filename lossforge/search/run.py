"""Drive a search: set up or resume, run generations, checkpoint each, show progress, report.

    run_search(SearchConfig(...), runs_root="runs")      -> run directory
    run_search(resume="runs/2026...-quick-s0")           -> the same run, continued
    run_search(ESConfig(...))                            -> CMA-ES over a neural phi~ (es.py)

The driver is the same for both methods; a ``_Method`` names the pieces that differ (state,
generation step, result files, table columns).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from lossforge.errors import CheckpointError, ConfigError
from lossforge.runfiles import read_json
from lossforge.search import checkpoint, engine, es, rundir
from lossforge.search.executors import make_executor, resolve_warm_up
from lossforge.search.journal import Journal
from lossforge.search.summary import es_report, print_brief, print_front, show  # noqa: F401


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
    report: Callable         # (results, state, console) -> None


def _method(name: str) -> _Method:
    if name == es.METHOD:
        return _Method(es.ESConfig, es.make_context, es.init_state, es.step, es.write_start,
                       es.write_results, lambda ctx: es.title(ctx) + fitness_label(ctx.config),
                       lambda state: es.COLUMNS,
                       lambda h, elapsed: es.row(h), es_report)
    return _Method(engine.SearchConfig, engine.make_context, engine.init_state, engine.step,
                   rundir.write_start, rundir.write_results, _gp_title, _gp_columns, _gp_row,
                   print_front)


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
        ctx = method.make_context(config)
        if state is None:
            state = method.init_state(ctx)
        rundir.rewrite_generations(run_dir, state["history"])
    else:
        if config is None:
            config = engine.SearchConfig()
        method = _method(es.METHOD if isinstance(config, es.ESConfig) else "gp")
        ctx = method.make_context(config)
        label = ctx.scenario.name + ("-probe" if config.fitness == "probe" else "")
        run_dir = rundir.new_run_dir(runs_root, label, config.seed)
        method.write_start(run_dir, ctx)
        state = method.init_state(ctx)
    if resume is not None and state["generation"] >= config.generations:
        _finished_note(run_dir, state, console)
    if hasattr(ctx, "journal"):  # evaluations finished mid-generation survive a kill
        ctx.journal = Journal(run_dir)
    warm_up = resolve_warm_up(config.fitness)
    if warm_up is not None and state["generation"] < config.generations:
        bars, log = False, None
        if not quiet:
            from rich.console import Console

            console = console or Console()
            bars = console  # a live bar on a terminal, timestamped lines with an ETA in a log

            def log(message: str) -> None:
                console.print(f"{time.strftime('%H:%M:%S')} {ctx.scenario.name}: {message}",
                              highlight=False, soft_wrap=True)
        for path in ([s.path for s in ctx.suite] if getattr(ctx, "suite", None)
                     else [ctx.scenario_path]):
            warm_up(path, workers=config.workers, progress=bars, log=log)
    own_executor = executor is None
    if own_executor:
        executor = make_executor(config.executor, config.workers)
    display = _Display(ctx, state, quiet, console, method)
    done_here = 0
    try:
        with display:
            while state["generation"] < config.generations:
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
    finally:
        if own_executor:
            executor.close()
    results = method.write_results(run_dir, state, ctx, plot=True)
    if state["generation"] >= config.generations:  # quiet: the best formula and the verdict
        (print_brief if quiet else method.report)(results, state, console)
    return run_dir


def _finished_note(run_dir: Path, state: dict, console) -> None:
    from rich.console import Console

    n = state["generation"]
    (console or Console()).print(
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


# ---- progress --------------------------------------------------------------------------------


def _fmt(x, nd=1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


class _Display:
    """The rich live table (one row per generation) on a terminal; plain timestamped lines
    when the output is a file or a pipe (a background run's log shows progress as it goes,
    not only at exit); nothing with ``quiet``."""

    def __init__(self, ctx, state, quiet: bool, console, method: _Method):
        self.ctx, self.state, self.quiet, self.method = ctx, state, quiet, method
        self.console = console
        self.live = None
        self.status = ""

    def __enter__(self):
        if not self.quiet:
            from rich.console import Console
            from rich.live import Live

            self.console = self.console or Console()
            if self.console.is_terminal:
                self.live = Live(self._render(), console=self.console, refresh_per_second=2,
                                 transient=False)
                self.live.__enter__()
            else:
                self._line(self.method.title(self.ctx))
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.update(self._render(final=True))
            self.live.__exit__(*exc)
        elif not self.quiet:
            self.console.print(self._render(final=True))
        return False

    def _line(self, text: str) -> None:
        self.console.print(f"{time.strftime('%H:%M:%S')} {text}", highlight=False,
                           soft_wrap=True)

    def running(self, gen: int) -> None:
        self.status = f"running generation {gen}/{self.ctx.config.generations} ..."
        if self.live is not None:
            self.live.update(self._render())
        elif not self.quiet:
            self._line(self.status)

    def generation_done(self, summary: dict, dt: float) -> None:
        self.status = ""
        if self.live is not None:
            self.live.update(self._render())
        elif not self.quiet:
            cols = self.method.columns(self.state)
            row = self.method.row(self.state["history"][-1], self.state["timing"]["elapsed_s"])
            self._line("  ".join(f"{c} {v}" for c, v in zip(cols, row)) + f"  ({dt:.0f} s)")

    def _render(self, final: bool = False):
        from rich.table import Table

        from rich import box

        cfg, st = self.ctx.config, self.state
        t = Table(title=self.method.title(self.ctx), caption=None if final else self.status,
                  box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True)
        for col in self.method.columns(st) + ("elapsed", "ETA"):
            t.add_column(col, justify="right")
        elapsed = 0.0
        times = st["timing"].get("generation_s", [])
        for i, h in enumerate(st["history"]):
            elapsed = sum(times[: i + 1]) if i < len(times) else elapsed
            remaining = cfg.generations - h["generation"]
            mean_gen = elapsed / max(1, min(len(times), i + 1))
            t.add_row(*self.method.row(h, elapsed), f"{elapsed:.0f}s",
                      f"{remaining * mean_gen:.0f}s" if remaining else "done")
        return t


def _gp_title(ctx) -> str:
    cfg, ladder = ctx.config, ctx.ladder
    return (f"lossforge search: {ctx.scenario.name}, {ctx.grammar.name}, pop {cfg.population}, "
            f"seed {cfg.seed}; score = {cfg.metric} at {ladder[0]} (best/median) and "
            f"{ladder[-1]}{fitness_label(cfg)}")


def fitness_label(cfg) -> str:
    """Said in the title of every run whose scores are not the MuJoCo benchmark's."""
    if cfg.fitness == "probe":
        return "; PROBE fitness (synthetic: says nothing about MuJoCo returns)"
    return "" if cfg.fitness == "bench" else f"; fitness {cfg.fitness}"


def _gp_columns(state) -> tuple:
    return ("gen", "best", "median", f"best {state['ladder'][-1]}", "evals/s", "rejected",
            "dups skipped", "cache hits")


def _gp_row(h: dict, elapsed: float) -> list[str]:
    n_eval = sum(h["total_evaluated"].values())
    return [str(h["generation"]), _fmt(h["best"]), _fmt(h["median"]), _fmt(h["best_full"]),
            _fmt(n_eval / elapsed if elapsed else None, 2), str(h["total_rejected"]),
            str(h["total_duplicates"]), str(h["total_cache_hits"])]
