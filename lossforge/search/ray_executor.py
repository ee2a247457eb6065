"""The Ray executor (``--executor ray``): chunks as Ray tasks, one CPU each, on a local Ray
instance or a cluster; the same task and chunks as the local pool (``executors.py``), so a run
gives the same result on either. Ray is optional (``pip install 'lossforge[ray]'``)."""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from lossforge.errors import ConfigError
from lossforge.search.executors import _worker_init, evaluate_chunk
from lossforge.workers import worker_count


def import_ray():
    """The ``ray`` module; ``ConfigError`` saying how to install it when it cannot be imported
    (``executors.check_executor`` asks before a run directory is made)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'lossforge[ray]'") from None
    return ray


class RayExecutor:
    """Chunks as Ray tasks (one CPU each); starts a local Ray instance unless one is running
    (``address`` to join a cluster). Tasks whose worker dies are re-run by Ray."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None,
                 max_retries: int = 3):
        ray = import_ray()
        self._ray = ray
        self.workers = worker_count(workers)
        self.reruns = 0  # Ray re-runs failed tasks itself and does not report them here
        self._started = False
        if not ray.is_initialized():
            root = str(Path(__file__).resolve().parents[2])
            env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
                [root] + [p for p in [os.environ.get("PYTHONPATH")] if p])}}
            with _sigterm_kept():
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


@contextmanager
def _sigterm_kept() -> Iterator[None]:
    """The block (``ray.init``) leaves a search's SIGTERM handler (``stops.sigterm_raises``) in
    place: ``ray.init`` replaces it with ``sys.exit(15)`` (Ray 2.60) as it starts and keeps
    that after ``ray.shutdown``, so a search stopped by SIGTERM under Ray exited without naming
    the run to resume. The handler is put back after ``ray.init``, and a SIGTERM during it (its
    ``SystemExit(15)``) stops the search as the handler would have. Any other handler (none,
    under ``run_search`` called from Python) is left to Ray, as before."""
    from lossforge.search import stops

    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGTERM) if main else None
    if not stops.is_ours(before):
        yield
        return
    try:
        yield
    except SystemExit as exc:
        if exc.code != signal.SIGTERM:
            raise
        stops.terminated()
    finally:
        signal.signal(signal.SIGTERM, before)


def _ray_task(*args):
    _worker_init()
    return evaluate_chunk(*args)
