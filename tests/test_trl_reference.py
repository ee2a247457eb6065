"""Tests of the TRL harness (tests/trl_reference.py) against values derived by hand in float64."""

import math
from types import SimpleNamespace

import pytest
import torch
from trl.trainer.utils import add_fused_lm_head

from trl_reference import (
    _bare_dpo_trainer,
    _dpo_pair_inputs,
    _run_dpo_pair,
    trl_cpo_losses,
    trl_dpo_losses,
    trl_orpo_losses,
)

F64 = torch.float64
BETA = 0.1


def t64(values):
    return torch.tensor(values, dtype=F64)


def softplus(t: float) -> float:
    """log(1 + e^t) = -log(sigmoid(-t)), by hand."""
    return max(t, 0.0) + math.log1p(math.exp(-abs(t)))


def sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def discopop(z: float, tau: float) -> float:
    return softplus(-z) * (1 - sigmoid(z / tau)) + math.exp(-z) * sigmoid(z / tau)


# Summed policy / reference log-probs spanning -1000 .. -1e-6.
C = [-1e-6, -2.5, -40.0, -1000.0]
R = [-1000.0, -2.0, -45.5, -999.0]
RC = [-3.0, -2.25, -41.0, -998.0]
RR = [-998.5, -1.0, -44.0, -1001.0]


def margins(beta=BETA):
    """beta * [(pi_c - ref_c) - (pi_r - ref_r)] per example."""
    return [beta * ((c - rc) - (r - rr)) for c, r, rc, rr in zip(C, R, RC, RR)]


def run(loss_type, beta=BETA, **kw):
    c = t64(C).requires_grad_()
    r = t64(R).requires_grad_()
    return trl_dpo_losses(loss_type, c, r, t64(RC), t64(RR), beta, **kw), c, r


@pytest.mark.parametrize("value", [-1000.0, -123.456, -1.0, -1e-3, -1e-6])
@pytest.mark.parametrize("length", [1, 3, 7])
def test_trl_sees_the_given_sequence_logps_exactly(value, length):
    chosen, rejected = t64(value), t64(value * 0.37)
    lengths = (length, length + 2)
    _, trainer = _run_dpo_pair("sigmoid", chosen, rejected, t64(-2.0), t64(-1.0), BETA, lengths)
    logged = trainer._metrics["train"]  # what TRL itself summed: chosen_logps.mean().item(), B=1
    assert logged["logps/chosen"] == [value]
    assert logged["logps/rejected"] == [value * 0.37]


def test_sigmoid_values_and_gradients_by_hand():
    losses, c, r = run("sigmoid")
    assert losses.shape == (4,) and losses.dtype == F64
    for got, z in zip(losses.tolist(), margins()):
        assert got == pytest.approx(-math.log(sigmoid(z)), rel=1e-14)
    losses.sum().backward()
    for gc, gr, z in zip(c.grad.tolist(), r.grad.tolist(), margins()):
        assert gc == pytest.approx(-BETA * sigmoid(-z), rel=1e-13)
        assert gr == pytest.approx(BETA * sigmoid(-z), rel=1e-13)


# loss_type -> value from z = beta * delta, a / b = beta * chosen / rejected log-ratio
HAND = {
    "hinge": lambda z, a, b: max(0.0, 1.0 - z),
    "bco_pair": lambda z, a, b: softplus(-a) + softplus(b),
    "nca_pair": lambda z, a, b: softplus(-a) + 0.5 * softplus(a) + 0.5 * softplus(b),
    "sppo_hard": lambda z, a, b: (a / BETA - 0.5 / BETA) ** 2 + (b / BETA + 0.5 / BETA) ** 2,
    "apo_zero": lambda z, a, b: 1.0 - sigmoid(a) + sigmoid(b),
    "apo_down": lambda z, a, b: sigmoid(a) + 1.0 - sigmoid(a - b),
    "discopop": lambda z, a, b: discopop(z, 0.05),
}


@pytest.mark.parametrize("loss_type", sorted(HAND))
def test_other_loss_types_by_hand(loss_type):
    losses, _, _ = run(loss_type)
    for got, z, c, r, rc, rr in zip(losses.tolist(), margins(), C, R, RC, RR):
        want = HAND[loss_type](z, BETA * (c - rc), BETA * (r - rr))
        assert got == pytest.approx(want, rel=1e-13, abs=1e-300)


def test_discopop_tau_reaches_trl():
    losses, _, _ = run("discopop", discopop_tau=2.0)
    assert losses[1].item() == pytest.approx(discopop(margins()[1], 2.0), rel=1e-13)


def test_robust_divides_by_one_minus_two_eps():
    eps = 0.2
    losses, _, _ = run("robust", label_smoothing=eps)
    for got, z in zip(losses.tolist(), margins()):
        want = ((1 - eps) * softplus(-z) - eps * softplus(z)) / (1 - 2 * eps)
        assert got == pytest.approx(want, rel=1e-13)


def test_aot_at_one_pair_is_cdpo_and_sigmoid_rejects_label_smoothing():
    eps = 0.1
    losses, _, _ = run("aot", label_smoothing=eps)
    for got, z in zip(losses.tolist(), margins()):
        assert got == pytest.approx((1 - eps) * softplus(-z) + eps * softplus(z), rel=1e-13)
    with pytest.raises(ValueError, match="ignores label_smoothing"):
        run("sigmoid", label_smoothing=eps)


def test_exo_pair_by_hand_at_float32_constants():
    eps = 1e-3
    losses, _, _ = run("exo_pair", label_smoothing=eps)
    for got, z in zip(losses.tolist(), margins()):
        chosen_term = sigmoid(z) * (-softplus(-z) - math.log1p(-eps))
        rejected_term = sigmoid(-z) * (-softplus(z) - math.log(eps))
        assert got == pytest.approx(chosen_term + rejected_term, rel=1e-6)


@pytest.mark.parametrize("loss_type", ["ipo", "sigmoid_norm"])
def test_length_normalised_types_divide_by_completion_length(loss_type):
    lc, lr = 4, 6
    per_token_c, per_token_r = [-0.25, -3.0], [-0.5, -2.0]  # per-token log-probs of two examples
    c, r = [lc * t for t in per_token_c], [lr * t for t in per_token_r]
    rc, rr = [-1.5, -10.0], [-2.5, -13.0]
    losses = trl_dpo_losses(loss_type, t64(c), t64(r), t64(rc), t64(rr), BETA, (lc, lr))
    for i, got in enumerate(losses.tolist()):
        d = (c[i] - rc[i]) / lc - (r[i] - rr[i]) / lr
        want = (d - 1 / (2 * BETA)) ** 2 if loss_type == "ipo" else softplus(-BETA * d)
        assert got == pytest.approx(want, rel=1e-14)


def test_rpo_is_sigmoid_plus_weighted_token_mean_nll():
    alpha, lc = 0.7, 5
    losses, c, _ = run(["sigmoid", "sft"], loss_weights=[1.0, alpha], completion_lengths=(lc, 2))
    for got, z, ci in zip(losses.tolist(), margins(), C):
        assert got == pytest.approx(softplus(-z) + alpha * (-ci / lc), rel=1e-14)
    losses.sum().backward()
    want_grad = -BETA * sigmoid(-margins()[3]) - alpha / lc
    assert c.grad[3].item() == pytest.approx(want_grad, rel=1e-13)


def test_unknown_trainer_arg_is_rejected():
    with pytest.raises(TypeError, match="not DPOConfig fields"):
        run("sigmoid", rpo_alpha=1.0)  # gone from TRL 1.16; RPO is ["sigmoid", "sft"]


class _TableBackbone(torch.nn.Module):
    def __init__(self, table):
        super().__init__()
        self.table = torch.nn.Parameter(table)

    def forward(self, input_ids, **kwargs):
        return SimpleNamespace(last_hidden_state=self.table)


class _TinyLM(torch.nn.Module):
    """Just enough of a causal LM for TRL's real add_fused_lm_head: the backbone's hidden states
    are a fixed table and the LM head is the identity, so the logits are that table."""

    def __init__(self, table):  # [rows, positions, vocab]
        super().__init__()
        self.config = SimpleNamespace(get_text_config=lambda: SimpleNamespace())
        self.base_model = _TableBackbone(table)
        self.head = torch.nn.Linear(table.shape[-1], table.shape[-1], bias=False)
        torch.nn.init.eye_(self.head.weight)

    def get_output_embeddings(self):
        return self.head


def test_stand_in_matches_trls_real_fused_lm_head():
    """The stand-in keeps the contract of TRL's fused head: same shift, same masking, same sum."""
    lc, lr, token = 3, 5, 7  # _dpo_pair_inputs uses token id 7 for every completion token
    table = torch.randn(2, 1 + max(lc, lr), 11, generator=torch.Generator().manual_seed(0))
    model = _TinyLM(table)
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    ref_c, ref_r = t64([-2.0]), t64([-9.0])
    trainer = _bare_dpo_trainer(model, "sigmoid", BETA)
    inputs = _dpo_pair_inputs(lc, lr, ref_c, ref_r)
    real_loss = trainer._compute_loss(model, inputs, return_outputs=False)

    # By hand: the label at position t + 1 is scored by the logits at position t, and the
    # completion occupies positions 1..L.
    token_logps = torch.log_softmax(table.to(F64), dim=-1)[..., token]
    hand_c, hand_r = token_logps[0, :lc].sum().item(), token_logps[1, :lr].sum().item()
    logged = trainer._metrics["train"]
    assert logged["logps/chosen"][0] == pytest.approx(hand_c, rel=1e-6)  # TRL's head is float32
    assert logged["logps/rejected"][0] == pytest.approx(hand_r, rel=1e-6)

    stand_in = trl_dpo_losses("sigmoid", t64([hand_c]), t64([hand_r]), ref_c, ref_r, BETA, (lc, lr))
    assert stand_in.item() == pytest.approx(real_loss.item(), rel=1e-6)


def test_orpo_odds_ratio_at_a_hand_point():
    c, r, beta = -0.5, -1.2, 0.25  # per-token averaged log-probs
    losses, extra = trl_orpo_losses(t64([c]), t64([r]), beta)
    log_odds = (c - r) - (math.log(1 - math.exp(c)) - math.log(1 - math.exp(r)))
    assert losses.dtype == torch.float32  # TRL casts to float32
    assert losses.item() == pytest.approx(beta * math.log(sigmoid(log_odds)), rel=1e-6)
    assert extra["mean_log_odds"].item() == pytest.approx(log_odds, rel=1e-6)


def test_orpo_gradient_reaches_float64_inputs():
    c = t64([-0.5, -2.0]).requires_grad_()
    losses, _ = trl_orpo_losses(c, t64([-1.2, -0.1]), 0.1)
    losses.sum().backward()
    assert c.grad.dtype == F64 and bool((c.grad > 0).all())


def test_cpo_simpo_and_sigmoid_by_hand():
    c, r, beta, eps = [-0.8, -3.0], [-1.5, -2.0], 2.0, 0.1
    simpo = trl_cpo_losses(t64(c), t64(r), beta, "simpo")  # CPOConfig default simpo_gamma = 0.5
    gamma_1 = trl_cpo_losses(t64(c), t64(r), beta, "simpo", simpo_gamma=1.0)
    smoothed = trl_cpo_losses(t64(c), t64(r), beta, "sigmoid", label_smoothing=eps)
    assert simpo.dtype == F64 and simpo.shape == (2,)
    for i in range(2):
        z = beta * (c[i] - r[i])
        assert simpo[i].item() == pytest.approx(-math.log(sigmoid(z - 0.5)), rel=1e-14)
        assert gamma_1[i].item() == pytest.approx(-math.log(sigmoid(z - 1.0)), rel=1e-14)
        want = (1 - eps) * softplus(-z) + eps * softplus(z)
        assert smoothed[i].item() == pytest.approx(want, rel=1e-14)
