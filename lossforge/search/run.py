"""Drive a search: set up or resume, run generations, checkpoint each, show progress, report.

    run_search(SearchConfig(...), runs_root="runs")      -> run directory
    run_search(resume="runs/2026...-quick-s0")           -> the same run, continued
    run_search(ESConfig(...))                            -> CMA-ES over a neural phi~ (es.py)

The driver is the same for both methods; a ``_Method`` names the pieces that differ (state,
generation step, result files, table columns). What it shows while running is display.py's;
the final report and ``show`` are summary.py's.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from lossforge.bench.progress import stamped
from lossforge import runfiles
from lossforge.errors import CheckpointError, ConfigError, LossforgeError
from lossforge.io import atomic_write_json
from lossforge.runfiles import read_json
from lossforge.search import checkpoint, context, engine, es, inputs, rundir
from lossforge.search.executors import check_executor, make_executor, resolve_warm_up
from lossforge.search.fitness_errors import ERRORS_LOG
from lossforge.search.display import Display, fitness_label, gp_columns, gp_row, gp_title
from lossforge.search.journal import FILE as journal_file, Journal
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
                   print_front)


def run_search(config: Any = None, *, runs_root: str | Path = "runs",
               resume: str | Path | None = None, quiet: bool = False, executor=None,
               overrides: dict | None = None, console=None, stop_after: int | None = None,
               on_start: Callable[[Path], None] | None = None) -> Path:
    """Run (or resume) a search (``SearchConfig``: GP; ``es.ESConfig``: CMA-ES); returns the
    run directory.

    ``overrides`` on resume may change only the fields of ``runfiles.RESUMABLE``:
    ``generations``, ``executor`` and ``workers`` (none of them changes a result) and
    ``eval_timeout`` (one that fires does: the loss it stopped is recorded as failed); the
    checkpoint keeps the new value, and config.json takes it once a generation is saved
    (``_record_overrides``). ``stop_after`` ends this call after that many generations (the
    run stays resumable), for tests and time-sliced use.
    ``on_start(run_dir)`` is called once the configuration has been checked and the run
    directory made, before any evaluation (the command line lists the search in the ledger
    there: a search refused before it is not one); when it raises, the new directory, still
    empty, is removed. Refused before a run directory is made or written to (``ConfigError``,
    ``CheckpointError``): an executor that cannot run here (``--executor ray`` without Ray), a
    run directory to resume that this process cannot write.
    """
    if resume is not None:
        run_dir = Path(resume)
        _check_writable(run_dir)
        with rundir.locked(run_dir), context.recorded_paths({}) as recorded:
            method, config, ctx, state = _resume(run_dir, overrides, recorded, console)
            if on_start is not None:
                on_start(run_dir)
            return _drive(method, config, ctx, state, run_dir, resumed=True, quiet=quiet,
                          executor=executor, console=console, stop_after=stop_after)
    if config is None:
        config = engine.SearchConfig()
    method = _method(es.METHOD if isinstance(config, es.ESConfig) else "gp")
    check_executor(config.executor)
    ctx = method.make_context(config)
    label = ctx.scenario.name + _fitness_suffix(config.fitness)
    run_dir = rundir.new_run_dir(runs_root, label, config.seed)
    if on_start is not None:
        try:
            on_start(run_dir)
        except BaseException:
            run_dir.rmdir()   # still empty: no run to keep or resume
            raise
    with rundir.locked(run_dir):
        method.write_start(run_dir, ctx)
        inputs.record(run_dir, config)
        state = method.init_state(ctx)
        return _drive(method, config, ctx, state, run_dir, resumed=False, quiet=quiet,
                      executor=executor, console=console, stop_after=stop_after)


def _drive(method: _Method, config, ctx, state: dict, run_dir: Path, *, resumed: bool,
           quiet: bool, executor, console, stop_after: int | None) -> Path:
    """Run the generations of a started or resumed run (under its lock), write the results,
    report; returns the run directory."""
    ctx.run = runfiles.run_identity(read_json(run_dir / "config.json"))   # as settled, once
    if resumed and state["generation"] >= config.generations:
        _finished_note(run_dir, state, console)
    with _kept_in(run_dir):     # from here on, an exception names the run to --resume
        if hasattr(ctx, "journal"):  # evaluations finished mid-generation survive a kill
            ctx.journal = Journal(run_dir)
            if ctx.journal.ignored:
                _say(console, f"{run_dir / journal_file}: {ctx.journal.ignored} line(s) failed "
                              "their check (torn by a kill, or edited) and are ignored: those "
                              "evaluations run again")
        warm_up = resolve_warm_up(config.fitness)
        if warm_up is not None and state["generation"] < config.generations:
            console = _warm_up(warm_up, ctx, config.workers, quiet, console)
        own_executor = executor is None
        if own_executor:
            executor = make_executor(config.executor, config.workers, config.eval_timeout)
        display = Display(ctx, state, quiet, console, method)
        if hasattr(ctx, "progress"):
            ctx.progress = display.evaluations      # progress inside a generation
        try:    # the close kills the workers as Ctrl-C unwinds (what finished is journaled)
            _generations(method, state, ctx, config.generations, run_dir, executor,
                         stop_after, display)
        finally:
            if own_executor:
                executor.close()
        results = method.write_results(run_dir, state, ctx, plot=True)
    if state["generation"] >= config.generations:  # quiet: the best formula and the verdict
        if quiet:
            print_brief(results, state, console, run_dir)
        else:
            method.report(results, state, console, run_dir)
    return run_dir


@contextmanager
def _kept_in(run_dir: Path) -> Iterator[None]:
    """An exception out of the block (Ctrl-C, SIGTERM, a fitness that raised, a full disk)
    carries ``run_dir``: the command line names the run directory to --resume (``stops.py``).
    Not around the final report: a closed stdout there is ``cli.run_main``'s (exit 141)."""
    try:
        yield
    except BaseException as exc:
        try:
            exc.run_dir = run_dir
        except Exception:           # an exception that takes no attributes stays as it is
            pass
        raise


def _check_writable(run_dir: Path) -> None:
    """``CheckpointError`` naming the run directory (or a log in it) and why when this process
    cannot write there (a read-only mount or copy, another user's folder): a resume writes its
    lock, checkpoint, journal and results in it, and stopped on the first with an OSError
    traceback. Checked before anything is written, so the run directory stays as it was; one
    that is not a directory is left to ``rundir.locked`` ("not a run directory")."""
    if not run_dir.is_dir():
        return
    appended = [run_dir / journal_file, run_dir / ERRORS_LOG]   # the rest is replaced whole
    for path in [run_dir] + [p for p in appended if p.is_file()]:
        if not os.access(path, os.W_OK | (os.X_OK if path == run_dir else 0)):
            what = f"run directory {run_dir}" if path == run_dir else str(path)
            raise CheckpointError(
                f"{what}: not writable ({_why_read_only(path)}); --resume writes the run's "
                f"checkpoint, journal and results in {run_dir}, so nothing was run or changed: "
                f"make it writable (or resume a copy in a writable place) and --resume again")


def _why_read_only(path: Path) -> str:
    """Why ``os.access`` refused a write: the file system is mounted read-only, or no
    permission (the mode, an ACL, another user's)."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "its file system is mounted read-only"
    except (OSError, AttributeError):   # no statvfs (not POSIX)
        pass
    return "no write permission"


def _fitness_suffix(fitness: str) -> str:
    """A run directory's name says when its scores are not MuJoCo's: "-probe", or a fitness of
    one's own by its module and function ("pkg.mymod:evaluate" -> "-mymod.evaluate": the
    function alone was "-evaluate" for every plug-in that follows the documented name)."""
    if fitness in ("bench", "llm"):
        return ""
    module, _, function = fitness.rpartition(":")
    name = ".".join(p for p in (module.rsplit(".", 1)[-1], function) if p)
    return "-" + "".join(c if c.isalnum() or c in "_-." else "_" for c in name)




def _resume(run_dir: Path, overrides: dict | None, recorded: dict, console):
    """(method, config, context, state) of a run directory to continue; ``overrides`` may change
    only what changes no result. ``recorded`` (``context.recorded_paths``) is filled with the
    files the run's relative paths named when it started."""
    state = _first_checkpoint_missing(run_dir)
    if state is None:
        state = checkpoint.load(run_dir)
        method = _method(state.get("method", "gp"))
        config = method.config_cls.from_json(state["config"])
        start_missing = _check_start_file(run_dir, method, state)
    else:  # killed in generation 1: start it again (its journaled evaluations are kept)
        method = _method(state["method"])
        try:
            config = method.config_cls.from_json(state["config"])
        except (TypeError, ValueError) as exc:   # a field of the wrong type
            raise CheckpointError(f"{run_dir / 'config.json'}: not a lossforge run "
                                  f"configuration ({exc}){_ONLY_RECORD}") from None
        state, start_missing = None, False
    if overrides:
        bad = set(overrides) - set(runfiles.RESUMABLE)
        if bad:
            raise ConfigError(f"--resume continues a run as configured; it cannot change "
                              f"{', '.join(sorted(bad))}")
        config = replace(config, **overrides)
        if state is not None:
            state["config"] = config.to_json()
    check_executor(config.executor)
    recorded.update(_recorded_paths(run_dir, config))
    unchecked = inputs.check(run_dir, config)
    if unchecked:
        _say(console, f"note: {unchecked}")
    ctx = method.make_context(config)
    method.write_start(run_dir, ctx, config_json=start_missing)   # seeds.json: always
    if start_missing:
        _say(console, f"{run_dir / 'config.json'} was missing: written again from the "
                      f"checkpoint")
    if state is None:
        state = method.init_state(ctx)
    rundir.rewrite_generations(run_dir, state["history"],
                               state.get("timing", {}).get("generation_s", []))
    return method, config, ctx, state


def _record_overrides(run_dir: Path, config: dict) -> None:
    """After a checkpoint is saved: config.json takes the checkpoint's values of what
    ``--resume`` may change (``runfiles.RESUMABLE``: ``--generations N`` above all), where
    ``show``, ``report`` and the reproduce command read them (they said "generation 4 of 2"
    after a run was extended). Only then, so a resume stopped before its first new generation
    leaves both files as they were; the rest of config.json (the files the run started with)
    stays."""
    path = run_dir / "config.json"
    if not path.exists():
        return
    start = read_json(path)
    old = start.get("config") or {}
    new = {k: config[k] for k in runfiles.RESUMABLE
           if k in config and old.get(k) != config[k]}
    if new:
        atomic_write_json(path, {**start, "config": {**old, **new}})


def _check_start_file(run_dir: Path, method: _Method, state: dict) -> bool:
    """Whether config.json is missing (then the resume writes it again from the checkpoint).
    ``CheckpointError`` when it is unreadable or its configuration is not the checkpoint's: a
    resume continues the checkpoint's (checksummed) configuration, so an edit there would be
    ignored without a word, and ``show`` and ``report`` read config.json. Refused, not
    rewritten: the file may hold an edit its author wants to keep; moving it aside keeps it
    and lets the resume write the checkpoint's."""
    path = run_dir / "config.json"
    if not path.exists():
        return True
    how = ("move it aside and --resume again: config.json is then written from the checkpoint, "
           "whose configuration the run continues (a new configuration needs a new run)")
    try:
        start = read_json(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; {how}") from None

    def settled(conf) -> dict:
        full = method.config_cls.from_json(conf).to_json()   # defaults filled in
        return {k: v for k, v in full.items() if k not in runfiles.RESUMABLE}

    try:
        theirs, ours = settled(start["config"]), settled(state["config"])
        method_ok = start.get("method", "gp") == state.get("method", "gp")
    except (LossforgeError, KeyError, TypeError, ValueError, AttributeError):
        raise CheckpointError(f"{path}: not a lossforge run configuration; {how}") from None
    fields = sorted(k for k in theirs.keys() | ours.keys() if theirs.get(k) != ours.get(k))
    if not method_ok:
        fields.insert(0, "method")
    if fields:   # either file may be the stranger: say how to go on from each
        raise CheckpointError(
            f"{path}: {', '.join(fields)} differ(s) from the run's checkpoint "
            f"({path.parent / 'checkpoint.json'}), so one of the two is not this run's. If "
            "config.json was edited or copied in, move it aside and --resume again: it is then "
            "written from the checkpoint, whose configuration the run continues. If "
            "checkpoint.json came from another run, move that aside instead: the run then "
            "continues from config.json and replays its evaluation journal")
    return False


def _recorded_paths(run_dir: Path, config) -> dict[tuple[str, str], tuple[Path, str | None]]:
    """(kind, relative path) -> (the file that path named when the run started, the digest of
    its content then) for each relative input path of ``config``, as inputs.json recorded it
    (a run from before inputs.json: config.json's grammar and scenario files, no digest), for
    ``context.recorded_paths``: a resume works from any working directory."""
    try:
        if (run_dir / inputs.NAME).exists():
            then = runfiles.read_checked(run_dir / inputs.NAME)[0]
            files = {role: (rec["path"], rec["sha256"]) for role, rec in then.items()}
        else:
            start = read_json(run_dir / "config.json")
            files = {"grammar": (start.get("grammar_file"), None),
                     "scenario": (start.get("scenario_file"), None)}
    except (CheckpointError, AttributeError, KeyError, TypeError):
        return {}          # unreadable: the paths resolve as given (inputs.check says why)
    out = {}
    for role, (path, digest) in files.items():
        text = getattr(config, role, None)
        if isinstance(text, str) and isinstance(path, str) and not Path(text).is_absolute():
            out[(role.replace("_", " "), str(Path(text)))] = (Path(path), digest)
    return out


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
            _record_overrides(run_dir, state["config"])
            rundir.append_generation(run_dir, {**summary, "seconds": round(dt, 3)})
            method.write_results(run_dir, state, ctx, plot=False)
            display.generation_done(summary, dt)
            done_here += 1


def _finished_note(run_dir: Path, state: dict, console) -> None:
    n = state["generation"]
    _say(console, f"{run_dir}: this run finished all {n} generations already; nothing to run. "
                  f"--generations N (more than {n}) extends it; python -m lossforge.search show "
                  f"{run_dir} prints it again.")


def _say(console, text: str) -> None:
    from lossforge.cli import PipeConsole

    (console or PipeConsole()).print(text, markup=False, highlight=False, soft_wrap=True)


_ONLY_RECORD = ("; the run has no checkpoint yet, so config.json is its only record of its "
                "configuration: restore the file, or start a new run")


def _first_checkpoint_missing(run_dir: Path) -> dict | None:
    """For a run killed before its first checkpoint: {"method", "config"} from its config.json
    (the state at generation 0 is a function of the config); None when a checkpoint exists."""
    if not run_dir.is_dir() or (run_dir / checkpoint.NAME).exists():
        return None
    try:
        start = read_json(run_dir / "config.json")
    except CheckpointError as exc:
        if not (run_dir / "config.json").exists():
            raise
        raise CheckpointError(f"{exc}{_ONLY_RECORD}") from None
    if not isinstance(start, dict) or not isinstance(start.get("config"), dict):
        raise CheckpointError(f"{run_dir / 'config.json'}: not a lossforge run "
                              f"configuration{_ONLY_RECORD}")
    return {"method": start.get("method", "gp"), "config": start["config"]}
