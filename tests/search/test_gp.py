"""Typed variation with an explicit RNG: valid trees within limits, reproducible, and NSGA-II
selection that prefers better and smaller."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lossforge.grammar.loader import load_grammar
from lossforge.grammar.trees import tree_from_names, tree_to_sympy
from lossforge.search import gp

ROOT = Path(__file__).resolve().parents[2] / "grammars"


@pytest.fixture(scope="module", params=["mirror_map.toml", "mirror_map_dcp.toml"])
def grammar(request):
    return load_grammar(ROOT / request.param)


def _offspring(grammar, seed, n=150):
    rng = random.Random(seed)
    limits = gp.Limits(max_height=grammar.max_depth, max_size=20)
    pop = [gp.random_tree(grammar, rng, limits) for _ in range(12)]
    out = []
    for _ in range(n):
        a, b = rng.choice(pop), rng.choice(pop)
        child, op = gp.vary(grammar, (a, b), rng, limits, gp.DEFAULT_OPERATOR_WEIGHTS)
        out.append((child, op))
        pop.append(child)
    return out, limits


def test_every_operator_yields_typed_trees_within_limits(grammar):
    out, limits = _offspring(grammar, 0)
    ops = {op for _, op in out}
    assert {"crossover", "subtree", "point", "shrink"} <= ops
    for names, _ in out:
        tree = tree_from_names(grammar, names)      # every node known, arity consistent
        assert tree.height <= limits.max_height and len(tree) <= limits.max_size
        tree_to_sympy(grammar, tree)
        # the type of every subtree fits the slot it sits in
        slots = gp._slot_types(grammar, tree)
        assert all(issubclass(node.ret, slot) for node, slot in zip(tree, slots))


def test_variation_is_reproducible_and_uses_no_global_random(grammar):
    random.seed(123)
    a, _ = _offspring(grammar, 7, n=60)
    random.seed(999)                                 # global state must not matter
    b, _ = _offspring(grammar, 7, n=60)
    c, _ = _offspring(grammar, 8, n=60)
    assert a == b and a != c


def test_nsga2_prefers_better_and_simpler():
    entries = [("big-good", 10.0, 9), ("small-good", 10.0, 3), ("small-bad", 1.0, 3),
               ("mid", 5.0, 5), ("failed", float("nan"), 2)]
    assert gp.nsga2_select(entries, 1) == ["small-good"]
    front = gp.pareto_front(entries)
    assert front == ["small-good"]
    ranks = gp.pareto_ranks(entries)
    assert ranks["small-good"][0] == 0 and ranks["big-good"][0] > 0
    front2 = gp.pareto_front([("a", 1.0, 2), ("b", 3.0, 4), ("c", 2.0, 6)])
    assert front2 == ["a", "b"]


def test_constant_mutation_swaps_a_constant_for_one_of_its_type(grammar):
    rng = random.Random(0)
    names = (["mul[Coef,Real->Real]", "2[Coef]", "xlogx[Prob->Neg]", "p"]
             if grammar.name == "mirror_map" else
             ["mul[Coef,Cvx->Cvx]", "2[Coef]", "xlogx[Aff->Cvx]", "p"])
    tree = tree_from_names(grammar, names)
    seen = {gp.mutate_constant(grammar, tree, rng)[1].name for _ in range(30)}
    assert seen == {"1/2[Coef]", "3[Coef]"}
