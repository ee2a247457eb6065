"""A found formula's simpler equivalent, printed beside the tree's own wording.

A tree spells its formula the way the grammar built it: the imitation term of the suite search's
winner reads ``softplus(softplus(log1mexp(l)))``, which is ``log(3 - exp(l))``. ``simpler``
rewrites lossforge's functions into exp/log (``grammar.ops.to_elementary``), lets
``sympy.simplify`` work on that for at most ``TIME_LIMIT_S``, and returns the result only when
it is simpler by one stated rule: **fewer function applications** (log, exp, softplus, relu,
..., each application counted), and reads back as a formula. ``log(3 - exp(l))`` has two
against three; ``log(1 + exp(-D))`` (DPO's ``-logsigmoid(D)`` expanded) has two against one,
so DPO keeps its own wording.

The rewrite is exact: every step is a SymPy identity valid for the variables' declared
assumptions (``objectives/mpo.py``: D, rw, rl real, t >= 0, n > 0, l < 0). Nothing a user typed
is executed (the text is read by the safe parser). The form shown is the plain exp/log one: it
is mathematically equal, and the loss still trains as the tree wrote it (with the stable
kernels). Where the time limit cannot be armed (off the main thread, or inside another limit)
nothing is tried and None comes back, as on a timeout: this is a description for people,
never a check.
"""

from __future__ import annotations

from typing import Mapping

import sympy as sp
from sympy.core.function import Application

from lossforge.errors import FormulaError
from lossforge.grammar.ops import to_elementary
from lossforge.symbolic.parser import formula_text, parse_formula
from lossforge.symbolic.timelimit import time_limit

__all__ = ["TIME_LIMIT_S", "applications", "simpler"]

TIME_LIMIT_S = 0.5


def applications(expr: sp.Expr) -> int:
    """How many function applications ``expr`` has: log(exp(x)) has 2, relu(x) (SymPy's
    ``Max(0, x)``) 1; powers and arithmetic count none."""
    return sum(1 for node in sp.preorder_traversal(expr) if isinstance(node, Application))


def simpler(text: str, variables: Mapping[str, sp.Symbol]) -> str | None:
    """The text of an exact equivalent of ``text`` with fewer function applications, or None:
    none found in time, ``text`` does not parse, or what SymPy found is not in the op table's
    language (``sinh``, ``Abs``, ...: the form printed must read back as a formula). Never
    raises: this is a description, and a search writes it with its results."""
    key = (text, tuple(sorted(variables.items(), key=lambda kv: kv[0])))
    if key in _known:
        return _known[key]
    try:
        expr = parse_formula(text, variables)
    except FormulaError:
        return None
    try:
        with time_limit(TIME_LIMIT_S) as armed:
            if not armed:
                return None        # not remembered: a later call may have the time
            found = sp.simplify(to_elementary(expr))
            answer = None
            if applications(found) < applications(expr):
                answer = formula_text(found)
                parse_formula(answer, variables)   # reads back, or it is not shown
    except Exception:  # noqa: BLE001 - a timeout, or SymPy failing on an odd formula
        answer = None
    _known[key] = answer   # a timeout too: it would cost the same time at every generation
    return answer


#: every answer worked out (a search prints the same rows every generation)
_known: dict[tuple, str | None] = {}
