"""The pre-training gradient checks probe a loss at the fitness's own log-prob scale: MuJoCo
segments (~100 steps, summed log-probs in [-520, -60]) by default, a short LLM answer when the
fitness's scenario declares ``response_steps``. The LLM search found half its proposals
rejected as "vanishing" by the MuJoCo scale (benchmarks/results/llm_search.md)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from lossforge.search.candidates import (_SCALE_BATCH, Candidate, Rejection, candidate_spec,
                                         max_gradients, scale_batch, validate)
from lossforge.objectives import Objective

DCP = Path(__file__).resolve().parents[2] / "grammars" / "mirror_map_dcp.toml"
SQUARE = ["square[Aff->Cvx]", "p"]          # h(p) = p^2: phi~(l) = 2 e^l


def test_h_p_squared_trains_on_short_answers_but_not_on_long_segments():
    from lossforge.grammar.loader import load_grammar

    g = load_grammar(DCP)
    long = validate(g, SQUARE, beta=0.1)
    assert isinstance(long, Rejection) and long.reason == "vanishing_gradient"
    assert "[-520, -60]" in long.detail                 # the default scale, as before
    short = validate(g, SQUARE, beta=0.1, response_steps=7.0)
    assert isinstance(short, Candidate)


def test_the_gradient_at_the_scaled_batch_is_the_hand_derived_one():
    """DPO link on phi~(l) = 2 e^l: dL/dl_w = -beta * sigmoid(-D) * 2 e^{l_w}; the largest
    over the batch scaled to 7-step answers (log-probs x 7/100) is at its least negative l_w."""
    beta, steps = 0.1, 7.0
    batch = scale_batch(steps)
    assert batch[:, :4].flatten().tolist() == pytest.approx(
        (_SCALE_BATCH[:, :4] * (steps / 100)).flatten().tolist(), rel=1e-15)
    assert batch[:, 4].tolist() == _SCALE_BATCH[:, 4].tolist()   # lengths stay
    obj = Objective(candidate_spec("p**2", beta=beta, name="sq"), check=False)
    best = 0.0
    for lw, ll, rw, rl in batch[:, :4].tolist():
        d = beta * ((2 * math.exp(lw) - 2 * math.exp(rw)) - (2 * math.exp(ll) - 2 * math.exp(rl)))
        best = max(best, beta / (1 + math.exp(d)) * 2 * math.exp(lw))
    assert max_gradients(obj, steps)[0] == pytest.approx(best, rel=1e-9)
    # mean-aggregated log-probs are per step: the response length does not scale them
    mean = Objective(candidate_spec("p**2", beta=beta, name="sq", aggregation="mean"),
                     check=False)
    assert max_gradients(mean, steps) == max_gradients(mean)


def test_the_llm_scenarios_declare_their_answer_length():
    from lossforge.llm.fitness import search_scenario

    # reverse: six letters and the end token; sort: five and the end token
    assert search_scenario("reverse/clean").response_steps == 7.0
    assert search_scenario("sort/mixed-quality").response_steps == 6.0
    with pytest.raises(ValueError):
        scale_batch(0.0)


@pytest.mark.parametrize("name,reason", [("sft", "ignores_rejected"),
                                         ("zero_pref", "vanishing_gradient")])
def test_a_loss_missing_a_log_prob_gets_its_reason_not_an_autograd_error(name, reason):
    """SFT has no l_l in its graph (dL/dl_l = 0 by hand) and zero_pref no log-prob at all
    (dL/dl = 0): ``training_rejection`` raised torch's "not used in the graph" / "does not
    require grad" errors on them (``export`` asks it of a user's loss)."""
    from lossforge.objectives import get
    from lossforge.search.candidates import max_gradients, training_rejection

    assert training_rejection(get(name))[0] == reason
    assert max_gradients(get(name))[1] == 0.0


@pytest.mark.parametrize("link", ["softplus(rl)", "relu(rl)"])
def test_a_loss_of_the_rejected_side_alone_is_refused(link):
    """G(r_l) alone: dL/dl_w = 0 by hand, so it never raises the chosen response; with the
    zero-gradient rule it passed every check (formula, export) until ignores_chosen."""
    from lossforge.objectives import MPOSpec
    from lossforge.search.candidates import training_rejection

    assert training_rejection(Objective(MPOSpec(link=link)))[0] == "ignores_chosen"
