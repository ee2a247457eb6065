"""lossforge: symbolic discovery of Mirror Preference Optimization (MPO) losses.

Where things live (one stage, one home; the layers in tests/test_layers.py):
    errors.py, io.py       the error hierarchy; atomic writes, fsynced appends, hashes
    runfiles.py            a run directory's JSON results (read with JSON only)
    grammar/ops.py         the op table (SymPy, torch, LaTeX of every operator)
    symbolic/parser.py     user text -> SymPy, never executed
    symbolic/checks.py     convexity / differentiability / Legendre checks
    symbolic/mirror_map.py MirrorMap: h, phi^-1, phi~ (log domain), checks, LaTeX, hash
    symbolic/compile.py    SymPy -> torch
    symbolic/printers.py   SymPy -> torch source, LaTeX (exports: objectives/torch_module.py)
    objectives/mpo.py      the MPO objective; objectives/zoo.py the known members
    objectives/properties.py  a loss's properties in the margin D (ranking, gradient bound, ...)
    objectives/run.py      load_run: a search run directory's losses as objectives
    grammar/loader.py      typed grammar files; grammar/trees.py random trees
    grammar/symbols.py     the variables p and l of every mirror map
    bench/                 MuJoCo preference benchmark; bench/fitness.py is the search's entry
    search/                typed GP search: candidates.py (checks, de-dup), genome.py (slots),
                           engine.py, journal.py, run dirs; es.py (CMA-ES over neural maps)
    objectives/neural.py   neural mirror maps, valid by construction (the paper's method)
    distill/               neural map -> formula (lossforge GP or PySR)
    export/                a loss as standalone torch, LaTeX or JSON (python -m lossforge.export)
    integrations/trl.py    LossforgeDPOTrainer: any objective inside TRL's DPOTrainer
"""

import importlib

from lossforge.errors import LossforgeError

__all__ = ["MirrorMap", "LossforgeError", "objectives"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """``lossforge.MirrorMap`` and ``lossforge.objectives``, loaded on first use.

    Python runs this ``__init__`` before any module of the package, so importing it eagerly
    would load torch, SymPy and the objectives layer under every module, even ``lossforge.io``
    and the run-directory reader ``lossforge.runfiles`` (layer 0; tests/test_layers.py)."""
    if name == "MirrorMap":
        from lossforge.symbolic.mirror_map import MirrorMap

        return MirrorMap
    if name == "objectives":
        return importlib.import_module("lossforge.objectives")
    raise AttributeError(f"module 'lossforge' has no attribute {name!r}")
