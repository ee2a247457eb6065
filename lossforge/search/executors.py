"""Where fitness evaluations run: a local process pool (default) or a Ray cluster.

Both executors run the same module-level task, ``evaluate_chunk``, on the same chunks, and
return results in submission order, so a run gives the same result on either (the fitness is a
function of the objective, the budget and the seeds only: common random numbers). Tasks carry
only JSON-able data (objective specs, a scenario path, names); workers rebuild the objectives.

A worker that dies (killed, out of memory, segfault) loses nothing but time: the local pool is
rebuilt and the unfinished chunks re-run; Ray re-runs them itself (``max_retries``). Each chunk
calls the fitness with ``workers=1``: parallelism is across chunks.

A fitness that raises on an objective does not stop the run: that objective's result is a
failure whose status names the exception (``error: ValueError: ...``, ``error_to_dict``), and
its traceback goes to the run directory's ``fitness_errors.log`` (``take_errors``). A fitness
that is broken rather than troubled by one candidate stops the run (``FitnessRaised``, raised by
the engine: ``engine.run_jobs``).
"""

from __future__ import annotations

import importlib
import math
import numbers
import os
import sys
import sysconfig
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Sequence

from lossforge.errors import ConfigError, LossforgeError
from lossforge.io import append_lines
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
        ``curve`` ([(step, score), ...], kept for ``lossforge.report``'s plots). It must be a deterministic function of
        the objective's spec, the scenario, the budget and the seeds (the journal and resume
        rely on it), and importable by a fresh worker process. An exception it raises fails
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


def check_results(ref: str, results, n: int) -> None:
    """A fitness call's results have the interface's shape (``resolve_fitness``), or a
    ConfigError in one line naming the fitness."""
    if not isinstance(results, (list, tuple)) or len(results) != n:
        got = (f"{len(results)} results" if isinstance(results, (list, tuple))
               else f"a {type(results).__name__}")
        raise ConfigError(f"fitness {ref!r} returned {got} for {n} objectives; expected a list "
                          f"of {n} results with fields {', '.join(FITNESS_FIELDS)}")
    for r in results:
        missing = [f for f in FITNESS_FIELDS if not hasattr(r, f)]
        if missing:
            raise ConfigError(f"fitness {ref!r} returned a {type(r).__name__} without "
                              f"{', '.join(missing)}; expected fields "
                              f"{', '.join(FITNESS_FIELDS)}")
        bad = [f for f in ("score", "ci95", "final", "auc", "seconds")
               if not isinstance(getattr(r, f), numbers.Real)]
        if bad or not all(isinstance(x, numbers.Real) for x in r.per_seed):
            raise ConfigError(f"fitness {ref!r} returned non-numeric "
                              f"{', '.join(bad) or 'per_seed'} for {r.name!r}")


def finite_or_none(v: float) -> float | None:
    """A number as the run files store it: NaN and infinities become null (JSON)."""
    return float(v) if math.isfinite(v) else None


def fitness_to_dict(f) -> dict:
    """A Fitness as JSON (nan -> null); its training curve, [[step, score], ...] (mean over
    seeds), only where the fitness keeps one (the bench does; ``lossforge.report`` plots it)."""
    # "ok" with a NaN or infinite score breaks the fitness interface; recorded as what it is,
    # a non-finite score, so the loss is counted as failed for that reason, not as "ok"
    status = "nonfinite" if f.status == "ok" and not math.isfinite(f.score) else f.status
    out = {"name": f.name, "status": status, "score": finite_or_none(f.score),
           "ci95": finite_or_none(f.ci95), "per_seed": [finite_or_none(x) for x in f.per_seed],
           "final": finite_or_none(f.final), "auc": finite_or_none(f.auc),
           "seconds": float(f.seconds)}
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
    check_results(fitness_ref, results, len(objectives))
    return [fitness_to_dict(r) for r in results]


#: how a result the fitness raised on starts its status: "error: ValueError: <message>"
RAISED = "error: "
#: where a run directory keeps the tracebacks of its fitness's exceptions (``take_errors``)
ERRORS_LOG = "fitness_errors.log"


def raised(f: dict) -> bool:
    """Whether a fitness dict records an evaluation its fitness raised on."""
    return str(f.get("status", "")).startswith(RAISED)


def error_to_dict(name: str, exc: BaseException, seconds: float) -> dict:
    """The fitness dict of an objective the fitness raised on: a failure (score null) whose
    status names the exception, ``error: <Type>: <its message's first line>`` (at most 200
    characters, as other failures say theirs: "nonfinite", the LLM's "training failed ..."),
    and an ``error`` entry (type, message, ``at``: its last frame outside Python's library and
    installed packages, the traceback) that the engine moves to the run's ``ERRORS_LOG``
    before anything keeps the result (``take_errors``): journal and checkpoint keep the status."""
    lines = str(exc).strip().splitlines()
    status = f"{RAISED}{type(exc).__name__}" + (f": {lines[0]}" if lines else "")
    frames = traceback.extract_tb(exc.__traceback__)
    # the last frame in code of one's own, not in an installed library or Python's
    lib = (sysconfig.get_paths()["stdlib"], "site-packages", "dist-packages")
    own = [fr for fr in frames if not any(x in fr.filename for x in lib)] or frames
    at = f"{Path(own[-1].filename).name}:{own[-1].lineno} in {own[-1].name}" if own else "?"
    return {"name": name, "status": status[:200], "score": None, "ci95": None, "per_seed": [],
            "final": None, "auc": None, "seconds": float(seconds),
            "error": {"type": type(exc).__name__, "message": str(exc), "at": at,
                      "traceback": "".join(traceback.format_exception(exc))}}


def take_errors(results: list[dict], rung: str, places: list[str], log: Path | None, *,
                say: bool = True) -> list[dict]:
    """The ``error`` entries of ``results`` (each with the result's name, its ``place``, the
    scenario or suite unit, and ``rung``), taken out of them: what is left is what the journal
    and the state keep. Each traceback is appended to ``log`` (None: no run directory), and
    with ``say`` one line on stderr names the round's first failure and how many there were:
    a long search that meets a few bad candidates says so without a traceback per candidate."""
    errors = [dict(f.pop("error"), name=f["name"], place=place, rung=rung)
              for f, place in zip(results, places) if "error" in f]
    if errors and log is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        append_lines(log, [f"--- {stamp} {e['name']}, {rung} budget, {e['place']}: "
                           f"{e['type']} at {e['at']}\n{e['traceback'].rstrip()}"
                           for e in errors])
    if errors and say:
        e = errors[0]
        first = (e["message"].strip().splitlines() or [""])[0][:120]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        print(f"fitness raised on {len(errors)} of {len(results)} evaluations at the {rung} "
              f"budget: {e['name']} on {e['place']}: {e['type']}: {first} at {e['at']}{more}; "
              f"recorded as failed" + (f", tracebacks in {log}" if log is not None else ""),
              file=sys.stderr)
    return errors


def stop_if_broken(ask: Callable, failed: list[int], where: list, rung: str, strict: bool,
                   baseline: dict) -> None:
    """Stop the run (``FitnessRaised``) after a call (``engine.run_jobs``) whose jobs ``failed``
    (indices; ``where``: their places) raised, if the fitness raises again where it must not:
    in a ``strict`` call (the baselines, every loss is judged against them) on the first that
    raised, asked again (the journal keeps no traceback); else, when every job of the call
    raised, on ``baseline`` (the run's first) at each place of the call, asked fresh. ``ask``:
    (job indices, specs in their place or None, say) -> (results, errors), lazily, so it asks
    no further than the first that raises. A fitness that scores them goes on: its candidates'
    failures stand. Decided on whole calls, whose jobs are a function of the seed, so the
    worker count and a resume in between do not change whether a run stops.

    Why this rule: a count of failures in a row cannot tell a fitness with a bug from a run of
    candidates that share a bad subtree (a GP's offspring do), and a late generation may have
    one new loss: stopping on it would stop a long search for one candidate again; never
    stopping would record a broken fitness's whole generations as failed, in the checkpoint,
    where no --resume reaches them. One more evaluation, only after a call that raised
    throughout, asks the question directly."""
    if strict:
        why = "the fitness raised on a baseline, a loss any fitness must score"
        errors = (ask([i], None, False)[1] for i in failed[:1])
    else:
        why = (f"the fitness raised on every evaluation of a call ({len(failed)} at the {rung} "
               f"budget) and on {baseline['name']}, a baseline any fitness must score: the "
               "fitness is broken, not the candidates")
        first = [i for k, i in enumerate(failed) if where[k] not in where[:k]]  # one a place
        errors = (ask([i], [baseline], False)[1] for i in first)
    for errs in errors:
        if errs:
            raise FitnessRaised(errs[0], why)


class FitnessRaised(Exception):
    """A fitness that is broken, not troubled by one candidate, stops the run: it raised on
    every evaluation of a round and then on a baseline too (``engine.run_jobs``). It carries
    the fitness's own exception as text (it may have been raised in a worker process):
    ``kind`` its type's name, ``str()`` its message, ``details`` its traceback, ``why`` what
    was seen; the CLI prints the traceback and one line with ``--resume``."""

    def __init__(self, error: dict, why: str):
        super().__init__(error["message"])
        self.kind, self.details, self.why = error["type"], error["traceback"], why


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
    import torch

    exit_with_parent()
    torch.set_num_threads(1)


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
    """A process pool sized to the machine (``workers=1``: run in this process)."""

    name = "local"

    def __init__(self, workers: int | None = None, max_retries: int = 2):
        self.workers = worker_count(workers)
        self.max_retries = max_retries
        self.reruns = 0
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            self._pool = ProcessPoolExecutor(self.workers, initializer=_worker_init,
                                             mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def map_chunks(self, fitness_ref: str, chunks_: Sequence[list[list]], budget,
                   metric) -> list[list[dict]]:
        args = [(fitness_ref, c, budget, metric) for c in chunks_]
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
                        attempts[i] += 1
                        self.reruns += 1
                        if attempts[i] > self.max_retries:
                            raise LossforgeError(f"an evaluation chunk killed its worker "
                                                 f"{attempts[i]} times; giving up")

    def _shutdown(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        self._shutdown()


class RayExecutor:
    """Chunks as Ray tasks (one CPU each); starts a local Ray instance unless one is running
    (``address`` to join a cluster). Tasks whose worker dies are re-run by Ray."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None,
                 max_retries: int = 3):
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'lossforge[ray]'") from None
        self._ray = ray
        self.workers = worker_count(workers)
        self.reruns = 0  # Ray re-runs failed tasks itself and does not report them here
        self._started = False
        if not ray.is_initialized():
            root = str(Path(__file__).resolve().parents[2])
            env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
                [root] + [p for p in [os.environ.get("PYTHONPATH")] if p])}}
            ray.init(address=address, num_cpus=None if address else self.workers,
                     include_dashboard=False, log_to_driver=False, runtime_env=env,
                     configure_logging=False)
            self._started = True
        self._task = ray.remote(num_cpus=1, max_retries=max_retries)(_ray_task)

    def map_chunks(self, fitness_ref, chunks_, budget, metric):
        refs = [self._task.remote(fitness_ref, c, budget, metric) for c in chunks_]
        return self._ray.get(refs)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False


def _ray_task(*args):
    _worker_init()
    return evaluate_chunk(*args)


def make_executor(name: str, workers: int | None = None):
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers)
    raise ConfigError(f"executor {name!r}: expected local or ray")
