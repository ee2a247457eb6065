"""What a running search shows: the live table (one row per generation) or timestamped lines,
and the GP method's title, columns and row cells. The driver (run.py) calls it; no number is
computed here."""

from __future__ import annotations

import math
import time

from lossforge.bench.progress import stamped


def fmt(x, nd=1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


class Display:
    """The rich live table (one row per generation) on a terminal; plain timestamped lines
    when the output is a file or a pipe (a background run's log shows progress as it goes,
    not only at exit); nothing with ``quiet``."""

    def __init__(self, ctx, state, quiet: bool, console, method):
        self.ctx, self.state, self.quiet, self.method = ctx, state, quiet, method
        self.console = console
        self.live = None
        self.status = ""
        self.gen, self.last_line = 0, time.perf_counter()

    def __enter__(self):
        if not self.quiet:
            from rich.live import Live

            from lossforge.cli import PipeConsole

            self.console = self.console or PipeConsole()
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
        return False        # a log already has a line per generation: no table after them

    def _line(self, text: str) -> None:
        self.console.print(stamped(text), highlight=False,
                           soft_wrap=True)

    def running(self, gen: int) -> None:
        self.gen, self.last_line = gen, time.perf_counter()
        self.status = f"running generation {gen}/{self.ctx.config.generations} ..."
        if self.live is not None:
            self.live.update(self._render())
        elif not self.quiet:
            self._line(self.status)

    #: seconds between two in-generation progress lines in a log (a terminal redraws live): a
    #: quick generation adds no line, a long one shows where it is
    LINE_EVERY = 15.0

    def evaluations(self, rung: str, done: int, total: int, seconds: float) -> None:
        """Inside a generation: evaluations done at ``rung`` and the ETA of the rest, from the
        mean time of the ones done (called by the engine after each journaled round)."""
        now = time.perf_counter()
        where = f"generation {self.gen}/{self.ctx.config.generations}" if self.gen else "baselines"
        self.status = f"{where}, {rung} budget: {done}/{total} evaluations"
        if done < total:
            self.status += f", ETA {seconds / done * (total - done):.0f} s for this budget"
        if self.live is not None:
            self.live.update(self._render())
        elif not self.quiet and now - self.last_line >= self.LINE_EVERY:
            self.last_line = now
            self._line("  " + self.status)

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


def gp_title(ctx) -> str:
    cfg, ladder = ctx.config, ctx.ladder
    return (f"lossforge search: {ctx.scenario.name}, {ctx.grammar.name}, pop {cfg.population}, "
            f"seed {cfg.seed}; score = {cfg.metric} at {ladder[0]} (best/median) and "
            f"{ladder[-1]}{fitness_label(cfg)}")


def fitness_label(cfg) -> str:
    """Said in the title of every run whose scores are not the MuJoCo benchmark's."""
    if cfg.fitness == "probe":
        return "; PROBE fitness (synthetic: says nothing about MuJoCo returns)"
    return "" if cfg.fitness == "bench" else f"; fitness {cfg.fitness}"


def gp_columns(state) -> tuple:
    return ("gen", "best", "median", f"best {state['ladder'][-1]}", "evals/s", "rejected",
            "dups skipped", "cache hits")


def gp_row(h: dict, elapsed: float) -> list[str]:
    n_eval = sum(h["total_evaluated"].values())
    return [str(h["generation"]), fmt(h["best"]), fmt(h["median"]), fmt(h["best_full"]),
            fmt(n_eval / elapsed if elapsed else None, 2), str(h["total_rejected"]),
            str(h["total_duplicates"]), str(h["total_cache_hits"])]
