"""Fitness plug-ins that break the interface in one way each (``--fitness module:function``),
for the checks in test_fitness_plugin.py. Importable by spawned pool workers (on sys.path via
conftest.py)."""

from __future__ import annotations

from lossforge.search import probe_fitness

NOT_A_FUNCTION = {"quick": 1}


def too_few(objectives, scenario=None, budget="screen", **kw):
    """One result fewer than objectives."""
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)[:-1]


def not_a_list(objectives, scenario=None, budget="screen", **kw):
    return 42.0


def plain_dicts(objectives, scenario=None, budget="screen", **kw):
    """Results as dicts, not objects with the fields as attributes."""
    return [{"name": o.name, "score": 1.0} for o in objectives]


def text_scores(objectives, scenario=None, budget="screen", **kw):
    """The right fields, but the score is a string."""
    from dataclasses import replace

    return [replace(r, score="high") for r in probe_fitness.evaluate(objectives, scenario,
                                                                     budget, **kw)]


def nan_but_ok(objectives, scenario=None, budget="screen", **kw):
    """Status "ok" with a NaN score for every loss but the baselines (DPO, ORPO)."""
    from dataclasses import replace

    out = probe_fitness.evaluate(objectives, scenario, budget, **kw)
    return [r if r.name in ("dpo", "orpo") else replace(r, score=float("nan")) for r in out]


def nan_seconds(objectives, scenario=None, budget="screen", **kw):
    """The probe fitness, with a NaN cost (``seconds``) on every result."""
    from dataclasses import replace

    return [replace(r, seconds=float("nan"))
            for r in probe_fitness.evaluate(objectives, scenario, budget, **kw)]


def raises_after_checkpoint(objectives, scenario=None, budget="screen", **kw):
    """A fitness with a bug that shows once the run has a checkpoint (run directories under
    $LF_RUNS): it raises ValueError."""
    import os
    from pathlib import Path

    if any(Path(os.environ["LF_RUNS"]).glob("*/checkpoint.json")):
        raise ValueError("boom from my fitness")
    return probe_fitness.evaluate(objectives, scenario, budget, **kw)
