"""What every lossforge worker process does first (training pools, search executors)."""

from __future__ import annotations

import os
import threading
import time

_watching = False


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
