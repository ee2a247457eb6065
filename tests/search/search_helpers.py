"""Stand-in fitness functions for the engine tests (importable by spawned pool workers, which
inherit sys.path; the subprocess tests put this directory on PYTHONPATH).

All of them delegate to the deterministic probe fitness (``lossforge.search.probe_fitness``):
a function of each objective's loss on a fixed probe batch, never a constant.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from lossforge.search import probe_fitness


def recording_evaluate(objectives, scenario=None, budget="screen", **kw):
    """Probe fitness that appends every (budget, spec) it trains to $LF_TRAIN_LOG (JSONL)."""
    log = os.environ["LF_TRAIN_LOG"]
    with open(log, "a") as f:
        for obj in objectives:
            f.write(json.dumps({"budget": budget, "spec": obj.spec.to_json()}) + "\n")
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)


def _pause() -> None:
    """A slow fitness call's wait: 0.3 s, and 3 s once a run under $LF_SLOW_AFTER_CHECKPOINT
    has a checkpoint. ``kill_9_when`` sets that for its child, so the killer has seconds, not
    the half second one call took, between generation 2's first call and its checkpoint on a
    busy machine. The wait changes no result."""
    runs = os.environ.get("LF_SLOW_AFTER_CHECKPOINT")
    time.sleep(3.0 if runs and any(Path(runs).glob("*/checkpoint.json")) else 0.3)


def slow_evaluate(objectives, scenario=None, budget="screen", **kw):
    """Probe fitness that takes a while and leaves a marker per call in $LF_MARKERS."""
    d = Path(os.environ["LF_MARKERS"])
    d.mkdir(parents=True, exist_ok=True)
    (d / f"call-{time.time_ns()}-{os.getpid()}").touch()
    _pause()
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)


def dying_evaluate(objectives, scenario=None, budget="screen", **kw):
    """Probe fitness whose worker process dies (os._exit) the first time it is called."""
    marker = Path(os.environ["LF_DIE_ONCE"])
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL)
        os.close(fd)
        os._exit(17)
    except FileExistsError:
        pass
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)


def flaky_evaluate(objectives, scenario=None, budget="screen", **kw):
    """Probe fitness where some losses fail on one scenario only (as a loss whose training goes
    non-finite on one data set): on noisy-0.2, every objective whose name's digest is even."""
    import hashlib
    import math

    out = probe_fitness.evaluate(objectives, scenario, budget, **kw)
    if scenario is None or "noisy-0.2" not in str(scenario):
        return out
    nan = float("nan")
    return [probe_fitness.Fitness(f.name, "nonfinite", nan, nan, (), nan, nan, f.seconds)
            if hashlib.sha256(f.name.encode()).digest()[0] % 2 == 0 and math.isfinite(f.score)
            else f for f in out]


def slow_recording_evaluate(objectives, scenario=None, budget="screen", **kw):
    """``recording_evaluate`` that takes a while (so a test can kill it mid-generation)."""
    _pause()
    return recording_evaluate(objectives, scenario, budget, **kw)


def kill_9_when(code: str, env: dict, cwd, runs: Path, ready, timeout: float = 120.0) -> Path:
    """Run ``python -c code`` (a search writing under ``runs``) and SIGKILL it as soon as
    ``ready(run_dir)`` is true; returns the run directory. Fails (with the child's stderr) if
    the child ended or the time ran out first."""
    import signal
    import subprocess
    import sys

    env = {**env, "LF_SLOW_AFTER_CHECKPOINT": str(runs)}     # see _pause
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run_dir = None
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and proc.poll() is None:
            dirs = list(runs.glob("*")) if runs.exists() else []
            if dirs and ready(dirs[0]):
                run_dir = dirs[0]
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode != -signal.SIGKILL or run_dir is None:
        raise AssertionError("the search was not killed mid-run: "
                             + proc.stderr.read().decode()[-2000:])
    return run_dir


class AfterCheckpoint:
    """``ready`` for :func:`kill_9_when`: true once ``grew(run_dir)`` differs from its value
    when the first checkpoint appeared (i.e. generation 2 has started work)."""

    def __init__(self, grew):
        self.grew, self.at_checkpoint = grew, None

    def __call__(self, run_dir: Path) -> bool:
        if not (run_dir / "checkpoint.json").exists():
            return False
        now = self.grew(run_dir)
        if self.at_checkpoint is None:
            self.at_checkpoint = now
            return False
        return now != self.at_checkpoint


def warm_up(scenario, workers=None, progress=True, log=None):
    """The run's warm-up hook for every fitness here: records its call in $LF_WARM_LOG if set,
    and tells the user through ``log``."""
    if log is not None:
        log("helper warm-up for " + Path(scenario).name)
    record = os.environ.get("LF_WARM_LOG")
    if record:
        with open(record, "a") as f:
            f.write(json.dumps({"scenario": str(scenario), "workers": workers,
                                "pid": os.getpid()}) + "\n")


def warm_checking_evaluate(objectives, scenario=None, budget="screen", **kw):
    """Probe fitness that fails unless the run's warm-up ran before it, in another process."""
    calls = [json.loads(x) for x in Path(os.environ["LF_WARM_LOG"]).read_text().splitlines()]
    if len(calls) != 1 or calls[0]["pid"] == os.getpid():
        raise RuntimeError(f"warm-up calls before this evaluation: {calls}")
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)


def interrupting_evaluate(objectives, scenario=None, budget="screen", **kw):
    """Probe fitness that raises KeyboardInterrupt (a user's Ctrl-C) on the call after the run
    directory's first checkpoint exists (run directories under $LF_RUNS; in-process executor)."""
    if any(Path(os.environ["LF_RUNS"]).glob("*/checkpoint.json")):
        raise KeyboardInterrupt
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)


def run_view(run_dir: Path) -> dict:
    """Everything a run decided (checkpoint, hall of fame, Pareto front, generation log),
    without the fields that depend on the clock or the machine's load: two runs that should
    be the same compare equal on this."""
    from lossforge.search import checkpoint
    from lossforge.search.engine import deterministic_view

    out = {"state": deterministic_view(checkpoint.load(run_dir))}
    for name in ("hall_of_fame.json", "pareto.json"):
        out[name] = deterministic_view(json.loads((run_dir / name).read_text()))
    out["generations"] = [deterministic_view(json.loads(line)) for line in
                          (run_dir / "generations.jsonl").read_text().splitlines()]
    return out


def start_hanging_search(tmp_path: Path, *, workers: int, generations: int, signal_default):
    """(process, runs folder) of ``python -m lossforge.search`` in a new session, with a
    plug-in fitness one of whose calls sleeps two minutes (``raising_plugins.hangs_on_some``),
    returned once that call sleeps (its mark file exists). ``signal_default``: the signal the
    child takes at its default (a background job ignores SIGINT and may ignore SIGTERM)."""
    import signal
    import subprocess
    import sys

    here = Path(__file__).resolve().parent
    mark, runs = tmp_path / "sleeping", tmp_path / "runs"
    env = dict(os.environ, LF_HANG_MARK=str(mark), LOSSFORGE_LEDGER="off",
               PYTHONPATH=os.pathsep.join([str(here), str(here.parents[1]),
                                           os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lossforge.search", "--fitness", "raising_plugins:hangs_on_some",
         "--workers", str(workers), "--population", "8", "--generations", str(generations),
         "--budget", "quick", "--runs-dir", str(runs), "--ledger", "off"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=lambda: signal.signal(signal_default, signal.SIG_DFL))
    deadline = time.monotonic() + 120     # until a fitness call sleeps
    while not mark.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    if not mark.exists():
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"no fitness call got to the sleeping one: {proc.communicate()}")
    return proc, runs


def always_dying_evaluate(objectives, scenario=None, budget="screen", **kw):
    """Probe fitness whose worker process dies (os._exit) on every call with a loss named in
    $LF_DIES_ON, as a fitness that crashes on one loss (a segfault, the OOM killer)."""
    if any(o.name == os.environ.get("LF_DIES_ON") for o in objectives):
        os._exit(9)
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)
