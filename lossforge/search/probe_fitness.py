"""A cheap, deterministic stand-in for the benchmark fitness (``lossforge.bench.fitness``).

Same signature and result type, no MuJoCo: a few SGD steps of per-pair log-prob offsets
under the candidate loss on a fixed synthetic preference batch with 30 % flipped labels, scored
by how far the *true* preferences' margins moved, minus a penalty when the chosen log-probs
fall (likelihood displacement). Chosen responses have lengths n (for imitation terms in n):
50-200 steps where the label is right, 20-120 where it was flipped (a poor chosen response
ends early, as in hopper-mixed-quality). Seeds pick the minibatches; budgets set the step
counts. It
ranks losses differently (it is a function of the loss, never a constant), costs milliseconds,
and exists so that the engine's tests and the ``--fitness probe`` smoke runs do not need the
benchmark. It says nothing about MuJoCo returns.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from pathlib import Path
from typing import Sequence

import torch

from lossforge.bench.result import Fitness
from lossforge.bench.stats import t_quantile

_STEPS = {"quick": 4, "screen": 8, "full": 16}
_SEEDS = {"quick": (0,), "screen": (0,), "full": (0, 1, 2)}


def _scenario_name(scenario) -> str | None:
    """The scenario's name (a Scenario, a TOML path or a name), or None."""
    if scenario is None:
        return None
    if isinstance(scenario, (str, os.PathLike)):
        return Path(scenario).stem
    return scenario.name


def _variant(scenario) -> tuple[int, float]:
    """(batch seed, flip rate) of the probe batch for ``scenario``: the quick scenario and no
    scenario keep the batch every probe run used (seed 20261125, 30 % flips); any other
    scenario gets its own, from a hash of its name (flips 10-45 %), so suite runs on the probe
    see scenarios that differ, deterministically."""
    name = _scenario_name(scenario)
    if name in (None, "quick"):
        return 20261125, 0.3
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    return h, 0.10 + 0.35 * (h % 1000) / 999


def _batch(scenario=None) -> tuple[torch.Tensor, ...]:
    seed, flip = _variant(scenario)
    g = torch.Generator().manual_seed(seed)
    n = 64
    ref_c = -40.0 - 60.0 * torch.rand(n, generator=g, dtype=torch.float64)
    ref_r = -40.0 - 60.0 * torch.rand(n, generator=g, dtype=torch.float64)
    flipped = torch.rand(n, generator=g, dtype=torch.float64) < flip
    # drawn after the rest: the batch of losses that do not read n is what it always was
    u = torch.rand(n, generator=g, dtype=torch.float64)
    lengths = torch.where(flipped, 20.0 + 100.0 * u, 50.0 + 150.0 * u).round()
    return ref_c, ref_r, flipped, lengths


def reference_score(scenario=None, budget: str = "screen", metric: str = "auc") -> float:
    """The untrained reference's score: 0 (offsets 0 give margin 0 and no displacement)."""
    return 0.0


def _one_seed(objective, budget: str, seed: int, scenario=None) -> tuple[str, list[float]]:
    ref_c, ref_r, flipped, lengths = _batch(scenario)
    g = torch.Generator().manual_seed(1000 + seed)
    theta_c = torch.zeros_like(ref_c)
    theta_r = torch.zeros_like(ref_r)
    truth = torch.where(flipped, -1.0, 1.0).to(torch.float64)
    curve = []
    for step in range(_STEPS[budget]):
        idx = torch.randperm(len(ref_c), generator=g)[:16]
        tc = theta_c[idx].clone().requires_grad_(True)
        tr = theta_r[idx].clone().requires_grad_(True)
        kw = {"progress": step / _STEPS[budget]} if objective.temporal else {}
        if getattr(objective, "needs_lengths", False):
            kw["chosen_lengths"] = lengths[idx]
        # log-probs stay below 0 (-softplus(-x) ~ x for x << 0); mean-aggregated objectives
        # see per-step log-probs of a 100-step segment, as in the smoke test
        scale_l = 100.0 if objective.aggregation == "mean" else 1.0
        lc = -torch.nn.functional.softplus(-(ref_c[idx] + tc)) / scale_l
        lr = -torch.nn.functional.softplus(-(ref_r[idx] + tr)) / scale_l
        loss = objective(lc, lr, ref_c[idx] / scale_l, ref_r[idx] / scale_l, **kw)
        if not bool(torch.isfinite(loss).all()):
            return f"nonfinite at step {step}", curve
        gc, gr = torch.autograd.grad(loss.mean(), (tc, tr))
        if not (bool(torch.isfinite(gc).all()) and bool(torch.isfinite(gr).all())):
            return f"nonfinite gradient at step {step}", curve
        scale = 20.0 / (1.0 + float(torch.cat([gc, gr]).abs().max()))  # clipped step
        theta_c[idx] -= scale * 16 * gc
        theta_r[idx] -= scale * 16 * gr
        margin = truth * (theta_c - theta_r)
        displacement = torch.relu(-theta_c).mean()
        score = 100.0 * float(torch.tanh(margin / 5.0).mean()) - 2.0 * float(displacement)
        curve.append(score)
    return "ok", curve


def evaluate(objectives: Sequence, scenario=None, budget: str = "screen", *,
             seeds: Sequence[int] | None = None, metric: str = "auc", workers: int | None = None,
             progress: bool = False) -> list[Fitness]:
    """Stand-in for ``lossforge.bench.fitness.evaluate`` (``scenario`` picks the probe batch,
    ``_variant``; ``workers`` unused)."""
    if budget not in _STEPS:
        raise ValueError(f"unknown budget {budget!r}")
    seeds = tuple(seeds) if seeds is not None else _SEEDS[budget]
    out = []
    for obj in objectives:
        t0 = time.perf_counter()
        finals, aucs, status = [], [], "ok"
        for s in seeds:
            st, curve = _one_seed(obj, budget, s, scenario)
            if st != "ok":
                status = st
                break
            finals.append(curve[-1])
            aucs.append(sum(curve) / len(curve))
        if status != "ok":
            nan = float("nan")
            out.append(Fitness(obj.name, status, nan, nan, (), nan, nan,
                               time.perf_counter() - t0))
            continue
        per = aucs if metric == "auc" else finals
        mean = sum(per) / len(per)
        # the benchmark's interval (lossforge.bench.fitness.ci95_halfwidth): the t quantile of
        # n - 1 degrees of freedom, NaN ("n/a (1 seed)") for one seed
        ci = float("nan")
        if len(per) > 1:
            var = sum((x - mean) ** 2 for x in per) / (len(per) - 1)
            ci = t_quantile(0.975, len(per) - 1) * math.sqrt(var / len(per))
        out.append(Fitness(obj.name, "ok", mean, ci, tuple(per), sum(finals) / len(finals),
                           sum(aucs) / len(aucs), time.perf_counter() - t0))
    return out
