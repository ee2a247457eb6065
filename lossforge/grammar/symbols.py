"""The variables a mirror map is written in, shared by the grammar and the symbolic layer.

    P   the probability p of h(p) and phi^-1(p): positive
    L   the log-probability l of phi~(l) and of imitation terms: negative

They live in the grammar layer, beside the op table, because grammar trees turn into SymPy
expressions in them (``grammar/trees.py``) and the symbolic layer (parser, mirror maps, log
domain) builds on the grammar, never the other way round. The link variables of a whole MPO
loss (D, rw, rl, t, n) belong to the loss: ``objectives/mpo.py``.
"""

from __future__ import annotations

import sympy as sp

#: The probability variable of every mirror map.
P = sp.Symbol("p", positive=True)

#: The log-probability variable: real and negative.
L = sp.Symbol("l", negative=True)
