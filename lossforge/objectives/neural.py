"""Neural mirror maps: the seed paper's learned phi^-1, valid by construction.

The MPO paper meta-learns phi^-1 (and optionally G, Psi) as small networks with evolution
strategies. Here the learned piece is the log-domain link phi~(l) = phi^-1(exp(l)), a
positive-weight monotone network of one hidden layer of ``hidden`` tanh units:

    u       = (l - mid) / half                       (mid, half: centre and half-width of l_range)
    phi~(l) = exp(a) * l + half * sum_k |v_k| * tanh(|w_k| * u + b_k)

    phi~'(l) = exp(a) + sum_k |v_k| |w_k| sech^2(|w_k| u + b_k)  >=  exp(a)  >  0

so phi~ is strictly increasing on (-inf, 0) for every parameter vector, hence phi^-1 = phi~(log p)
is strictly increasing on (0, 1) and h = integral of phi^-1 is strictly convex with
h''(p) = phi~'(log p) / p > 0 (smooth: tanh is analytic). The parameters are one flat vector
``[a, v_1..v_K, w_1..w_K, b_1..b_K]`` (3K + 1 numbers): what an evolution strategy searches.

At ``NeuralMap.at_dpo`` (a = 0, v = 0) phi~(l) = l exactly (exp(0) = 1, the network adds 0.0),
i.e. DPO's p log p; w and b then place the K tanh windows evenly over ``l_range`` (the range of
log-probs the data has: summed Hopper segments lie in about [-1500, 0]), so the search starts
at DPO with every unit ready to bend phi~ somewhere in that range.

``NeuralObjective`` is an ``Objective`` (same call, same attributes, same link, imitation
term and reward association as the symbolic family) whose phi~ is the network; it is plain data
as JSON (``NeuralSpec``: parameters as a list of floats, never pickled) and pickles as that spec.
``from_spec`` builds either kind of objective from its JSON spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import numpy as np
import torch

from lossforge.errors import CheckError, ConfigError
from lossforge.objectives.mpo import (IMITATION_VARS, LINK_VARS, WEIGHT_VARS, LossParts, MPOSpec,
                                      Objective, param_values)
from lossforge.symbolic.checks import FAILED, PROVED, Check, CheckReport, sample_grid
from lossforge.symbolic.parser import parse_formula

KIND = "neural"
DEFAULT_L_RANGE = {"sum": (-1500.0, 0.0), "mean": (-20.0, 0.0)}
#: initial |w| of every unit: each tanh window spans about a quarter of l_range
INIT_W = 4.0


def n_params(hidden: int) -> int:
    return 3 * hidden + 1


@dataclass(frozen=True)
class NeuralMap:
    """phi~ as a monotone network (module docstring); ``params`` is the flat vector."""

    params: tuple[float, ...]
    hidden: int = 4
    l_range: tuple[float, float] = DEFAULT_L_RANGE["sum"]

    def __post_init__(self):
        if not isinstance(self.hidden, int) or isinstance(self.hidden, bool) or self.hidden < 1:
            raise ConfigError(f"neural map: hidden must be a positive integer, got {self.hidden!r}")
        try:
            params = tuple(float(x) for x in self.params)
            lo, hi = (float(x) for x in self.l_range)
        except (TypeError, ValueError):
            raise ConfigError("neural map: params must be a list of numbers and l_range two "
                              f"numbers, got {self.params!r:.80} and {self.l_range!r}") from None
        if len(params) != n_params(self.hidden):
            raise ConfigError(f"neural map: {self.hidden} hidden units need "
                              f"{n_params(self.hidden)} parameters, got {len(params)}")
        if not all(math.isfinite(x) for x in params):
            raise ConfigError("neural map: parameters must be finite numbers")
        if not (math.isfinite(lo) and lo < hi <= 0):
            raise ConfigError(f"neural map: l_range must be lo < hi <= 0, got {self.l_range!r}")
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "l_range", (lo, hi))

    @classmethod
    def at_dpo(cls, hidden: int = 4, l_range: tuple[float, float] | None = None) -> "NeuralMap":
        """phi~(l) = l exactly (DPO), with the tanh windows spread evenly over ``l_range``."""
        lo, hi = l_range or DEFAULT_L_RANGE["sum"]
        centres = np.linspace(-1.0, 1.0, hidden + 2)[1:-1]  # in u; interior points
        w = [INIT_W] * hidden
        b = [float(-INIT_W * c) for c in centres]
        return cls(tuple([0.0] + [0.0] * hidden + w + b), hidden, (lo, hi))

    # ---- pieces ----------------------------------------------------------------------------

    def unpack(self) -> tuple[float, list[float], list[float], list[float]]:
        k = self.hidden
        p = self.params
        return p[0], list(p[1:1 + k]), list(p[1 + k:1 + 2 * k]), list(p[1 + 2 * k:])

    @property
    def _mid_half(self) -> tuple[float, float]:
        lo, hi = self.l_range
        return 0.5 * (lo + hi), 0.5 * (hi - lo)

    @property
    def slope_floor(self) -> float:
        """exp(a): a lower bound of phi~' everywhere."""
        return math.exp(self.params[0])

    # ---- evaluation ------------------------------------------------------------------------

    def phi_tilde(self, l: torch.Tensor) -> torch.Tensor:
        """phi~(l) in the dtype of ``l`` (differentiable in l)."""
        a, v, w, b = self.unpack()
        out = l * math.exp(a)
        amp = [abs(x) for x in v]
        if any(amp):
            mid, half = self._mid_half
            u = ((l - mid) / half).unsqueeze(-1)
            like = dict(dtype=l.dtype, device=l.device)
            hidden = torch.tanh(u * torch.tensor([abs(x) for x in w], **like)
                                + torch.tensor(b, **like))
            out = out + half * (hidden * torch.tensor(amp, **like)).sum(-1)
        return out

    def phi_tilde_prime(self, l: np.ndarray) -> np.ndarray:
        """phi~'(l) in float64 (closed form; used by the checks and distillation plots)."""
        a, v, w, b = self.unpack()
        mid, half = self._mid_half
        u = (np.asarray(l, dtype=np.float64) - mid) / half
        out = np.full_like(u, math.exp(a))
        for vk, wk, bk in zip(v, w, b):
            out = out + abs(vk) * abs(wk) / np.cosh(abs(wk) * u + bk) ** 2
        return out

    def phi_tilde_np(self, l) -> np.ndarray:
        with torch.no_grad():
            return self.phi_tilde(torch.as_tensor(np.asarray(l, dtype=np.float64))).numpy()

    def phi_inv(self, p) -> np.ndarray:
        """phi^-1(p) = phi~(log p) in float64 (up to the additive constant that never matters)."""
        return self.phi_tilde_np(np.log(np.asarray(p, dtype=np.float64)))

    # ---- validity --------------------------------------------------------------------------

    def check(self) -> CheckReport:
        """Convexity of h (phi^-1 strictly increasing) is true by construction when exp(a) is a
        positive finite float: status ``proved``. It is confirmed numerically on the checks'
        p grid and on ``l_range``; a numeric failure (e.g. exp(a) so small that phi~ is flat in
        float64) gives ``failed`` with a witness point p."""
        import time

        start = time.perf_counter()
        floor = self.slope_floor if self.params[0] < 709 else math.inf
        if not (0.0 < floor < math.inf):
            convex = Check(FAILED, False, None, f"slope floor exp(a) = {floor!r} is not a "
                                                "positive finite number")
            return CheckReport(convex, convex, None, time.perf_counter() - start)
        lo, hi = self.l_range
        # slopes (closed form) everywhere on the checks' p grid and l_range; values where float64
        # resolves their differences (near l = 0 a step of 1e-13 in l is below the rounding
        # of phi~ values of size ~|l_range|)
        ls = np.unique(np.concatenate([np.log(sample_grid()), np.linspace(lo, hi, 2001)]))
        near0 = min(hi, -1e-3)
        coarse = np.concatenate([np.linspace(lo, near0, 2001, endpoint=False),
                                 -np.logspace(math.log10(-near0), -3, 200)])
        coarse = coarse[np.concatenate([np.diff(coarse) > 1e-9 * np.abs(coarse[1:]), [True]])]
        slopes = self.phi_tilde_prime(ls)
        vals = self.phi_tilde_np(coarse)
        bad_slope = np.flatnonzero(~(slopes > 0) | ~np.isfinite(slopes))
        bad_value = np.flatnonzero(~(np.diff(vals) > 0) | ~np.isfinite(vals[1:]))
        if len(bad_slope) or len(bad_value):
            x = ls[bad_slope[0]] if len(bad_slope) else coarse[bad_value[0] + 1]
            convex = Check(FAILED, False, float(np.exp(x)),
                           f"phi^-1 not strictly increasing in float64 near p = exp({x:.6g})")
        else:
            convex = Check(PROVED, True, None,
                           f"phi~'(l) >= exp(a) = {floor:.6g} > 0 by construction (monotone "
                           f"network); confirmed on {len(ls) + len(coarse)} points")
        smooth = Check(PROVED, True, None, "phi~ is a sum of l and tanh units: analytic")
        return CheckReport(convex, smooth, None, time.perf_counter() - start)

    def describe(self) -> str:
        a, v, w, b = self.unpack()
        units = sum(1 for x in v if x != 0)
        return (f"neural phi~: exp({a:.4g})*l + {units}/{self.hidden} active tanh units over "
                f"l in [{self.l_range[0]:g}, {self.l_range[1]:g}]")


@dataclass(frozen=True)
class NeuralSpec:
    """A neural MPO member as plain data: the network's flat parameters and the DPO-style rest
    (reward beta * [phi~(l) - phi~(l_ref)], link G, optional imitation term Psi, aggregation).
    JSON round-trips."""

    name: str = "neural"
    params: tuple[float, ...] = ()
    hidden: int = 4
    l_range: tuple[float, float] = DEFAULT_L_RANGE["sum"]
    beta: float = 0.1
    reference: bool = True
    link: str = "-logsigmoid(D)"
    aggregation: str = "sum"
    description: str = ""
    kind: str = field(default=KIND)
    #: Psi(l, n, t) as a formula (``mpo.py``), e.g. what ES writes for an open imitation slot
    #: (``search/es_slots.py``); None: no imitation term (the field is then left out of JSON)
    imitation: str | None = None

    def __post_init__(self):
        if self.kind != KIND:
            raise ConfigError(f"neural spec {self.name!r}: kind must be {KIND!r}, got "
                              f"{self.kind!r}")
        for key in ("link", "imitation"):
            value = getattr(self, key)
            if not (isinstance(value, str) or (key == "imitation" and value is None)):
                raise ConfigError(f"neural spec {self.name!r}: {key} must be a formula string, "
                                  f"got {value!r:.60}")
        params = self.params or NeuralMap.at_dpo(self.hidden, self.l_range).params
        m = NeuralMap(params, self.hidden, tuple(self.l_range))  # validates
        object.__setattr__(self, "params", m.params)
        object.__setattr__(self, "l_range", m.l_range)

    @property
    def map(self) -> NeuralMap:
        return NeuralMap(self.params, self.hidden, self.l_range)

    def base_spec(self) -> MPOSpec:
        """Everything but phi~, as a symbolic spec (its ``mirror_map`` is DPO's p log p, which
        ``NeuralObjective`` never reads: phi~ is the network)."""
        return MPOSpec(name=self.name, mirror_map="p*log(p)", beta=self.beta,
                       reference=self.reference, link=self.link, imitation=self.imitation,
                       aggregation=self.aggregation, description=self.description)

    def to_json(self) -> dict[str, Any]:
        out = {"kind": KIND}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        if self.imitation is None:  # specs without one keep the JSON they always had
            del out["imitation"]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "NeuralSpec":
        if not isinstance(data, Mapping):
            raise ConfigError(f"neural spec must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - set(NEURAL_JSON_TYPES)
        if unknown:
            raise ConfigError(f"neural spec has unknown fields: {', '.join(sorted(unknown))}")
        d = dict(data)
        for key in ("params", "l_range"):
            if key in d:
                if not isinstance(d[key], (list, tuple)) or not all(
                        isinstance(x, (int, float)) and not isinstance(x, bool) for x in d[key]):
                    raise ConfigError(f"neural spec {d.get('name', '?')!r}: {key} must be a "
                                      "list of numbers")
                d[key] = tuple(float(x) for x in d[key])
        return cls(**d)


#: The JSON type of each ``NeuralSpec`` field, in words (``mpo.spec_json_problems``); a test
#: holds its keys to the dataclass's fields
NEURAL_JSON_TYPES = {"kind": "string", "name": "string", "params": "list of numbers",
                     "hidden": "integer", "l_range": "list of numbers", "beta": "number",
                     "reference": "boolean", "link": "string", "aggregation": "string",
                     "description": "string", "imitation": "string or null"}


class NeuralObjective(Objective):
    """An MPO objective whose phi~ is a ``NeuralMap``: the ``Objective`` call, attributes and
    reward association unchanged (the symbolic base supplies link, beta, reference, weights)."""

    def __init__(self, spec: NeuralSpec, *, check: bool = True):
        self._compile_formulas(spec.base_spec())  # link and beta; phi~ is the network
        self.spec = spec
        self.network = spec.map
        if check:
            report = self.network.check()
            if not report.valid:
                raise CheckError(f"neural map {spec.name!r} is not valid: {report.convex.detail}")
        self._phi = self.network.phi_tilde
        self._phi_is_identity = False
        self.mirror_map = None  # no closed form: see ``network``

    def __reduce__(self):
        return (NeuralObjective, (self.spec,))

    def __repr__(self) -> str:
        return f"NeuralObjective({self.name!r})"

    def phi_tilde_text(self) -> str:
        """phi~ as ``formula`` starts: the network described (it has no closed form)."""
        return self.network.describe()

    def latex(self) -> str:
        raise ConfigError(f"{self.name!r} is a neural objective: it has no closed form "
                          "(distil it: python -m lossforge.distill RUN)")

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec.to_json(), "formula": self.formula()}


def is_neural(spec: Mapping[str, Any]) -> bool:
    return isinstance(spec, Mapping) and spec.get("kind") == KIND


def from_spec(spec: Mapping[str, Any], *, check: bool = True) -> Objective:
    """An objective from its JSON spec: symbolic (``MPOSpec``) or neural (``kind: neural``). A
    whole saved file given instead is refused with where its spec is (``objectives.from_file``
    reads such files)."""
    if is_neural(spec):
        return NeuralObjective(NeuralSpec.from_json(spec), check=check)
    try:
        return Objective(MPOSpec.from_json(spec), check=check)
    except ConfigError as exc:
        where = {"distilled.spec": "['distilled']['spec'] (a distill output)",
                 "spec": "['spec'] (an export --format json file)"}.get(saved_spec_place(spec))
        if where is None:
            raise
        raise ConfigError(f"{exc}; this is a whole file: its spec is at {where}, or read the "
                          "file with lossforge.objectives.from_file(path)") from None


def saved_spec_place(data: Any) -> str | None:
    """Where a saved file's JSON keeps its loss's spec: "distilled.spec" (what ``python -m
    lossforge.distill`` writes), "spec" (an ``export --format json`` file), or None (the JSON
    is a bare spec, or no object)."""
    if not isinstance(data, Mapping):
        return None
    if isinstance(data.get("distilled"), dict):
        return "distilled.spec"
    return "spec" if "spec" in data else None


def parts_from_spec(spec: Mapping[str, Any]) -> LossParts:
    """``from_spec(spec).parts()`` without building the objective (no mirror map, no network
    check, no torch): the JSON spec's formulas parsed as ``Objective`` parses them, for printing
    a result row. A network has no weights: its parts have weight 1 (``base_spec``)."""
    base = NeuralSpec.from_json(spec).base_spec() if is_neural(spec) else MPOSpec.from_json(spec)
    params = param_values(base)

    def parse(text, variables):
        return parse_formula(str(text), variables, params)

    return LossParts.of(base, parse(base.link, LINK_VARS), parse(base.w_pref, WEIGHT_VARS),
                        parse(base.imitation, IMITATION_VARS) if base.imitation else None,
                        parse(base.w_sft, WEIGHT_VARS))
