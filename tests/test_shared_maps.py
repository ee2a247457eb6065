"""A mirror map is parsed and verified once per distinct formula per process (issue 20): the
search's validation, the objective, its fingerprint, every evaluation and every export share
one ``MirrorMap``."""

from __future__ import annotations

import collections

import pytest
import torch

from lossforge.objectives import MPOSpec, Objective
from lossforge.objectives.neural import NeuralObjective, NeuralSpec
from lossforge.symbolic import mirror_map
from lossforge.symbolic.mirror_map import MirrorMap


@pytest.fixture
def counts(monkeypatch):
    """Counters of map parses and builds and log-domain verifications (by formula text) and
    validity checks (by the checked expression), from an empty cache. A formula is its text:
    two spellings of one map (``(1-p)`` and ``(1 - p)``) are two formulas."""
    mirror_map.clear_shared_maps()
    seen = {"parse": collections.Counter(), "verify": collections.Counter(),
            "check": collections.Counter(), "build": collections.Counter()}
    parse, verify, check = (mirror_map.parse_formula, MirrorMap._verify_log_domain,
                            mirror_map.check_mirror_map)
    build = MirrorMap._build.__func__

    def counting_parse(text, variables, *args, **kwargs):
        seen["parse"][text] += 1
        return parse(text, variables, *args, **kwargs)

    def counting_verify(self, fn):
        seen["verify"][self.source] += 1
        return verify(self, fn)

    def counting_check(expr, *args, **kwargs):
        seen["check"][str(expr)] += 1
        return check(expr, *args, **kwargs)

    def counting_build(cls, expr, source):
        seen["build"][source] += 1
        return build(cls, expr, source)

    monkeypatch.setattr(mirror_map, "parse_formula", counting_parse)
    monkeypatch.setattr(MirrorMap, "_verify_log_domain", counting_verify)
    monkeypatch.setattr(mirror_map, "check_mirror_map", counting_check)
    monkeypatch.setattr(MirrorMap, "_build", classmethod(counting_build))
    yield seen
    mirror_map.clear_shared_maps()


def test_one_formula_is_parsed_and_verified_once(counts):
    specs = [MPOSpec(name=f"m{i}", mirror_map="p*log(p) + (1-p)*log(1-p)", beta=0.1 * (i + 1))
             for i in range(3)]
    objs = [Objective(s) for s in specs] + [Objective(specs[0], check=False)]
    assert counts["parse"] == {"p*log(p) + (1-p)*log(1-p)": 1}
    assert len(counts["verify"]) == 1 and set(counts["verify"].values()) == {1}
    assert sum(counts["check"].values()) == 1
    assert all(o.mirror_map is objs[0].mirror_map for o in objs)
    # the shared map is still this map: h' = log p - log(1 - p), so phi~(l) = l - log(1 - e^l)
    l = torch.tensor([-30.0, -2.0, -1e-3], dtype=torch.float64)
    want = l - torch.log(-torch.expm1(l))
    assert torch.allclose(objs[1].phi_tilde(l), want, rtol=1e-14)


def test_a_different_check_time_limit_is_its_own_report(counts):
    mm = MirrorMap.from_formula("p**2")
    first = mm.check(legendre=False, time_limit_s=0.5)
    assert mm.check(legendre=False, time_limit_s=0.5) is first
    mm.check(legendre=False, time_limit_s=2.0)
    assert sum(counts["check"].values()) == 2


def test_a_probe_search_parses_and_verifies_each_formula_once(counts, tmp_path):
    """The whole path of a search in one process (workers=1): validation of every genome, the
    objectives, their fingerprints, the evaluations (twice: screen rung and final), the run
    directory's exports (a torch file per Pareto loss, pareto.tex)."""
    from lossforge.search import SearchConfig, run_search

    cfg = SearchConfig(scenario="quick", population=10, generations=2, seed=4, fitness="probe",
                       workers=1, budget="screen")
    run_dir = run_search(cfg, runs_root=tmp_path, quiet=True)
    exported = list((run_dir / "losses").glob("*.py"))
    assert exported and (run_dir / "pareto.tex").exists()  # the exports did run
    assert counts["parse"] and counts["verify"] and counts["build"]
    assert max(counts["parse"].values()) == 1, counts["parse"].most_common(3)
    assert max(counts["verify"].values()) == 1, counts["verify"].most_common(3)
    assert max(counts["build"].values()) == 1, counts["build"].most_common(3)


def test_a_neural_objective_builds_no_mirror_map(counts):
    obj = NeuralObjective(NeuralSpec(name="net", hidden=2))
    assert obj.mirror_map is None
    assert not counts["parse"] and not counts["build"] and not counts["verify"]
    # and it is still DPO at its initial parameters (phi~(l) = l)
    pc = torch.tensor([-3.0, -1.0], dtype=torch.float64)
    pr = torch.tensor([-2.0, -4.0], dtype=torch.float64)
    rc = torch.tensor([-2.5, -1.5], dtype=torch.float64)
    rr = torch.tensor([-2.0, -3.0], dtype=torch.float64)
    margin = 0.1 * ((pc - rc) - (pr - rr))
    assert torch.allclose(obj(pc, pr, rc, rr), -torch.nn.functional.logsigmoid(margin),
                          rtol=1e-15)
