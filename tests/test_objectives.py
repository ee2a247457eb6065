"""The objective interface, temporal awareness, numerics at the extremes, and the op table."""

import math
import pickle

import mpmath
import pytest
import sympy as sp
import torch

from lossforge import MirrorMap, objectives
from lossforge.errors import CheckError, ConfigError, FormulaError
from lossforge.grammar import ops
from lossforge.symbolic.compile import CompileError, compile_torch
from lossforge.objectives.mpo import MPOSpec

X = sp.Symbol("x", real=True)


def _logps(b=6, seed=0, lo=-50.0, hi=-0.5):
    g = torch.Generator().manual_seed(seed)
    return [lo + (hi - lo) * torch.rand(b, generator=g, dtype=torch.float64) for _ in range(4)]


def test_issue_example_end_to_end():
    mm = MirrorMap.from_formula("p*log(p)")
    assert mm.check().convex.status == "proved"
    mine = objectives.from_mirror_map(mm, beta=0.1, reference=True)
    dpo = objectives.get("dpo", beta=0.1)
    pc, pr, rc, rr = _logps()
    assert torch.equal(mine(pc, pr, rc, rr), dpo(pc, pr, rc, rr))
    assert mine(pc, pr, rc, rr).shape == (6,)


def test_dpo_value_by_hand():
    """-log sigmoid(beta((pc-rc)-(pr-rr))) with math.* in float64."""
    pc, pr, rc, rr = -10.0, -12.0, -11.0, -11.5
    z = 0.5 * ((pc - rc) - (pr - rr))
    want = math.log1p(math.exp(-z))
    got = objectives.get("dpo", beta=0.5)(*(torch.tensor([v], dtype=torch.float64)
                                            for v in (pc, pr, rc, rr)))
    assert math.isclose(got.item(), want, rel_tol=1e-15)


def test_missing_reference_and_progress_are_errors():
    pc, pr, rc, rr = _logps()
    with pytest.raises(ValueError, match="needs reference"):
        objectives.get("dpo")(pc, pr)
    ta = objectives.from_mirror_map("p*log(p)", w_pref="t", imitation="-l", w_sft="1 - t")
    assert ta.temporal
    with pytest.raises(ValueError, match="progress"):
        ta(pc, pr, rc, rr)


def test_temporally_aware_loss_moves_from_sft_to_preference():
    """TA-MPO: w_sft = 1 - t, w_pref = t: at t=0 the loss is the NLL, at t=1 pure DPO."""
    ta = objectives.from_mirror_map("p*log(p)", beta=0.1, w_pref="t", imitation="-l",
                                    w_sft="1 - t")
    dpo = objectives.get("dpo", beta=0.1)
    pc, pr, rc, rr = _logps()
    torch.testing.assert_close(ta(pc, pr, rc, rr, progress=0.0), -pc, rtol=0, atol=0)
    torch.testing.assert_close(ta(pc, pr, rc, rr, progress=1.0), dpo(pc, pr, rc, rr))
    mid = ta(pc, pr, rc, rr, progress=0.25)
    torch.testing.assert_close(mid, 0.25 * dpo(pc, pr, rc, rr) + 0.75 * (-pc))


def test_invalid_mirror_map_is_refused_with_the_reason():
    with pytest.raises(CheckError, match="not valid"):
        objectives.from_mirror_map("sin(p)")
    with pytest.raises(FormulaError, match="link"):
        objectives.from_mirror_map("p*log(p)", link="-logsigmoid(D) + nosuch(D)")
    with pytest.raises(ConfigError, match="no field or parameter"):
        objectives.get("dpo", gamma=1.0)
    with pytest.raises(ConfigError, match="unknown objective"):
        objectives.get("nope")
    with pytest.raises(ConfigError, match="beta"):
        MPOSpec(beta=-1.0)


def test_objectives_pickle_as_their_spec():
    """Process pools send objectives to workers; they must arrive identical."""
    pc, pr, rc, rr = _logps()
    for name in ["dpo", "orpo", "discopop"]:
        obj = objectives.get(name)
        clone = pickle.loads(pickle.dumps(obj))
        args = (pc / 40, pr / 40, rc / 40, rr / 40) if obj.aggregation == "mean" else (pc, pr, rc, rr)
        assert torch.equal(obj(*args), clone(*args))
        assert MPOSpec.from_json(obj.spec.to_json()) == obj.spec


# Members whose loss rises with l_w somewhere on the probe batch, each derived by hand:
NOT_MONOTONE = {
    # cDPO: G'(D) = -(1-eps) s(-D) + eps s(D) > 0 beyond D = log((1-eps)/eps) = 2.197 (eps 0.1);
    # row 5: D = 0.1 * (10 + 15) = 2.5, G' = -0.9 * 0.0759 + 0.1 * 0.9241 = 0.024
    "cdpo",
    # G'(0) = -1/4 - s(0)/(4 tau) - 1/2 + 1/(4 tau) = -0.75 - 3.4657 + 5 = 0.784 > 0 (tau = 0.05)
    "discopop",
    # L = sigma(r_w) + 1 - sigma(D): the first term grows with r_w by design ("push chosen down")
    "apo_down",
    # d/dr_w [-log s(r_w) - log s(-r_w)/2] = -s(-r_w) + s(r_w)/2 > 0 once r_w > log 2 (row 5: r_w = 1)
    "nca_pair",
    # (r_w/beta - 1/(2 beta))**2 grows once the chosen log-ratio exceeds 5 (row 5: 10)
    "sppo_hard",
}


@pytest.mark.parametrize("name", objectives.names())
def test_smoke_probe_finite_and_monotone_where_the_link_decreases(name):
    """Probe batch of mpo.md (l near 0 and l = -1e3): finite values and gradients of the right
    shape for every zoo member; raising l_w never raises the loss except for NOT_MONOTONE."""
    from lossforge.objectives.smoke import smoke_test

    report = smoke_test(objectives.get(name))
    assert report.ok, report
    assert report.monotone is (name not in NOT_MONOTONE), report
    # the detail names training progress only for a temporal loss (none of the zoo is)
    assert "t=" not in report.detail and (report.monotone or "dL/dl_w > 0" in report.detail)


def test_smoke_detail_names_progress_only_for_a_temporal_loss():
    """A link whose slope flips sign with t: G = (1 - 2t) * softplus(-D) raises the loss as
    l_w grows once t > 1/2 (dG/dD = -(1 - 2t) sigma(-D) > 0), so only t = 1 of the probe points
    0, 0.5, 1 is non-monotone (at t = 0.5, G = 0 and the gradient is 0)."""
    from lossforge.objectives.mpo import MPOSpec, Objective
    from lossforge.objectives.smoke import smoke_test

    report = smoke_test(Objective(MPOSpec(link="(1 - 2*t)*softplus(-D)")))
    assert not report.monotone
    assert report.detail.endswith(" at t=1") and report.detail.count("dL/dl_w > 0") == 1


def test_compiled_expressions_have_correct_values_and_gradients():
    """compile_torch against SymPy evaluation and torch.autograd.gradcheck."""
    exprs = [X * sp.log(1 + X**2), sp.exp(-X) / (1 + X**2), ops.Softplus(X) - ops.Sigmoid(2 * X),
             sp.sqrt(1 + X**2) * sp.tanh(X), ops.LogSigmoid(3 * X) + X**3 / 7]
    xs = torch.tensor([-2.3, -0.4, 0.0, 0.9, 3.1], dtype=torch.float64)
    for e in exprs:
        fn = compile_torch(e, [X])
        got = fn(xs)
        for x, g in zip(xs.tolist(), got.tolist()):
            want = float(ops.to_elementary(e).subs(X, sp.Rational(x)).evalf(30))
            assert math.isclose(g, want, rel_tol=1e-13, abs_tol=1e-15), (e, x)
        assert torch.autograd.gradcheck(fn, (xs.clone().requires_grad_(True),))


def test_compile_refuses_what_the_op_table_lacks():
    with pytest.raises(CompileError, match="gamma"):
        compile_torch(sp.gamma(X), [X])
    with pytest.raises(CompileError, match="free symbols"):
        compile_torch(X + sp.Symbol("y"), [X])


def test_log1mexp_is_accurate_over_its_range():
    xs = torch.tensor([-745.0, -700.0, -40.0, -1.0, -0.6931, -0.69315, -1e-3, -1e-10, -1e-15],
                      dtype=torch.float64)
    got = ops.torch_log1mexp(xs)
    with mpmath.workdps(50):
        for x, g in zip(xs.tolist(), got.tolist()):
            want = float(mpmath.log1p(-mpmath.exp(mpmath.mpf(x))))  # no cancellation in 1 - e^x
            assert math.isclose(g, want, rel_tol=4e-16, abs_tol=1e-320), (x, g, want)


def test_op_table_validation_catches_a_wrong_torch_form():
    broken = ops.Op("bad_exp", 1, sp.exp, torch.expm1, r"e^{{{0}}}", (ops.REAL,))
    with pytest.raises(AssertionError, match="bad_exp"):
        ops.validate_op_table(ops.OPS + (broken,))
    dup = ops.Op("log", 1, sp.log, torch.log, r"\log {0}", (ops.POS,))
    with pytest.raises(AssertionError, match="duplicate op names"):
        ops.validate_op_table(ops.OPS + (dup,))


def test_latex_blocks_are_balanced_and_name_every_part():
    for name in ["dpo", "orpo", "discopop", "rpo"]:
        tex = objectives.get(name).latex()
        assert tex.count("{") == tex.count("}") and tex.count(r"\left") == tex.count(r"\right")
        for part in [r"\tilde\phi", r"\Delta", r"\mathcal{L}", "h(p)"]:
            assert part in tex
    doc = objectives.get("orpo").latex_document()
    assert doc.startswith("\\documentclass") and doc.rstrip().endswith("\\end{document}")
    assert r"\phi^{-1}(p)" in doc
    block = MirrorMap.from_formula("p*log(p) + (1-p)*log(1-p)").latex_block()
    assert r"\log\left(1 - e^{\ell}\right)" in block


def test_rewards_are_beta_times_the_phi_tilde_difference():
    """Objective.rewards against hand-computed rewards: DPO beta (l - l_ref); ORPO (reference
    free) beta * log-odds, log-odds = l - log(1 - e^l) in float64 math."""
    import math

    from lossforge.objectives import get

    x = torch.tensor([[-3.0, -4.0, -3.5, -3.2]], dtype=torch.float64)
    rw, rl = get("dpo").rewards(*x.unbind(1))
    assert rw.item() == pytest.approx(0.1 * (-3.0 + 3.5), rel=1e-15)
    assert rl.item() == pytest.approx(0.1 * (-4.0 + 3.2), rel=1e-15)
    orpo = get("orpo")
    rw, rl = orpo.rewards(x[:, 0], x[:, 1])
    odds = lambda v: v - math.log(1 - math.exp(v))  # noqa: E731
    assert rw.item() == pytest.approx(orpo.spec.beta * odds(-3.0), rel=1e-12)
    assert rl.item() == pytest.approx(orpo.spec.beta * odds(-4.0), rel=1e-12)
