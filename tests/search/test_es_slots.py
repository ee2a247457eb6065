"""ES over the same slots as the GP (issue 19): the parametric link G and imitation term Psi of
``--method es --link-grammar ... --imitation-grammar ...`` (``lossforge/search/es_slots.py``).

The references are independent of the family's code: TRL's sigmoid DPO loss written out by
hand, the project's symbolic monotonicity rules (``properties``, ``composition.monotone``),
SymPy expressions built from the rounded numbers, and the loss recomputed with torch's own
``F.logsigmoid`` / ``torch.sigmoid`` from those numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from lossforge.grammar.ops import LogSigmoid, Sigmoid
from lossforge.objectives.mpo import IMITATION_VARS, LINK_VARS, MPOSpec, N, T
from lossforge.objectives.mpo import D as D_SYM
from lossforge.objectives.neural import NeuralObjective, NeuralSpec, from_spec, n_params
from lossforge.objectives.properties import properties
from lossforge.search import es, es_slots
from lossforge.search.es import ESConfig
from lossforge.symbolic.composition import monotone
from lossforge.symbolic.logdomain import L
from lossforge.symbolic.parser import parse_formula

SLOTS = dict(link_grammar="grammars/link.toml", imitation_grammar="grammars/imitation.toml")


def _context(**kw) -> es.Context:
    cfg = ESConfig(**{"scenario": "quick", "fitness": "probe", "population": 4, "hidden": 3,
                      **SLOTS, **kw})
    return es.make_context(cfg)


def _batch(seed: int, size: int = 64):
    """Summed log-probs at segment scale (and near 0), lengths in steps."""
    g = torch.Generator().manual_seed(seed)
    lp = -torch.rand(4, size, generator=g, dtype=torch.float64) * 800.0
    lp[:, :4] = torch.tensor([-1e-3, -0.5, -500.0, -1450.0], dtype=torch.float64)
    n = torch.randint(1, 201, (size,), generator=g).to(torch.float64)
    return lp, n


def _rq(x: float) -> sp.Rational:
    return sp.Rational(repr(float(x)))


def test_start_vector_with_both_slots_is_dpo(tmp_path):
    """Generation 0's mean with both slots is DPO: the link string is DPO's own, there is no
    imitation term, and the loss equals TRL's sigmoid DPO loss written out by hand."""
    ctx = _context()
    assert ctx.config.dimension == n_params(3) + 3 + 4 == len(ctx.x0)
    spec = es.spec_for(ctx, ctx.x0, "start")
    assert spec["link"] == "-logsigmoid(D)" and "imitation" not in spec
    obj = from_spec(spec)
    assert not obj.needs_lengths and obj.imitation_expr is None
    beta = ctx.beta
    for seed in range(3):
        (pc, pr, rc, rr), n = _batch(seed)
        trl = -F.logsigmoid(beta * ((pc - rc) - (pr - rr)))   # TRL loss_type="sigmoid"
        got = obj(pc, pr, rc, rr, chosen_lengths=n)
        torch.testing.assert_close(got, trl, rtol=1e-14, atol=0.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_random_vectors_are_valid_and_print_what_trains(seed):
    """For 25 random vectors per seed (50 in all; wide: N(0, 3)), G is non-increasing in D and
    Psi non-increasing in l, proved by the project's symbolic rules; each printed formula
    re-parses to the expression of the rounded numbers, and the objective built from the
    printed strings computes exactly the loss of those numbers."""
    rng = np.random.default_rng(seed)
    ctx = _context()
    n_phi = n_params(3)
    (pc, pr, rc, rr), n = _batch(seed)
    for i in range(25):
        x = list(ctx.x0[:n_phi]) + list(rng.normal(0.0, 3.0, 7))
        spec = es.spec_for(ctx, x, f"r{i}")
        g = es_slots.Link.from_vector(x[n_phi:n_phi + 3])
        psi = es_slots.Imitation.from_vector(x[n_phi + 3:])
        assert g.a > 0 and g.c > 0 and psi.w0 >= 0 and psi.w1 >= 0
        for v in (g.a, g.b, g.c, psi.w0, psi.w1, psi.u, psi.v):  # 4 significant digits
            assert float(f"{v:.4g}") == v
        assert spec["link"] == g.formula() and spec.get("imitation") == psi.formula()
        # G: proved non-increasing by the composition rule properties.py proves rankings with
        # (the whole properties report, 0.2 s a link, for the first few: also Lipschitz)
        parsed = parse_formula(spec["link"], LINK_VARS)
        assert monotone(parsed, D_SYM, T) == -1, spec["link"]
        if i < 4:
            props = properties(MPOSpec(link=spec["link"], beta=ctx.beta))
            assert props.ranking.status == "proved", (spec["link"], props.ranking)
            assert props.bounded_gradient.status == "proved"
        expect_g = -_rq(g.a) * LogSigmoid(_rq(g.c) * D_SYM - _rq(g.b))
        assert sp.expand(parsed - expect_g) == 0
        # Psi: proved non-increasing in l by the same rules (a gate of n alone is positive)
        expect_psi = -(_rq(psi.w0) + _rq(psi.w1) * Sigmoid(_rq(psi.u) * (N - _rq(psi.v)))) * L
        if spec.get("imitation") is not None:
            parsed = parse_formula(spec["imitation"], IMITATION_VARS)
            assert monotone(parsed, L, T) == -1, spec["imitation"]
            assert sp.expand(parsed - expect_psi) == 0
        else:
            assert expect_psi == 0
        # the trained loss is the loss of the printed numbers (phi~ is at DPO: l itself)
        d = ctx.beta * ((pc - rc) - (pr - rr))
        by_hand = -g.a * F.logsigmoid(g.c * d - g.b) - (
            psi.w0 + psi.w1 * torch.sigmoid(psi.u * (n - psi.v))) * pc
        got = NeuralObjective(NeuralSpec.from_json(spec))(pc, pr, rc, rr, chosen_lengths=n)
        torch.testing.assert_close(got, by_hand, rtol=1e-10, atol=1e-10)


def test_start_point_and_every_rounded_value_keep_the_formula_forms():
    """The special cases of the printer: DPO's string at the start, no double signs, the
    imitation term dropped when both weights are 0."""
    assert es_slots.Link(1.0, 0.0, 1.0).formula() == "-logsigmoid(D)"
    assert es_slots.Link(1.31, -0.25, 0.5).formula() == "-1.31*logsigmoid(0.5*D + 0.25)"
    assert es_slots.Imitation(0.0, 0.0, 0.3, 10.0).formula() is None
    assert es_slots.Imitation(0.07, 0.0, 0.3, 10.0).formula() == "-0.07*l"
    assert (es_slots.Imitation(0.0, 0.2, -0.1, -5.0).formula()
            == "-0.2*sigmoid(-0.1*(n + 5.0))*l")


def test_slot_grammar_for_the_wrong_slot_is_refused():
    from lossforge.errors import ConfigError

    with pytest.raises(ConfigError, match="a link grammar needs variables among"):
        _context(link_grammar="grammars/imitation.toml")


def test_t_range_encloses_rationals_exactly_and_bounds_a_gate_of_n():
    """The composition rules' interval of a number is that number (it went through nsimplify,
    which turned 333333333/10**9 into 1/3: an 'enclosure' that misses the value); a sigmoid of
    something other than t lies in [0, 1] (what proves a length gate positive)."""
    import mpmath

    from lossforge.symbolic.composition import sign_on_t, t_range

    r = sp.Rational(333333333, 10**9)
    box = t_range(r, T)
    lo, hi = (sp.Integer(m) * sp.Integer(2) ** e  # the endpoints, exactly
              for m, e in (mpmath.mpf(x).man_exp for x in (box.a.a, box.b.b)))
    assert lo <= r <= hi and hi < sp.Rational(1, 3)
    assert t_range(Sigmoid(N - 150), T) == mpmath.iv.mpf([0, 1])
    assert sign_on_t(-sp.Rational(1, 10) * Sigmoid(N / 10 - 15), T) == -1
    assert t_range(N - 150, T) is None   # n alone stays unknown: nothing is guessed


def test_the_length_gate_follows_the_fitness_responses():
    """The gate sigmoid(u (n - v)) is scaled to the fitness's response length S (its
    scenario's ``response_steps``): v = (100 + 50 x4) S/100, u = x3 / (10 S/100), worked out by
    hand at x3 = 1, x4 = 0.4. On MuJoCo (no response_steps) the numbers are the unscaled ones,
    so every MuJoCo run is unchanged; on an LLM task's 4-8-token answers the gate moves across
    the answers' own lengths, where the unscaled gate (centred at 120 steps) is a constant."""
    from lossforge.errors import ConfigError

    link, psi_x = [0.0, 0.0, 0.0], [0.0, 2.0, 1.0, 0.4]   # DPO's link; w0 = 0, w1 = 0.2
    n_phi = n_params(3)
    mujoco = _context()
    assert getattr(mujoco.scenario, "response_steps", None) is None
    llm = _context(fitness="llm", scenario="sort/mixed-quality")
    s = llm.scenario.response_steps
    assert 3.0 < s < 10.0, s
    for ctx, v, u in ((mujoco, 120.0, 0.1), (llm, 1.2 * s, 0.1 * 100.0 / s)):
        vec = list(ctx.x0[:n_phi]) + link + psi_x
        spec = es.spec_for(ctx, vec, "gate")
        want = es_slots.Imitation(0.0, 0.2, float(f"{u:.4g}"), float(f"{v:.4g}")).formula()
        assert spec["imitation"] == want, (spec["imitation"], want)
    # the scaled gate separates a short answer from a long one; the unscaled one cannot
    psi = es_slots.Imitation.from_vector(psi_x, es_slots.gate_scale(s))
    flat = es_slots.Imitation.from_vector(psi_x)
    gate = lambda p, n: 1.0 / (1.0 + math.exp(-p.u * (n - p.v)))   # noqa: E731
    assert gate(psi, 2 * s) - gate(psi, s / 2) > 0.5
    assert gate(flat, 2 * s) - gate(flat, s / 2) < 1e-3
    for bad in (0.0, -3.0, math.nan, math.inf, "7"):
        with pytest.raises(ConfigError, match="response_steps must be a positive number"):
            es_slots.gate_scale(bad)
