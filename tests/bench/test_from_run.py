"""``python -m lossforge.bench --from-run RUN[:RANK|:ID]``: a search's losses re-scored by name."""

from __future__ import annotations

import json

import pytest
import torch

from lossforge.bench.losses import run_objective
from lossforge.errors import ConfigError
from lossforge.objectives import MPOSpec, Objective
from lossforge.search import SearchConfig, run_search


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cfg = SearchConfig(scenario="quick", population=6, generations=1, seed=2, fitness="probe",
                       workers=1, budget="screen")
    return run_search(cfg, runs_root=tmp_path_factory.mktemp("runs"), quiet=True)


def test_rank_and_id_give_the_hall_of_fame_loss(run_dir):
    hof = json.loads((run_dir / "hall_of_fame.json").read_text())["hall_of_fame"]
    x = -torch.rand(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 90
    for k in (0, 1):
        want = Objective(MPOSpec.from_json(hof[k]["spec"]))
        for ref in (f"{run_dir}:{k}", f"{run_dir}:{hof[k]['name']}"):
            got = run_objective(ref)
            assert got.name == hof[k]["name"]
            torch.testing.assert_close(got(*x.unbind(1)), want(*x.unbind(1)), rtol=0, atol=0)
    assert run_objective(str(run_dir)).name == hof[0]["name"]    # no suffix: the best


def test_bad_references_are_clear_errors(run_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"--from-run .*:999: .*no rank 999 \(0 = best\)"):
        run_objective(f"{run_dir}:999")
    with pytest.raises(ConfigError, match="no loss named 'lf-nope'"):
        run_objective(f"{run_dir}:lf-nope")
    with pytest.raises(Exception, match="missing"):
        run_objective(str(tmp_path))
