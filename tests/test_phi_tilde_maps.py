"""Mirror maps written as phi~(l) (a formula in the log-probability l) and the phi_tilde grammar.

References: hand-derived antiderivatives (h(p) whose h' is the given phi~(log p)), the h(p)
forms of DPO and ORPO from the zoo (tests/test_objectives_trl.py checks those against TRL), a
hand-written torch loss, and finite differences for the grammar's monotonicity.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from lossforge.errors import CheckError, FormulaError
from lossforge.grammar.loader import load_grammar
from lossforge.grammar.trees import generate
from lossforge.objectives import MPOSpec, Objective, get
from lossforge.objectives.mpo import from_mirror_map
from lossforge.search import checkpoint, run_search
from lossforge.search.candidates import Candidate, tree_to_mirror_map, validate
from lossforge.search.engine import SearchConfig
from lossforge.symbolic.checks import FAILED, PROVED
from lossforge.symbolic.mirror_map import MirrorMap

REPO = Path(__file__).resolve().parents[1]
PHI = REPO / "grammars" / "phi_tilde.toml"

# (phi~(l), an h(p) with h'(p) = phi~(log p) + const, derived by hand)
PAIRS = [
    ("l", "p*log(p)"),                                       # DPO (h' = log p + 1)
    ("l - log1mexp(l)", "p*log(p) + (1 - p)*log(1 - p)"),    # ORPO's log-odds
    ("-l**2", "-p*(log(p)**2 - 2*log(p) + 2)"),              # h' = -log(p)^2
    ("exp(l)", "p**2/2"),                                    # h' = p
]
# l >= -30: where compile() verifies the h forms against 40 digits. (The h form of -l**2 keeps
# p * (2 log(p)/p - 2/p) from SymPy's derivative and is NaN at l = -900, exp(-l) * exp(l); the
# phi~ form has no such term: one reason to write maps as phi~.)
L_GRID = torch.tensor([-30.0, -12.0, -5.0, -0.7, -1e-3], dtype=torch.float64)


@pytest.mark.parametrize("phi,h", PAIRS)
def test_phi_form_and_h_form_are_the_same_map(phi, h):
    a, b = MirrorMap.from_formula(phi), MirrorMap.from_formula(h)
    assert a.order == 1 and b.order == 2
    assert a.semantic_hash() == b.semantic_hash()       # h'' agrees at fixed points
    fa, fb = a.compile(), b.compile()
    diff = fa(L_GRID) - fb(L_GRID)                      # equal up to the dropped constant
    torch.testing.assert_close(diff, diff[-1].expand_as(diff), rtol=0, atol=1e-9)
    assert torch.isfinite(fa(torch.tensor([-900.0, -2000.0], dtype=torch.float64))).all()
    ra, rb = a.check(), b.check()
    assert ra.valid and rb.valid
    assert ra.legendre.holds == rb.legendre.holds


def test_objective_of_a_phi_form_is_the_hand_written_loss():
    """-sqrt(-l) has no elementary antiderivative in p; its loss is written out by hand."""
    obj = from_mirror_map("-sqrt(-l)", beta=0.3)
    g = torch.Generator().manual_seed(1)
    x = (-torch.rand(32, 4, generator=g, dtype=torch.float64) * 800 - 1).requires_grad_(True)
    pc, pr, rc, rr = x.unbind(1)

    def phi(v):
        return -torch.sqrt(-v)

    want = -torch.nn.functional.logsigmoid(0.3 * ((phi(pc) - phi(rc)) - (phi(pr) - phi(rr))))
    got = obj(pc, pr, rc, rr)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    (ga,) = torch.autograd.grad(got.sum(), x)
    (gb,) = torch.autograd.grad(want.sum(), x)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)
    spec = MPOSpec.from_json(json.loads(json.dumps(obj.spec.to_json())))
    torch.testing.assert_close(Objective(spec)(pc, pr, rc, rr), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("phi,status,holds", [
    ("-sqrt(-l)", PROVED, True),
    ("l + softplus(l + 100)", PROVED, True),
    ("l**2", FAILED, False),            # decreasing for l < 0
    ("sin(l)", FAILED, False),
    ("relu(l + 1)", FAILED, False),     # not differentiable (kink at l = -1)
])
def test_checks_run_one_derivative_lower(phi, status, holds):
    report = MirrorMap.from_formula(phi).check()
    assert (report.convex.status, report.convex.holds) == (status, holds), report.convex
    if not holds:
        assert report.convex.witness is not None and 0 < report.convex.witness < 1
        with pytest.raises(CheckError, match="not valid"):
            MirrorMap.from_formula(phi).require_valid()


def test_legendre_of_phi_forms():
    """Legendre: h'(p) = phi~(log p) -> -oo as p -> 0+, i.e. phi~(l) -> -oo as l -> -oo."""
    assert MirrorMap.from_formula("-log(-l)").check().legendre.holds     # -log(-l) -> -oo
    assert MirrorMap.from_formula("-sqrt(-l)").check().legendre.holds
    assert not MirrorMap.from_formula("exp(l)").check().legendre.holds   # h' = p -> 0
    assert not MirrorMap.from_formula("tanh(l)").check().legendre.holds  # bounded below


def test_mixing_p_and_l_is_an_error():
    with pytest.raises(FormulaError, match="both p and l"):
        MirrorMap.from_formula("p*l")


def test_every_phi_tilde_tree_is_increasing_in_l():
    """300 random trees: phi~ is non-decreasing on a grid over summed and mean log-probs."""
    g = load_grammar(PHI)
    rng = random.Random(0)
    grid = torch.tensor(-np.logspace(3.3, -3, 400), dtype=torch.float64)   # -2000 ... -1e-3
    for _ in range(300):
        mm = tree_to_mirror_map(g, generate(g, rng))
        assert mm.order == 1
        with np.errstate(all="ignore"):
            v = mm.compile(verify=False)(grid)
        ok = torch.isfinite(v[1:]) & torch.isfinite(v[:-1])
        steps = (v[1:] - v[:-1])[ok]
        assert (steps >= -1e-9 * (1 + v[1:][ok].abs())).all(), mm.formula


@pytest.mark.parametrize("name", ["dpo", "orpo"])
def test_seed_trees_are_the_zoo_maps(name):
    g = load_grammar(PHI)
    res = validate(g, g.seeds[name], beta=0.1)
    assert isinstance(res, Candidate), res
    mine = MirrorMap.from_formula(res.spec["mirror_map"])
    assert mine.semantic_hash() == get(name).mirror_map.semantic_hash()


def test_search_over_phi_tilde_grammar_gives_callable_formulas_in_l(tmp_path):
    cfg = SearchConfig(scenario="quick", grammar=str(PHI), population=8, generations=2, seed=3,
                       fitness="probe", workers=1, budget="screen")
    run = run_search(cfg, runs_root=tmp_path, quiet=True)
    state = checkpoint.load(run)
    formulas = [rec["spec"]["mirror_map"] for rec in state["losses"].values() if "spec" in rec]
    assert formulas and all(MirrorMap.from_formula(f).order == 1 for f in formulas)
    assert len(set(formulas)) > 2
    from lossforge.objectives import from_run
    obj = from_run(run)
    x = torch.full((3,), -200.0, dtype=torch.float64)
    assert torch.isfinite(obj(x, x - 5, x, x)).all()
