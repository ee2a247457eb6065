"""Every zoo member against TRL 1.16's own loss code (the independent reference).

DPO comes out of the MPO family with h = p log p and ORPO with h = binary entropy; the other
members differ only in the link G. Values and gradients are compared per example on random
batches that include summed log-probs near -500 (exp underflows) and mean log-probs near 0.
"""

import math
import zlib

import mpmath
import pytest
import torch

from lossforge import objectives
from trl_reference import trl_cpo_losses, trl_dpo_losses, trl_orpo_losses

B = 12


def _batch(seed: int, lo: float, hi: float):
    g = torch.Generator().manual_seed(seed)
    return [lo + (hi - lo) * torch.rand(B, generator=g, dtype=torch.float64) for _ in range(4)]


def _summed(seed: int = 0):
    """Summed log-probs, half of them around -500 where exp(l) underflows in float64."""
    pc, pr, rc, rr = _batch(seed, -120.0, -1.0)
    pc[: B // 2] -= 400.0
    rc[: B // 2] -= 400.0
    pr[: B // 2] -= 380.0
    rr[: B // 2] -= 380.0
    return pc, pr, rc, rr


def _grads(loss: torch.Tensor, *xs):
    """Gradients w.r.t. xs; an input the loss does not use (sft: rejected) gets zeros."""
    gs = torch.autograd.grad(loss.sum(), xs, allow_unused=True)
    return tuple(torch.zeros_like(x) if g is None else g for g, x in zip(gs, xs))


def _ours_and_trl(name, trl_type, lengths=None, trl_args=None, **overrides):
    obj = objectives.get(name, **overrides)
    pc, pr, rc, rr = _summed(zlib.crc32(name.encode()) % 1000)  # stable across processes
    if lengths is not None:
        n = torch.tensor(lengths, dtype=torch.float64)
    kw = {}
    if obj.aggregation == "mean":  # per-token averages, as TRL's length-normalised types use
        args = (pc / n, pr / n, rc / n, rr / n)
    else:
        args = (pc, pr, rc, rr)
    if obj.needs_lengths:
        kw["chosen_lengths"] = n
    a0 = args[0].clone().requires_grad_(True)
    a1 = args[1].clone().requires_grad_(True)
    ours = obj(a0, a1, args[2], args[3], **kw)
    t0 = pc.clone().requires_grad_(True)
    t1 = pr.clone().requires_grad_(True)
    theirs = trl_dpo_losses(trl_type, t0, t1, rc, rr, overrides.get("beta", obj.spec.beta),
                            completion_lengths=(lengths, lengths) if lengths else None,
                            **(trl_args or {}))
    g_ours = _grads(ours, a0, a1)
    g_trl = _grads(theirs, t0, t1)
    if obj.aggregation == "mean":  # d/d(sum) = d/d(mean) / n
        g_ours = tuple(g / n for g in g_ours)
    return ours.detach(), theirs.detach(), g_ours, g_trl


LENGTHS = [3, 17, 40, 200, 5, 9, 64, 1, 12, 33, 7, 100]


@pytest.mark.parametrize("name,trl_type,lengths,trl_args,overrides,rtol", [
    ("dpo", "sigmoid", None, {}, {}, 1e-13),
    ("dpo", "sigmoid", None, {}, {"beta": 0.5}, 1e-13),
    ("hinge", "hinge", None, {}, {}, 1e-13),
    ("ipo", "ipo", LENGTHS, {}, {}, 1e-10),
    ("sigmoid_norm", "sigmoid_norm", LENGTHS, {}, {}, 1e-12),
    ("robust", "robust", None, {"label_smoothing": 0.1}, {}, 1e-12),
    ("robust", "robust", None, {"label_smoothing": 0.3}, {"eps": 0.3}, 1e-12),
    ("nca_pair", "nca_pair", None, {}, {}, 1e-12),
    ("bco_pair", "bco_pair", None, {}, {}, 1e-12),
    ("sppo_hard", "sppo_hard", None, {}, {}, 1e-10),
    ("apo_zero", "apo_zero", None, {}, {}, 1e-12),
    ("apo_down", "apo_down", None, {}, {}, 1e-12),
    ("discopop", "discopop", None, {"discopop_tau": 0.05}, {}, 1e-12),
    ("rpo", ["sigmoid", "sft"], LENGTHS, {"loss_weights": [1.0, 0.7]}, {"alpha": 0.7}, 1e-12),
    ("sft", "sft", LENGTHS, {}, {}, 1e-12),
    # TRL builds exo's epsilon as a float32 tensor: float32 tolerance
    ("exo_pair", "exo_pair", None, {"label_smoothing": 1e-3}, {}, 1e-6),
])
def test_zoo_member_equals_trl(name, trl_type, lengths, trl_args, overrides, rtol):
    ours, theirs, g_ours, g_trl = _ours_and_trl(name, trl_type, lengths, trl_args, **overrides)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, theirs, rtol=rtol, atol=rtol)
    for a, b in zip(g_ours, g_trl):
        torch.testing.assert_close(a, b, rtol=max(rtol, 1e-12), atol=max(rtol, 1e-14))


@pytest.mark.parametrize("eps", [0.1, 0.25, 0.3])
def test_cdpo_is_bitwise_trl_cpo_sigmoid_with_label_smoothing(eps):
    """cDPO: -(1-eps) logsig(D) - eps logsig(-D). TRL 1.16's CPOTrainer loss_type 'sigmoid'
    with label_smoothing = eps computes exactly this on logits = chosen - rejected, so given
    the log-ratios l - l_ref it is cDPO with TRL's own arithmetic: the values are equal bit for
    bit. The gradients agree to rounding (TRL reaches the margin twice, as 0.1 x and -0.1 x, and
    autograd sums the two paths in another order; where the two terms nearly cancel that shows
    at 1e-13). DPOTrainer 1.16's 'sigmoid' ignores label_smoothing; see the next test."""
    beta = 0.1
    obj = objectives.get("cdpo", eps=eps, beta=beta)
    pc, pr, rc, rr = _summed(11)
    a0, a1 = pc.clone().requires_grad_(True), pr.clone().requires_grad_(True)
    ours = obj(a0, a1, rc, rr)
    t0, t1 = pc.clone().requires_grad_(True), pr.clone().requires_grad_(True)
    theirs = trl_cpo_losses(t0 - rc, t1 - rr, beta, "sigmoid", label_smoothing=eps)
    assert torch.isfinite(ours).all()
    assert torch.equal(ours.detach(), theirs.detach())
    for a, b in zip(_grads(ours, a0, a1), _grads(theirs, t0, t1)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_cdpo_equals_trl_dpo_aot_at_one_pair():
    """DPOTrainer's only cDPO in 1.16 is 'aot' at one pair a call (the sort is the identity);
    it groups the margin as (pc - pr) - (rc - rr), so equal to rounding, not bitwise."""
    ours, theirs, g_ours, g_trl = _ours_and_trl("cdpo", "aot", trl_args={"label_smoothing": 0.2},
                                                eps=0.2)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_ours, g_trl):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_dpo_is_bitwise_trl_at_minus_500():
    """phi~ of p log p compiles to the identity, so the margin is TRL's own arithmetic."""
    ours, theirs, g_ours, g_trl = _ours_and_trl("dpo", "sigmoid")
    assert torch.equal(ours, theirs)
    assert all(torch.equal(a, b) for a, b in zip(g_ours, g_trl))


def test_orpo_equals_trl_odds_ratio_plus_nll():
    """TRL: loss = nll - (beta * logsigmoid(log_odds)); ours: nll + lam * G(D) with
    D = phi~(l_w) - phi~(l_l), phi~ = log-odds. Compared per example at float32 tolerance
    (TRL casts to float32), on mean log-probs in [-3, -0.01]."""
    lam = 0.1
    obj = objectives.get("orpo", lam=lam)
    pc, pr, _, _ = _batch(7, -3.0, -0.01)
    a0, a1 = pc.clone().requires_grad_(True), pr.clone().requires_grad_(True)
    ours = obj(a0, a1)
    t0, t1 = pc.clone().requires_grad_(True), pr.clone().requires_grad_(True)
    ratio, _ = trl_orpo_losses(t0, t1, lam)
    theirs = -t0 - ratio.double()  # per-example NLL of the chosen response is -l_w
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-6, atol=1e-6)
    for a, b in zip(_grads(ours, a0, a1), _grads(theirs, t0, t1)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def _exact_orpo_ratio(lc: float, lr: float, lam: float) -> float:
    with mpmath.workdps(50):
        def logodds(x):
            x = mpmath.mpf(x)
            return x - mpmath.log1p(-mpmath.exp(x))
        z = logodds(lc) - logodds(lr)
        return float(lam * -mpmath.log(1 + mpmath.exp(-z)))


def test_orpo_near_zero_is_at_least_as_accurate_as_trl():
    """For mean log-probs close to 0, TRL's float32 log1p(-exp(l)) loses digits. Ours must be
    within 1e-12 of the 50-digit value and never further from it than TRL."""
    lam = 0.1
    obj = objectives.get("orpo", lam=lam)
    pc = torch.tensor([-1e-7, -3e-6, -1e-4, -0.002, -0.05], dtype=torch.float64)
    pr = torch.tensor([-2e-3, -1e-5, -0.3, -1e-6, -0.04], dtype=torch.float64)
    ours_ratio = -(obj(pc, pr) + pc)  # = lam * logsigmoid(D)
    trl_ratio, _ = trl_orpo_losses(pc, pr, lam)
    for i in range(len(pc)):
        exact = _exact_orpo_ratio(pc[i].item(), pr[i].item(), lam)
        err_ours = abs(ours_ratio[i].item() - exact)
        err_trl = abs(trl_ratio[i].item() - exact)
        assert err_ours <= 1e-12 * max(1.0, abs(exact)), (i, err_ours)
        assert err_ours <= err_trl + 1e-15


def test_simpo_equals_trl_cpo_simpo():
    obj = objectives.get("simpo", beta=2.0, gamma=0.5)
    pc, pr, _, _ = _batch(3, -4.0, -0.01)
    a0, a1 = pc.clone().requires_grad_(True), pr.clone().requires_grad_(True)
    ours = obj(a0, a1)
    t0, t1 = pc.clone().requires_grad_(True), pr.clone().requires_grad_(True)
    theirs = trl_cpo_losses(t0, t1, beta=2.0, loss_type="simpo", simpo_gamma=0.5)
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-12, atol=1e-12)
    for a, b in zip(_grads(ours, a0, a1), _grads(theirs, t0, t1)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_orpo_phi_tilde_is_log_odds_and_dpo_is_identity():
    from lossforge.symbolic.logdomain import L

    assert objectives.get("dpo").mirror_map.phi_tilde == L
    orpo = objectives.get("orpo").mirror_map
    l = torch.tensor([-700.0, -30.0, -1.0, -1e-8, -1e-15], dtype=torch.float64)
    got = orpo.compile()(l)
    with mpmath.workdps(50):
        for x, g in zip(l.tolist(), got.tolist()):
            want = float(mpmath.mpf(x) - mpmath.log1p(-mpmath.exp(mpmath.mpf(x))))
            assert math.isclose(g, want, rel_tol=2e-15, abs_tol=1e-300), (x, g, want)
