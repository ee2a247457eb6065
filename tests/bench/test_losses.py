"""One rule for how a zoo loss runs on a scenario (``objectives.zoo.scenario_spec``): every
member with a reference (the DPO family) takes the scenario's beta, the others keep their own,
a horizon-sized parameter is its fraction of H, and an explicit override wins. The search's
baselines and the bench CLI's ``--losses`` both follow it (they used to differ: the search gave
the scenario's beta to dpo, hinge and robust only)."""

from __future__ import annotations

import math
from pathlib import Path

from lossforge.bench.losses import objective_for
from lossforge.bench.scenarios import load_scenario
from lossforge.objectives import ZOO
from lossforge.search import SearchConfig, run_search
from lossforge.search.checkpoint import load as load_state

REPO = Path(__file__).resolve().parents[2]


def _scenario(tmp_path: Path, beta: float) -> Path:
    text = (REPO / "benchmarks" / "scenarios" / "quick.toml").read_text()
    assert 'name = "quick"' in text and "beta = 0.1" in text
    path = tmp_path / "quick-beta.toml"
    path.write_text(text.replace('name = "quick"', 'name = "quick-beta"')
                    .replace("beta = 0.1", f"beta = {beta}"))
    return path


def test_bench_losses_take_the_scenario_beta_when_they_have_a_reference(tmp_path):
    scen = load_scenario(_scenario(tmp_path, 0.5))
    for name, zoo_spec in ZOO.items():
        spec = objective_for(name, name, {}, scen).spec
        assert spec.beta == (0.5 if zoo_spec.reference else zoo_spec.beta), name
        assert objective_for(name, name, {"beta": 3.0}, scen).spec.beta == 3.0, name
    # length_sft's c: three quarters of the horizon (100 in quick), unless given
    assert objective_for("l", "length_sft", {}, scen).spec.params["c"] == math.ceil(0.75 * 100)
    assert objective_for("l", "length_sft", {"c": 9.0}, scen).spec.params["c"] == 9.0


def test_search_baselines_follow_the_same_rule(tmp_path):
    path = _scenario(tmp_path, 0.5)
    cfg = SearchConfig(scenario=str(path), fitness="probe", generations=1, population=4,
                       workers=1, budget="quick", baselines=("dpo", "ipo", "orpo"))
    state = load_state(run_search(cfg, runs_root=tmp_path / "runs", quiet=True))
    betas = {name: b["spec"]["beta"] for name, b in state["baselines"].items()}
    assert betas == {"dpo": 0.5, "ipo": 0.5, "orpo": ZOO["orpo"].beta}   # ipo was 0.1 before
    scen = load_scenario(path)
    for name, b in state["baselines"].items():
        assert b["spec"] == objective_for(name, name, {}, scen).spec.to_json() | {"name": name}
