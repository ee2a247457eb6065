"""Every plain-text form of a loss is written from one set of named pieces (``LossParts``: r, D,
G and its weight, Psi and its weight, the aggregation words), so the forms cannot disagree.

The reference is independent of how the texts are put together: each text that claims to be the
loss (``Objective.formula``'s ``L = ...``, ``rundir.loss_text``/``loss_line``, the exported
module's docstring rows) is read back by the formula parser with no named constants and its
value is compared with the objective's own per-example losses; the texts people see for DPO,
ORPO, a relu link and a network are pinned by hand.

Before the fix ``loss_text`` dropped w_pref and w_sft (ORPO printed ``L = -logsigmoid(D) - l``,
ten times its preference term) and kept named constants (``(D/beta - 1/(2*beta))**2``), the
network's ``formula()`` and docstring printed SymPy's ``Max(0, 1 - D)`` and ``Heaviside``,
which the parser refuses, and ``show`` printed no loss line for a loss whose only difference
from the default is a weight.
"""

from __future__ import annotations

import io
import json
import re
from html import unescape

import pytest
import sympy as sp
import torch
from rich.console import Console

from lossforge.grammar.ops import to_elementary
from lossforge.objectives import NeuralObjective, NeuralSpec, get, get_spec, names
from lossforge.objectives.mpo import IMITATION_VARS, LINK_VARS, MPOSpec, Objective
from lossforge.objectives.neural import NeuralMap
from lossforge.objectives.torch_module import module_source
from lossforge.search.rundir import loss_line, loss_text, simplest_text
from lossforge.symbolic.parser import parse_formula

VARIABLES = {**LINK_VARS, **IMITATION_VARS}       # D, rw, rl, t, l, n: no named constants
DPO_D = "D = 0.1 * [(phi~(l_w) - phi~(l_ref,w)) - (phi~(l_l) - phi~(l_ref,l))]"


def _network(**kw) -> NeuralObjective:
    """A network whose phi~ is not the identity (its tanh units switched on)."""
    at = NeuralMap.at_dpo(4)
    params = (0.2, 0.3, 0.1, 0.2, 0.4) + at.params[5:]
    return NeuralObjective(NeuralSpec(name="net", params=params, **kw))


SYMBOLIC = {
    "relu": MPOSpec(name="relu", link="relu(1 - D)"),
    "weighted": MPOSpec(name="w", w_pref="1 - t", imitation="-l/n", w_sft="t/2 + 1/3"),
    "negative-weights": MPOSpec(name="nw", w_pref="-t + 2", imitation="-l", w_sft="-t"),
    "es-spelling": MPOSpec(name="es", link="-1.31*logsigmoid(0.5*D + 0.25)",
                           imitation="-(0.0392 + 0.07467*sigmoid(-0.06296*(n - 137.8)))*l"),
    "named": MPOSpec(name="named", link="-(1 - eps)*logsigmoid(D) - eps*logsigmoid(-D)",
                     imitation="-lam*l", w_pref="gam", params={"eps": 0.2, "lam": 0.5,
                                                              "gam": 0.25}),
}
OBJECTIVES = {**{n: (lambda n=n: get(n)) for n in names()},
              **{k: (lambda s=s: Objective(s)) for k, s in SYMBOLIC.items()},
              "network": lambda: _network(link="relu(1 - D)",
                                          imitation="-0.07*step(n - 3)*relu(-l)"),
              "network-dpo": lambda: _network()}


def _assert_is_the_loss(text: str, obj: Objective) -> None:
    """``text`` (``L = ...`` or the formula alone) parses with no named constant and equals the
    objective's loss at random log-probs, progress and lengths."""
    expr = to_elementary(parse_formula(text.removeprefix("L = "), VARIABLES))   # exp/log
    g = torch.Generator().manual_seed(7)
    scale = 4.0 if obj.aggregation == "mean" else 300.0
    pc, pr, rc, rr = -torch.rand(4, 6, generator=g, dtype=torch.float64) * scale - 0.01
    n = torch.tensor([1.0, 2.0, 5.0, 40.0, 150.0, 160.0], dtype=torch.float64)
    t = 0.3
    want = obj(pc, pr, rc, rr, progress=t, chosen_lengths=n)
    rw, rl = obj.rewards(pc, pr, rc, rr)
    v = VARIABLES
    for k in range(6):
        at = {v["D"]: float(rw[k] - rl[k]), v["rw"]: float(rw[k]), v["rl"]: float(rl[k]),
              v["t"]: t, v["l"]: float(pc[k]), v["n"]: float(n[k])}
        got = float(sp.N(expr.subs(at), 30))
        assert got == pytest.approx(float(want[k]), rel=1e-9, abs=1e-9), (text, k)


def _doc_loss(obj: Objective) -> str:
    """The exported docstring's loss: its G, w_pref, Psi and w_sft rows, put together as its
    ``loss`` row says (weights absent from the docstring are 1)."""
    src = module_source(obj)
    rows = dict(re.findall(r"^    (G|w_pref\(t\)|Psi|w_sft\(t\)) += (.*?)(?:   \(.*)?$",
                           src.split('"""')[1], re.M))
    loss = f"({rows.get('w_pref(t)', '1')})*({rows['G']})"
    if "Psi" in rows:
        loss += f" + ({rows['w_sft(t)']})*({rows['Psi']})"
    return loss


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_every_text_form_reads_back_as_the_loss(name):
    obj = OBJECTIVES[name]()
    spec = obj.spec.to_json()
    _assert_is_the_loss(obj.formula().split("L = ", 1)[1], obj)
    line = loss_line(spec)
    assert loss_text(spec).startswith(line + ",  D = ")
    _assert_is_the_loss(line, obj)
    if name not in ("zero_pref",):   # a link of 0 and no imitation: nothing to export
        _assert_is_the_loss(_doc_loss(obj), obj)


def test_the_texts_people_see_for_dpo_orpo_relu_and_a_network():
    dpo, orpo, relu = get("dpo"), get("orpo"), Objective(SYMBOLIC["relu"])
    assert loss_text(dpo.spec.to_json()) == f"L = -logsigmoid(D),  {DPO_D},  l = sum log-prob"
    assert dpo.formula() == "phi~(l) = l;  r = 0.1*[phi~(l) - phi~(l_ref)];  L = (-logsigmoid(D))"
    # ORPO: lam = 0.1 weighs the odds-ratio term (zoo.py: w_pref="lam"); the NLL term has weight 1
    assert loss_text(orpo.spec.to_json()) == (
        "L = 1/10*(-logsigmoid(D)) - l,  D = 1 * [phi~(l_w) - phi~(l_l)] (reference-free),  "
        "l = mean log-prob")
    assert orpo.formula().endswith(";  r = 1*[phi~(l)];  L = 1/10*(-logsigmoid(D)) + (-l)")
    assert loss_text(relu.spec.to_json()) == f"L = relu(1 - D),  {DPO_D},  l = sum log-prob"
    assert relu.formula().endswith(";  L = (relu(1 - D))")
    net = OBJECTIVES["network"]()
    assert net.formula().endswith(";  r = 0.1*[phi~(l) - phi~(l_ref)];  "
                                  "L = (relu(1 - D)) + (7*l*step(n - 3)/100)")
    assert net.formula().startswith("neural phi~: exp(0.2)*l + 4/4 active tanh units")
    assert loss_text(net.spec.to_json()) == (
        f"L = relu(1 - D) - 0.07*step(n - 3)*relu(-l),  {DPO_D},  l = sum log-prob")
    doc = module_source(net).split('"""')[1]
    assert ("    loss      = G(D, r_w, r_l, t) + w_sft(t) * Psi(l_w, n_w, t)\n"
            "    G         = relu(1 - D)\n"
            "    Psi       = 7*l*step(n - 3)/100   (l: l_w, n: n_w)\n"
            "    w_sft(t)  = 1\n") in doc


def test_loss_text_says_t_when_only_a_weight_reads_it():
    spec = MPOSpec(w_pref="1 - t").to_json()
    assert loss_text(spec) == (f"L = (1 - t)*(-logsigmoid(D)),  {DPO_D},  l = sum log-prob, "
                               "t = training progress")


def test_the_aggregation_words_have_one_source(monkeypatch):
    """Both exported docstrings (formula and network) say what l is from the one table."""
    from lossforge.objectives.mpo import AGGREGATION_WORDS

    monkeypatch.setitem(AGGREGATION_WORDS, "mean", "AVERAGED (one table)")
    for obj in (Objective(MPOSpec(aggregation="mean")),
                _network(aggregation="mean", l_range=(-20.0, 0.0))):
        assert "\nLog-probs l: AVERAGED (one table).\n" in module_source(obj)


def test_the_simpler_form_keeps_the_weights(monkeypatch):
    from lossforge.symbolic import simplest

    monkeypatch.setattr(simplest, "TIME_LIMIT_S", 60)    # SymPy's first simplify may be slow
    monkeypatch.setattr(simplest, "_known", {})
    spec = {"beta": 0.1, "aggregation": "mean", "link": "1/2 - logsigmoid(4*logsigmoid(D))",
            "imitation": "softplus(softplus(log1mexp(l)))", "w_pref": "1 - t"}
    assert simplest_text(spec) == (
        "L = (1 - t)*(1/2 - logsigmoid(4*logsigmoid(D))) + log(3 - exp(l))")


def test_confirm_page_candidate_line_is_loss_text_whole(tmp_path):
    """The candidate list writes the whole loss with loss_text: ORPO's weight in the formula,
    no list of what it left out (the weights, "reference-free", the constants) after it."""
    from lossforge.report.confirm_page import _candidate_formulas

    (tmp_path / "winners").mkdir()
    spec = {**get_spec("orpo").to_json(), "name": "lf-y"}
    (tmp_path / "winners" / "lf-y.json").write_text(json.dumps({"spec": spec}))
    html = _candidate_formulas(tmp_path / "confirm-x.jsonl", ["lf-y"])
    [item] = re.findall(r"<li>(.*?)</li>", html)
    assert unescape(re.sub(r"<[^>]+>", "", item)) == (
        "lf-y: h(p) = p*log(p) + (1-p)*log(1-p);  L = 1/10*(-logsigmoid(D)) - l,  "
        "D = 1 * [phi~(l_w) - phi~(l_l)] (reference-free),  l = mean log-prob")


@pytest.fixture(scope="module")
def shown_rows(tmp_path_factory):
    """``search show`` of a real probe run whose hall of fame is given three specs (rewritten
    with a valid checksum): a weight alone, the grammar's spelling of DPO's link, DPO's link."""
    from lossforge.runfiles import read_checked, write_checked
    from lossforge.search import SearchConfig, run_search
    from lossforge.search.summary import show

    cfg = SearchConfig(scenario="quick", fitness="probe", generations=1, population=4,
                       workers=1, budget="screen")
    run = run_search(cfg, runs_root=tmp_path_factory.mktemp("runs"), quiet=True)
    hof, _ = read_checked(run / "hall_of_fame.json")
    rows = hof["hall_of_fame"][:1] * 3
    kinds = ({"w_pref": "1 - t"}, {"link": "softplus(-D)"}, {"link": "-logsigmoid(D)"})
    hof["hall_of_fame"] = [{**r, "name": f"lf-{k}", "loss": "L = stale text,  D = ...",
                            "spec": {**r["spec"], "name": f"lf-{k}", **kind}}
                           for k, (r, kind) in enumerate(zip(rows, kinds))]
    write_checked(run / "hall_of_fame.json", {k: v for k, v in hof.items() if k != "sha256"})
    out = io.StringIO()
    show(run, console=Console(file=out, width=300))
    block = out.getvalue().split("Hall of fame", 1)[1].split("\nPareto front", 1)[0]
    return re.split(r"^ *\d+\. ", block, flags=re.M)[1:]


def test_show_prints_the_loss_line_from_the_spec_unless_it_is_the_default(shown_rows):
    assert "\n    L = (1 - t)*(-logsigmoid(D))\n" in shown_rows[0]   # the weight: a new loss
    assert "\n    L = softplus(-D)\n" in shown_rows[1]               # as the spec spells it
    assert "L = " not in shown_rows[2]                               # the default: h says it
    assert len(shown_rows) == 3 and not any("stale" in rows for rows in shown_rows)
