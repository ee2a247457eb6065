"""Train a population of preference objectives from one reference policy: the entry point.

One interface, two execution modes that give the same parameters:

    train_population(objectives, dataset, reference, seeds, config, mode="auto")

- "batched": every run (objective x seed) is one member of a stacked population; one forward and
  one backward per step for all of them (``baddbmm`` on weights stacked [M, in, out]).
- "processes": each run trains alone (a population of one, the very same code) in a spawned
  worker process with one torch thread; with one worker, "the worker" is this process, and the
  runs train one after another. The parameters do not depend on the worker count.

Both run ``train_members`` (lossforge/bench/train_loop.py), which reads top to bottom as the
whole algorithm, and where the objective interface, common random numbers and what stops a
run are described. On CPU training is compute-bound, so stacking pays only at tiny batches
(few rows per matmul) and processes pay at realistic ones; "auto" chooses by the rows per step
and the size of the job (see ``choose_mode``).

In "processes" mode the objective is pickled to the worker, so it must be picklable (a
module-level class instance or function, not a lambda or a closure); formula objectives
pickle as their spec (the formula text) and are rebuilt in the worker (``__reduce__`` in
objectives/mpo.py and objectives/neural.py).

The loop's types and data preparation are importable from here too (``TrainConfig``,
``RunResult``, ``TrainingData``, ``prepare``, ...), as they always were.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Literal, Sequence

import torch
import torch.multiprocessing

from lossforge.bench.progress import progress_bar
from lossforge.bench.train_loop import (
    RunResult,
    TrainConfig,
    TrainingData,
    TrainingError,
    minibatch_schedule,
    prepare,
    reference_logps,
    soft_label_loss,
    train_members,
)
from lossforge.errors import ConfigError
from lossforge.workers import exit_with_parent, torch_threads, worker_count

__all__ = ["AUTO_BATCHED_MAX_ROWS", "AUTO_BATCHED_MAX_WORK", "Mode", "RunResult", "TrainConfig",
           "TrainingData", "TrainingError", "WorkerPool", "choose_mode", "minibatch_schedule",
           "prepare", "reference_logps", "soft_label_loss", "train_members", "train_population"]

Mode = Literal["auto", "batched", "processes"]

# "auto" (see choose_mode), from benchmarks/results/throughput.json (2-core CPU shared with
# other tenants' jobs, load 5-8): stacking 8 runs on one core beat running them one after
# another only at tiny minibatches (1.24x at 800 time steps a member-step; 0.6-0.8x at 3,200 to
# 25,600). End to end, one-thread batched beat two warm workers 2.3x at 200 rows and 1.7x at
# 800, and lost (0.88x) at 12,800; a fresh pool adds ~5 s of worker start-up.
AUTO_BATCHED_MAX_ROWS = 1024  # time steps per member-step up to which stacking wins
AUTO_BATCHED_MAX_WORK = 4_000_000  # row-steps (~10 s on one core at hidden 128): below this,
#                                    starting workers costs more than it saves


# --------------------------------------------------------------------------------------------
# Worker processes (mode "processes")
# --------------------------------------------------------------------------------------------
def _one_core() -> None:
    """A worker's torch settings."""
    torch.set_num_threads(1)  # one core per worker: cores are shared by processes, not threads
    # Sharp policies push exp() in the log-softmax into denormals, 4x slower on x86 (measured);
    # flushing them changes nothing above 1e-38.
    torch.set_flush_denormal(True)


def _worker_init() -> None:
    exit_with_parent()
    _one_core()


@contextlib.contextmanager
def _worker_settings():
    """A worker's torch settings in this process, for the duration (a 1-worker run)."""
    with torch_threads(1):
        _one_core()
        try:
            yield
        finally:
            torch.set_flush_denormal(False)  # torch's default; nothing else here sets it


def _train_one(data: TrainingData, config: TrainConfig, objective: Callable,
               seed: int) -> RunResult:
    return train_members([(objective, seed)], data, config)[0]


class WorkerPool:
    """Spawned training workers, one torch thread each, for mode "processes".

    Starting a worker (a fresh interpreter importing torch) takes seconds. Pass one pool to many
    ``train_population`` calls (e.g. every generation of a search) to pay that once; without
    one, each call starts and stops its own. Tasks carry the TrainingData: its tensors travel
    through shared memory (torch.multiprocessing), so sending it per task costs little.
    """

    def __init__(self, workers: int = 0):
        self.workers = worker_count(workers)
        ctx = torch.multiprocessing.get_context("spawn")
        self._executor = ProcessPoolExecutor(self.workers, mp_context=ctx,
                                             initializer=_worker_init)

    def run(self, members, data: TrainingData, config: TrainConfig,
            progress: Callable[[int], None] | None = None) -> list[RunResult]:
        futures = [self._executor.submit(_train_one, data, config, obj, seed)
                   for obj, seed in members]
        results = []
        for fut in futures:  # in submission order, so results line up with members
            results.append(fut.result())
            if progress is not None:
                progress(len(results))
        return results

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


# --------------------------------------------------------------------------------------------
# The one entry point
# --------------------------------------------------------------------------------------------
def choose_mode(n_members: int, rows_per_step: float, steps: int, workers: int,
                warm_pool: bool = False) -> str:
    """'batched' at tiny minibatches (stacking fills the matmuls) or for jobs too small to pay
    for starting workers; otherwise 'processes' (compute-bound training scales with cores, not
    with stacking). Thresholds: see AUTO_BATCHED_MAX_ROWS / _WORK above.

    One worker is no reason to stack: at realistic minibatches one member after another beats
    stacking them on the same core (0.6-0.8x above), and each member trained alone gets the
    same parameters whatever the worker count, so a 1-worker and a 2-worker run agree. For the
    same reason a lone member is not 'batched': it trains as a worker would, so its parameters
    do not depend on which other losses shared its call (a per-loss resume relies on that)."""
    if n_members == 1:
        return "processes"
    if rows_per_step <= AUTO_BATCHED_MAX_ROWS:
        return "batched"
    if not warm_pool and n_members * steps * rows_per_step <= AUTO_BATCHED_MAX_WORK:
        return "batched"
    return "processes"


def train_population(
    objectives: Sequence[Callable],
    dataset,
    reference,
    seeds: Sequence[int],
    config: TrainConfig = TrainConfig(),
    mode: Mode = "auto",
    progress: bool = False,
    pool: "WorkerPool | None" = None,
) -> list[RunResult]:
    """Train every objective with every seed from ``reference`` on ``dataset``.

    ``reference`` is a Params dict (or anything with ``.params``, e.g. a BC result). Returns one
    RunResult per (objective, seed), objective-major: [(o0, s0), (o0, s1), ..., (o1, s0), ...].
    ``dataset`` may instead be a TrainingData from ``prepare(dataset, reference)``, with
    ``reference=None``: prepare once, train many times (it is the same data either way).
    ``pool``: a WorkerPool to reuse for mode "processes" (else one is started for this call).
    """
    for obj in objectives:
        missing = [a for a in ("name", "aggregation", "needs_reference", "temporal")
                   if not hasattr(obj, a)]
        if missing or obj.aggregation not in ("mean", "sum"):
            raise TrainingError(f"objective {obj!r} lacks {missing or 'a valid aggregation'}")
    if not objectives or not seeds:
        raise TrainingError("need at least one objective and one seed")
    if isinstance(dataset, TrainingData):
        if reference is not None:
            raise TrainingError("a prepared TrainingData carries its reference: pass "
                                "reference=None")
        data = dataset
    else:
        data = prepare(dataset, reference)
    members = [(obj, int(seed)) for obj in objectives for seed in seeds]
    workers = worker_count(config.workers)
    rows_per_step = 2 * config.batch_pairs * float(data.segments.lengths.float().mean())
    if mode == "auto":
        mode = choose_mode(len(members), rows_per_step, config.steps,
                           pool.workers if pool else workers, warm_pool=pool is not None)
    if mode not in ("batched", "processes"):
        raise ConfigError(f"mode must be 'auto', 'batched' or 'processes', got {mode!r}")

    start = time.perf_counter()
    with progress_bar(progress) as bar:
        if mode == "batched":
            task = bar.add_task(f"training {len(members)} runs (batched)", total=config.steps)
            with torch_threads(config.threads or torch.get_num_threads()):
                results = train_members(members, data, config,
                                        on_step=lambda s: bar.update(task, completed=s + 1))
        elif pool is None and (workers == 1 or len(members) == 1):
            # One worker is this process: the members one after another, set up as a worker is
            # (one thread, denormals flushed), so the parameters are a worker's bit for bit.
            task = bar.add_task(f"training {len(members)} runs (one after another)",
                                total=len(members))
            results = []
            with _worker_settings():
                for obj, seed in members:
                    results.append(_train_one(data, config, obj, seed))
                    bar.update(task, completed=len(results))
        else:
            own = pool is None
            pool = pool or WorkerPool(min(workers, len(members)))
            task = bar.add_task(f"training {len(members)} runs ({pool.workers} processes)",
                                total=len(members))
            try:
                results = pool.run(members, data, config, lambda n: bar.update(task, completed=n))
            finally:
                if own:
                    pool.close()
    seconds = time.perf_counter() - start
    for r in results:
        r.meta.update(mode=mode, population_seconds=seconds, population_size=len(members))
    return results
