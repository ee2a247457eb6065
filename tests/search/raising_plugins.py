"""Fitness plug-ins that raise (``--fitness module:function``), for test_plugin_errors.py: a
numerical corner some candidates hit, a fitness that can score the baselines only, and one that
breaks mid-run. All are the probe fitness where they do not raise (deterministic, milliseconds).
Importable by spawned pool workers (on sys.path via conftest.py)."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

from lossforge.search import probe_fitness

BASELINES = ("dpo", "orpo")


def cannot_score(name: str) -> bool:
    """About one candidate in three, by its name's digest; never a baseline."""
    return name not in BASELINES and hashlib.sha256(name.encode()).digest()[0] % 3 == 0


def raises_on_some(objectives, scenario=None, budget="screen", **kw):
    """The probe fitness, but a call with a loss it cannot score raises ValueError naming that
    loss (a numerical corner of the user's code): the whole call, the others in it too."""
    bad = [o.name for o in objectives if cannot_score(o.name)]
    if bad:
        raise ValueError(f"cannot score {bad[0]}")
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)


def raises_on_candidates(objectives, scenario=None, budget="screen", **kw):
    """Scores the baselines (DPO, ORPO) and raises on every loss the search proposes."""
    if any(o.name not in BASELINES for o in objectives):
        raise FloatingPointError("overflow in my metric")
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)


def broken_while(objectives, scenario=None, budget="screen", **kw):
    """``raises_on_some``, except that once a run under $LF_RUNS has a checkpoint it raises
    RuntimeError on every call for as long as the file $LF_BROKEN exists (a fitness that broke
    mid-run; deleting the file is the user's fix)."""
    broken = os.environ.get("LF_BROKEN")
    if broken and Path(broken).exists() and any(
            Path(os.environ["LF_RUNS"]).glob("*/checkpoint.json")):
        raise RuntimeError("my fitness's data server is down")
    return raises_on_some(objectives, scenario, budget, **kw)


def raises_on_dpo_and_some(objectives, scenario=None, budget="screen", **kw):
    """``raises_on_some``, and DPO too (a bug that also hits a baseline)."""
    if any(o.name == "dpo" for o in objectives):
        raise ValueError("cannot score dpo")
    return raises_on_some(objectives, scenario, budget, **kw)


def hangs_on_some(objectives, scenario=None, budget="screen", **kw):
    """The probe fitness, but a call with a loss ``cannot_score`` names never returns (a
    user's fitness stuck in a loop): it sleeps for two minutes, far past any test's timeout,
    having touched the file $LF_HANG_MARK (if set) to say it has begun."""
    if any(cannot_score(o.name) for o in objectives):
        if os.environ.get("LF_HANG_MARK"):
            Path(os.environ["LF_HANG_MARK"]).touch()
        time.sleep(120)
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)


def hangs_on_dpo(objectives, scenario=None, budget="screen", **kw):
    """``hangs_on_some``, and DPO too: a baseline any fitness must score."""
    if any(o.name == "dpo" for o in objectives):
        time.sleep(120)
    return hangs_on_some(objectives, scenario, budget, **kw)


def sleeps(objectives, scenario=None, budget="screen", **kw):
    """The probe fitness, after sleeping S seconds for each loss named "sleep-S-..." (a slow
    fitness whose time the test sets)."""
    for o in objectives:
        if o.name.startswith("sleep-"):
            time.sleep(float(o.name.split("-")[1]))
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)


def hangs_with_a_child(objectives, scenario=None, budget="screen", **kw):
    """A fitness that starts a process of its own (a simulator, a server: here `sleep 300`),
    writes its pid to $LF_CHILD_PID, and hangs."""
    import subprocess

    child = subprocess.Popen(["sleep", "300"])
    Path(os.environ["LF_CHILD_PID"]).write_text(str(child.pid))
    time.sleep(120)
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)


def pid_after(seconds: float) -> int:
    """A pool task: sleep, then the worker's pid."""
    time.sleep(seconds)
    return os.getpid()


def sigterm_as_a_library_reraises_it(objectives, scenario=None, budget="screen", **kw):
    """The probe fitness, but a call with a loss it cannot score sends its own process SIGTERM
    inside a ``try`` that turns what the handler raises into a plain KeyboardInterrupt, as
    Ray's ``ray.get`` was seen to do in the search's process."""
    if any(cannot_score(o.name) for o in objectives):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)                  # the handler runs here
        except KeyboardInterrupt:
            raise KeyboardInterrupt from None
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)
