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
from lossforge.search import checkpoint, engine, es, rundir
from lossforge.search.executors import make_executor, resolve_warm_up
from lossforge.search.journal import Journal


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
                       es.write_results, es.title, lambda state: es.COLUMNS,
                       lambda h, elapsed: es.row(h), _es_report)
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
        run_dir = rundir.new_run_dir(runs_root, ctx.scenario.name, config.seed)
        method.write_start(run_dir, ctx)
        state = method.init_state(ctx)
    if hasattr(ctx, "journal"):  # evaluations finished mid-generation survive a kill
        ctx.journal = Journal(run_dir)
    warm_up = resolve_warm_up(config.fitness)
    if warm_up is not None and state["generation"] < config.generations:
        bars, log = False, None
        if not quiet:
            from rich.console import Console

            console = console or Console()
            bars = console.is_terminal  # progress bars only where they redraw in place

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
    if not quiet and state["generation"] >= config.generations:
        method.report(results, state, console)
    return run_dir


def _first_checkpoint_missing(run_dir: Path) -> dict | None:
    """For a run killed before its first checkpoint: {"method", "config"} from its config.json
    (the state at generation 0 is a function of the config); None when a checkpoint exists."""
    if not run_dir.is_dir() or (run_dir / checkpoint.NAME).exists():
        return None
    start = rundir._read_json(run_dir / "config.json")
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
            f"{ladder[-1]}")


def _gp_columns(state) -> tuple:
    return ("gen", "best", "median", f"best {state['ladder'][-1]}", "evals/s", "rejected",
            "dups skipped", "cache hits")


def _gp_row(h: dict, elapsed: float) -> list[str]:
    n_eval = sum(h["total_evaluated"].values())
    return [str(h["generation"]), _fmt(h["best"]), _fmt(h["median"]), _fmt(h["best_full"]),
            _fmt(n_eval / elapsed if elapsed else None, 2), str(h["total_rejected"]),
            str(h["total_duplicates"]), str(h["total_cache_hits"])]


def _es_report(results: dict, state: dict, console=None) -> None:
    """The best network beside DPO, its initialisation (no rejection counters: nothing is)."""
    print_front(results, state, console)
    init = es.init_score(state)
    if init is not None and results["pareto"]:
        best = results["pareto"][0]
        top = state["ladder"][-1]
        print(f"\nbest network {best['name']}: {top} {_fit(best.get(top))} vs its "
              f"initialisation (DPO) {init:.2f}; distil it: python -m lossforge.distill RUN_DIR")


# ---- final report ----------------------------------------------------------------------------


def _fit(f: dict | None) -> str:
    if not f:
        return "-"
    if f["status"] != "ok" or f["score"] is None:
        return f"failed ({f['status']})"
    suite = f.get("suite")
    ci = (f"{f['ci95']:.2f}" if f.get("ci95") is not None else
          f"n/a (suite, {suite['units']}/{suite['of_units']} units)" if suite else "n/a (1 seed)")
    return f"{f['score']:.2f} ± {ci}"


def _suite_line(f: dict | None) -> str | None:
    """A suite run's breakdown of one fitness: mean and worst regret, regret per scenario."""
    suite = (f or {}).get("suite")
    if not suite or suite.get("mean_regret") is None:
        return None
    per = ", ".join(f"{s} {p['regret']:+.2f}" for s, p in suite["per_scenario"].items())
    raced = (f"; raced out after {suite['units']}/{suite['of_units']} units"
             if suite["raced_out"] else "")
    return (f"    regret mean {suite['mean_regret']:+.3f}  worst {suite['worst_regret']:+.3f} "
            f"(selects on {suite['objective']}{raced}): {per}")


def print_front(results: dict, state: dict, console=None) -> None:
    """The Pareto front as readable formulas, with DPO/ORPO scored in the same run."""
    from rich.console import Console

    console = console or Console()
    ladder = state["ladder"]
    top = ladder[-1]
    console.print(f"\n[bold]Pareto front[/bold] (complexity vs {top} score, "
                  f"{state['config']['metric']}), after {state['generation']} generations:")
    for r in results["pareto"]:
        console.print(f"\n[bold]{r['name']}[/bold]  size {r['complexity']}  "
                      f"score {top}: {_fit(r.get(top))}"
                      + (f"   {ladder[0]}: {_fit(r.get(ladder[0]))}" if len(ladder) > 1 else ""))
        console.print(f"  h(p)      = {r['h']}", highlight=False)
        console.print(f"  phi^-1(p) = {r['phi_inv']}", highlight=False)
        console.print(f"  phi~(l)   = {r['phi_tilde']}", highlight=False)
        console.print(f"  {r['loss']}", highlight=False)
        if _suite_line(r.get(top)):
            console.print(_suite_line(r.get(top)), highlight=False)
    if not results["pareto"]:
        console.print("  (empty: no loss reached the top rung with a finite score)")
    c = state.get("counters")
    if c and "rejected" in c:  # the GP's tallies (an ES run has nothing to reject)
        rej = ", ".join(f"{k} {v}" for k, v in c["rejected"].items() if v) or "none"
        console.print(f"\nproposed {c['proposed']}; rejected before training: {rej}; "
                      f"duplicates skipped {c['duplicates']}; cache hits {c['cache_hits']}; "
                      f"trained: " + ", ".join(f"{k} {v}" for k, v in c["evaluated"].items()),
                      highlight=False)
    console.print("\n[bold]Baselines in this run[/bold]:")
    for b in results["baselines"]:
        console.print(f"  {b['spec']['name']:<6} {top}: {_fit(b.get(top))}"
                      + (f"   {ladder[0]}: {_fit(b.get(ladder[0]))}" if len(ladder) > 1 else ""),
                      highlight=False)
        if _suite_line(b.get(top)):
            console.print(_suite_line(b.get(top)), highlight=False)


def show(run: str | Path, latex: bool = False, console=None) -> None:
    """``python -m lossforge.search show RUN``: the hall of fame and front again (or LaTeX)."""
    from rich.console import Console

    console = console or Console()
    path = Path(run)
    r = rundir.load_run(path)
    if latex:
        tex = path / "pareto.tex"
        if not tex.is_file():
            raise CheckpointError(f"{tex}: missing")
        print(tex.read_text())
        for row in r.pareto:
            print(f"% {row['name']}")
            print(r.objectives[row["name"]].latex())
        return
    hof = rundir._read_json(path / "hall_of_fame.json")
    ladder = hof["ladder"]
    console.print(f"[bold]{path.name}[/bold]: scenario {hof['scenario']}, generation "
                  f"{hof['generation']}, metric {hof['metric']}, rungs {'/'.join(ladder)}")
    console.print("\n[bold]Hall of fame[/bold]")
    for i, row in enumerate(r.hall_of_fame, 1):
        scores = "   ".join(f"{rung}: {_fit(row.get(rung))}" for rung in reversed(ladder))
        console.print(f"{i:>2}. {row['name']}  size {row['complexity']}  {scores}",
                      highlight=False)
        console.print(f"    h(p) = {row['h']}    phi~(l) = {row['phi_tilde']}", highlight=False)
        if _suite_line(row.get(ladder[-1]) or row.get(ladder[0])):
            console.print(_suite_line(row.get(ladder[-1]) or row.get(ladder[0])),
                          highlight=False)
        spec = row["spec"]
        if spec.get("imitation") or spec.get("link", "-logsigmoid(D)") != "-logsigmoid(D)":
            console.print(f"    {row['loss'].split(',  D =')[0]}", highlight=False)
    state = {"ladder": ladder, "config": {"metric": hof["metric"]},
             "generation": hof["generation"], "counters": hof.get("counters")}
    print_front({"pareto": r.pareto, "baselines": r.baselines}, state, console)
