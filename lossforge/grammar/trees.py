"""Trees of a grammar: random generation, SymPy conversion, JSON round trip.

Trees are DEAP ``PrimitiveTree`` objects (prefix lists of primitives and terminals) over the
grammar's typed primitive set. Generation takes an explicit ``random.Random`` (DEAP's own
generators use the global ``random`` module, which would break reproducibility), and knows
each type's smallest producible height, so a typed tree never dead-ends the way DEAP's
``genGrow`` can.
"""

from __future__ import annotations

import random

import sympy as sp
from deap import gp

from lossforge.errors import GrammarError
from lossforge.grammar.loader import Grammar
from lossforge.grammar.symbols import L, P


def _candidates(grammar: Grammar, type_name: str, budget: int):
    """(terminals, primitives) that produce ``type_name`` within ``budget`` more levels."""
    cls = grammar.classes[type_name]
    terms = grammar.pset.terminals.get(cls, [])
    prims = [pr for pr in grammar.pset.primitives.get(cls, [])
             if all(grammar.min_depth[a.__name__] <= budget - 1 for a in pr.args)]
    return terms, prims


def generate(grammar: Grammar, rng: random.Random, *, min_height: int = 1,
             max_height: int | None = None, method: str = "half", type_name: str | None = None
             ) -> gp.PrimitiveTree:
    """A random tree of ``type_name`` (default: the root type).

    ``method``: "grow" (terminals may end any branch), "full" (branches go to the chosen
    height where the types allow) or "half" (either, with equal probability).
    """
    max_height = grammar.max_depth if max_height is None else max_height
    type_name = type_name or grammar.root
    if grammar.min_depth[type_name] > max_height:
        raise GrammarError(f"{grammar.path}: type {type_name!r} needs height "
                           f"{grammar.min_depth[type_name]} > {max_height}")
    if method == "half":
        method = rng.choice(["grow", "full"])
    height = rng.randint(max(min_height, grammar.min_depth[type_name]), max_height)
    n_terms = sum(len(v) for v in grammar.pset.terminals.values())
    n_prims = sum(len(v) for v in grammar.pset.primitives.values())
    p_term = n_terms / (n_terms + n_prims)
    expr: list = []
    stack = [(0, type_name)]
    while stack:
        depth, t = stack.pop()
        terms, prims = _candidates(grammar, t, height - depth)
        want_terminal = (not prims or depth >= height
                         or (method == "grow" and depth >= min_height and rng.random() < p_term))
        if want_terminal and terms:
            expr.append(rng.choice(terms))
            continue
        if not prims:  # no terminal and no primitive fits: take the shallowest primitive
            prims = sorted(grammar.pset.primitives[grammar.classes[t]],
                           key=lambda pr: max(grammar.min_depth[a.__name__] for a in pr.args))[:1]
        prim = rng.choice(prims)
        expr.append(prim)
        for arg in reversed(prim.args):
            stack.append((depth + 1, arg.__name__))
    return gp.PrimitiveTree(expr)


def variable_symbol(name: str) -> sp.Symbol:
    """The SymPy symbol of a grammar variable: the mirror maps' p, the log-probability l (< 0:
    a map written as phi~(l), or an imitation term), else a real symbol (link formulas go on as
    text through the safe parser, which only needs the name)."""
    return {P.name: P, L.name: L}.get(name) or sp.Symbol(name, real=True)


def tree_to_sympy(grammar: Grammar, tree: gp.PrimitiveTree) -> sp.Expr:
    """The SymPy expression of a tree, built with the op table's SymPy constructors."""
    by_key = {prod.key: prod.op for prod in grammar.productions}
    consts = {f"{c}[{t.name}]": c for t in grammar.types.values() for c in t.constants}
    symbols = {name: variable_symbol(name) for name in grammar.variable_names}

    def build(i: int) -> tuple[sp.Expr, int]:
        node = tree[i]
        if isinstance(node, gp.Terminal):
            if node.name in symbols:
                return symbols[node.name], i + 1
            return consts[node.name], i + 1
        op = by_key[node.name]
        args, j = [], i + 1
        for _ in range(node.arity):
            a, j = build(j)
            args.append(a)
        return op.sympy(*args), j

    expr, end = build(0)
    if end != len(tree):
        raise GrammarError(f"malformed tree: {len(tree) - end} trailing nodes")
    return expr


def tree_to_names(tree: gp.PrimitiveTree) -> list[str]:
    """JSON-safe form of a tree: its prefix list of node names."""
    return [node.name for node in tree]


def tree_from_names(grammar: Grammar, names: list[str]) -> gp.PrimitiveTree:
    """Inverse of ``tree_to_names``; unknown names raise ``GrammarError``."""
    try:
        nodes = [grammar.pset.mapping[n] for n in names]
    except KeyError as exc:
        raise GrammarError(f"tree uses {exc.args[0]!r}, which grammar {grammar.name!r} "
                           "does not define") from None
    tree = gp.PrimitiveTree(nodes)
    tree_to_sympy(grammar, tree)  # validates arity/structure
    return tree
