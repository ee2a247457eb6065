"""lossforge's own GP as a symbolic-regression backend (``--backend deap``).

The search's typed GP (``search/gp.py``: the same variation operators with an explicit
``random.Random``, NSGA-II selection, the grammar's trees) with a different fitness: the fit
error of a tree's phi~ to the target where the data's log-probs are (``fit_error``: values and
slopes, best positive scale and shift), against tree size. Nothing is trained, so a
generation takes well under a second.

Generation 0 holds the zoo's maps (DPO's p log p, ORPO's binary entropy; ``seed_zoo``) and
random trees. The pick is the tree minimising ``error + parsimony * size`` among those that pass
every check (``finalize``), so a tree whose phi~ fits but whose h fails a check is passed over.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

import numpy as np

from lossforge.distill import DistillError, Distilled, Target, finalize, fit_error, \
    phi_tilde_values
from lossforge.grammar.loader import load_grammar
from lossforge.grammar.trees import tree_from_names
from lossforge.search import gp
from lossforge.search.candidates import tree_to_mirror_map
from lossforge.search.engine import resolve_path, tree_key

#: the rest of the search's operator mix, without constant swaps' share going to waste on
#: grammars with few constants
WEIGHTS = dict(gp.DEFAULT_OPERATOR_WEIGHTS)


@dataclass(frozen=True)
class SRConfig:
    grammar: str = "grammars/mirror_map_dcp.toml"
    population: int = 48
    generations: int = 15
    seed: int = 0
    max_size: int = 15
    max_height: int | None = None
    parsimony: float = 2e-3          # error units per tree node in the final pick
    seed_zoo: bool = True            # DPO's and ORPO's trees in generation 0

    def to_json(self) -> dict:
        return asdict(self)


def _evaluate(grammar, names: list[str], target: Target) -> tuple[float, float, float]:
    try:
        mm = tree_to_mirror_map(grammar, tree_from_names(grammar, names))
        with np.errstate(all="ignore"):
            return fit_error(phi_tilde_values(mm, target.l), target)
    except Exception:  # noqa: BLE001 - a tree that cannot be compiled simply does not fit
        return float("inf"), float("nan"), float("nan")


def fit(target: Target, config: SRConfig = SRConfig()) -> Distilled:
    """Evolve trees towards the target; the best checked tree as a ``Distilled``."""
    grammar = load_grammar(resolve_path(config.grammar, "grammar"))
    limits = gp.Limits(config.max_height or grammar.max_depth, config.max_size)
    rng = random.Random(config.seed)
    seen: dict[str, tuple[list[str], float, int]] = {}   # key -> (names, error, size)

    def score(names: list[str]) -> str:
        key = tree_key(names)
        if key not in seen:
            err = _evaluate(grammar, names, target)[0]
            seen[key] = (list(names), err, len(names))
        return key

    pop: list[str] = []
    if config.seed_zoo:
        pop += [score(n) for n in grammar.seeds.values()]
    while len(pop) < config.population:
        pop.append(score(gp.random_tree(grammar, rng, limits)))
    for _ in range(config.generations):
        entries = [(k, -seen[k][1], seen[k][2]) for k in dict.fromkeys(pop)]
        ranked = gp.pareto_ranks(entries)
        keys = [e[0] for e in entries]
        children = []
        for _ in range(config.population):
            a, b = gp.tournament(ranked, keys, rng), gp.tournament(ranked, keys, rng)
            names, _op = gp.vary(grammar, (seen[a][0], seen[b][0]), rng, limits, WEIGHTS)
            children.append(score(names))
        pool = [(k, -seen[k][1], seen[k][2]) for k in dict.fromkeys(keys + children)]
        pop = gp.nsga2_select(pool, config.population)
    ranked_all = sorted((v for v in seen.values() if math.isfinite(v[1])),
                        key=lambda v: (v[1] + config.parsimony * v[2], v[2], tree_key(v[0])))
    front_keys = gp.pareto_front([(k, -v[1], v[2]) for k, v in seen.items()
                                  if math.isfinite(v[1])])
    front = [{"complexity": seen[k][2], "error": seen[k][1],
              "h": str(tree_to_mirror_map(grammar, tree_from_names(grammar, seen[k][0])).h)}
             for k in front_keys]
    failures = []
    for names, err, size in ranked_all[:20]:
        mm = tree_to_mirror_map(grammar, tree_from_names(grammar, names))
        try:
            return finalize(mm, target, backend="deap", complexity=size, front=front,
                            extra={"tree": names, "config": config.to_json(),
                                   "trees_evaluated": len(seen)})
        except DistillError as exc:
            failures.append(str(exc))
    raise DistillError("no tree of the grammar fits the target and passes the checks"
                       + (f"; e.g. {failures[0]}" if failures else ""))
