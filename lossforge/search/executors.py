"""Where fitness evaluations run: a local process pool (default) or a Ray cluster.

Both executors run the same module-level task, ``evaluate_chunk``, on the same chunks, and
return results in submission order, so a run gives the same result on either (the fitness is a
function of the objective, the budget and the seeds only: common random numbers). Tasks carry
only JSON-able data (objective specs, a scenario path, names); workers rebuild the objectives.

A worker that dies (killed, out of memory, segfault) loses nothing but time: the local pool is
rebuilt and the unfinished chunks re-run; Ray re-runs them itself (``max_retries``). Each chunk
calls the fitness with ``workers=1``: parallelism is across chunks.

With a timeout (``--eval-timeout SECONDS``, local executor), a call that has no result after
that many seconds per evaluation in it is stopped (its worker killed, the pool rebuilt, the
other calls in flight started again), its objectives are scored again one at a time, and one
that still has none is a failure whose status says so (``error: TimeoutError: ...``). A timeout
depends on the machine's load: a run where one fired may not repeat; one where none fired is
the run without it.

A fitness that raises on an objective does not stop the run: that objective's result is a
failure whose status names the exception, and its traceback goes to the run directory's
``fitness_errors.log``; a fitness that is broken rather than troubled by one candidate stops
the run (``fitness_errors.py``).
"""

from __future__ import annotations

import importlib
import math
import numbers
import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Sequence

from lossforge.errors import ConfigError, LossforgeError
from lossforge.search.fitness_errors import NONFINITE, FitnessRaised, error_to_dict, take_errors
from lossforge.workers import exit_with_parent, worker_count

FITNESS_FUNCTIONS = {
    "bench": "lossforge.bench.fitness:evaluate",
    "probe": "lossforge.search.probe_fitness:evaluate",
    "llm": "lossforge.llm.fitness:evaluate",
}

FITNESS_FIELDS = ("name", "status", "score", "ci95", "per_seed", "final", "auc", "seconds")


def resolve_fitness(ref: str) -> Callable:
    """``bench`` | ``probe`` | ``llm`` | ``module:function`` -> the evaluate function.

    The plug-in interface (the built-in three are instances of it), in the module of
    ``function``:

    ``function(objectives, scenario, budget, *, seeds, metric, workers, progress)`` (required)
        ``objectives``: a list of ``lossforge.objectives.Objective`` (callable on log-probs;
        ``.name``, ``.spec``, ``.needs_reference``, ``.aggregation``, ``.temporal``);
        ``scenario``: the run's scenario as a string (a scenario file path, or the text the
        module's ``search_scenario`` accepted); ``budget``: "quick" | "screen" | "full";
        ``seeds``: None (the budget's own) or a sequence of ints; ``metric``: "auc" |
        "final"; ``workers``: 1 (the executor parallelises across calls); ``progress``: False.
        Returns a list with one result per objective, in order; each result has the attributes
        ``FITNESS_FIELDS``: ``name`` (str), ``status`` ("ok" or a short failure reason),
        ``score`` (float, higher is better; NaN when status is not "ok"), ``ci95`` (float,
        NaN for one seed), ``per_seed`` (tuple of floats), ``final``, ``auc`` (floats),
        ``seconds`` (float: the call's wall time, which the objectives it scored together
        share, so sum one per call, not one per result; never feeds a decision); optionally
        ``curve`` ([(step, score), ...], kept for ``lossforge.report``'s plots). One result
        per objective, in their order, each named as its objective (``check_results``). It
        must be a deterministic function of the objective's spec, the scenario, the budget and
        the seeds (the journal and resume rely on it), and importable by a fresh worker
        process. An exception it raises fails
        the objective it raised on (status "error: <Type>: <message>", ``_call``), or stops the
        run if it raises on a baseline too (``stop_if_broken``).
    ``warm_up(scenario, workers=None, progress=True, log=None)`` (optional)
        called once in the run's own process before any evaluation (build caches there).
    ``search_scenario(text)`` (optional)
        how the module reads ``--scenario``: returns an object with ``name`` (str, names run
        directories and journal keys), ``beta`` (float, the baselines' and candidates'
        default beta) and ``budget(rung)`` returning an object with ``seeds``; optionally
        ``response_steps`` (float: how many steps or tokens a response's summed log-prob
        covers, default ~100 as MuJoCo segments), the scale at which the pre-training gradient
        checks probe a loss. Without the hook the scenario is a benchmark scenario file
        (``benchmarks/scenarios/<name>.toml``).
    """
    target = FITNESS_FUNCTIONS.get(ref, ref)
    if ":" not in target:
        raise ConfigError(f"fitness {ref!r}: expected {', '.join(FITNESS_FUNCTIONS)} or "
                          "module:function")
    mod_name, fn_name = target.split(":", 1)
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if ref == "bench":
            raise ConfigError("the benchmark fitness (lossforge.bench.fitness) is not available "
                              f"in this checkout ({exc}); use --fitness probe for an engine "
                              "smoke run") from None
        raise ConfigError(f"fitness {ref!r}: cannot import {mod_name}: {exc}") from None
    fn = getattr(mod, fn_name, None)
    if fn is None:
        raise ConfigError(f"fitness {ref!r}: {mod_name} has no {fn_name}")
    if not callable(fn):
        raise ConfigError(f"fitness {ref!r}: {mod_name}.{fn_name} is not callable "
                          f"(a {type(fn).__name__})")
    return fn


def fitness_hook(ref: str, name: str) -> Callable | None:
    """The fitness module's optional hook ``name`` (``warm_up``, ``search_scenario``) or None."""
    fn = resolve_fitness(ref)
    hook = getattr(importlib.import_module(fn.__module__), name, None)
    if hook is not None and not callable(hook):
        raise ConfigError(f"fitness {ref!r}: {fn.__module__}.{name} is not callable")
    return hook


def resolve_warm_up(ref: str) -> Callable | None:
    """The fitness module's optional ``warm_up(scenario, workers=, progress=, log=)``, which a
    run calls once in its own process before any evaluation (bench: build the scenario's
    dataset and reference there, once, with a progress bar, instead of in every worker).
    ``log`` is None or a function that prints one line for the user: the hook says there what
    it prepares, since only the fitness module knows."""
    return fitness_hook(ref, "warm_up")


def check_results(ref: str, results, names: Sequence[str]) -> None:
    """A fitness call's results have the interface's shape (``resolve_fitness``), one per
    objective in the objectives' order (``names``, as each result must be named), or a
    ConfigError in one line naming the fitness. The order is checked by name: results put in
    another order (sorted by score, collected as they finish) would give each loss another's
    score without a word."""
    n = len(names)
    if not isinstance(results, (list, tuple)) or len(results) != n:
        got = (f"{len(results)} results" if isinstance(results, (list, tuple))
               else f"a {type(results).__name__}")
        raise ConfigError(f"fitness {ref!r} returned {got} for {n} objectives; expected a list "
                          f"of {n} results with fields {', '.join(FITNESS_FIELDS)}")
    for r in results:
        missing = [f for f in FITNESS_FIELDS if not hasattr(r, f)]
        if isinstance(r, dict):   # the fields as keys: the interface reads attributes
            raise ConfigError(f"fitness {ref!r} returned dicts; each result must have the "
                              f"fields as attributes ({', '.join(FITNESS_FIELDS)}): return "
                              "lossforge.bench.fitness.Fitness(**d), or any object with them")
        if missing:
            raise ConfigError(f"fitness {ref!r} returned a {type(r).__name__} without "
                              f"{', '.join(missing)}; expected fields "
                              f"{', '.join(FITNESS_FIELDS)}")
        bad = [f for f in ("score", "ci95", "final", "auc", "seconds")
               if not isinstance(getattr(r, f), numbers.Real)]
        if bad or not all(isinstance(x, numbers.Real) for x in r.per_seed):
            raise ConfigError(f"fitness {ref!r} returned non-numeric "
                              f"{', '.join(bad) or 'per_seed'} for {r.name!r}")
    got = [r.name for r in results]
    if got != list(names):
        raise ConfigError(f"fitness {ref!r} returned results named {_few(got)} for the "
                          f"objectives {_few(names)}: return one result per objective, in the "
                          "objectives' order, each with its objective's name")


def _few(names: Sequence[str], k: int = 4) -> str:
    """At most ``k`` names, for a one-line message."""
    names = list(names)
    return ", ".join(map(repr, names[:k])) + (f", ... ({len(names)} in all)"
                                              if len(names) > k else "")


def finite_or_none(v: float) -> float | None:
    """A number as the run files store it: NaN and infinities become null (JSON)."""
    return float(v) if math.isfinite(v) else None


def fitness_to_dict(f) -> dict:
    """A Fitness as JSON (nan -> null); its training curve, [[step, score], ...] (mean over
    seeds), only where the fitness keeps one (the bench does; ``lossforge.report`` plots it)."""
    # "ok" with a NaN or infinite score breaks the fitness interface; recorded as what it is,
    # a non-finite score, so the loss is counted as failed for that reason, not as "ok"
    status = NONFINITE if f.status == "ok" and not math.isfinite(f.score) else f.status
    out = {"name": f.name, "status": status, "score": finite_or_none(f.score),
           "ci95": finite_or_none(f.ci95), "per_seed": [finite_or_none(x) for x in f.per_seed],
           "final": finite_or_none(f.final), "auc": finite_or_none(f.auc),
           "seconds": finite_or_none(f.seconds)}   # a NaN cost: null, as every field
    curve = getattr(f, "curve", ())
    if curve:
        out["curve"] = [[int(step), finite_or_none(float(v))] for step, v in curve]
    return out


def evaluate_chunk(fitness_ref: str, jobs: list[list], budget: str, metric: str) -> list[dict]:
    """The task every executor runs: build the objectives from their specs (symbolic or neural,
    ``objectives.from_spec``) and score them. A job is ``[spec, scenario, seeds]``; consecutive
    jobs on the same scenario and seeds go to the fitness in one call (the bench trains them
    as one stacked population)."""
    from lossforge.objectives import from_spec

    fn = resolve_fitness(fitness_ref)
    out: list[dict] = []
    i = 0
    while i < len(jobs):
        scenario, seeds = jobs[i][1], jobs[i][2]
        j = i
        while j < len(jobs) and jobs[j][1] == scenario and jobs[j][2] == seeds:
            j += 1
        objectives = [from_spec(job[0], check=False) for job in jobs[i:j]]
        out += _call(fn, fitness_ref, objectives, scenario, budget, seeds, metric)
        i = j
    return out


def _call(fn, fitness_ref: str, objectives: list, scenario, budget: str, seeds,
          metric: str) -> list[dict]:
    """One fitness call's dicts. An exception the fitness raises is its objectives' result,
    not the run's: one objective gets ``error_to_dict``; several are scored again one at a
    time, so each gets what it gets alone (the fitness is a function of each objective, so the
    others' results are theirs; it costs the call again, only when it raised). Not caught: a
    ``LossforgeError`` (lossforge's own "this configuration is wrong", e.g. the bench's unknown
    metric: one line and exit 2, as before) and what is not an ``Exception`` (Ctrl-C)."""
    t0, alone = time.perf_counter(), False
    try:
        results = fn(objectives, scenario, budget, seeds=seeds, metric=metric, workers=1,
                     progress=False)
    except LossforgeError:
        raise
    except Exception as exc:
        if len(objectives) == 1:
            return [error_to_dict(objectives[0].name, exc, time.perf_counter() - t0)]
        alone = True     # retried below, outside this handler: no chained tracebacks
    if alone:
        return [f for o in objectives
                for f in _call(fn, fitness_ref, [o], scenario, budget, seeds, metric)]
    check_results(fitness_ref, results, [o.name for o in objectives])
    return [fitness_to_dict(r) for r in results]


def map_jobs(executor, fitness_ref: str, jobs: list[list], budget: str,
             metric: str) -> list[dict]:
    """Fitness dicts of ``jobs`` (``[spec, scenario, seeds]``; seeds None: the budget's own),
    in order, one contiguous chunk per executor worker. Jobs may mix scenarios and seeds, so a
    suite run keeps every worker busy with however many (candidate, unit) pairs it has."""
    if not jobs:
        return []
    parts = chunks(jobs, getattr(executor, "workers", 1))
    results = executor.map_chunks(fitness_ref, parts, budget, metric)
    flat = [r for part in results for r in part]
    if len(flat) != len(jobs):
        raise RuntimeError(f"executor returned {len(flat)} results for {len(jobs)} objectives")
    return flat


def map_specs(executor, fitness_ref: str, specs: list[dict], scenario: str, budget: str,
              metric: str, seeds: list[int] | None = None) -> list[dict]:
    """Fitness dicts of ``specs`` (in order) on one scenario; ``seeds`` overrides the budget's
    training seeds. For a one-off scoring (distill, re-scores), not a search: an exception the
    fitness raised stops it (``FitnessRaised``, with the fitness's traceback) rather than
    coming back as a failed result whose traceback would be written into its output."""
    out = map_jobs(executor, fitness_ref, [[s, scenario, seeds] for s in specs], budget, metric)
    for e in take_errors(out, budget, [str(scenario)] * len(out), None, say=False):
        raise FitnessRaised(e, f"the fitness raised on {e['name']}")
    return out


def _worker_init() -> None:
    """A pool worker: it dies with the search, uses one thread, and leaves Ctrl-C to the search
    (which stops the workers itself: ``LocalExecutor.close``), so a Ctrl-C prints one line, not
    a KeyboardInterrupt traceback from every worker."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent()
    torch.set_num_threads(1)


def _pool_worker_init() -> None:
    """A local pool's worker: ``_worker_init`` in a session of its own, so that a timeout's kill
    reaches what its fitness started too (a simulator, a server: ``LocalExecutor._kill``)."""
    try:
        os.setsid()
    except OSError:        # already a group leader (not under spawn): its own group anyway
        pass
    _worker_init()


def _ready() -> int:
    """A task that returns its worker's pid once the worker has started (its initializer has
    run); it takes a moment, so that one worker does not take every such task of a batch."""
    time.sleep(0.05)
    return os.getpid()


def chunks(items: list, n: int) -> list[list]:
    """Split into at most n contiguous chunks of near-equal size (order kept)."""
    n = max(1, min(n, len(items)))
    k, r = divmod(len(items), n)
    out, i = [], 0
    for c in range(n):
        j = i + k + (1 if c < r else 0)
        out.append(items[i:j])
        i = j
    return [c for c in out if c]


class LocalExecutor:
    """A process pool sized to the machine (``workers=1``: run in this process, unless there is
    a ``timeout``: a call in this process cannot be stopped, so it gets one worker)."""

    name = "local"

    def __init__(self, workers: int | None = None, max_retries: int = 2,
                 timeout: float | None = None):
        self.workers = worker_count(workers)
        self.max_retries = max_retries
        self.timeout = timeout
        self.reruns = 0
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            self._pool = ProcessPoolExecutor(self.workers, initializer=_pool_worker_init,
                                             mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def map_chunks(self, fitness_ref: str, chunks_: Sequence[list[list]], budget,
                   metric) -> list[list[dict]]:
        args = [(fitness_ref, c, budget, metric) for c in chunks_]
        if self.timeout is not None:
            return self._map_with_deadline(args)
        if self.workers == 1:
            return [evaluate_chunk(*a) for a in args]
        results: list[list[dict] | None] = [None] * len(args)
        attempts = [0] * len(args)
        while True:
            todo = [i for i, r in enumerate(results) if r is None]
            if not todo:
                return results  # type: ignore[return-value]
            pool = self._get_pool()
            futures = {i: pool.submit(evaluate_chunk, *args[i]) for i in todo}
            broken = False
            for i, fut in futures.items():
                try:
                    results[i] = fut.result()
                except BrokenProcessPool:
                    broken = True
            if broken:  # a worker died: rebuild the pool, re-run what did not finish
                self._shutdown(wait=False)
                for i in todo:
                    if results[i] is None:
                        self._count_rerun(attempts, i, args[i])

    def _count_rerun(self, attempts: list[int], i: int, chunk_args: tuple) -> None:
        """One more rerun of chunk ``i`` (``chunk_args``: its ``evaluate_chunk`` arguments),
        or a LossforgeError naming its losses when it killed its worker too often."""
        attempts[i] += 1
        self.reruns += 1
        if attempts[i] > self.max_retries:
            jobs = chunk_args[1]
            names = [str(job[0].get("name", "?")) for job in jobs]
            raise LossforgeError(
                f"an evaluation chunk killed its worker {attempts[i]} times; giving up. Its "
                f"{'loss' if len(names) == 1 else 'losses'} at the {chunk_args[2]} budget: "
                f"{', '.join(names[:6])}{' ...' if len(names) > 6 else ''} (the fitness "
                f"{chunk_args[0]!r} ended the worker process: a crash, out of memory, or an "
                "exit in the fitness)")

    def _map_with_deadline(self, args: list[tuple]) -> list[list[dict]]:
        """``map_chunks`` with a deadline: ``timeout`` seconds per job in a call, counted from
        its submission (at most ``workers`` calls in flight, each worker started before, so each
        call starts when submitted). A late call keeps its worker busy (a running call cannot
        be cancelled) while the others go on; once only late calls are in flight, the pool is
        killed and rebuilt (a late call that ends before frees its worker, its result unused).
        The late calls' jobs then run one at a time, and a job late alone is a ``TimeoutError``
        failure (``_stopped``). A worker that dies re-runs what was in flight, as
        ``map_chunks``."""
        results: list[list[dict] | None] = [None] * len(args)
        attempts, late = [0] * len(args), []
        queue, running, hung = list(range(len(args))), {}, set()
        while queue or running:
            pool, broken = self._ready_pool(), False
            try:
                while queue and len(running) < self.workers:
                    running[pool.submit(evaluate_chunk, *args[queue[0]])] = (
                        queue[0], time.monotonic() + self.timeout * len(args[queue[0]][1]))
                    queue.pop(0)
            except BrokenProcessPool:   # a worker died since it started: as below
                broken = True
                self._count_rerun(attempts, queue[0], args[queue[0]])
            for fut in [f for f in hung if f.done()]:   # late, but done: its slot is free
                late.append(running.pop(fut)[0])           # (the late result is not used)
                hung.discard(fut)
            live = {f: v for f, v in running.items() if f not in hung}
            if live:   # until a call ends (a late one too: it frees its worker) or a deadline
                first = min(d for _, d in live.values())
                wait(running, timeout=max(0.0, first - time.monotonic()),
                     return_when=FIRST_COMPLETED)
            for fut, (i, deadline) in live.items():
                if fut.done():
                    del running[fut]
                    try:
                        results[i] = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        queue.insert(0, i)
                        self._count_rerun(attempts, i, args[i])
                elif deadline <= time.monotonic():
                    hung.add(fut)
            if broken or (running and set(running) <= hung):   # only late calls in flight
                self._kill()
                for fut, (i, _) in running.items():
                    (late.append(i) if fut in hung else queue.insert(0, i))
                running.clear()
                hung.clear()
        split = [i for i in late if len(args[i][1]) > 1]
        for i in late:
            if i not in split:
                results[i] = [self._stopped(args[i][1][0])]
        if split:   # each job of the late calls again on its own deadline, in one batch
            parts = iter(self._map_with_deadline(
                [(args[i][0], [job], *args[i][2:]) for i in split for job in args[i][1]]))
            for i in split:
                results[i] = [next(parts)[0] for _ in args[i][1]]
        return results  # type: ignore[return-value]

    def _ready_pool(self) -> ProcessPoolExecutor:
        """The pool, its workers started (a new pool's start-up, spawning Python and importing
        torch, is not the evaluation's time and must not count against its deadline)."""
        for _ in range(self.max_retries + 1):
            if self._pool is not None:
                return self._pool
            pool, pids, give_up = self._get_pool(), set(), time.monotonic() + 600
            try:   # until every worker has run a task (one can take a whole batch)
                while len(pids) < self.workers and time.monotonic() < give_up:
                    pids |= {f.result() for f in [pool.submit(_ready)
                                                  for _ in range(self.workers)]}
                return pool
            except BrokenProcessPool:
                self._shutdown(wait=False)
        raise LossforgeError(f"the evaluation workers died as they started, "
                             f"{self.max_retries + 1} times; giving up")

    def _stopped(self, job: list) -> dict:
        """The result of a job that ran out of time alone: a ``TimeoutError`` failure."""
        exc = TimeoutError(f"no result within {self.timeout:g} s (--eval-timeout)")
        out = error_to_dict(job[0].get("name", "?"), exc, self.timeout)
        out["error"]["at"] = f"the {self.timeout:g} s deadline"   # no frame of its own
        return out

    def _kill(self) -> None:
        """Stop every worker now (a late call cannot be cancelled once it runs) and drop the
        pool; the next call builds a new one."""
        if self._pool is not None:
            procs = getattr(self._pool, "_processes", None)   # the pool's own table
            for proc in list((procs or {}).values()):
                try:                          # its session: the worker and what it started
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    proc.kill()
            if procs is None and hasattr(self._pool, "kill_workers"):   # Python 3.14's way
                self._pool.kill_workers()
            self._shutdown(wait=False)

    def _shutdown(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """Shut the pool down, waiting for nothing left; called while an exception (Ctrl-C)
        unwinds, as from a ``finally``, it kills the workers instead (they ignore Ctrl-C)."""
        if isinstance(sys.exc_info()[1], BaseException):
            self._kill()
        self._shutdown()


def check_executor(name: str) -> None:
    """``ConfigError`` when the executor ``name`` cannot be made here: Ray (``--executor ray``)
    not importable. A search asks before it makes its run directory (``make_executor`` is
    called once the run has started, and left a run directory behind that had run nothing)."""
    if name == "ray":
        from lossforge.search.ray_executor import import_ray

        import_ray()


def make_executor(name: str, workers: int | None = None, timeout: float | None = None):
    """The executor ``name`` ("local" or "ray") with ``workers``; ``timeout``: seconds per
    evaluation before it is stopped and failed (local only: Ray's cancel of a running task is
    not a kill a result can rely on)."""
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"--eval-timeout must be a positive number of seconds, got {timeout}")
    if name == "local":
        return LocalExecutor(workers, timeout=timeout)
    if timeout is not None:
        raise ConfigError("--eval-timeout needs the local executor (--executor local)")
    if name == "ray":
        from lossforge.search.ray_executor import RayExecutor

        return RayExecutor(workers)
    raise ConfigError(f"executor {name!r}: expected local or ray")
