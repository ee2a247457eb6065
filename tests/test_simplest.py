"""The simpler exact equivalent printed beside a found formula (``symbolic/simplest.py``)."""

from __future__ import annotations

import math

import pytest
import torch

from lossforge.objectives.mpo import IMITATION_VARS, LINK_VARS
from lossforge.search.rundir import simplest_text
from lossforge.symbolic.compile import compile_torch
from lossforge.symbolic.parser import parse_formula
from lossforge.symbolic import simplest
from lossforge.symbolic.simplest import applications, simpler
from lossforge.symbolic.timelimit import time_limit


def test_the_suite_winners_imitation_term_is_log_of_3_minus_p():
    # by hand: softplus(log(1 - p)) = log(1 + 1 - p) = log(2 - p); softplus(log(2 - p)) = log(3 - p)
    assert simpler("softplus(softplus(log1mexp(l)))", IMITATION_VARS) == "log(3 - exp(l))"
    for l in (-1e-3, -0.5, -3.0, -40.0):
        p = math.exp(l)
        sp1 = math.log1p(math.exp(math.log1p(-p)))            # softplus(log1mexp(l))
        assert math.log1p(math.exp(sp1)) == pytest.approx(math.log(3 - p), rel=1e-12)


@pytest.mark.parametrize("text, variables", [
    ("-logsigmoid(D)", LINK_VARS),        # log(1 + exp(-D)): 2 applications against 1
    ("sigmoid(1/2 - D)", LINK_VARS),      # 1/(exp(D - 1/2) + 1): 1 against 1
    ("log1mexp(l)", IMITATION_VARS),      # log(1 - exp(l)): 2 against 1
    ("1/2 - logsigmoid(4*logsigmoid(D))", LINK_VARS),
    ("-sigmoid(n - 150)*l", IMITATION_VARS),
])
def test_a_formula_without_a_simpler_form_keeps_its_own_wording(text, variables):
    assert simpler(text, variables) is None


def test_applications_counts_each_function_call_and_no_arithmetic():
    D = LINK_VARS["D"]
    assert applications(parse_formula("log(1 + exp(-D))", LINK_VARS)) == 2
    assert applications(parse_formula("softplus(softplus(log1mexp(l)))", IMITATION_VARS)) == 3
    assert applications(D**2 / (D + 3) - 1) == 0


@pytest.mark.parametrize("text, variables", [
    ("softplus(softplus(log1mexp(l)))", IMITATION_VARS),
    ("log(exp(softplus(D)) - 1)", LINK_VARS),                 # = D
    ("log(sigmoid(D)) + softplus(-D) - tanh(D)", LINK_VARS),  # = -tanh(D)
    ("exp(2*log1p(exp(l))) - softplus(l)", IMITATION_VARS),
])
def test_what_is_returned_is_the_same_function(text, variables):
    """Checked numerically through the torch compiler, apart from SymPy's own rewriting."""
    found = simpler(text, variables)
    assert found is not None
    a, b = (parse_formula(x, variables) for x in (text, found))
    assert applications(b) < applications(a)
    var = sorted(a.free_symbols, key=str)
    assert len(var) == 1
    g = torch.Generator().manual_seed(0)
    x = -8 * torch.rand(200, generator=g, dtype=torch.float64) - 1e-3    # l < 0 (D too)
    if "D" in text:
        x = torch.cat([x, -x])
    torch.testing.assert_close(compile_torch(b, var)(x), compile_torch(a, var)(x),
                               rtol=1e-10, atol=1e-12)


def test_bad_text_or_no_time_limit_gives_nothing():
    assert simpler("softplus(", IMITATION_VARS) is None
    assert simpler("__import__('os')", IMITATION_VARS) is None
    simplest._known.clear()            # answers are remembered; this asks again
    with time_limit(5) as armed:       # a limit cannot nest: nothing is tried
        assert armed
        assert simpler("softplus(softplus(log1mexp(l)))", IMITATION_VARS) is None
    assert simpler("softplus(softplus(log1mexp(l)))", IMITATION_VARS) == "log(3 - exp(l))"


def test_simplest_text_rewrites_only_the_parts_that_have_a_simpler_form():
    spec = {"beta": 0.1, "aggregation": "mean", "link": "1/2 - logsigmoid(4*logsigmoid(D))",
            "imitation": "softplus(softplus(log1mexp(l)))"}
    assert simplest_text(spec) == "L = 1/2 - logsigmoid(4*logsigmoid(D)) + log(3 - exp(l))"
    assert simplest_text({**spec, "imitation": "log1mexp(l)"}) is None
    assert simplest_text({**spec, "kind": "neural"}) is None
