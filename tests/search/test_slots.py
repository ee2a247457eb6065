"""Open slots: the link G(D, t) and imitation Psi(l, n, t) grammars, genomes, and a search over them.

References: monotonicity is checked by finite differences of the compiled losses (not by the
grammar's own typing); the seeded DPO genome is compared with the zoo's DPO, which
tests/test_objectives_trl.py checks against TRL's code.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch

from lossforge.errors import GrammarError
from lossforge.grammar.loader import load_grammar
from lossforge.grammar.ops import to_elementary
from lossforge.grammar.trees import generate, tree_to_names, tree_to_sympy
from lossforge.objectives import MPOSpec, Objective, get
from lossforge.search import checkpoint, engine, run_search
from lossforge.search.candidates import Candidate, validate
from lossforge.search.engine import SearchConfig, deterministic_view
from lossforge.search.genome import MARK, Space
from lossforge.symbolic.parser import formula_text, parse_formula

REPO = Path(__file__).resolve().parents[2]
LINK = REPO / "grammars" / "link.toml"
IMITATION = REPO / "grammars" / "imitation.toml"
DCP = REPO / "grammars" / "mirror_map_dcp.toml"


@pytest.fixture(scope="module")
def space() -> Space:
    return Space(load_grammar(DCP), {"link": load_grammar(LINK),
                                     "imitation": load_grammar(IMITATION)})


def _random_formulas(grammar, n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [formula_text(tree_to_sympy(grammar, generate(grammar, rng))) for _ in range(n)]


def test_every_link_tree_is_non_increasing_in_the_margin():
    """300 random G(D, t): finite differences in D are <= 0 on a grid, for t in [0, 1]."""
    D, t = sp.Symbol("D", real=True), sp.Symbol("t", real=True)
    d = np.linspace(-30, 30, 601)
    for text in _random_formulas(load_grammar(LINK), 300):
        f = sp.lambdify((D, t), to_elementary(parse_formula(text, {"D": D, "t": t})), "numpy")
        for tv in (0.0, 0.3, 1.0):
            with np.errstate(all="ignore"):
                vals = torch.from_numpy(np.broadcast_to(f(d, tv), d.shape).astype(np.float64))
            finite = torch.isfinite(vals[1:]) & torch.isfinite(vals[:-1])
            steps = (vals[1:] - vals[:-1])[finite]
            assert (steps <= 1e-9 * (1 + vals[1:][finite].abs())).all(), (text, tv)


def test_every_imitation_tree_is_non_increasing_in_the_chosen_log_prob():
    l, t, n = (sp.Symbol(v, real=True) for v in "ltn")
    grid = np.array([-300.0, -50.0, -8.0, -2.0, -0.5, -0.05, -1e-3])
    uses_n = 0
    for text in _random_formulas(load_grammar(IMITATION), 300, seed=1):
        expr = parse_formula(text, {"l": l, "t": t, "n": n})
        uses_n += n in expr.free_symbols
        f = sp.lambdify((l, t, n), to_elementary(expr), "numpy")
        for tv, nv in ((0.0, 1.0), (0.6, 80.0), (1.0, 200.0)):
            with np.errstate(all="ignore"):
                vals = list(np.broadcast_to(f(grid, tv, nv), grid.shape))
            assert all(b <= a + 1e-9 * (1 + abs(a)) for a, b in zip(vals, vals[1:])), (text, tv)
    assert uses_n > 10  # the length weights are exercised, not just present in the file


def test_grammar_with_several_variables_and_its_errors(tmp_path):
    g = load_grammar(LINK)
    assert g.variables == (("D", "Inc"), ("t", "Prog")) and g.variable == "D"
    body = LINK.read_text()
    bad = body.replace('variables = [{ name = "D", type = "Inc" }, { name = "t", type = "Prog" }]',
                       'variables = [{ name = "D", type = "Inc" }, { name = "D", type = "Prog" }]')
    (tmp_path / "dup.toml").write_text(bad)
    with pytest.raises(GrammarError, match="duplicate variable 'D'"):
        load_grammar(tmp_path / "dup.toml")
    both = body.replace('[grammar]\n', '[grammar]\nvariable = { name = "p", type = "Inc" }\n')
    (tmp_path / "both.toml").write_text(both)
    with pytest.raises(GrammarError, match="exactly one of 'variable'"):
        load_grammar(tmp_path / "both.toml")


def test_formula_text_reads_back_relu():
    D = sp.Symbol("D", real=True)
    e = sp.Max(0, 1 - 2 * D) + sp.Rational(1, 2)
    text = formula_text(e)
    assert "relu" in text and parse_formula(text, {"D": D}) == e


def test_genome_split_join_size_and_errors(space):
    seeds = space.seeds({"dpo": ["xlogx[Aff->Cvx]", "p"]})
    names, origin = seeds[0]
    assert origin == "seed:dpo"
    parts = space.split(names)
    assert list(parts) == ["h", "link", "imitation"]
    assert space.join(parts) == names
    assert space.size(names) == len(names) - 2   # two markers, not nodes
    with pytest.raises(GrammarError, match="parts"):
        space.split(parts["h"])                  # slots missing
    with pytest.raises(GrammarError, match="marker"):
        space.split(names + [MARK + "link"])     # a slot twice


def test_seeded_dpo_genome_is_the_zoos_dpo(space):
    """The default slots (link softplus(-D), no imitation) give exactly DPO's losses and
    gradients on a random batch."""
    names, _ = space.seeds({"dpo": ["xlogx[Aff->Cvx]", "p"]})[0]
    res = validate(space, names, beta=0.1)
    assert isinstance(res, Candidate) and res.imitation is None
    mine, dpo = Objective(MPOSpec.from_json(res.spec)), get("dpo")
    g = torch.Generator().manual_seed(0)
    x = (-torch.rand(64, 4, generator=g, dtype=torch.float64) * 200).requires_grad_(True)
    a = mine(*x.unbind(1))
    (ga,) = torch.autograd.grad(a.sum(), x)
    b = dpo(*x.unbind(1))
    (gb,) = torch.autograd.grad(b.sum(), x)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)


def test_same_map_other_link_is_another_loss(space):
    """De-duplication must not merge genomes that share h but differ in G or Psi."""
    seeds = space.seeds({"dpo": ["xlogx[Aff->Cvx]", "p"]})
    cands = [validate(space, n, beta=0.1) for n, _ in seeds]
    assert all(isinstance(c, Candidate) for c in cands)
    assert len({c.semantic_hash for c in cands}) == len(cands) == 3   # dpo, +hinge, +sft
    assert len({c.fingerprint for c in cands}) == 3
    sft = next(c for c in cands if c.imitation)
    assert parse_formula(sft.imitation, {"l": sp.Symbol("l")}) == -sp.Symbol("l") / 10


def test_temporal_genome_gets_progress_and_is_checked_at_several_t(space):
    link = load_grammar(LINK)
    # G = t * softplus(-D): zero at t = 0, DPO at t = 1
    names = ["xlogx[Aff->Cvx]", "p", MARK + "link", "mul[Prog,Dec->Dec]", "t",
             "softplus[Dec->Dec]", "neg[Inc->Dec]", "D", MARK + "imitation", "0[Dec]"]
    res = validate(space, names, beta=0.1)
    assert isinstance(res, Candidate), res
    obj = Objective(MPOSpec.from_json(res.spec))
    assert obj.temporal
    x = torch.tensor([[-10.0, -12.0, -11.0, -11.5]], dtype=torch.float64)
    assert obj(*x.unbind(1), progress=0.0).item() == 0.0
    torch.testing.assert_close(obj(*x.unbind(1), progress=1.0), get("dpo")(*x.unbind(1)))
    assert link.variables[1][0] == "t"


def test_search_with_open_slots_resumes_to_the_same_result(tmp_path):
    """A tiny search over (h, G, Psi) on the probe fitness: offspring vary every part, and a
    run stopped after one generation and resumed equals the uninterrupted run."""
    cfg = SearchConfig(scenario="quick", grammar=str(DCP), population=8, generations=3, seed=5,
                       fitness="probe", workers=1, budget="screen", link_grammar=str(LINK),
                       imitation_grammar=str(IMITATION))
    full = run_search(cfg, runs_root=tmp_path / "a", quiet=True)
    part = run_search(cfg, runs_root=tmp_path / "b", quiet=True, stop_after=1)
    run_search(resume=part, quiet=True)
    sa, sb = checkpoint.load(full), checkpoint.load(part)
    assert deterministic_view(sa) == deterministic_view(sb)
    changed = {rec["origin"].split(":")[0] for rec in sa["trees"].values()}
    assert {"link", "imitation", "h"} <= changed, changed
    links = {rec.get("link") for rec in sa["losses"].values()}
    assert len(links) > 2          # the link really is searched
    ctx = engine.make_context(cfg)
    for rec in sa["losses"].values():   # every trained loss is a checked genome
        assert isinstance(validate(ctx.space, sa["trees"][rec["tree"]]["names"], beta=ctx.beta),
                          Candidate)


def test_tree_to_names_of_slot_trees_round_trip():
    g = load_grammar(IMITATION)
    tree = generate(g, random.Random(3))
    assert Space(load_grammar(DCP), {"imitation": g}).split(
        ["xlogx[Aff->Cvx]", "p", MARK + "imitation", *tree_to_names(tree)])["imitation"] == \
        tree_to_names(tree)


def test_a_constant_added_to_the_loss_is_a_duplicate(space):
    """Psi = -l and Psi = -l + softplus(0) train identically (same gradients): one loss."""
    h = ["xlogx[Aff->Cvx]", "p"]
    link = [MARK + "link", "softplus[Dec->Dec]", "neg[Inc->Dec]", "D"]
    plain = h + link + [MARK + "imitation", "neg[Inc->Dec]", "l"]
    shifted = h + link + [MARK + "imitation", "add[Dec,Dec->Dec]", "neg[Inc->Dec]", "l",
                          "softplus[Dec->Dec]", "0[Dec]"]
    a, b = validate(space, plain, beta=0.1), validate(space, shifted, beta=0.1)
    assert isinstance(a, Candidate) and isinstance(b, Candidate)
    assert a.imitation != b.imitation and a.fingerprint == b.fingerprint
    # and the fingerprint still separates a real change of the imitation weight
    scaled = h + link + [MARK + "imitation", "mul[Coef,Dec->Dec]", "2[Coef]", "neg[Inc->Dec]", "l"]
    assert validate(space, scaled, beta=0.1).fingerprint != a.fingerprint


def test_scenario_names_with_dots_resolve():
    """'hopper-noisy-0.3' is a scenario name, not a file with suffix '.3'."""
    path, scen = engine.resolve_scenario("hopper-noisy-0.3")
    assert path == REPO / "benchmarks" / "scenarios" / "hopper-noisy-0.3.toml"
    assert scen.flip_rate == 0.3


def test_a_loss_that_ignores_the_rejected_response_is_rejected(space):
    """h = p^3 makes phi~(l) = 3 e^{2l}, flat at summed log-probs, so with Psi = -l the loss is
    fine-tuning on the chosen response (BC-on-chosen): its gradient in the rejected log-prob,
    computed here by autograd independently of the check, is ~0, and the check says so."""
    names = ["pow[Aff,Expo->Cvx]", "p", "3[Expo]", MARK + "link", "softplus[Dec->Dec]",
             "neg[Inc->Dec]", "D", MARK + "imitation", "neg[Inc->Dec]", "l"]
    res = validate(space, names, beta=0.1)
    assert res.reason == "ignores_rejected", res
    obj = Objective(MPOSpec(mirror_map="p**3", imitation="-l"), check=False)
    pc = torch.tensor([-120.0], dtype=torch.float64, requires_grad=True)
    pr = torch.tensor([-90.0], dtype=torch.float64, requires_grad=True)
    gc, gr = torch.autograd.grad(obj(pc, pr, pc.detach() + 5, pr.detach() - 5).sum(), (pc, pr))
    assert abs(gr.item()) < 1e-30 and gc.item() == pytest.approx(-1.0)
    # the same map without the imitation term has no gradient at all: vanishing, not this
    no_psi = names[:-2] + ["0[Dec]"]
    assert validate(space, no_psi, beta=0.1).reason == "vanishing_gradient"


def test_a_length_filtered_imitation_term_is_checked_and_keyed_by_its_threshold(space):
    """Psi = sigmoid(n - c) * (-l): SFT on chosen responses longer than c steps. It validates
    (the checks pass lengths), its per-example gradient in l_w is -sigmoid(n - c) (hand-derived)
    on the probe batch, and another threshold is another loss (fingerprint)."""
    h = ["xlogx[Aff->Cvx]", "p"]
    link = [MARK + "link", "softplus[Dec->Dec]", "neg[Inc->Dec]", "D"]

    def genome(c):
        return h + link + [MARK + "imitation", "mul[LenW,Dec->Dec]", "sigmoid[LenArg->LenW]",
                           "sub[Len,LenShift->LenArg]", "n", f"{c}[LenShift]", "neg[Inc->Dec]", "l"]

    a, b = validate(space, genome(100), beta=0.1), validate(space, genome(150), beta=0.1)
    assert isinstance(a, Candidate) and isinstance(b, Candidate), (a, b)
    n = sp.Symbol("n", positive=True)
    psi = to_elementary(parse_formula(a.imitation, {"l": sp.Symbol("l"), "n": n}))
    assert sp.simplify(psi - (-sp.Symbol("l") / (1 + sp.exp(100 - n)))) == 0
    assert a.fingerprint != b.fingerprint
    obj = Objective(MPOSpec.from_json(a.spec), check=False)
    assert obj.needs_lengths
    pc = torch.tensor([-300.0, -300.0], dtype=torch.float64, requires_grad=True)
    pr, lengths = torch.tensor([-300.0, -300.0], dtype=torch.float64), torch.tensor([20.0, 180.0])
    (gc,) = torch.autograd.grad(obj(pc, pr, pc.detach(), pr, chosen_lengths=lengths).sum(), pc)
    dpo = 0.1 * 0.5  # d/dl_w of softplus(-beta (l_w - l_ref,w) ...) at D = 0 is -beta/2
    expected = -torch.sigmoid(lengths.double() - 100) - dpo
    assert torch.allclose(gc, expected, rtol=1e-6, atol=0)
