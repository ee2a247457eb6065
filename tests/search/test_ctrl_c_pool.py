"""Ctrl-C in a search with pool workers, as a terminal sends it (SIGINT to the whole process
group): the search exits 130 with its one line naming the run to --resume, no worker prints a
KeyboardInterrupt traceback, the busy workers are stopped rather than waited for, and none is
left behind. The workers are busy in a plug-in call that sleeps two minutes
(raising_plugins.hangs_on_some), so waiting for them would take that long."""

from __future__ import annotations

import os
import signal
import time

from search_helpers import start_hanging_search


def test_ctrl_c_with_busy_workers_is_one_line_and_stops_them(tmp_path):
    # SIGINT at its default, as in a terminal: a job started in the background of a
    # non-interactive shell (CI's, nohup's) ignores it, and its Python never raises
    # KeyboardInterrupt
    proc, runs = start_hanging_search(tmp_path, workers=2, generations=2,
                                      signal_default=signal.SIGINT)
    try:   # to the whole process group, as a terminal sends it
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)   # not the two minutes of the sleeping call
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    (run_dir,) = runs.iterdir()
    assert err.strip().splitlines()[-1].endswith(f"continue with --resume {run_dir}"), err
    # the workers share the search's process group (a new session): once all are gone, no
    # process is left in it (the sleeping ones would be for two minutes)
    for _ in range(50):
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("a process of the search's group outlived it by 10 s")



def test_closing_the_pool_while_ctrl_c_unwinds_stops_busy_workers():
    """Other users of the pool (distill's and es_vs_gp's re-scores) close it in a ``finally``:
    as Ctrl-C unwinds, that kills the busy workers (which ignore Ctrl-C) instead of waiting a
    minute for their calls; a close with no exception in flight still waits (nothing lost)."""
    from lossforge.search.executors import LocalExecutor

    ex = LocalExecutor(2)
    fut = ex._get_pool().submit(time.sleep, 60)
    while not fut.running():
        time.sleep(0.1)
    time.sleep(1)                       # the call is in the worker now
    t0 = time.monotonic()
    try:
        try:
            raise KeyboardInterrupt
        finally:
            ex.close()
    except KeyboardInterrupt:
        pass
    assert time.monotonic() - t0 < 20
    ex = LocalExecutor(2)
    fut = ex._get_pool().submit(sum, [1, 2])
    ex.close()
    assert fut.result() == 3
