"""The search's variation and selection on DEAP trees: typed operators and NSGA-II.

The grammar layer builds the DEAP primitive sets and trees (grammar/loader.py, grammar/trees.py);
this is the one search module that calls DEAP.

The rest of the search sees a tree only as its JSON form, the prefix list of node names
(``tree_to_names``), and a candidate's objectives only as plain floats.

DEAP's own typed operators (``gp.mutUniform``, ``gp.cxOnePoint``, ``gp.mutNodeReplacement``,
``gp.mutShrink``) draw from the global ``random`` module, which would make a run depend on
whatever else touched it. The few operators the search needs are re-implemented here with an
explicit ``random.Random``; they are short, and they respect subtyping: a subtree may go into a
slot when its return type is the slot's type or a subtype of it (DEAP itself only swaps
subtrees with *equal* return types, which under-uses grammars with ``subtype_of``).

Selection uses DEAP's NSGA-II (``tools.selNSGA2``: non-dominated sorting plus crowding
distance, deterministic given the input order) on two objectives: fitness (maximised) and
complexity = tree size (minimised). The fitness class is created once, here, with
``deap.creator``; nothing DEAP-made is ever pickled or checkpointed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from deap import base, creator, gp, tools

from lossforge.grammar.loader import Grammar
from lossforge.grammar.trees import generate, tree_from_names, tree_to_names

if not hasattr(creator, "LossforgeSearchFitness"):
    creator.create("LossforgeSearchFitness", base.Fitness, weights=(1.0, -1.0))

#: Variation operators and their default probabilities (one operator per offspring).
OPERATORS = ("crossover", "subtree", "point", "shrink", "constant")
DEFAULT_OPERATOR_WEIGHTS = {"crossover": 0.4, "subtree": 0.25, "point": 0.15, "shrink": 0.1,
                            "constant": 0.1}

#: Score given to failed candidates for selection only (never stored or reported).
FAILED_SCORE = -1e9


@dataclass(frozen=True)
class Limits:
    max_height: int
    max_size: int


def _slot_types(grammar: Grammar, tree: gp.PrimitiveTree) -> list[type]:
    """For each node, the type its position expects (root: the grammar's root type)."""
    slots: list[type] = []
    stack = [grammar.classes[grammar.root]]
    for node in tree:
        slots.append(stack.pop())
        if isinstance(node, gp.Primitive):
            stack.extend(reversed(node.args))
    return slots


def _within(tree: gp.PrimitiveTree, limits: Limits) -> bool:
    return tree.height <= limits.max_height and len(tree) <= limits.max_size


def _replace(tree: gp.PrimitiveTree, i: int, sub: list) -> gp.PrimitiveTree:
    sl = tree.searchSubtree(i)
    return gp.PrimitiveTree(list(tree[:sl.start]) + list(sub) + list(tree[sl.stop:]))


def _depth_of(tree: gp.PrimitiveTree, i: int) -> int:
    depth, stack = 0, [0]
    for k, node in enumerate(tree):
        depth = stack.pop()
        if k == i:
            return depth
        stack.extend([depth + 1] * node.arity)
    raise IndexError(i)


def crossover(grammar: Grammar, a: gp.PrimitiveTree, b: gp.PrimitiveTree,
              rng: random.Random) -> gp.PrimitiveTree | None:
    """One child: a random subtree of ``a`` replaced by a type-compatible subtree of ``b``."""
    slots = _slot_types(grammar, a)
    order = list(range(len(a)))
    rng.shuffle(order)
    for i in order:
        donors = [j for j in range(len(b)) if issubclass(b[j].ret, slots[i])]
        if donors:
            j = rng.choice(donors)
            return _replace(a, i, b[b.searchSubtree(j)])
    return None


def mutate_subtree(grammar: Grammar, tree: gp.PrimitiveTree, rng: random.Random,
                   limits: Limits) -> gp.PrimitiveTree | None:
    """Replace a random subtree by a fresh random tree of the slot's type."""
    slots = _slot_types(grammar, tree)
    i = rng.randrange(len(tree))
    room = limits.max_height - _depth_of(tree, i)
    t = slots[i].__name__
    if room < grammar.min_depth[t]:
        return None
    sub = generate(grammar, rng, min_height=0, max_height=min(room, 3), type_name=t)
    return _replace(tree, i, list(sub))


def mutate_point(grammar: Grammar, tree: gp.PrimitiveTree, rng: random.Random
                 ) -> gp.PrimitiveTree | None:
    """Replace one node by another of the same signature (primitive) or slot type (terminal)."""
    slots = _slot_types(grammar, tree)
    i = rng.randrange(len(tree))
    node = tree[i]
    if isinstance(node, gp.Primitive):
        pool = [p for p in grammar.pset.primitives[slots[i]]
                if p.args == node.args and p.name != node.name]
    else:
        pool = [t for t in grammar.pset.terminals[slots[i]] if t.name != node.name]
    if not pool:
        return None
    nodes = list(tree)
    nodes[i] = rng.choice(pool)
    return gp.PrimitiveTree(nodes)


def mutate_shrink(grammar: Grammar, tree: gp.PrimitiveTree, rng: random.Random
                  ) -> gp.PrimitiveTree | None:
    """Replace a primitive by one of its argument subtrees that fits the primitive's slot."""
    slots = _slot_types(grammar, tree)
    choices = []
    for i, node in enumerate(tree):
        if isinstance(node, gp.Primitive):
            j = i + 1
            for _ in range(node.arity):
                sl = tree.searchSubtree(j)
                if issubclass(tree[j].ret, slots[i]):
                    choices.append((i, sl))
                j = sl.stop
    if not choices:
        return None
    i, sl = rng.choice(choices)
    return _replace(tree, i, tree[sl])


def mutate_constant(grammar: Grammar, tree: gp.PrimitiveTree, rng: random.Random
                    ) -> gp.PrimitiveTree | None:
    """Swap one constant for another constant of its slot's type (the variable is not one)."""
    slots = _slot_types(grammar, tree)
    spots = [i for i, node in enumerate(tree)
             if isinstance(node, gp.Terminal) and node.name not in grammar.variable_names]
    rng.shuffle(spots)
    for i in spots:
        pool = [t for t in grammar.pset.terminals[slots[i]]
                if t.name != tree[i].name and t.name not in grammar.variable_names]
        if pool:
            nodes = list(tree)
            nodes[i] = rng.choice(pool)
            return gp.PrimitiveTree(nodes)
    return None


def vary(grammar: Grammar, parents: tuple[list[str], list[str]], rng: random.Random,
         limits: Limits, weights: dict[str, float], tries: int = 8) -> tuple[list[str], str]:
    """One offspring (names) from two parents: an operator drawn by ``weights``, retried until
    the child is within the height and size limits and differs from the first parent; falls
    back to a copy of the first parent (operator "copy")."""
    a = tree_from_names(grammar, parents[0])
    b = tree_from_names(grammar, parents[1])
    ops = [op for op in OPERATORS if weights.get(op, 0) > 0]
    w = [weights[op] for op in ops]
    for _ in range(tries):
        op = rng.choices(ops, weights=w)[0]
        if op == "crossover":
            child = crossover(grammar, a, b, rng)
        elif op == "subtree":
            child = mutate_subtree(grammar, a, rng, limits)
        elif op == "point":
            child = mutate_point(grammar, a, rng)
        elif op == "shrink":
            child = mutate_shrink(grammar, a, rng)
        else:
            child = mutate_constant(grammar, a, rng)
        if child is not None and _within(child, limits):
            names = tree_to_names(child)
            if names != parents[0]:
                return names, op
    return list(parents[0]), "copy"


def random_tree(grammar: Grammar, rng: random.Random, limits: Limits) -> list[str]:
    """A random tree within the limits (ramped half-and-half, height 1..max)."""
    for _ in range(100):
        tree = generate(grammar, rng, min_height=1, max_height=limits.max_height)
        if _within(tree, limits):
            return tree_to_names(tree)
    raise RuntimeError("could not generate a tree within the size limit")  # pragma: no cover


# ---- selection -------------------------------------------------------------------------------


class _Ind:
    __slots__ = ("key", "fitness")

    def __init__(self, key: str, score: float, complexity: int):
        self.key = key
        self.fitness = creator.LossforgeSearchFitness()
        s = score if math.isfinite(score) else FAILED_SCORE
        self.fitness.values = (s, float(complexity))


def nsga2_select(entries: list[tuple[str, float, int]], k: int) -> list[str]:
    """Keys of the ``k`` survivors of NSGA-II on (score max, complexity min).
    ``entries``: (key, score, complexity); deterministic given the order of ``entries``."""
    inds = [_Ind(*e) for e in entries]
    return [ind.key for ind in tools.selNSGA2(inds, min(k, len(inds)))]


def pareto_ranks(entries: list[tuple[str, float, int]]) -> dict[str, tuple[int, float]]:
    """key -> (front rank, crowding distance), as NSGA-II computes them."""
    inds = [_Ind(*e) for e in entries]
    out: dict[str, tuple[int, float]] = {}
    if not inds:
        return out
    for rank, front in enumerate(tools.sortNondominated(inds, len(inds))):
        tools.emo.assignCrowdingDist(front)
        for ind in front:
            out[ind.key] = (rank, ind.fitness.crowding_dist)
    return out


def tournament(ranked: dict[str, tuple[int, float]], keys: list[str], rng: random.Random
               ) -> str:
    """Binary tournament on (lower rank, larger crowding distance), ties to the first drawn."""
    a, b = rng.choice(keys), rng.choice(keys)
    ra, rb = ranked[a], ranked[b]
    if (ra[0], -ra[1]) <= (rb[0], -rb[1]):
        return a
    return b


def pareto_front(entries: list[tuple[str, float, int]]) -> list[str]:
    """Keys on the first non-dominated front (finite scores only), by complexity."""
    ok = [e for e in entries if math.isfinite(e[1])]
    if not ok:
        return []
    inds = [_Ind(*e) for e in ok]
    front = tools.sortNondominated(inds, len(inds), first_front_only=True)[0]
    return [ind.key for ind in sorted(front, key=lambda ind: (ind.fitness.values[1],
                                                                 -ind.fitness.values[0]))]
