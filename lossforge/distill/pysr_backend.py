"""PySR as a distillation backend (``--backend pysr``): real PySR where it can run.

PySR (``pip install pysr``) runs its search in Julia through ``juliacall``; without a Julia
runtime, importing it tries to download one, which cannot work on offline machines. So the
backend looks for Julia first (``find_julia``) and stops with ``DistillError`` naming what to
install, before importing anything.

With PySR present, it fits phi~(l) on the target grid (variable ``l``; operators the op table
and the safe parser know) and hands back its equations. Each equation is translated into a
lossforge mirror map (``translate``): the equation string is rewritten from Julia's spelling
(``^`` -> ``**``) and parsed by the safe parser (Python ``ast`` against the op table: nothing is
ever evaluated), then h(p) = integral of phi~(log p) dp is found by SymPy under a time limit.
The candidates then pass ``finalize`` like the GP backend's. ``load_equations`` reads PySR's own
hall-of-fame CSV (``Complexity,Loss,Equation``), so stored PySR output distils the same way.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import sympy as sp

from lossforge.distill import DistillError, Distilled, Target, finalize
from lossforge.errors import FormulaError
from lossforge.symbolic.logdomain import L
from lossforge.symbolic.mirror_map import P, MirrorMap
from lossforge.symbolic.parser import parse_formula
from lossforge.symbolic.timelimit import TimeLimitExceeded, time_limit

INSTALL = ("the PySR backend needs PySR and a Julia runtime: pip install 'pysr==2.7.2', and "
           "Julia >= 1.10 (https://julialang.org/downloads: juliaup, or a distribution "
           "package) on PATH or named by PYTHON_JULIACALL_EXE; PySR then installs its Julia "
           "packages on first use (network access to the Julia package registry). Without "
           "them use --backend deap")

#: PySR operators, all known to the op table (so every equation parses and compiles)
BINARY = ["+", "-", "*", "/"]
UNARY = ["exp", "log", "sqrt", "square", "tanh", "log1p", "neg"]


@dataclass(frozen=True)
class PySRConfig:
    niterations: int = 40
    maxsize: int = 20
    seed: int = 0
    timeout_s: float = 600.0

    def to_json(self) -> dict:
        return asdict(self)


def find_julia() -> str | None:
    """A Julia executable juliacall would use: $PYTHON_JULIACALL_EXE, or julia on PATH."""
    exe = os.environ.get("PYTHON_JULIACALL_EXE")
    if exe and Path(exe).is_file() and os.access(exe, os.X_OK):
        return exe
    return shutil.which("julia")


def require_pysr():
    """The ``pysr`` module, or ``DistillError`` saying what to install (Julia is looked for
    first: importing PySR without it would try to download Julia)."""
    import importlib.util

    missing = []
    if importlib.util.find_spec("pysr") is None:
        missing.append("the pysr package is not installed")
    if find_julia() is None:
        missing.append("no Julia runtime found (not on PATH, PYTHON_JULIACALL_EXE unset)")
    if missing:
        raise DistillError(f"{'; '.join(missing)}: {INSTALL}")
    try:
        import pysr
    except Exception as exc:  # noqa: BLE001 - juliacall fails in many ways without Julia
        raise DistillError(f"importing pysr failed ({type(exc).__name__}: {exc}): "
                           f"{INSTALL}") from None
    return pysr


def translate(equation: str, *, variable: str = "l", time_limit_s: float = 5.0) -> MirrorMap:
    """A PySR equation for phi~ (Julia spelling or SymPy's) -> a lossforge ``MirrorMap``.

    The text is parsed by the safe parser over the one variable; h(p) is the SymPy integral of
    phi~(log p); ``FormulaError`` if either step fails (never evaluated, never sympified)."""
    if not isinstance(equation, str):
        raise FormulaError(f"PySR equation must be a string, got {type(equation).__name__}")
    text = equation.replace("^", "**")
    phi = parse_formula(text, {variable: L})
    if L not in phi.free_symbols:
        raise FormulaError(f"PySR equation {equation!r} does not depend on {variable}")
    phi_inv = phi.subs(L, sp.log(P))
    try:
        with time_limit(time_limit_s):
            h = sp.integrate(phi_inv, P)
    except TimeLimitExceeded:
        raise FormulaError(f"PySR equation {equation!r}: no closed-form h(p) within "
                           f"{time_limit_s:g} s") from None
    if h.has(sp.Integral) or h.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise FormulaError(f"PySR equation {equation!r}: SymPy finds no closed-form h(p)")
    h = _real_logs(h)
    return MirrorMap(h, source=str(h))


def _real_logs(h: sp.Expr) -> sp.Expr:
    """SymPy integrates -log(1 - p) to terms with log(p - 1), complex on (0, 1); log(-a) has
    the same derivative as log(a), so each log of an argument negative on (0, 1) is flipped."""
    def flip(arg):
        value = arg.subs(P, sp.Rational(1, 2))
        return sp.log(-arg) if value.is_number and value.is_extended_negative else sp.log(arg)
    return h.replace(sp.log, flip)


def load_equations(path: str | Path) -> list[dict]:
    """PySR's hall-of-fame CSV (``Complexity,Loss,Equation``) as rows (never unpickled)."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            need = {"Complexity", "Loss", "Equation"}
            if not need <= set(reader.fieldnames or ()):
                raise DistillError(f"{path}: not a PySR equations CSV (columns "
                                   f"{reader.fieldnames}; need {sorted(need)})")
            rows = []
            for i, r in enumerate(reader, 2):
                try:
                    rows.append({"complexity": int(r["Complexity"]), "loss": float(r["Loss"]),
                                 "equation": r["Equation"]})
                except (TypeError, ValueError):
                    raise DistillError(f"{path}, line {i}: Complexity and Loss must be "
                                       "numbers") from None
            return rows
    except OSError as exc:
        raise DistillError(f"{path}: cannot read ({exc})") from None


def distil_equations(rows: list[dict], target: Target, *, parsimony: float = 2e-3,
                     variable: str = "l") -> Distilled:
    """The best of PySR's equations (error + parsimony * complexity) that translates and passes
    every check; each rejection is kept in ``extra['rejected']``."""
    candidates, rejected = [], []
    for r in rows:
        try:
            mm = translate(r["equation"], variable=variable)
            d = finalize(mm, target, backend="pysr", complexity=int(r["complexity"]),
                         extra={"equation": r["equation"], "pysr_loss": r.get("loss")})
        except (FormulaError, DistillError) as exc:
            rejected.append({"equation": r["equation"], "reason": str(exc)[:300]})
            continue
        candidates.append(d)
    if not candidates:
        raise DistillError("no PySR equation translates into a valid mirror map: "
                           + "; ".join(f"{x['equation']}: {x['reason']}" for x in rejected[:3]))
    best = min(candidates, key=lambda d: (d.error + parsimony * d.complexity, d.complexity))
    best.front = [{"complexity": d.complexity, "error": d.error, "h": d.h} for d in candidates]
    best.extra["rejected"] = rejected
    return best


def fit(target: Target, config: PySRConfig = PySRConfig()) -> Distilled:
    """Run PySR on the target (needs PySR and Julia: ``require_pysr``) and distil its output."""
    pysr = require_pysr()
    model = pysr.PySRRegressor(niterations=config.niterations, maxsize=config.maxsize,
                               binary_operators=BINARY, unary_operators=UNARY,
                               random_state=config.seed, deterministic=True, parallelism="serial",
                               timeout_in_seconds=config.timeout_s, progress=False)
    model.fit(target.l.reshape(-1, 1), target.y, variable_names=["l"])
    eq = model.equations_
    rows = [{"complexity": int(c), "loss": float(lo), "equation": str(e)}
            for c, lo, e in zip(eq["complexity"], eq["loss"], eq["equation"])
            if math.isfinite(float(lo))]
    d = distil_equations(rows, target)
    d.extra["config"] = config.to_json()
    return d
