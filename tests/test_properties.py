"""Properties of a loss's link in the margin D (lossforge/objectives/properties.py) against
closed forms derived by hand. sigma(x) = 1/(1 + e^-x), sigma' = sigma(x) sigma(-x);
d/dD log sigma(D) = sigma(-D), d/dD log sigma(-D) = -sigma(D)."""

import math

import pytest

from lossforge.errors import ConfigError
from lossforge.objectives import get_spec
from lossforge.objectives.mpo import MPOSpec
from lossforge.objectives.properties import (REQUIREMENTS, Properties, check_requirements,
                                           properties)


def sig(x):
    return 1 / (1 + math.exp(-x))


#: SymPy's limits take about a second on a loaded 2-core machine: a generous limit keeps the
#: symbolic tails (what these tests compare with) from falling back to sampling
LIMIT_S = 10.0


def props(link, **kw):
    return properties(MPOSpec(link=link, **kw), time_limit_s=LIMIT_S)


def test_dpo():
    # G = -log sigma(D): G' = -sigma(-D) in (-1, 0); -> -1 at -inf (not redescending), -> 0
    # at +inf with G -> 0; sup |G'| = 1
    p = properties(get_spec("dpo"), time_limit_s=LIMIT_S)
    assert (p.ranking.status, p.ranking.holds) == ("proved", True)
    assert (p.bounded_gradient.status, p.gradient_bound) == ("proved", 1.0)
    assert (p.redescending.status, p.redescending.holds) == ("failed", False)
    assert "G' -> -1" in p.tail_minus and "linear" in p.tail_minus
    assert p.tail_plus == "G -> 0, G' -> 0"
    assert (p.reference, p.length, p.temporal) == (True, False, False)
    assert p.line() == ("properties: ranking-preserving proved · |dG/dD| <= 1 proved · "
                        "D->-inf: G ~ -1*D (linear), G' -> -1: not redescending · "
                        "D->+inf: G -> 0, G' -> 0 · reference: needed · length: unused")


def test_hinge_and_unhinged():
    # relu(1 - D): G' = -1 below 1, 0 above: non-increasing, |G'| <= 1, |G'(-1e4)| = 1
    h = props("relu(1 - D)")
    assert h.ranking.status == "proved" and h.gradient_bound == 1.0
    assert (h.redescending.status, h.redescending.holds) == ("failed", False)
    assert h.tail_minus == "G ~ -1*D (linear), G' -> -1"    # G = 1 - D for D < 1
    assert h.tail_plus == "G -> 0, G' -> 0"                 # G = 0 for D > 1
    # -D: G' = -1 everywhere: bounded gradient (constant) although G is unbounded below
    u = props("-D")
    assert u.ranking.status == "proved" and u.bounded_gradient.holds and u.gradient_bound == 1
    assert not u.redescending.holds
    assert u.tail_plus == "G ~ -1*D (linear), G' -> -1"


def test_ipo_not_ranking_preserving():
    # beta = 0.1: G = (10 D - 5)^2, G' = 200 D - 100 > 0 exactly when D > 1/2; G' -> -oo
    p = properties(get_spec("ipo"), time_limit_s=LIMIT_S)
    assert p.ranking.status == "failed" and not p.ranking.holds
    w = p.ranking.witness
    assert w > 0.5 and 200 * w - 100 > 0
    assert p.bounded_gradient.status == "failed" and p.gradient_bound is None
    assert p.tail_minus == "G' -> -oo" and p.tail_plus == "G' -> oo"
    assert not p.redescending.holds


def test_sigmoid_link_is_redescending():
    # G = sigma(-D): G' = -sigma(D) sigma(-D), max |G'| = 1/4 at D = 0; G' -> 0 at both ends,
    # G -> 1 at -inf
    p = props("sigmoid(-D)")
    assert p.ranking.status == "proved" and p.gradient_bound == 0.25
    assert (p.redescending.status, p.redescending.holds) == ("proved", True)
    assert p.tail_minus == "G -> 1, G' -> 0"


def test_conservative_dpo_is_not_ranking_preserving():
    # cDPO: G = -(1-e) log sigma(D) - e log sigma(-D), e = 0.1:
    # G' = -(1-e) sigma(-D) + e sigma(D) > 0  <=>  e^D > (1-e)/e = 9  <=>  D > log 9
    p = props("-(1 - eps)*logsigmoid(D) - eps*logsigmoid(-D)", params={"eps": 0.1})
    assert p.ranking.status == "failed"
    w = p.ranking.witness
    assert w > math.log(9) and -0.9 * sig(-w) + 0.1 * sig(w) > 0
    assert "G' -> 1/10" in p.tail_plus and "G' -> -9/10" in p.tail_minus


def test_robust_dpo_is_ranking_preserving():
    # rDPO (TRL 'robust'): G = (-(1-e) log sigma(D) + e log sigma(-D)) / (1 - 2e), e = 0.1:
    # G' = -((1-e) sigma(-D) + e sigma(D)) / (1-2e) < 0; |G'| decreases in D from
    # (1-e)/(1-2e) = 9/8 (D -> -inf) to e/(1-2e) = 1/8 (D -> +inf): never vanishes
    p = properties(get_spec("robust", eps=0.1), time_limit_s=LIMIT_S)
    assert p.ranking.status == "proved"
    assert p.bounded_gradient.status == "proved" and p.gradient_bound >= 9 / 8
    assert "G' -> -9/8" in p.tail_minus and "G' -> -1/8" in p.tail_plus
    assert not p.redescending.holds


def test_orpo_and_rpo():
    # ORPO: lam * -log sigma(D) with lam = 0.1 -> |dG~/dD| <= 0.1; no reference; Psi = -l
    o = properties(get_spec("orpo"), time_limit_s=LIMIT_S)
    assert o.ranking.status == "proved" and o.gradient_bound == pytest.approx(0.1)
    assert (o.reference, o.length) == (False, False)
    assert o.holds("reference-free") and o.holds("length-free")
    # RPO's imitation term -l/n reads the length
    r = properties(get_spec("rpo"))
    assert r.length and not r.holds("length-free") and not r.holds("reference-free")


def test_sampled_where_sympy_cannot_decide():
    # G = -D - sigma(D) tanh(D) / 10: G' = -1 - (sigma' tanh + sigma tanh') / 10 with
    # |sigma' tanh| <= 1/4, 0 < sigma tanh' <= 1, so G' <= -1 + 1.25/10 < 0 (ranking holds)
    # and |G'| <= 1 + 1.25/10 = 1.125; G'(0) = -1 - (1/2)/10 = -1.05. A product of two
    # D-dependent factors: no composition rule, and SymPy does not decide the sign.
    p = props("-D - sigmoid(D)*tanh(D)/10")
    assert (p.ranking.status, p.ranking.holds) == ("sampled", True)
    assert p.bounded_gradient.status == "sampled"
    assert 1.05 <= p.gradient_bound <= 1.125


def test_temporal_link():
    # t * softplus(-D): G' = -t sigma(-D), |G'| <= t <= 1; lim at -inf is -t: not 0 for t > 0
    p = props("t*softplus(-D)")
    assert p.temporal and p.ranking.status == "proved" and p.gradient_bound == 1.0
    assert p.redescending.status == "failed" and p.redescending.witness > 0
    assert "-t" in p.tail_minus
    # (1 + t) softplus(-D): G' -> -(1 + t) at -inf; a sum as slope is bracketed, else it
    # would read -t - 1*D = -t - D
    q = props("(1 + t)*softplus(-D)")
    assert q.tail_minus == "G ~ (-t - 1)*D (linear), G' -> -t - 1"


def test_reward_links_are_not_applicable_and_requirements():
    p = properties(get_spec("nca_pair"))
    assert p.ranking.status == "n/a" and not p.holds("ranking-preserving")
    assert "n/a" in p.line()
    with pytest.raises(ConfigError, match="valid: " + ", ".join(REQUIREMENTS)):
        check_requirements(["ranking-preserving", "monotone"])


def test_json_round_trip_and_memo():
    p = properties(get_spec("dpo"), time_limit_s=LIMIT_S)
    assert Properties.from_json(p.to_json()) == p
    # the mirror map does not enter: same object from the memo
    assert properties(get_spec("dpo", mirror_map="p*log(p) + (1-p)*log(1-p)"),
                      time_limit_s=LIMIT_S) is p
