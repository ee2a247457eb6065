"""A loss against a baseline, seed by seed: the paired difference and its verdict.

Every loss and baseline of a run trains with the same seeds and plays the same evaluation
episodes (common random numbers), so the right comparison is the mean of the per-seed
differences with its 95 % t-interval: "better" when the whole interval is above zero, "worse"
when it is below, "level" when it contains zero; with fewer than two seeds there is no
interval and no verdict.

(Kept tiny on purpose: the search's own verdict lines compute the same thing and the two are to
become one function.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from lossforge.bench.fitness import ci95_halfwidth


@dataclass(frozen=True)
class Paired:
    mean: float      # mean over seeds of (loss - baseline)
    ci95: float      # half-width of its 95 % t-interval (NaN below two seeds)
    n: int           # seeds compared
    verdict: str     # "better", "level", "worse" or "n/a"


def paired_verdict(loss_per_seed: Sequence[float], baseline_per_seed: Sequence[float]) -> Paired:
    """Paired difference of two per-seed score lists trained on the same seeds, in order."""
    if len(loss_per_seed) != len(baseline_per_seed):
        raise ValueError(f"paired scores need the same seeds: {len(loss_per_seed)} against "
                         f"{len(baseline_per_seed)}")
    diffs = [float(a) - float(b) for a, b in zip(loss_per_seed, baseline_per_seed)]
    if not diffs or not all(math.isfinite(d) for d in diffs):
        return Paired(math.nan, math.nan, len(diffs), "n/a")
    mean = sum(diffs) / len(diffs)
    half = ci95_halfwidth(diffs)
    if math.isnan(half):
        verdict = "n/a"
    elif mean - half > 0:
        verdict = "better"
    elif mean + half < 0:
        verdict = "worse"
    else:
        verdict = "level"
    return Paired(mean, half, len(diffs), verdict)
