"""A smaller tree of a loss already known (a duplicate: same fingerprint or semantic hash) is
not trained, and does not change what the loss's record says it is: its h, phi and link /
imitation texts, size and tree stay those of the tree that was trained, as its spec (what
export, pareto.tex and losses/*.py print) and its id do. The duplicate used to replace the texts
only, so `show` printed one formula and export another for the same loss id."""

from __future__ import annotations

from lossforge.search import engine
from lossforge.search.candidates import validate
from lossforge.search.genome import MARK

DOMAIN = "grammars/mirror_map.toml"
TEXTS = ("h", "phi_inv", "phi_tilde", "complexity")


def _assess(config: engine.SearchConfig, first: list[str], smaller: list[str]):
    """(context, state, candidate of ``first``) after assessing ``first`` then ``smaller``,
    which must be one loss."""
    ctx = engine.make_context(config)
    state = engine.init_state(ctx)
    tally = engine.assess(state, ctx, [(first, "t"), (smaller, "t")])
    assert tally["new_losses"] == 1 and tally["duplicates"] == 1
    cand = validate(ctx.space, first, beta=ctx.beta, aggregation=ctx.config.aggregation,
                    time_limit_s=ctx.config.check_time_limit_s, require=ctx.config.require,
                    response_steps=getattr(ctx.scenario, "response_steps", None))
    assert ctx.space.size(smaller) < cand.complexity
    return ctx, state, cand


def _check(state: dict, cand, first: list[str], smaller: list[str], fields=TEXTS) -> dict:
    (lid, rec), = state["losses"].items()
    assert rec["spec"] == dict(cand.spec, name=f"lf-{lid[:8]}")      # what was trained
    assert {k: rec[k] for k in fields} == {k: getattr(cand, k) for k in fields}
    assert rec["tree"] == engine.tree_key(first)
    assert rec["h"] == rec["spec"]["mirror_map"]
    dup = state["trees"][engine.tree_key(smaller)]
    assert dup["loss"] == lid and dup["duplicate"]                   # kept, as a tree of it
    return rec


def test_a_smaller_duplicate_tree_leaves_the_trained_formula_in_the_record():
    """h = p log p + p, trained, then h = p log p (the same loss: an affine term in h changes
    nothing): the record still says p*log(p) + p, as its spec does."""
    first = ["add[Real,Real->Real]", "xlogx[Prob->Neg]", "p", "p"]
    smaller = ["xlogx[Prob->Neg]", "p"]
    config = engine.SearchConfig(grammar=DOMAIN, fitness="probe", workers=1, population=4)
    _, state, cand = _assess(config, first, smaller)
    rec = _check(state, cand, first, smaller)
    assert rec["h"] == "p*log(p) + p"


def test_a_smaller_duplicate_genome_leaves_the_trained_link_and_imitation_in_the_record():
    """With open slots: Psi = -l + softplus(0), trained, then Psi = -l (a constant added to a
    loss trains nothing): the record's imitation text stays the spec's."""
    h = ["xlogx[Aff->Cvx]", "p", MARK + "link", "softplus[Dec->Dec]", "neg[Inc->Dec]", "D"]
    first = h + [MARK + "imitation", "add[Dec,Dec->Dec]", "neg[Inc->Dec]", "l",
                 "softplus[Dec->Dec]", "0[Dec]"]
    smaller = h + [MARK + "imitation", "neg[Inc->Dec]", "l"]
    config = engine.SearchConfig(fitness="probe", workers=1, population=4,
                                 link_grammar="grammars/link.toml",
                                 imitation_grammar="grammars/imitation.toml")
    _, state, cand = _assess(config, first, smaller)
    rec = _check(state, cand, first, smaller, TEXTS + ("link", "imitation"))
    assert rec["imitation"] == rec["spec"]["imitation"] == cand.imitation
    assert rec["link"] == rec["spec"]["link"]
