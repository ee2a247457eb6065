"""A map whose phi~ is linear in l is DPO at a scaled beta (``zoo.known_as``), and the search's
output says so: D = beta [(phi~(l_w) - phi~(l_ref,w)) - (phi~(l_l) - phi~(l_ref,l))] with
phi~(l) = a l + c is beta a [(l_w - l_ref,w) - (l_l - l_ref,l)], DPO's margin at beta a."""

from __future__ import annotations

import pytest
import torch

from lossforge.objectives import MPOSpec, Objective, get
from lossforge.objectives.zoo import get_spec, known_as


@pytest.mark.parametrize("spec,expected", [
    (MPOSpec("a", "18*p*log(p)", 0.1), ("dpo", 1.8)),                 # phi~ = 18 l
    (MPOSpec("b", "9*p*log(p)/2 + 3*p - 1", 0.2), ("dpo", 0.9)),      # + a linear h term
    (MPOSpec("c", "p*log(p)", 0.1, aggregation="mean"), ("sigmoid_norm", 0.1)),
    (MPOSpec("d", "p*log(p) + p**2", 0.1), None),                     # phi~ = l + 2 e^l
    (MPOSpec("e", "2*p*log(p)", 0.1, link="relu(1 - D)"), None),      # hinge's link
    (MPOSpec("f", "2*p*log(p)", 0.1, imitation="-l"), None),          # an imitation term
    (MPOSpec("g", "2*p*log(p)", 0.1, reference=False), None),         # reference-free
    (get_spec("orpo"), None),
    # DPO's link written another way, or at a scaled margin: G(D) = -logsigmoid(k D) + const
    # (the link grammar spells DPO softplus(-D); they were not recognised, compared as text)
    (MPOSpec("h", "p*log(p)", 0.1, link="softplus(-D)"), ("dpo", 0.1)),
    (MPOSpec("i", "p*log(p)", 0.1, link="softplus(-4*D)"), ("dpo", 0.4)),
    (MPOSpec("j", "2*p*log(p)", 0.1, link="log(1 + exp(-D/2)) + 3"), ("dpo", 0.1)),
    (MPOSpec("k", "p*log(p)", 0.1, link="softplus(-D)", imitation="0"), ("dpo", 0.1)),
    (MPOSpec("m", "p*log(p)", 0.1, link="sigmoid(-D)"), None),        # a bounded link
    (MPOSpec("n", "p*log(p)", 0.1, link="softplus(-D) + t"), None),   # uses t: not constant
    (MPOSpec("o", "p*log(p)", 0.1, link="softplus(D)"), None),        # k = -1: anti-DPO
    (MPOSpec("q", "p*log(p)", 0.1, w_pref="2"), None),                # weighted: another lr
    # written in the rewards, D = rw - rl (was None: only links in D alone were read)
    (MPOSpec("r", "p*log(p)", 0.1, link="-logsigmoid(rw - rl)"), ("dpo", 0.1)),
    (MPOSpec("s", "p*log(p)", 0.1, link="softplus(2*rl - 2*rw) + 1"), ("dpo", 0.2)),
    (MPOSpec("u", "p*log(p)", 0.1, link="-logsigmoid(rw)"), None),    # not a function of D
    (MPOSpec("v", "p*log(p)", 0.1, link="-logsigmoid(D) + rw - rl"), None),  # G + D
])
def test_known_as_by_hand(spec, expected):
    hit = known_as(spec)
    if expected is None:
        assert hit is None
    else:
        assert hit[0] == expected[0] and hit[1] == pytest.approx(expected[1], rel=1e-12)
    assert known_as(spec.to_json()) == hit                            # a run's stored spec


@pytest.mark.parametrize("spec", [
    {"name": "x", "mirror_map": "foo(p)"},                        # a function the grammar lacks
    {"name": "x", "mirror_map": "p*log(p) + l"},                  # both p and l
    {"name": "x", "mirror_map": "p*log(p)", "colour": "red"},     # a field no spec has
    {"kind": "neural", "name": "x"},
])
def test_what_known_as_cannot_read_is_not_a_known_member(spec):
    """An annotation: a spec it cannot read is simply not one (search show never fails on it)."""
    assert known_as(spec) is None


def test_a_linear_phi_map_trains_as_the_zoo_member_it_is_said_to_be():
    """The claim checked on numbers: the loss and its gradient equal the zoo's DPO at the beta
    ``known_as`` names (the zoo's DPO is checked against TRL in test_objectives_trl.py)."""
    spec = MPOSpec("x", "9*p*log(p)/2 + 3*p", 0.2)
    name, beta = known_as(spec)
    torch.manual_seed(0)
    args = [(-200 * torch.rand(64, dtype=torch.float64)).requires_grad_() for _ in range(4)]
    mine, zoo = Objective(spec)(*args), get(name, beta=beta)(*args)
    assert torch.allclose(mine, zoo, rtol=1e-12, atol=1e-12)
    g1 = torch.autograd.grad(mine.sum(), args)
    g2 = torch.autograd.grad(zoo.sum(), args)
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in zip(g1, g2))


@pytest.mark.parametrize("link,shift", [("softplus(-4*D)", 0.0), ("log(1 + exp(-D/2)) + 3", 3.0),
                                        ("softplus(2*rl - 2*rw) + 1", 1.0)])
def test_a_scaled_link_trains_as_the_dpo_it_is_said_to_be(link, shift):
    """The scaled-link claim on numbers: loss (up to the constant) and gradients equal the
    zoo's DPO at the beta named."""
    spec = MPOSpec("x", "2*p*log(p)", 0.1, link=link)
    name, beta = known_as(spec)
    torch.manual_seed(1)
    args = [(-200 * torch.rand(64, dtype=torch.float64)).requires_grad_() for _ in range(4)]
    mine, zoo = Objective(spec)(*args), get(name, beta=beta)(*args)
    assert torch.allclose(mine - shift, zoo, rtol=1e-12, atol=1e-12)
    g1 = torch.autograd.grad(mine.sum(), args)
    g2 = torch.autograd.grad(zoo.sum(), args)
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in zip(g1, g2))


def test_show_says_a_found_loss_is_dpo(tmp_path, capsys):
    """``search show`` of a run whose best loss is 18 p log p prints '= DPO at beta 1.8'."""
    from lossforge.search.summary import _say_known
    from rich.console import Console

    console = Console(file=open(tmp_path / "out.txt", "w"), width=200)
    _say_known(console, {"spec": MPOSpec("lf-x", "18*p*log(p)", 0.1).to_json()}, "  ")
    _say_known(console, {"spec": MPOSpec("lf-y", "p*log(p) + p**2", 0.1).to_json()}, "  ")
    _say_known(console, {"spec": MPOSpec("lf-z", "p*log(p)", 0.1,
                                         link="softplus(-3*D)").to_json()}, "  ")
    console.file.close()
    assert (tmp_path / "out.txt").read_text() == (
        "  = DPO at beta 1.8, exactly (phi~ is linear in l): not a new loss\n"
        "  = DPO at beta 0.3, exactly (phi~ is linear in l; its link is the logistic one up to "
        "the margin's scale): not a new loss\n")


def test_the_link_proof_runs_only_for_a_linear_phi(monkeypatch):
    """Most found maps are not linear in l; the link proof (up to 5 s of SymPy) ran for them
    all before the cheap slope check, and a report asks for every row."""
    from lossforge.objectives import zoo

    def no_proof(*args):
        raise AssertionError("proved the link of a map that cannot be DPO")

    monkeypatch.setattr(zoo, "_link_scale", no_proof)
    assert known_as(MPOSpec("x", "p*log(p) + p**2", 0.1, link="softplus(-2*D)")) is None


def test_an_answer_off_the_main_thread_is_not_remembered_for_it():
    """Off the main thread no time limit can be set, so only DPO's own link text is read;
    that "no" must not stick for the main thread, which can prove softplus(-5*D)."""
    import threading

    spec = MPOSpec("x", "p*log(p)", 0.1, link="softplus(-5*D)")
    seen = []
    worker = threading.Thread(target=lambda: seen.append(known_as(spec)))
    worker.start()
    worker.join()
    assert seen == [None]
    hit = known_as(spec)
    assert hit[0] == "dpo" and hit[1] == pytest.approx(0.5, rel=1e-12)
