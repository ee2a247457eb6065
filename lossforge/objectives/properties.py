"""Properties of an MPO loss beyond the mirror map's convexity (issue 19, "Robust search").

Every property is about the preference part of the loss as a function of the margin D,

    G~(D, t) := w_pref(t) * G(D, t)        (the link as trained; ORPO's lam is in it),

for every real D and, when the loss is temporally aware, every t in [0, 1]. The imitation term
Psi(l_w, n, t) does not read D and is left out. Definitions:

* ranking-preserving: dG~/dD <= 0 for all D (and t): a larger margin never costs more, so
  gradient descent never pushes a correctly ranked pair towards the wrong order.
* bounded gradient: sup |dG~/dD| < inf over D (and t); the bound is reported when found.
* tails: the limits of G~ and dG~/dD as D -> +inf and D -> -inf ("G ~ -1*D (linear)" when
  dG~/dD tends to a constant c != 0, "G -> 0, G' -> 0" when it vanishes).
* redescending (the robust-statistics sense): lim_{D -> -inf} dG~/dD = 0 for every t, i.e. the
  gradient vanishes for badly mis-ranked pairs, so a flipped label with a large wrong margin
  stops pulling (sigmoid(-D) is redescending; DPO's -log sigmoid(D) is not: G' -> -1).
* reference-free: the loss needs no reference log-probs (``MPOSpec.reference`` is False).
* length-free: no part of the loss reads the response length n (only Psi may).
* temporal: some part reads t (reported, not a requirement).

Statuses follow ``checks.py``: ``proved`` (a symbolic argument), ``sampled`` (checked on a grid,
no counterexample, no proof), ``failed`` (with a witness). Nothing is a guess:

* ranking: proved by a monotone-composition rule (composition.py) (sums of non-increasing terms, non-negative
  factors in t, increasing functions of a monotone argument) or by SymPy deciding the sign of
  the derivative; else sampled on ``D_GRID`` (0 and +-10^k for k in [-4, 4], 801 points) times
  ``T_GRID`` when temporal; failed with a point (D, t) where dG~/dD > 0, confirmed in 40-digit
  mpmath arithmetic.
* bounded gradient: proved by a Lipschitz-constant rule (constant factors over t in [0, 1]
  bounded by interval arithmetic; softplus, logsigmoid, tanh, relu have Lipschitz constant 1,
  sigmoid 1/4): the bound printed is that proved upper bound (not always the supremum).
  Sampled: the limits of dG~/dD at both ends are finite and the grid maximum is finite (the
  grid maximum is then printed). Failed: a limit is infinite (SymPy), or |dG~/dD| at
  D = +-10^2, 10^3, 10^4 (mpmath) keeps growing, witness the largest; "unbounded" then means
  "no finite bound in sight at |D| = 10^4".
* redescending: proved / failed by SymPy's limit of dG~/dD at -inf (failed with a witness t
  where the limit is not 0); else decided in mpmath at D = -10^2 ... -10^4: sampled when
  |dG~/dD| there falls below 1e-6, failed (witness D = -10^4) otherwise.
* reference-free, length-free, temporal: read off the spec and the parsed formulas: proved.

A link that reads the two rewards rw, rl (NCA, BCO, APO from the zoo) is not a function of D
alone: its D-properties are ``n/a`` (they count as not holding when required). The search's
link grammar only has D and t, so search candidates never hit this.

The result depends only on the link, the weights, the imitation term, beta, the named
parameters and the reference flag, never on the mirror map: ``properties`` memoises on those.

Layer: objectives. Every property is one of a whole MPO loss (an ``MPOSpec``: its link, weights,
imitation term and reference flag, in the loss variables D, rw, rl, t, n of ``mpo.py``), not of
a mirror map, so it sits beside ``mpo.py`` and builds on the symbolic layer's checks.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from lossforge.errors import ConfigError, FormulaError
from lossforge.grammar.ops import to_elementary
from lossforge.objectives.mpo import (IMITATION_VARS, LINK_VARS, WEIGHT_VARS, D, MPOSpec, N, RL,
                                      RW, T, param_values)
from lossforge.symbolic.checks import (FAILED, PROVED, SAMPLED, UNDECIDED, Check, _mp_eval,
                                       mp_lambdify)
from lossforge.symbolic.composition import lipschitz_bound, monotone
from lossforge.symbolic.parser import parse_formula
from lossforge.symbolic.timelimit import TimeLimitExceeded, time_limit

NA = "n/a"

#: D sample points: 0 and +-10^k, k in [-4, 4] (400 log-spaced magnitudes per side).
D_GRID = np.concatenate([-np.logspace(4, -4, 400), [0.0], np.logspace(-4, 4, 400)])
#: t sample points of a temporally aware loss.
T_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
#: |D| where tails are evaluated numerically (40-digit mpmath).
TAIL_POINTS = (1e2, 1e3, 1e4)
#: |dG/dD| below this at D = -1e4 counts as vanished (the numeric redescending test).
VANISHED = 1e-6

#: Names accepted by ``--require`` (see ``Properties.holds``).
REQUIREMENTS = ("ranking-preserving", "bounded-gradient", "redescending", "reference-free",
                "length-free")

_MAX_CONFIRM = 32   # grid points re-evaluated in mpmath before one counts as a witness


@dataclass(frozen=True)
class Properties:
    """The properties of one loss (see the module docstring for each definition)."""

    ranking: Check
    bounded_gradient: Check
    gradient_bound: float | None   # the proved bound (proved) or the grid maximum (sampled)
    redescending: Check
    tail_minus: str                # D -> -inf: limits of G and G'
    tail_plus: str                 # D -> +inf
    reference: bool                # needs the reference log-probs
    length: bool                   # reads n
    temporal: bool                 # reads t
    seconds: float = 0.0

    def holds(self, name: str) -> bool:
        """Whether the loss has the property ``name`` (one of ``REQUIREMENTS``) for a search's
        ``--require``: ``proved`` and ``sampled`` pass, ``failed`` and ``n/a`` do not."""
        checks = {"ranking-preserving": self.ranking, "bounded-gradient": self.bounded_gradient,
                  "redescending": self.redescending}
        if name in checks:
            return checks[name].holds
        if name == "reference-free":
            return not self.reference
        if name == "length-free":
            return not self.length
        raise ConfigError(f"unknown property {name!r}; valid: {', '.join(REQUIREMENTS)}")

    def why_not(self, name: str) -> str:
        """One line: why ``name`` does not hold (for a rejection's detail)."""
        if name == "reference-free":
            return "reference-free required: the loss needs reference log-probs"
        if name == "length-free":
            return "length-free required: the loss reads the response length n"
        c = {"ranking-preserving": self.ranking, "bounded-gradient": self.bounded_gradient,
             "redescending": self.redescending}[name]
        return f"{name} required: {c.status}{_witness(c)}: {c.detail}"

    def line(self) -> str:
        """One compact line, e.g. ``properties: ranking-preserving proved · |dG/dD| <= 1
        proved · D->-inf: G ~ -1*D (linear), G' -> -1: not redescending · ...``."""
        r, b, d = self.ranking, self.bounded_gradient, self.redescending
        ends = [f"reference: {'needed' if self.reference else 'free'}",
                f"length: {'used' if self.length else 'unused'}"]
        if self.temporal:
            ends.append("t: read (checked for t in [0,1])")
        if r.status == NA:
            return "properties: " + " · ".join([f"D-properties n/a ({r.detail})"] + ends)
        rank = (f"ranking-preserving {r.status}" if r.holds else
                "NOT ranking-preserving" + (f" (dG/dD > 0 at D = {r.witness:.4g})"
                                            if r.witness is not None else ""))
        if b.holds:
            bound = f"|dG/dD| <= {self.gradient_bound:.4g} {b.status}"
        else:
            bound = "|dG/dD| unbounded" + (f" (at D = {b.witness:g})"
                                           if b.witness is not None else "")
        redesc = f"redescending {d.status}" if d.holds else "not redescending"
        parts = [rank, bound, f"D->-inf: {self.tail_minus}: {redesc}",
                 f"D->+inf: {self.tail_plus}"]
        return "properties: " + " · ".join(parts + ends)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Properties":
        checks = {k: Check(**d[k]) for k in ("ranking", "bounded_gradient", "redescending")}
        return cls(**{**d, **checks})


def property_line(row_properties: dict | None) -> str | None:
    """The compact line of a stored ``properties`` entry (None for rows without one: runs
    written before properties were recorded, or ES networks)."""
    if not row_properties:
        return None
    try:
        return Properties.from_json(row_properties).line()
    except (TypeError, KeyError):
        return None


def _witness(c: Check) -> str:
    return f", witness {c.witness:.6g}" if c.witness is not None else ""


def check_requirements(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Validated ``--require`` names (ConfigError listing the valid names otherwise)."""
    bad = [n for n in names if n not in REQUIREMENTS]
    if bad:
        raise ConfigError(f"--require: unknown propert{'y' if len(bad) == 1 else 'ies'} "
                          f"{', '.join(bad)}; valid: {', '.join(REQUIREMENTS)}")
    return tuple(names)


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


def properties(spec, *, time_limit_s: float = 0.5) -> Properties:
    """The properties of an ``MPOSpec`` (or an ``Objective``, or a spec's JSON dict)."""
    if hasattr(spec, "spec"):
        spec = spec.spec
    if isinstance(spec, dict):
        spec = MPOSpec.from_json(spec)
    key = json.dumps([spec.link, spec.w_pref, spec.imitation, spec.w_sft, float(spec.beta),
                      bool(spec.reference), sorted(spec.params.items())])
    return _cached(key, float(time_limit_s))


@lru_cache(maxsize=4096)
def _cached(key: str, time_limit_s: float) -> Properties:
    link, w_pref, imitation, w_sft, beta, reference, params = json.loads(key)
    spec = MPOSpec(link=link, w_pref=w_pref, imitation=imitation, w_sft=w_sft, beta=beta,
                   reference=reference, params=dict(params))
    values = param_values(spec)
    start = time.perf_counter()

    def parse(text: str, variables, what: str) -> sp.Expr:
        try:
            return parse_formula(text, variables, values)
        except FormulaError as exc:
            raise FormulaError(f"{what}: {exc}") from None

    g = parse(link, LINK_VARS, "link") * parse(w_pref, WEIGHT_VARS, "w_pref")
    psi = parse(imitation, IMITATION_VARS, "imitation") if imitation else None
    w = parse(w_sft, WEIGHT_VARS, "w_sft") if imitation else sp.Integer(0)
    temporal = T in g.free_symbols | (psi.free_symbols | w.free_symbols if psi is not None
                                      else set())
    length = psi is not None and N in psi.free_symbols
    if {RW, RL} & g.free_symbols:
        na = Check(NA, False, None, "the link reads rw, rl: not a function of D alone")
        return Properties(na, na, None, na, "n/a", "n/a", reference, length, temporal,
                          time.perf_counter() - start)
    ts = T_GRID if T in g.free_symbols else (0.0,)
    an = _Analysis(g, D, T, ts, time_limit_s)
    ranking = an.ranking()
    bounded, bound = an.bounded()
    redesc = an.redescending()
    return Properties(ranking, bounded, bound, redesc, an.tail(-1), an.tail(+1), reference,
                      length, temporal, time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# the analysis of G~(D, t)
# --------------------------------------------------------------------------------------------


class _Analysis:
    def __init__(self, g: sp.Expr, d: sp.Symbol, t: sp.Symbol, ts: tuple[float, ...],
                 limit_s: float):
        self.g, self.d, self.t, self.ts, self.limit_s = g, d, t, ts, limit_s
        self.g1 = sp.diff(g, d)
        self._limits: dict = {}
        self._grid = None

    # ---- numerics ----------------------------------------------------------------------

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """G~ and dG~/dD on D_GRID x ts (rows: t) in float64: G~ compiled to torch (the stable
        kernels: softplus, logsigmoid, ...) and differentiated by autograd."""
        if self._grid is None:
            import torch

            from lossforge.symbolic.compile import compile_torch

            f = compile_torch(self.g, [self.d, self.t])
            vals, grads = [], []
            for tv in self.ts:
                x = torch.tensor(D_GRID, dtype=torch.float64, requires_grad=True)
                y = f(x, torch.full_like(x, tv))
                (g1,) = (torch.autograd.grad(y.sum(), x) if y.requires_grad
                         else (torch.zeros_like(x),))
                vals.append(y.detach().numpy())
                grads.append(g1.numpy())
            self._grid = (np.array(vals), np.array(grads))
        return self._grid

    def mp(self, expr: sp.Expr, dv: float, tv: float, *, undecided=None):
        """expr at (D, t) in 40-digit mpmath; None where undefined, ``undecided`` where too
        large to evaluate (exp of a huge argument)."""
        fn = mp_lambdify(self.d, expr.subs(self.t, sp.Rational(repr(tv))))
        v = _mp_eval(fn, dv)
        return undecided if v is UNDECIDED else v

    def limit(self, expr: sp.Expr, sign: int):
        """SymPy's limit of expr as D -> sign*oo (t symbolic), or None (undecided/timeout)."""
        key = (expr, sign)
        if key not in self._limits:
            self._limits[key] = None
            e = to_elementary(expr)
            try:
                with time_limit(self.limit_s) as armed:
                    if armed or sp.count_ops(e) <= 20:
                        e = self._far_branches(e, sign)
                        lim = sp.limit(e, self.d, sign * sp.oo)
                        if not lim.has(sp.Limit, sp.AccumBounds, sp.nan, sp.zoo):
                            self._limits[key] = sp.simplify(lim) if lim.free_symbols else lim
            except TimeLimitExceeded:
                pass
            except Exception:  # noqa: BLE001 - SymPy's limit raises many kinds; undecided
                pass
        return self._limits[key]

    def _far_branches(self, e: sp.Expr, sign: int) -> sp.Expr:
        """e with each max/min/Heaviside replaced by the branch it takes for all large
        sign*D (decided by the limit of the difference of the branches), where that is
        decided: the limits of e at sign*oo are unchanged, and SymPy can take them."""
        def far(node):
            if isinstance(node, (sp.Max, sp.Min)) and len(node.args) == 2:
                a, b = node.args
                gap = sp.limit(a - b, self.d, sign * sp.oo)
                above = isinstance(node, sp.Max)
                if gap.is_extended_positive:
                    return a if above else b
                if gap.is_extended_negative:
                    return b if above else a
            if isinstance(node, sp.Heaviside):
                x = sp.limit(node.args[0], self.d, sign * sp.oo)
                if x.is_extended_positive:
                    return sp.Integer(1)
                if x.is_extended_negative:
                    return sp.Integer(0)
            return node

        if not e.has(sp.Max, sp.Min, sp.Heaviside):
            return e
        return e.replace(lambda x: isinstance(x, (sp.Max, sp.Min, sp.Heaviside)), far)

    # ---- ranking -----------------------------------------------------------------------

    def ranking(self) -> Check:
        gd = self.grid()[1]
        rising = np.argwhere(gd > 0)   # largest slopes first; float rounding is re-checked
        rising = rising[np.argsort(-gd[tuple(rising.T)], kind="stable")][:_MAX_CONFIRM]
        for i, j in rising:
            dv, tv = float(D_GRID[j]), self.ts[i]
            v = self.mp(self.g1, dv, tv)
            if v is not None and v > mpmath.mpf(10) ** -25:
                return Check(FAILED, False, dv, f"dG/dD = {mpmath.nstr(v, 6)} > 0 at D = "
                             f"{dv:.6g}" + (f", t = {tv:g}" if len(self.ts) > 1 else ""))
        if monotone(self.g, self.d, self.t) in (-1, 0):
            return Check(PROVED, True, None, "G is a non-increasing composition in D")
        try:
            with time_limit(self.limit_s):
                if to_elementary(self.g1).is_nonpositive:
                    return Check(PROVED, True, None, "SymPy: dG/dD <= 0")
        except TimeLimitExceeded:
            pass
        return Check(SAMPLED, True, None, f"dG/dD <= 0 on {_grid_words(self.ts)}; no proof")

    # ---- bounded gradient -------------------------------------------------------------

    def bounded(self) -> tuple[Check, float | None]:
        lims = [self.limit(self.g1, s) for s in (-1, 1)]
        for s, lim in zip((-1, 1), lims):
            if lim is not None and _infinite(lim, self.t, self.ts):
                dv = s * TAIL_POINTS[-1]
                return (Check(FAILED, False, dv, f"lim_{{D->{'+' if s > 0 else '-'}oo}} dG/dD "
                              f"= {lim}"), None)
        lip = lipschitz_bound(self.g, self.d, self.t)
        if lip is not None:
            return Check(PROVED, True, None, f"Lipschitz rule: |dG/dD| <= {lip}"), float(lip)
        for s, lim in zip((-1, 1), lims):
            if lim is None:
                growing = self._growing(s)
                if growing is not None:
                    dv, v = growing
                    return (Check(FAILED, False, dv, f"|dG/dD| grows along D = {s * 100:g}, "
                                  f"{s * 1000:g}, {s * 10000:g} (mpmath); |dG/dD| = "
                                  f"{mpmath.nstr(v, 6)} at D = {dv:g}"), None)
        gd = np.abs(self.grid()[1])
        top = float(gd[np.isfinite(gd)].max(initial=0.0))
        for i, j in zip(*np.nonzero(~np.isfinite(gd))):  # float overflow, or a real pole?
            dv = float(D_GRID[j])
            v = self.mp(self.g1, dv, self.ts[i], undecided=UNDECIDED)
            if v is UNDECIDED:
                continue  # too large to evaluate in mpmath: proves nothing either way
            if v is None:
                return (Check(FAILED, False, dv, f"dG/dD is not finite at D = {dv:.6g}"),
                        None)
            top = max(top, float(abs(v)))
        return (Check(SAMPLED, True, None, f"max |dG/dD| = {top:.6g} on "
                      f"{_grid_words(self.ts)}; finite limits at both ends"), top)

    def _abs_tail(self, sign: int) -> list:
        return [self.mp(self.g1, sign * x, tv) for x in TAIL_POINTS for tv in self.ts[-1:]]

    def _growing(self, sign: int):
        vals = self._abs_tail(sign)
        if any(v is None for v in vals):
            return sign * TAIL_POINTS[-1], mpmath.inf
        mags = [abs(v) for v in vals]
        if all(b > a * 1.01 for a, b in zip(mags, mags[1:])):
            return sign * TAIL_POINTS[-1], mags[-1]
        return None

    # ---- redescending -----------------------------------------------------------------

    def redescending(self) -> Check:
        lim = self.limit(self.g1, -1)
        if lim is not None:
            if lim == 0:
                return Check(PROVED, True, None, "lim_{D->-oo} dG/dD = 0")
            for tv in self.ts:
                v = lim.subs(self.t, sp.Rational(repr(tv))) if lim.free_symbols else lim
                if v != 0:
                    return Check(FAILED, False, tv if len(self.ts) > 1 else None,
                                 f"lim_{{D->-oo}} dG/dD = {lim}"
                                 + (f" (at t = {tv:g})" if lim.free_symbols else ""))
            return Check(SAMPLED, True, None, f"lim_{{D->-oo}} dG/dD = {lim}: 0 at t = "
                         f"{', '.join(f'{x:g}' for x in self.ts)}")
        vals = [self.mp(self.g1, -TAIL_POINTS[-1], tv) for tv in self.ts]
        if any(v is None for v in vals):
            return Check(FAILED, False, -TAIL_POINTS[-1], "dG/dD not finite at D = -1e4")
        worst = max(abs(v) for v in vals)
        if worst < VANISHED:
            return Check(SAMPLED, True, None, f"|dG/dD| = {mpmath.nstr(worst, 3)} < "
                         f"{VANISHED:g} at D = -1e4 (mpmath); no limit from SymPy")
        return Check(FAILED, False, -TAIL_POINTS[-1], f"|dG/dD| = {mpmath.nstr(worst, 6)} at "
                     f"D = -1e4 (mpmath): has not vanished")

    # ---- tails -------------------------------------------------------------------------

    def tail(self, sign: int) -> str:
        l1 = self.limit(self.g1, sign)
        if l1 is not None:
            if l1 == 0:
                l0 = self.limit(self.g, sign)
                return f"G -> {l0 if l0 is not None else '?'}, G' -> 0"
            if _infinite(l1, self.t, self.ts):
                return f"G' -> {l1}"
            slope = f"({l1})" if isinstance(l1, sp.Add) else f"{l1}"   # -t - 1 -> (-t - 1)*D
            return f"G ~ {slope}*D (linear), G' -> {l1}"
        x = sign * TAIL_POINTS[-1]
        g0, g1 = (self.mp(e, x, self.ts[-1]) for e in (self.g, self.g1))
        fmt = (lambda v: "undefined" if v is None else mpmath.nstr(v, 4))
        at = f"D = {x:g}" + (f", t = {self.ts[-1]:g}" if len(self.ts) > 1 else "")
        return f"G = {fmt(g0)}, G' = {fmt(g1)} at {at} (sampled)"


def _grid_words(ts) -> str:
    return (f"{D_GRID.size} points D in {{0, +-1e-4 ... +-1e4}}"
            + (f" x t in {{{', '.join(f'{x:g}' for x in ts)}}}" if len(ts) > 1 else ""))


def _infinite(lim: sp.Expr, t: sp.Symbol, ts) -> bool:
    if lim.free_symbols:
        return any(lim.subs(t, sp.Rational(repr(x))).is_infinite for x in ts)
    return bool(lim.is_infinite)
