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


def slow_evaluate(objectives, scenario=None, budget="screen", **kw):
    """Probe fitness that takes a while and leaves a marker per call in $LF_MARKERS."""
    d = Path(os.environ["LF_MARKERS"])
    d.mkdir(parents=True, exist_ok=True)
    (d / f"call-{time.time_ns()}-{os.getpid()}").touch()
    time.sleep(0.3)
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


def slow_recording_evaluate(objectives, scenario=None, budget="screen", **kw):
    """``recording_evaluate`` that takes a while (so a test can kill it mid-generation)."""
    time.sleep(0.3)
    return recording_evaluate(objectives, scenario, budget, **kw)
