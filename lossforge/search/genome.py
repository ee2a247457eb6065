"""A candidate's genome: its mirror-map tree and, when the search opens them, the link G and
imitation Psi slots (``docs/design/mpo.md``: L = G(D, t) + Psi(l_w, n, t)).

A genome is stored exactly like a tree, as one flat JSON list of node names; each open slot
follows a marker::

    ["xlogx[Aff->Cvx]", "p",                                   # h(p)  = p log p
     "@link", "softplus[Dec->Dec]", "neg[Inc->Dec]", "D",      # G(D)  = softplus(-D)
     "@imitation", "0[Dec]"]                                   # Psi   = 0

so a search without slots has the very trees (and checkpoints) it had before slots existed, and
tree keys, caches and de-duplication work on genomes unchanged. Each slot has its own typed
grammar file (``grammars/link.toml``, ``grammars/imitation.toml``: monotone by construction);
a slot grammar with the variable t makes the loss temporally aware (TA-MPO).

Variation changes one part per offspring: a part is drawn uniformly (h or an open slot) and
the usual operator of ``gp.py`` is applied to it, crossover taking the donor subtree from the
same part of the second parent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from lossforge.errors import GrammarError
from lossforge.grammar.loader import Grammar
from lossforge.grammar.trees import tree_from_names
from lossforge.search import gp

#: Optional slots in genome order; the mirror map ("h") always comes first, without a marker.
SLOTS = ("link", "imitation")
MARK = "@"



def size(names: list[str] | tuple[str, ...]) -> int:
    """Complexity of a genome: tree nodes over every part (markers are not nodes)."""
    return sum(1 for n in names if not n.startswith(MARK))


@dataclass(frozen=True)
class Space:
    """The mirror-map grammar and the grammars of the open slots (name -> grammar)."""

    h: Grammar
    slots: dict[str, Grammar] = field(default_factory=dict)

    def __post_init__(self):
        bad = set(self.slots) - set(SLOTS)
        if bad:
            raise GrammarError(f"unknown slot(s) {sorted(bad)}; known: {', '.join(SLOTS)}")

    @property
    def parts(self) -> tuple[str, ...]:
        return ("h",) + tuple(s for s in SLOTS if s in self.slots)

    def grammar(self, part: str) -> Grammar:
        return self.h if part == "h" else self.slots[part]

    # ---- the flat form ---------------------------------------------------------------------

    def split(self, names: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
        """Flat names -> {part: names}; raises ``GrammarError`` if the slots do not match."""
        out: dict[str, list[str]] = {"h": []}
        cur = "h"
        for n in names:
            if n.startswith(MARK):
                cur = n[len(MARK):]
                if cur in out or cur not in self.slots:
                    raise GrammarError(f"genome has an unexpected slot marker {n!r}")
                out[cur] = []
            else:
                out[cur].append(n)
        if tuple(out) != self.parts:
            raise GrammarError(f"genome has parts {list(out)}; this search has {list(self.parts)}")
        return out

    def join(self, parts: dict[str, list[str]]) -> list[str]:
        names = list(parts["h"])
        for s in self.parts[1:]:
            names += [MARK + s, *parts[s]]
        return names

    @staticmethod
    def size(names) -> int:
        """Complexity of a genome (the module's ``size``)."""
        return size(names)

    def check(self, names) -> dict[str, list[str]]:
        """Split and parse every part (unknown nodes, bad arity -> ``GrammarError``)."""
        parts = self.split(names)
        for part, sub in parts.items():
            tree_from_names(self.grammar(part), sub)
        return parts

    # ---- making and varying genomes -------------------------------------------------------

    def limits(self, part: str, limits: gp.Limits) -> gp.Limits:
        """Height limit of the mirror map as configured; each slot its grammar's max_depth."""
        return limits if part == "h" else gp.Limits(self.grammar(part).max_depth,
                                                    limits.max_size)

    def random(self, rng: random.Random, limits: gp.Limits) -> list[str]:
        return self.join({p: gp.random_tree(self.grammar(p), rng, self.limits(p, limits))
                          for p in self.parts})

    def seeds(self, h_seeds: dict[str, list[str]]) -> list[tuple[list[str], str]]:
        """Seed genomes: every seed mirror map with the default slots, then DPO's map with
        every other seed of each slot (e.g. DPO + SFT term, hinge link)."""
        defaults = {s: self._slot_seeds(s) for s in self.parts[1:]}
        out = []
        for name, h in h_seeds.items():
            out.append((self.join({"h": h, **{s: next(iter(d.values()))
                                             for s, d in defaults.items()}}), f"seed:{name}"))
        if h_seeds:
            h0_name, h0 = next(iter(h_seeds.items()))
            for s, d in defaults.items():
                for name, tree in list(d.items())[1:]:
                    parts = {"h": h0, **{k: next(iter(v.values())) for k, v in defaults.items()}}
                    parts[s] = tree
                    out.append((self.join(parts), f"seed:{h0_name}+{s}:{name}"))
        for names, _ in out:
            self.check(names)
        return out

    def _slot_seeds(self, slot: str) -> dict[str, list[str]]:
        g = self.slots[slot]   # the grammar file's [seeds]: the first is every seed genome's
        seeds = g.seeds
        if not seeds:  # a user's own slot grammar: its seed is a random tree of a fixed seed
            seeds = {"random": gp.random_tree(g, random.Random(0), gp.Limits(g.max_depth, 25))}
        return seeds

    def vary(self, parents: tuple[list[str], list[str]], rng: random.Random,
             limits: gp.Limits, weights: dict[str, float]) -> tuple[list[str], str]:
        """One offspring: one part (drawn uniformly) varied by ``gp.vary``; the others are the
        first parent's. The operator name says which part changed (``link:crossover``)."""
        if len(self.parts) == 1:
            return gp.vary(self.h, (list(parents[0]), list(parents[1])), rng, limits, weights)
        a, b = self.split(parents[0]), self.split(parents[1])
        part = rng.choice(self.parts)
        child, op = gp.vary(self.grammar(part), (a[part], b[part]), rng,
                            self.limits(part, limits), weights)
        return self.join({**a, part: child}), f"{part}:{op}"
