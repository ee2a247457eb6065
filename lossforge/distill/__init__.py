"""Distillation: a learned (neural) phi~ turned into a formula from the typed grammar.

    python -m lossforge.distill runs/<es-run> --backend deap    # lossforge's own GP (sr.py)
    python -m lossforge.distill runs/<es-run> --backend pysr    # PySR, where Julia is installed

The flow, top to bottom:

1. ``target_from_run``: the run's best network (or ``--name``); phi~ sampled on a grid over its
   ``l_range`` (the log-probs the data has).
2. A backend proposes formulas: trees of the grammar (h(p), strictly convex by construction in
   the DCP grammar) or PySR equations for phi~(l) (translated by the safe parser, never eval;
   ``pysr_backend.py``).
3. ``fit_error``: only phi~ up to a positive scale and an additive constant matters to the loss
   (the constant cancels in every reward margin; the scale is folded into beta), so each
   formula gets the least-squares scale a > 0 and shift c, and its error is the RMS residual
   of a * phi~_f + c relative to the standard deviation of the target (0 = exact, 1 = no
   better than a constant).
4. ``finalize``: the chosen formula goes through the same checks as any search candidate:
   MirrorMap convexity (proved / sampled / failed), the verified log-domain compile, the
   objective build and the loss-level smoke test. The distilled objective is DPO's loss with
   that phi~ and beta * a.
5. The CLI prints h(p), phi^-1, phi~ and LaTeX, writes ``distilled-<backend>.json`` into the
   run directory, and re-scores network and formula on the benchmark in one call (same
   scenario, budget and seeds as the run: paired).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
import numpy as np
import torch

from lossforge.errors import LossforgeError
from lossforge.objectives.mpo import MPOSpec, Objective
from lossforge.objectives.neural import NeuralSpec, is_neural
from lossforge.objectives.smoke import smoke_test
from lossforge.symbolic.mirror_map import MirrorMap


class DistillError(LossforgeError):
    """Distillation cannot run or found no valid formula (the message says why)."""


@dataclass(frozen=True)
class Target:
    """Samples of a phi~ to distil, and the loss they belong to."""

    l: np.ndarray                 # grid of log-probs (float64)
    y: np.ndarray                 # phi~(l) there
    beta: float = 0.1
    aggregation: str = "sum"
    source: str = ""              # run directory and candidate name, or a description
    spec: dict | None = None      # the neural spec, when there is one


def grid(l_range: tuple[float, float], n: int = 256) -> np.ndarray:
    """n points over l_range, stopping short of l = 0 (where e.g. log(1 - e^l) is singular)."""
    lo, hi = l_range
    top = hi - 1e-3 * (hi - lo) if hi >= -1e-9 else hi
    return np.linspace(lo, top, n)


def target_from_spec(spec: dict, n: int = 256, source: str = "") -> Target:
    ns = NeuralSpec.from_json(spec)
    ls = grid(ns.l_range, n)
    return Target(ls, ns.map.phi_tilde_np(ls), ns.beta, ns.aggregation, source, ns.to_json())


def target_from_run(run_dir: str | Path, name: str | None = None, n: int = 256) -> Target:
    """phi~ samples of a run's best network (or the candidate ``name``)."""
    from lossforge.runfiles import read_checked, run_dir as checked_run_dir

    run_dir = checked_run_dir(run_dir)
    rows = read_checked(run_dir / "hall_of_fame.json")[0]["hall_of_fame"]
    rows = [r for r in rows if is_neural(r["spec"])]
    if name is not None:
        rows = [r for r in rows if r["name"] == name]
        if not rows:
            raise DistillError(f"{run_dir}: no neural candidate named {name!r} in the hall "
                               "of fame")
    if not rows:
        raise DistillError(f"{run_dir}: no neural candidates (distillation reads an ES run: "
                           "python -m lossforge.search --method es)")
    return target_from_spec(rows[0]["spec"], n, f"{run_dir}:{rows[0]['name']}")


# ---- the fit ---------------------------------------------------------------------------------


def fit_error(values: np.ndarray, target: Target) -> tuple[float, float, float]:
    """(relative RMS error, scale a > 0, shift c) of the best a * values + c against the target;
    error inf when values are not finite or no positive scale fits."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape != target.y.shape or not np.all(np.isfinite(v)):
        return float("inf"), float("nan"), float("nan")
    y = target.y
    vc, yc = v - v.mean(), y - y.mean()
    denom = float(vc @ vc)
    if not denom > 1e-300:
        return float("inf"), float("nan"), float("nan")
    a = float(vc @ yc) / denom
    if not a > 0:
        return float("inf"), float("nan"), float("nan")
    c = float(y.mean() - a * v.mean())
    resid = a * v + c - y
    scale = float(np.sqrt(yc @ yc / len(y))) or 1.0
    return float(np.sqrt(resid @ resid / len(y)) / scale), a, c


def phi_tilde_values(mm: MirrorMap, ls: np.ndarray) -> np.ndarray:
    """phi~ of a mirror map on ``ls`` in float64 (no log-domain verification: fast)."""
    fn = mm.compile(verify=False)
    with torch.no_grad():
        return fn(torch.as_tensor(ls, dtype=torch.float64)).numpy()


@dataclass
class Distilled:
    """A formula for the target, checked, with its fit and the objective it defines."""

    backend: str
    formula: str                  # h(p), re-parseable by the safe parser
    h: str
    phi_inv: str
    phi_tilde: str
    latex: dict
    complexity: int
    error: float                  # relative RMS error of a * phi~ + c (see fit_error)
    scale: float                  # a: folded into beta
    shift: float
    checks: dict                  # MirrorMap checks and the smoke test
    spec: dict                    # MPOSpec JSON of the distilled objective
    source: str = ""
    front: list = field(default_factory=list)  # (complexity, error, formula) the backend saw
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def finalize(mm: MirrorMap, target: Target, *, backend: str, complexity: int,
             name: str = "distilled", front: list | None = None,
             extra: dict | None = None) -> Distilled:
    """Run every check of a search candidate on ``mm``; raise ``DistillError`` if one fails."""
    report = mm.check(legendre=True, time_limit_s=2.0)
    if not report.valid:
        bad = report.convex if not report.convex.holds else report.differentiable
        raise DistillError(f"formula {mm.formula} is not a valid mirror map: {bad.detail}")
    try:
        mm.compile(verify=True)
    except LossforgeError as exc:
        raise DistillError(f"formula {mm.formula}: {exc}") from None
    err, a, c = fit_error(phi_tilde_values(mm, target.l), target)
    if not np.isfinite(err):
        raise DistillError(f"formula {mm.formula} does not fit the target with a positive "
                           "scale")
    formula = mm.formula
    # the network's link G and imitation term Psi (ES with open slots) are formulas already:
    # they read D (the same margin: phi~ ~ a * formula + c and beta * a) and l, kept as they are
    slots = target.spec or {}
    spec = MPOSpec(name=name, mirror_map=formula, beta=float(target.beta * a), reference=True,
                   link=slots.get("link", "-logsigmoid(D)"), imitation=slots.get("imitation"),
                   aggregation=target.aggregation,
                   description=f"distilled ({backend}) from {target.source}; relative RMS "
                               f"error {err:.3g}")
    obj = Objective(spec)
    smoke = smoke_test(obj)
    if not smoke.ok:
        raise DistillError(f"formula {formula}: loss smoke test failed ({smoke.detail})")
    return Distilled(backend=backend, formula=formula, **mm.texts(), latex=mm.latex(),
                     complexity=complexity, error=err, scale=a, shift=c,
                     checks={"mirror_map": report.to_dict(), "smoke": smoke.to_dict()},
                     spec=spec.to_json(), source=target.source, front=list(front or []),
                     extra=dict(extra or {}))

