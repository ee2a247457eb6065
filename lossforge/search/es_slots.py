"""The link G and imitation term Psi that ``--method es`` evolves beside phi~ (issue 19).

The GP search opens the slots G(D, t) and Psi(l, n, t) of an MPO loss with typed grammars
(``grammars/link.toml``, ``grammars/imitation.toml``; ``genome.py``). Given the same grammar
flags, CMA-ES searches the same slots through a small parametric family per slot, appended to
phi~'s parameters in one flat vector ``[phi~ params, link params, imitation params]``:

    link       G(D)    = -a * logsigmoid(c*D - b)   (= a * softplus(b - c*D))
               a = exp(x1), b = x2, c = exp(x3)     (x1, x3 clipped to [-10, 10] inside exp)
    imitation  Psi(l, n) = -(w0 + w1 * sigmoid(u * (n - v))) * l
               w0 = |x1| / 10, w1 = |x2| / 10, u = x3 / (10 k), v = (100 + 50 * x4) k
               k = S / 100 for a fitness whose responses span S steps or tokens (its
               scenario's ``response_steps``); k = 1 for MuJoCo segments (no such field)

Why these families:

* Valid for EVERY vector, as the grammars' types guarantee for every tree: a, c > 0 (exp of a
  clipped number, still positive after rounding), so G is non-increasing in D (logsigmoid is
  increasing; dG/dD = -a c sigmoid(b - c D) < 0) and convex, with |dG/dD| <= a c; w0, w1 >= 0
  and the gate sigmoid(.) is in (0, 1) whatever u, v and n, so dPsi/dl = -(w0 + w1 gate) <= 0:
  Psi is non-increasing in l. The project's composition rules prove both (``properties`` for
  G, ``symbolic.composition.monotone`` for Psi; tested on random vectors).
* The start vector (all slot parameters 0) is DPO exactly: a = c = 1, b = 0 prints as DPO's
  own link string ``-logsigmoid(D)`` (the same compiled function, bit for bit), and
  w0 = w1 = 0 is no imitation term at all (``None``), so generation 0's mean is the network at
  DPO with DPO's link, as without slots. |.| (not softplus) keeps w = 0 reachable exactly, as
  the network's own amplitudes |v_k| do.
* They hold what the GP finds where it is cheap to: softplus(1/4 - D/2) (a = 1, c = 1/2,
  b = 1/4), DPO with another beta (c), the hinge relu(1 - D) as a limit (a = 1/k, c = b = k,
  k large), an almost linear ("unhinged") link where b >> c D; SFT / RPO / ORPO-style NLL
  -w0*l, and SFT on long (u > 0) or short (u < 0) chosen responses only, the grammar's
  sigmoid(n - c) * (-l) (the length shortcut). Not held: links or terms that read t
  (temporal schedules), -exp(l) and log(1 - exp(l)) imitation terms; the GP's grammars have
  them.
* Scales: the ES step size acts on O(1) numbers; /10 puts w near the grammar's Coef 1/10 (the
  GP's SFT seed -l/10), and u, v are in steps at the scale of the grammar's length shifts
  (10 ... 150 for MuJoCo segments of up to 200 steps). The gate's n is a response length, so
  its scale follows the fitness's responses: on LLM answers of 3-8 tokens a gate centred at
  100 steps would be a constant (k rescales v and 1/u to the responses' own length; at k = 1
  the numbers are the MuJoCo ones exactly, multiplying by 1.0 being exact).

Every number of a formula is rounded to ``DIGITS`` significant digits BEFORE the formula is
written, and the objective trains on the formula (parsed, checked and compiled as any MPO
link or imitation term: ``NeuralSpec.link`` / ``.imitation``), so what is printed is what
trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lossforge.errors import ConfigError

#: Slots in vector order, with their number of parameters.
SIZES = {"link": 3, "imitation": 4}
#: significant digits of every number in a slot formula
DIGITS = 4
#: exp() arguments of the positive scales are clipped to [-LOG_LIMIT, LOG_LIMIT]
LOG_LIMIT = 10.0
W_SCALE = 0.1          # w = |x| * W_SCALE
U_SCALE = 0.1          # u = x * U_SCALE (per step of n)
V_CENTRE, V_SCALE = 100.0, 50.0   # v = (V_CENTRE + x * V_SCALE) * k (steps)
#: the response length (steps) at which k = 1: MuJoCo segments (a fitness without
#: ``response_steps``), the scale of the gradient checks' batch (search/candidates.py) too
GATE_STEPS = 100.0


def gate_scale(response_steps: float | None) -> float:
    """k of the imitation gate for responses of ``response_steps`` steps (None: 1)."""
    if response_steps is None:
        return 1.0
    if not (isinstance(response_steps, (int, float)) and math.isfinite(response_steps)
            and response_steps > 0):
        raise ConfigError(f"response_steps must be a positive number, got {response_steps!r}")
    return float(response_steps) / GATE_STEPS


def significant(x: float, digits: int = DIGITS) -> float:
    """``x`` rounded to ``digits`` significant digits (a float whose repr is that decimal;
    never -0.0)."""
    return float(f"{x:.{digits}g}") + 0.0


def _num(x: float) -> str:
    """The shortest text that parses back to exactly ``x`` (the parser reads repr decimals)."""
    return repr(float(x))


def _times(coef: float, text: str) -> str:
    return text if coef == 1 else f"{_num(coef)}*{text}"


def _minus(name: str, shift: float) -> str:
    """``name - shift`` written without a double sign."""
    if shift == 0:
        return name
    return f"{name} - {_num(shift)}" if shift > 0 else f"{name} + {_num(-shift)}"


@dataclass(frozen=True)
class Link:
    """G(D) = -a * logsigmoid(c*D - b): the rounded numbers the loss trains with."""

    a: float
    b: float
    c: float

    @classmethod
    def from_vector(cls, x) -> "Link":
        x1, x2, x3 = (float(v) for v in x)
        clip = lambda v: min(max(v, -LOG_LIMIT), LOG_LIMIT)  # noqa: E731
        return cls(significant(math.exp(clip(x1))), significant(x2),
                   significant(math.exp(clip(x3))))

    def formula(self) -> str:
        """e.g. ``-1.31*logsigmoid(0.52*D - 0.25)``; ``-logsigmoid(D)`` at the start."""
        return f"-{_times(self.a, 'logsigmoid(')}{_minus(_times(self.c, 'D'), self.b)})"


@dataclass(frozen=True)
class Imitation:
    """Psi(l, n) = -(w0 + w1 * sigmoid(u * (n - v))) * l: the rounded numbers it trains with."""

    w0: float
    w1: float
    u: float
    v: float

    @classmethod
    def from_vector(cls, x, k: float = 1.0) -> "Imitation":
        """``k``: the gate's length scale (``gate_scale``)."""
        x1, x2, x3, x4 = (float(v) for v in x)
        return cls(significant(abs(x1) * W_SCALE), significant(abs(x2) * W_SCALE),
                   significant(x3 * U_SCALE / k), significant((V_CENTRE + x4 * V_SCALE) * k))

    def formula(self) -> str | None:
        """e.g. ``-(0.05 + 0.12*sigmoid(0.08*(n - 150.0)))*l``, ``-0.05*l``; None when both
        weights are 0 (no imitation term)."""
        shifted = "(" + _minus("n", self.v) + ")"
        gate = f"sigmoid({_times(self.u, shifted)})"
        if self.w1 == 0:
            return None if self.w0 == 0 else f"-{_num(self.w0)}*l"
        gated = f"{_num(self.w1)}*{gate}"
        return f"-{gated}*l" if self.w0 == 0 else f"-({_num(self.w0)} + {gated})*l"


def check_slots(slots) -> tuple[str, ...]:
    """``slots`` as a tuple in vector order (ConfigError for an unknown slot)."""
    slots = tuple(slots)
    bad = [s for s in slots if s not in SIZES]
    if bad:
        raise ConfigError(f"ES slots: unknown {', '.join(map(repr, bad))}; known: "
                          f"{', '.join(SIZES)}")
    return tuple(s for s in SIZES if s in slots)


def size(slots) -> int:
    """Number of slot parameters after phi~'s in the ES vector."""
    return sum(SIZES[s] for s in check_slots(slots))


def start(slots) -> list[float]:
    """The slot part of the start vector: DPO's link, no imitation term (module docstring)."""
    return [0.0] * size(slots)


def split(vector, n_phi: int, slots) -> tuple[list[float], dict[str, list[float]]]:
    """(phi~ parameters, {slot: its parameters}) of one ES vector."""
    vector = [float(v) for v in vector]
    slots = check_slots(slots)
    if len(vector) != n_phi + size(slots):
        raise ConfigError(f"ES vector has {len(vector)} numbers; phi~ ({n_phi}) and slots "
                          f"{list(slots)} ({size(slots)}) need {n_phi + size(slots)}")
    parts, at = {}, n_phi
    for s in slots:
        parts[s] = vector[at:at + SIZES[s]]
        at += SIZES[s]
    return vector[:n_phi], parts


def formulas(parts: dict[str, list[float]], response_steps: float | None = None
             ) -> dict[str, str | None]:
    """{"link": G, "imitation": Psi} as formula strings for the slots in ``parts`` (the
    ``NeuralSpec`` fields they fill; a slot not in ``parts`` keeps the spec's default), the
    gate scaled to responses of ``response_steps`` steps (None: MuJoCo's)."""
    out = {}
    if "link" in parts:
        out["link"] = Link.from_vector(parts["link"]).formula()
    if "imitation" in parts:
        out["imitation"] = Imitation.from_vector(parts["imitation"],
                                                 gate_scale(response_steps)).formula()
    return out
