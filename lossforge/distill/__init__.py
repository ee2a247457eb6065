"""Distillation: a learned (neural) phi~ turned into a formula from the typed grammar.

    python -m lossforge.distill runs/<es-run> --backend deap    # lossforge's own GP (sr.py)
    python -m lossforge.distill runs/<es-run> --backend pysr    # PySR, where Julia is installed

The flow, top to bottom:

1. ``target_from_run``: the run's best network (or ``--name``); phi~ sampled on a grid over the
   log-probs the run's fitness feeds it (``ranges.py``: ``--l-range``, else measured where the
   fitness can say, the probe; else the network's whole ``l_range``, with a note).
2. A backend proposes formulas: trees of the grammar (h(p), strictly convex by construction in
   the DCP grammar) or PySR equations for phi~(l) (translated by the safe parser, never eval;
   ``pysr_backend.py``).
3. ``fit_error``: only phi~ up to a positive scale and an additive constant matters to the loss
   (the constant cancels in every reward margin; the scale is folded into beta), and only
   where the data's log-probs are: its values there (reward margins) and its slopes there
   (the gradients training follows). So each formula gets the scale a > 0 and shift c that
   fit both, and its error combines the two relative errors (0 = exact).
4. ``finalize``: the chosen formula goes through the same checks as any search candidate:
   MirrorMap convexity (proved / sampled / failed), the verified log-domain compile, the
   objective build and the loss-level smoke test. The distilled objective is DPO's loss with
   that phi~ and beta * a.
5. The CLI prints the whole distilled loss (h(p), phi^-1, phi~, and the objective's own text
   and LaTeX: beta, link, imitation term), writes ``distilled-<backend>.json`` and ``.tex``
   into the run directory, and re-scores network and formula on the benchmark in one call
   (same scenario, budget and seeds as the run: paired), recorded in the selection ledger.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING
from pathlib import Path
import numpy as np
import torch

from lossforge.errors import LossforgeError
from lossforge.objectives.mpo import MPOSpec, Objective
from lossforge.objectives.neural import NeuralSpec, is_neural
from lossforge.objectives.smoke import smoke_test
from lossforge.symbolic.mirror_map import MirrorMap

if TYPE_CHECKING:
    from lossforge.distill.ranges import Measured


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
    l_from: str = ""              # where the grid's range came from (ranges.py), for the output
    note: str = ""                # why it is not the data's range, when it cannot be known
    measured: Measured | None = None   # the training that measured the range (ranges.py)

    @property
    def dy(self) -> np.ndarray:
        """phi~'(l) on the grid (``slopes``: as every formula's is taken)."""
        return slopes(self.y, self.l)


def grid(l_range: tuple[float, float], n: int = 256) -> np.ndarray:
    """n points over l_range, stopping short of l = 0 (where e.g. log(1 - e^l) is singular)."""
    lo, hi = l_range
    top = hi - 1e-3 * (hi - lo) if hi >= -1e-9 else hi
    return np.linspace(lo, top, n)


def target_from_spec(spec: dict, n: int = 256, source: str = "",
                     l_range: tuple[float, float] | None = None, l_from: str = "",
                     note: str = "", measured: Measured | None = None) -> Target:
    """phi~ of the neural ``spec`` on ``n`` points over ``l_range`` (default: its own)."""
    ns = NeuralSpec.from_json(spec)
    ls = grid(l_range or ns.l_range, n)
    return Target(ls, ns.map.phi_tilde_np(ls), ns.beta, ns.aggregation, source, ns.to_json(),
                  l_from or "the network's l_range", note, measured)


def target_from_run(run_dir: str | Path, name: str | None = None, n: int = 256,
                    l_range: tuple[float, float] | None = None,
                    budget: str | None = None, progress: bool = False) -> Target:
    """phi~ samples of a run's best network (or of the candidate ``name``) over ``l_range`` if
    given, else over the log-probs the run's fitness feeds it at ``budget`` (default the
    run's) where that can be known, else over the network's own ``l_range``, and then the
    target's ``note`` says so (``ranges.fit_range``; ``progress``: its line and bars when it
    measures by training)."""
    from lossforge.distill.ranges import fit_range
    from lossforge.runfiles import read_result, run_dir as checked_run_dir

    run_dir = checked_run_dir(run_dir)
    rows = read_result(run_dir, "hall_of_fame.json")[0]["hall_of_fame"]
    rows = [r for r in rows if is_neural(r["spec"])]
    if name is not None:
        rows = [r for r in rows if r["name"] == name]
        if not rows:
            raise DistillError(f"{run_dir}: no neural candidate named {name!r} in the hall "
                               "of fame")
    if not rows:
        raise DistillError(f"{run_dir}: no neural candidates (distillation reads an ES run: "
                           "python -m lossforge.search --method es)")
    spec = rows[0]["spec"]
    lo_hi, l_from, note, measured = fit_range(run_dir, spec, l_range, budget, progress)
    return target_from_spec(spec, n, f"{run_dir}:{rows[0]['name']}", lo_hi, l_from, note,
                            measured)


# ---- the fit ---------------------------------------------------------------------------------


def slopes(values: np.ndarray, ls: np.ndarray) -> np.ndarray:
    """d values / d l on the grid ``ls`` (second-order central differences, one-sided at the
    ends): the same for the target and every formula, so their slopes compare like for like."""
    return np.gradient(np.asarray(values, dtype=np.float64), ls, edge_order=2)


def fit_parts(values: np.ndarray, target: Target) -> dict:
    """The fit of a formula's phi~ ``values`` (on ``target.l``) to the target, as a dict:
    ``error`` (what the backends minimise and report), ``value_error``, ``slope_error``,
    ``scale`` a > 0 and ``shift`` c. No fit (error inf, a and c NaN) when the values are not
    finite, constant, or fit only with a <= 0.

    Why these: the loss sees phi~ only through reward margins beta * [phi~(l) - phi~(l_ref)]
    and their gradients beta * phi~'(l), at the log-probs the data has (the target's grid:
    ``ranges.py``). A constant cancels in every margin and a positive scale folds into beta,
    so the formula is a * phi~_f + c. Its value error is the RMS of a * phi~_f + c - phi~ over
    the target's standard deviation (0 = exact, 1 = no better than a constant: the margins);
    its slope error the RMS over the grid of a * phi~_f' / phi~' - 1, the relative error of
    the gradient at each log-prob (phi~' > 0; 0.1 = gradients 10 % off: what training
    follows), so a steep stretch of phi~ (log-odds near l = 0) does not outweigh the rest. A
    value fit alone lets a formula that is flat where the data is (slope 1e-21 there) pass on
    its values elsewhere or on a huge a; the slope term refuses it. a and c minimise the sum of
    the two squared errors (a linear least-squares problem: c from the values, then a in
    closed form), and ``error`` is their root mean square, sqrt((value_error**2 +
    slope_error**2) / 2), in the units of either (parsimony per tree node is in them).
    """
    nan, inf = float("nan"), float("inf")
    none = {"error": inf, "value_error": inf, "slope_error": inf, "scale": nan, "shift": nan}
    v = np.asarray(values, dtype=np.float64)
    if v.shape != target.y.shape or not np.all(np.isfinite(v)):
        return none
    y, n = target.y, len(target.y)
    with np.errstate(all="ignore"):
        q = slopes(v, target.l) / target.dy      # the formula's slope per unit of the target's
    if not np.all(np.isfinite(q)):
        return none
    vc, yc = v - v.mean(), y - y.mean()
    sy = float(yc @ yc) or 1.0         # n * variance of phi~ (a constant target: 1, no scaling)
    denom = float(vc @ vc) / sy + float(q @ q) / n
    if not denom > 1e-300:
        return none
    a = (float(vc @ yc) / sy + float(q.sum()) / n) / denom
    if not a > 0:
        return none
    rv, rs = a * vc - yc, a * q - 1.0
    ev, es = float(np.sqrt(rv @ rv / sy)), float(np.sqrt(rs @ rs / n))
    return {"error": float(np.sqrt((ev * ev + es * es) / 2)), "value_error": ev,
            "slope_error": es, "scale": float(a), "shift": float(y.mean() - a * v.mean())}


def fit_error(values: np.ndarray, target: Target) -> tuple[float, float, float]:
    """(error, scale a > 0, shift c) of the best a * values + c against the target
    (``fit_parts``: values and slopes where the data is); error inf when values are not finite
    or no positive scale fits."""
    f = fit_parts(values, target)
    return f["error"], f["scale"], f["shift"]


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
    error: float                  # relative error of a * phi~ + c, values and slopes (fit_parts)
    scale: float                  # a: folded into beta
    shift: float
    checks: dict                  # MirrorMap checks and the smoke test
    spec: dict                    # MPOSpec JSON of the distilled objective
    source: str = ""
    front: list = field(default_factory=list)  # (complexity, error, formula) the backend saw
    extra: dict = field(default_factory=dict)
    value_error: float | None = None   # fit_parts' two parts of ``error``
    slope_error: float | None = None
    l_from: str = ""              # the range the fit is over and where it came from

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
    fit = fit_parts(phi_tilde_values(mm, target.l), target)
    err, a, c = fit["error"], fit["scale"], fit["shift"]
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
                   description=f"distilled ({backend}) from {target.source}; relative "
                               f"error {err:.3g} (values and slopes) over l in "
                               f"[{target.l[0]:g}, {target.l[-1]:g}]")
    obj = Objective(spec)
    smoke = smoke_test(obj)
    if not smoke.ok:
        raise DistillError(f"formula {formula}: loss smoke test failed ({smoke.detail})")
    return Distilled(backend=backend, formula=formula, **mm.texts(), latex=mm.latex(),
                     complexity=complexity, error=err, scale=a, shift=c,
                     checks={"mirror_map": report.to_dict(), "smoke": smoke.to_dict()},
                     spec=spec.to_json(), source=target.source, front=list(front or []),
                     extra=dict(extra or {}), value_error=fit["value_error"],
                     slope_error=fit["slope_error"],
                     l_from=f"[{target.l[0]:g}, {target.l[-1]:g}]: {target.l_from}")

