"""The zoo's shortcut baselines (length_sft, zero_pref, sft) as objectives: values and gradients
by hand, and the horizon-sized default of length_sft's c."""

import torch

from lossforge import objectives
from lossforge.bench.losses import build_objectives
from lossforge.bench.scenarios import load_scenario
from lossforge.objectives.smoke import smoke_test
from lossforge.objectives.zoo import SHORTCUTS, horizon_defaults


def test_length_sft_is_sft_on_long_chosen_segments_only():
    """-[n >= c] l: gradient 0 below c, -1 (SFT's on summed log-probs) from c on."""
    c = 150
    obj = objectives.get("length_sft", c=c)
    sft = objectives.get("sft", aggregation="sum")
    n = torch.tensor([1.0, 31.0, 148.0, 149.0, 150.0, 151.0, 173.0, 200.0], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    l = (-1000.0 * torch.rand(len(n), generator=g, dtype=torch.float64)).requires_grad_(True)
    rejected = torch.full_like(l, -50.0).requires_grad_(True)
    loss = obj(l, rejected, chosen_lengths=n)
    grad_l, grad_r = torch.autograd.grad(loss.sum(), (l, rejected), allow_unused=True)
    long = n >= c
    want = torch.where(long, -1.0, 0.0).to(torch.float64)  # by hand: d(-[n>=c] l)/dl
    assert torch.equal(grad_l, want)
    assert grad_r is None or torch.equal(grad_r, torch.zeros_like(l))  # no preference term
    assert torch.equal(loss.detach()[long], -l.detach()[long])
    assert torch.equal(loss.detach()[~long], torch.zeros(int((~long).sum()), dtype=torch.float64))
    # on long segments the gradient is SFT's (same aggregation), bit for bit
    l2 = l.detach().clone().requires_grad_(True)
    (grad_sft,) = torch.autograd.grad(sft(l2, rejected.detach()).sum(), l2)
    assert torch.equal(grad_l[long], grad_sft[long])


def test_length_sft_c_defaults_to_three_quarters_of_the_horizon():
    assert horizon_defaults("length_sft", 200) == {"c": 150.0}
    assert horizon_defaults("length_sft", 150) == {"c": 113.0}  # rounded up to a whole step
    assert horizon_defaults("dpo", 200) == {}
    quick = load_scenario("quick")  # H = 100
    (default, mine, dpo) = build_objectives("length_sft,length_sft:c=30,dpo", quick)
    assert default.spec.params["c"] == 75.0 and mine.spec.params["c"] == 30.0
    assert default.name == "length_sft" and mine.name == "length_sft[c=30]"
    assert dpo.spec.beta == quick.beta and dpo.spec.params == {}


def test_zero_pref_is_a_zero_loss_the_smoke_test_accepts():
    obj = objectives.get("zero_pref")
    pc = torch.tensor([-3.0, -500.0], dtype=torch.float64)
    assert torch.equal(obj(pc, pc - 1), torch.zeros(2, dtype=torch.float64))
    report = smoke_test(obj)  # a loss without a graph has gradient 0 (it raised before)
    assert report.ok and report.monotone, report


def test_shortcuts_are_zoo_members():
    assert set(SHORTCUTS) <= set(objectives.names())
    assert {"sft", "length_sft", "zero_pref"} == set(SHORTCUTS)
    assert "cdpo" in objectives.names() and "cdpo" not in SHORTCUTS
