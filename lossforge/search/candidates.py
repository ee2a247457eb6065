"""From a genome to a trainable candidate, or a rejection with its reason.

    genome names --tree_to_sympy--> h --MirrorMap.check--> convex? --compile--> phi~ (verified)
        (+ link G and imitation Psi trees, when the search opens those slots: ``genome.py``)
        --MPOSpec--> Objective --properties--> required ones held? --smoke_test--> finite,
        monotone? --fingerprint--> keys

The properties of the loss in the margin D (``objectives/properties.py``: ranking-preserving,
bounded gradient, redescending, reference-free, length-free) are computed for every candidate
(memoised per link formula) and stored with it; a property the search requires (``require``)
that is ``failed`` (or ``n/a``) rejects the candidate with reason ``lacks_property``;
``sampled`` passes.

Nothing is trained here. Every stage that can fail returns a ``Rejection`` whose ``reason`` is
one of ``REASONS`` (the run record counts them); the first failing stage decides.

Two keys identify a loss for de-duplication (``docs/design/mpo.md``, "De-duplication"):

* ``semantic_hash``: h'' at fixed points (``MirrorMap.semantic_hash``), equal for h and
  h + a p + b and for rewritten forms of the same map (with open slots, together with the
  canonical SymPy text of G and Psi);
* ``fingerprint``: the compiled loss on a probe batch: phi~(l) - phi~(-1) on a grid of l, and
  the per-example loss (minus its batch mean: constant terms train nothing) and its gradient
  with respect to both policy log-probs, rounded to 8 significant digits. It also catches equal losses whose h'' hash differs (nan at a hash point).

Both keys are deterministic: they never depend on time limits or machine load.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

import torch

from lossforge.errors import GrammarError, LossforgeError
from lossforge.grammar.loader import Grammar
from lossforge.grammar.trees import tree_from_names, tree_to_sympy
from lossforge.objectives import MPOSpec, Objective
from lossforge.objectives.properties import properties
from lossforge.objectives.smoke import smoke_test
from lossforge.search.genome import Space
from lossforge.symbolic.mirror_map import MirrorMap
from lossforge.symbolic.parser import formula_text

#: in the order ``validate`` checks them (the glossary's order too)
REASONS = ("tree", "not_convex", "not_differentiable", "compile", "objective", "lacks_property",
           "smoke_nonfinite", "smoke_shape", "smoke_not_monotone", "vanishing_gradient",
           "ignores_rejected", "ignores_chosen")

#: A loss whose gradient is below this on every row of ``_SCALE_BATCH`` never moves the policy
#: away from the reference: it is the reference policy again (already known), not a new loss.
VANISHING_GRADIENT = 1e-7

# Probe batches, one row per pair: policy chosen, policy rejected, reference chosen, reference
# rejected (summed log-probs of the sizes training sees), and the chosen response's length n
# (steps; read only by imitation terms that use n).
_L_GRID = torch.tensor([-400.0, -150.0, -60.0, -25.0, -10.0, -4.0, -1.5, -0.5, -0.1, -1e-3],
                       dtype=torch.float64)
_FP_BATCH = torch.tensor([
    [-60.0, -70.0, -62.0, -65.0, 20.0],
    [-120.0, -90.0, -110.0, -100.0, 45.0],
    [-15.0, -15.5, -16.0, -14.0, 5.0],
    [-250.0, -300.0, -260.0, -280.0, 120.0],
    [-3.0, -8.0, -2.5, -7.0, 200.0],
], dtype=torch.float64)

# summed log-probs at the scale of real segments (100-200 steps): policy and reference
#: Steps (time steps, tokens) a response's summed log-prob covers in ``_SCALE_BATCH``: a fitness
#: whose responses are shorter (the LLM test bed's answers: 4-7 tokens) declares its own
#: ``response_steps`` on its scenario and the batch is scaled to it (``scale_batch``).
SCALE_BATCH_STEPS = 100.0
_SCALE_BATCH = torch.tensor([
    [-60.0, -70.0, -62.0, -65.0, 15.0],
    [-120.0, -90.0, -110.0, -100.0, 40.0],
    [-250.0, -300.0, -260.0, -280.0, 100.0],
    [-500.0, -520.0, -510.0, -505.0, 200.0],
], dtype=torch.float64)


DPO_LINK = "-logsigmoid(D)"

#: Training progress points where temporally aware losses are probed (start, middle, end).
_T_PROBE = (0.0, 0.5, 1.0)


@dataclass(frozen=True)
class Candidate:
    """A tree that passed every check: what training needs and what the record shows."""

    names: tuple[str, ...]
    h: str                      # SymPy text of h(p)
    phi_inv: str
    phi_tilde: str
    convex_status: str          # proved | sampled | timeout (not used for any decision)
    semantic_hash: str
    fingerprint: str
    spec: dict                  # MPOSpec.to_json()
    complexity: int             # genome size (nodes over every part)
    link: str = DPO_LINK        # G(D, t)
    imitation: str | None = None  # Psi(l, n, t); None: no imitation term
    properties: dict | None = None  # objectives.properties.Properties.to_json()


@dataclass(frozen=True)
class Rejection:
    names: tuple[str, ...]
    reason: str
    detail: str = field(default="")


def candidate_spec(formula: str, *, beta: float, name: str, aggregation: str = "sum",
                   link: str = DPO_LINK, imitation: str | None = None,
                   reference: bool = True) -> MPOSpec:
    """The MPO member the search trains for a genome: the map's phi~ with the reference
    (without it when the search requires reference-free losses: r = beta phi~(l), as ORPO's),
    and DPO's link and no imitation term unless the search opens those slots."""
    return MPOSpec(name=name, mirror_map=formula, beta=beta, reference=reference,
                   link=link, imitation=imitation, aggregation=aggregation)


def _scale(objective: Objective) -> float:
    """Probe log-probs are summed over ~100-step segments; mean aggregation sees per-step ones."""
    return 100.0 if objective.aggregation == "mean" else 1.0


def _round(t: torch.Tensor) -> list[str]:
    return [f"{v:.8g}" if math.isfinite(v) else str(v) for v in t.tolist()]


def fingerprint(objective: Objective) -> str:
    """Numeric fingerprint of phi~ and of the loss and its gradient on a probe batch."""
    phi = objective.mirror_map.compile(verify=False)
    g = phi(_L_GRID)
    g = g - phi(torch.tensor([-1.0], dtype=torch.float64))
    parts = [_round(g)]
    for loss, gc, gr in _probe(objective, _FP_BATCH):
        # a constant added to the loss (softplus(0), say) changes no gradient: same loss
        loss = loss.detach()
        parts += [_round(loss - loss.mean()), _round(gc), _round(gr)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _probe(objective: Objective, batch: torch.Tensor):
    """(loss, dL/dl_w, dL/dl_l) on a probe batch; at each of ``_T_PROBE`` if temporal."""
    logps, lengths = batch[:, :4] / _scale(objective), batch[:, 4]
    out = []
    for t in (_T_PROBE if objective.temporal else (None,)):
        pc = logps[:, 0].clone().requires_grad_(True)
        pr = logps[:, 1].clone().requires_grad_(True)
        loss = objective(pc, pr, logps[:, 2], logps[:, 3], progress=t, chosen_lengths=lengths)
        # a loss without a log-prob in its graph (SFT: no l_l; a constant: neither) has a zero
        # gradient in it
        grads = (torch.autograd.grad(loss.sum(), (pc, pr), allow_unused=True)
                 if loss.requires_grad else (None, None))
        gc, gr = (torch.zeros_like(x) if g is None else g for g, x in zip(grads, (pc, pr)))
        out.append((loss, gc, gr))
    return out


#: A loss whose |dL/dl_l| is below this share of its |dL/dl_w| at segment scale does not use the
#: rejected response: it is supervised fine-tuning on the chosen one (BC-on-chosen, a baseline),
#: whatever its formula says. The mixed-quality search filled its hall of fame with such losses
#: (a flat phi~ near p = 0 plus an imitation term) before this check.
IGNORES_REJECTED = 1e-4


def scale_batch(response_steps: float | None = None) -> torch.Tensor:
    """The gradient checks' probe batch for responses of ``response_steps`` steps (None: the
    MuJoCo segments the batch was written for). Only summed log-probs scale with the length;
    mean-aggregated ones are per step whatever the length (``_scale``)."""
    if response_steps is None:
        return _SCALE_BATCH
    if not response_steps > 0:
        raise ValueError(f"response_steps must be positive, got {response_steps}")
    out = _SCALE_BATCH.clone()
    out[:, :4] *= response_steps / SCALE_BATCH_STEPS
    return out


def max_gradients(objective: Objective, response_steps: float | None = None
                  ) -> tuple[float, float]:
    """Largest |dL/dl_w| and |dL/dl_l| on log-probs at the scale of the fitness's responses."""
    batch = scale_batch(response_steps if objective.aggregation == "sum" else None)
    probes = _probe(objective, batch)
    return (max(float(gc.abs().max()) for _, gc, _ in probes),
            max(float(gr.abs().max()) for _, _, gr in probes))


def training_rejection(obj: Objective, response_steps: float | None = None
                       ) -> tuple[str, str] | None:
    """(reason, detail) when the search rejects the loss ``obj`` before training, whatever its
    map's checks say: the smoke test on extreme log-probs (finite, the right shape, monotone:
    a higher chosen log-prob never raises the loss), then its gradients at the scale of the
    fitness's responses (it must train the policy, and use the rejected response); None when
    it would train it. ``formula`` asks the same question."""
    smoke = smoke_test(obj)
    if not (smoke.finite and smoke.grad_finite):
        return "smoke_nonfinite", smoke.detail
    if not smoke.shape_ok:
        return "smoke_shape", smoke.detail
    if not smoke.monotone:
        return "smoke_not_monotone", smoke.detail
    g_chosen, g_rejected = max_gradients(obj, response_steps)
    if not max(g_chosen, g_rejected) >= VANISHING_GRADIENT:
        lo, hi = (float(x) for x in scale_batch(response_steps)[:, :4].aminmax())
        return ("vanishing_gradient",
                f"|dL/dl| < {VANISHING_GRADIENT:g} for log-probs at segment scale (summed in "
                f"[{lo:g}, {hi:g}], or /100 when mean-aggregated): training would leave the "
                "reference policy unchanged")
    if not g_rejected >= max(VANISHING_GRADIENT, IGNORES_REJECTED * g_chosen):
        return ("ignores_rejected",
                f"|dL/dl_l| = {g_rejected:.3g} against |dL/dl_w| = {g_chosen:.3g} at segment "
                "scale: the loss does not use the rejected response (it is fine-tuning on the "
                "chosen one, the BC-on-chosen baseline)")
    if not g_chosen >= IGNORES_REJECTED * g_rejected:   # no grammar's loss can (G sees D only)
        return ("ignores_chosen",
                f"|dL/dl_w| = {g_chosen:.3g} against |dL/dl_l| = {g_rejected:.3g} at segment "
                "scale: the loss does not use the chosen response (it only pushes the rejected "
                "one down)")
    return None


def tree_to_mirror_map(grammar: Grammar, tree) -> MirrorMap:
    """The map of a grammar tree: h(p) from a grammar in p, phi~(l) from a grammar in l. (Here,
    above the symbolic layer: grammar trees are SymPy expressions; MirrorMap builds on them.)"""
    expr = tree_to_sympy(grammar, tree)
    return MirrorMap.from_expr(expr, source=formula_text(expr))


def _slot_formulas(space: Space, parts: dict[str, list[str]]) -> tuple[str, str | None]:
    """Text of G and Psi (DPO's link and no imitation term for slots the search keeps shut)."""
    text = {}
    for slot in space.parts[1:]:
        g = space.grammar(slot)
        expr = tree_to_sympy(g, tree_from_names(g, parts[slot]))
        text[slot] = None if expr == 0 else formula_text(expr)
    link = text.get("link") or DPO_LINK
    if "link" in text and text["link"] is None:
        raise GrammarError("the link G is identically 0: nothing to learn")
    return link, text.get("imitation")


def validate(grammar: Grammar | Space, names: list[str] | tuple[str, ...], *, beta: float,
             aggregation: str = "sum", time_limit_s: float = 0.5,
             require: tuple[str, ...] = (), response_steps: float | None = None
             ) -> Candidate | Rejection:
    """Run every check of a genome (no training); the first failure is the rejection.
    ``require``: names of ``objectives.properties.REQUIREMENTS`` the loss must have.
    ``response_steps``: how many steps a response's summed log-prob covers in the fitness
    (its scenario's ``response_steps``; None: MuJoCo segments), the scale of the gradient
    checks."""
    names = tuple(names)
    space = grammar if isinstance(grammar, Space) else Space(grammar)
    try:
        parts = space.check(names)
        mm = tree_to_mirror_map(space.h, tree_from_names(space.h, parts["h"]))
        link, imitation = _slot_formulas(space, parts)
    except LossforgeError as exc:
        return Rejection(names, "tree", str(exc))
    try:
        report = mm.check(legendre=False, time_limit_s=time_limit_s)
    except Exception as exc:  # noqa: BLE001 - a candidate that breaks a check is rejected
        return Rejection(names, "not_convex", f"check raised {type(exc).__name__}: {exc}")
    if not report.convex.holds:
        return Rejection(names, "not_convex", report.convex.detail)
    if not report.differentiable.holds:
        return Rejection(names, "not_differentiable", report.differentiable.detail)
    formula = mm.formula
    try:
        mm.compile()  # verifies the log-domain rewrite against 40-digit arithmetic
    except Exception as exc:  # noqa: BLE001
        return Rejection(names, "compile", f"{type(exc).__name__}: {exc}")
    try:
        obj = Objective(candidate_spec(formula, beta=beta, name=f"mpo[{formula}]",
                                       aggregation=aggregation, link=link,
                                       imitation=imitation,
                                       reference="reference-free" not in require),
                        check=False)
    except Exception as exc:  # noqa: BLE001 - e.g. the printed h does not re-parse
        return Rejection(names, "objective", f"{type(exc).__name__}: {exc}")
    try:
        props = properties(obj.spec, time_limit_s=time_limit_s)
    except Exception as exc:  # noqa: BLE001 - recorded as unknown; required, it rejects
        props = None
        why = f"properties raised {type(exc).__name__}: {exc}"
    for name in require:
        if props is None:
            return Rejection(names, "lacks_property", f"{name} required: {why}")
        if not props.holds(name):
            return Rejection(names, "lacks_property", props.why_not(name))
    found = training_rejection(obj, response_steps)
    if found is not None:
        return Rejection(names, *found)
    try:
        fp = fingerprint(obj)
    except Exception as exc:  # noqa: BLE001
        return Rejection(names, "smoke_nonfinite", f"fingerprint: {type(exc).__name__}: {exc}")
    sem = mm.semantic_hash()
    if len(space.parts) > 1:  # the same map with another link or imitation term is another loss
        sem = hashlib.sha256(json.dumps([sem, link, imitation]).encode()).hexdigest()[:16]
    return Candidate(names=names, **mm.texts(), convex_status=report.convex.status,
                     semantic_hash=sem, fingerprint=fp, spec=obj.spec.to_json(),
                     complexity=space.size(names), link=link, imitation=imitation,
                     properties=props.to_json() if props is not None else None)
