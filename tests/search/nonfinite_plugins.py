"""A fitness plug-in that says "ok" with a NaN score (``--fitness module:function``), for
test_nonfinite_baseline.py: on DPO and ORPO while a file exists (a bug in the user's metric that
hits the baselines; deleting the file is the fix), and always on the candidates
``raising_plugins.cannot_score`` names (losses that come out NaN: ordinary failures). The
probe fitness otherwise (deterministic, milliseconds). Importable by spawned pool workers (on
sys.path via conftest.py)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from lossforge.search import probe_fitness
from raising_plugins import BASELINES, cannot_score


def nan_baselines_while(objectives, scenario=None, budget="screen", **kw):
    """The probe fitness, with score NaN (status "ok") for DPO and ORPO while the file
    $LF_NAN_BASELINES exists and for every candidate ``cannot_score`` names; each call appends
    its objectives' names, one a line, to $LF_CALLS (if set)."""
    if os.environ.get("LF_CALLS"):
        with open(os.environ["LF_CALLS"], "a") as fh:
            fh.writelines(f"{o.name}\n" for o in objectives)
    flag = os.environ.get("LF_NAN_BASELINES")
    broken = bool(flag) and Path(flag).exists()
    return [replace(r, score=float("nan"))
            if (r.name in BASELINES and broken) or cannot_score(r.name) else r
            for r in probe_fitness.evaluate(objectives, scenario, budget, **kw)]
