"""One short search on the real MuJoCo fitness (quick scenario, one generation, quick budget
for everyone and the screen budget for the best; the quick budget alone is too short for
deterministic-action returns to tell most losses apart)."""

from __future__ import annotations

import math

import pytest

from lossforge.search import SearchConfig, load_run, run_search
from lossforge.search.checkpoint import load


def test_search_on_the_benchmark_fitness(tmp_path):
    cfg = SearchConfig(scenario="quick", budget="screen", generations=1, population=4, seed=0,
                       workers=1, fitness="bench", top_fraction=0.25, baselines=("dpo",))
    run_dir = run_search(cfg, runs_root=tmp_path, quiet=True)
    state = load(run_dir)
    scores = [rec["quick"]["score"] for rec in state["losses"].values()
              if rec["quick"]["status"] == "ok"]
    assert scores and all(math.isfinite(s) for s in scores)
    promoted = [rec for rec in state["losses"].values() if "screen" in rec]
    assert len(promoted) == 1                        # multi-fidelity: the top quarter of 4
    dpo = state["baselines"]["dpo"]
    assert all(dpo[r]["status"] == "ok" for r in ("quick", "screen"))
    run = load_run(run_dir)
    assert run.pareto and all(r["name"] in run.objectives for r in run.pareto)
    # DPO's own map was seeded: its search twin scores exactly as the zoo's DPO (same beta,
    # same seeds: common random numbers)
    twin = next(rec for rec in state["losses"].values() if rec["h"] == "p*log(p)")
    assert twin["quick"]["score"] == pytest.approx(state["baselines"]["dpo"]["quick"]["score"],
                                                   abs=1e-9)
