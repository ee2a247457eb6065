"""Process settings: what every lossforge worker process does first (training pools, search
executors), and torch's thread count for work that must not use more than one core."""

from __future__ import annotations

import contextlib
import os
import threading
import time

_watching = False


def worker_count(workers: int | None) -> int:
    """Processes to run: ``workers``, or every core when it is 0 or None."""
    return workers or os.cpu_count() or 1


def exit_with_parent(poll_seconds: float = 1.0) -> None:
    """Make this worker exit when the process that started it dies.

    A pool's workers are children of the run; if the run is killed (kill -9, a session ending)
    they would otherwise live on as orphans, finishing tasks nobody collects while holding the
    machine's cores. A daemon thread polls the parent pid and ends the worker once it changes.
    Idempotent: a worker that calls it once per task (Ray) still runs one watcher.
    """
    global _watching
    if _watching:
        return
    _watching = True
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's intra-op thread count set to ``n`` for the duration, then restored.

    Small per-step work (a policy's forward pass in the evaluator, one worker's training) runs
    in one thread: on a shared machine a second OpenMP thread mostly waits for a preempted core.
    The evaluator's forward pass took 1.5-1.9 ms with two threads against 0.9 ms with one, a
    fifth of an Ant evaluation's time under load (py-spy), and its actions are bit for bit the
    same (tests/bench/test_evaluator.py)."""
    import torch   # here, not at the top: a process that only reads results skips its import

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
