"""What a loss may learn about a segment's length, and how to measure what it can.

On Hopper and Ant an episode terminates when the robot falls, so a segment stops there. With
``length_control = "none"`` (every v1 scenario) the loss sees the valid length n (the imitation
slot's ``chosen_lengths``) and log-probs summed over n steps, and since the teacher prefers the
segment that did not fall, a loss can win by preferring long segments or large |l| without
learning anything from the preferences (benchmark.md, "What wave 1's tables taught").

With ``length_control = "absorbing"`` a terminated segment is padded to H with an absorbing
state that earns 0 reward (the episode is over: no more return, so labels are those of "none")
and whose steps carry no information about the policy's own choices:

- the imitation slot sees n = H for every segment;
- log pi of the segment counts H steps, the padded ones by the scenario's ``absorbing_logp``:

  ``"segment-mean"``  each padded step adds the segment's own mean valid per-step log-prob:
                      l_sum = H * mean_valid, l_mean = mean_valid. No step count survives; the
                      gradient weighs a short segment's steps H/n times.
  ``"reference-mean"`` each padded step adds a constant c, the reference's mean per-step
                      log-prob over every valid step of the dataset (fixed per dataset and
                      reference): l_sum = sum_valid + (H - n) c, l_mean = l_sum / H. Log-ratios
                      against the reference lose the padding exactly.

"reference-mean" is the default: it leaked the least in a measurement (|l_ref| predicted the
label with accuracy 0.543 on a 256-pair hopper-padded-mixed-quality draw, against 0.781 for
"segment-mean" and 0.965 without padding; benchmarks/scenarios/README.md, "Benchmark v2").

Both are affine in the summed valid log-prob, so the trainer applies them as
``scale * total + offset`` per segment (``LengthView``); "none" keeps the v1 code path.

``predictor_accuracy`` is the audit-style check: how well one per-segment number alone (a
length, |l_ref|) predicts the label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lossforge.bench.scenarios import ABSORBING_LOGPS
from lossforge.errors import ConfigError


@dataclass(frozen=True)
class LengthView:
    """Per-segment log-prob aggregation of a length-controlled dataset: ``logps = scale * total
    + offset`` (total: the summed log-prob over valid steps) for each aggregation, and the length
    ``seen_lengths`` an objective's imitation slot receives. All tensors [N, 2]."""

    seen_lengths: torch.Tensor
    scale: dict[str, torch.Tensor]
    offset: dict[str, torch.Tensor]

    def logps(self, totals: torch.Tensor, pair_idx: torch.Tensor | slice, aggregation: str
              ) -> torch.Tensor:
        return torch.addcmul(self.offset[aggregation][pair_idx], totals,
                             self.scale[aggregation][pair_idx])


def absorbing_view(lengths: torch.Tensor, horizon: int, absorbing_logp: str,
                   ref_totals: torch.Tensor) -> LengthView:
    """The view of segments with ``lengths`` valid steps padded to ``horizon``; ``ref_totals``
    [N, 2] (the reference's summed valid log-probs) fixes the "reference-mean" constant."""
    n = lengths.to(torch.float32)
    h = float(horizon)
    pad = h - n
    if absorbing_logp == "segment-mean":
        scale = {"sum": h / n, "mean": 1.0 / n}
        offset = {"sum": torch.zeros_like(n), "mean": torch.zeros_like(n)}
    elif absorbing_logp == "reference-mean":
        c = float(ref_totals.sum() / n.sum())
        scale = {"sum": torch.ones_like(n), "mean": torch.full_like(n, 1.0 / h)}
        offset = {"sum": pad * c, "mean": pad * c / h}
    else:
        raise ConfigError(f"absorbing_logp {absorbing_logp!r}: expected one of "
                          f"{', '.join(ABSORBING_LOGPS)}")
    return LengthView(seen_lengths=torch.full_like(n, h), scale=scale, offset=offset)


def predictor_accuracy(feature: np.ndarray, chosen: np.ndarray) -> float:
    """Accuracy of the better of the two one-feature rules "the chosen segment is the one with
    the larger feature" and "... the smaller": 0.5 means the feature says nothing about the
    label, 1.0 that it gives every label away. feature [N, 2], chosen [N] 0/1; a pair with equal
    features counts 1/2 (a coin)."""
    feature = np.asarray(feature, dtype=np.float64)
    chosen = np.asarray(chosen)
    d = feature[:, 0] - feature[:, 1]
    hit = np.where(d == 0, 0.5, ((d > 0) == (chosen == 0)).astype(np.float64))
    acc = float(hit.mean())
    return max(acc, 1.0 - acc)
