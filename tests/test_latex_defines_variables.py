"""Every letter the LaTeX of a loss uses is defined in it: the imitation term's chosen log-prob
l_w and length n_w, the link's rewards r_w and r_l, and the training progress t each get a row
saying what they are, and a loss that uses none of them gets no such row. Before, the suite's
imitation terms printed as e.g. ``- l_w / n_w`` with neither letter defined anywhere."""

import re

import pytest

from lossforge.objectives import MPOSpec, Objective

# the defining rows, written by hand from the module docstring's variable list
ROWS = {
    "l": r"  \ell_w &= \ell_\theta(y_w|x) \quad \text{(the chosen response's log-prob)} \\",
    "n": r"  n_w &= |y_w| \quad \text{(the chosen response's length)} \\",
    "r": r"  r_w &= r_\theta(x,y_w), \quad r_l = r_\theta(x,y_l) \\",
    "t": r"  t &\in [0, 1] \quad \text{(training progress)} \\",
}


def _latex(**kw) -> list[str]:
    return Objective(MPOSpec(**kw)).latex().splitlines()


@pytest.mark.parametrize("kw, defined", [
    ({}, set()),                                                  # DPO: nothing extra
    ({"imitation": "-l"}, {"l"}),                                 # RPO-style NLL
    ({"imitation": "-sigmoid(n - 150)*l"}, {"l", "n"}),           # the length-filtered SFT
    ({"link": "-logsigmoid(D) + rl/100"}, {"r"}),                 # r_l alone defines both
    ({"link": "-logsigmoid(rw)"}, {"r"}),
    ({"w_pref": "1 - t", "imitation": "-l"}, {"l", "t"}),         # t from a weight
])
def test_each_used_variable_has_its_row_and_no_other(kw, defined):
    rows = _latex(**kw)
    for name, row in ROWS.items():
        assert (row in rows) == (name in defined), (name, rows)
    # the rows come after Delta's and before the loss they explain
    loss = next(i for i, r in enumerate(rows) if r.startswith(r"  \mathcal{L}"))
    delta = next(i for i, r in enumerate(rows) if r.startswith(r"  \Delta"))
    assert all(delta < rows.index(ROWS[name]) < loss for name in defined)


def test_no_undefined_letter_in_the_loss_row():
    """The letters the loss row prints (SymPy's spelling of the substituted symbols) are all
    defined above it."""
    rows = _latex(link="-logsigmoid(D) + rw/100", imitation="-t*l/n")
    loss = next(r for r in rows if r.startswith(r"  \mathcal{L}"))
    used = set(re.findall(r"\\ell_\{w\}|n_\{w\}|r_\{w\}|\bt\b", loss))
    assert used == {r"\ell_{w}", "n_{w}", "r_{w}", "t"}, loss
    text = "\n".join(rows)
    assert all(ROWS[k] in rows for k in "lnrt"), text


@pytest.mark.parametrize("kw, labels", [
    ({}, []),
    ({"imitation": "-sigmoid(n - 150)*l"}, ["chosen log-prob", "chosen length"]),
    ({"link": "-logsigmoid(D) + rl/100", "w_pref": "1 - t"},
     ["chosen reward", "rejected reward", "training progress"]),
])
def test_the_html_page_defines_the_same_variables(kw, labels):
    """The report page's MathML (``report/mathml.py``) lists the loss's equations and then one
    defining each variable it uses, the same set the LaTeX rows define."""
    from lossforge.report.mathml import objective_equations
    eqs = objective_equations(Objective(MPOSpec(**kw)))
    assert [label for label, _ in eqs[:5]] == ["mirror map", "its derivative", "log domain",
                                                "margin", "loss"]
    assert [label for label, _ in eqs[5:]] == labels
    assert all(m.startswith("<math>") and m.endswith("</math>") for _, m in eqs)


def test_a_weight_that_is_a_sum_is_one_factor():
    """w_pref = 1 - t times [G] is (1 - t) [G]: printed without brackets it read 1 - t [G],
    another loss. The same for w_sft, and in the report page's MathML."""
    from lossforge.report.mathml import objective_equations

    rows = _latex(w_pref="1 - t", imitation="-l", w_sft="t/2 + 1")
    loss = next(r for r in rows if r.startswith(r"  \mathcal{L}"))
    assert loss == (r"  \mathcal{L} &= \left(1 - t\right) \left[- \log\sigma\left(\Delta"
                    r"\right)\right] + \left(\frac{t}{2} + 1\right)\,\left[- \ell_{w}\right]")
    assert _latex(w_pref="2*t")[-2].startswith(r"  \mathcal{L} &= 2 t \left[")
    mml = dict(objective_equations(Objective(MPOSpec(w_pref="1 - t"))))["loss"]
    assert "<mo>(</mo><mrow><mn>1</mn><mo>-</mo><mi>t</mi></mrow><mo>)</mo>" in mml, mml


def test_a_weight_of_an_absent_term_defines_nothing():
    """w_sft without an imitation term is not printed, so its t is not defined either."""
    assert ROWS["t"] not in _latex(w_sft="t")
    assert ROWS["t"] in _latex(w_sft="t", imitation="-l")
