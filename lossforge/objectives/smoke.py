"""Loss-level smoke test of a compiled objective (mpo.md, validity check 4).

A probe batch with extreme log-probs (l near 0, l = -1e3, ties, large margins either way) must
give finite per-example losses of the right shape with finite gradients; and raising the
chosen log-prob should not raise the loss (``monotone``), which holds whenever the link G is
decreasing in the margin. The result is recorded; the search decides which parts it requires.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

# columns: policy chosen, policy rejected, ref chosen, ref rejected (summed log-probs)
_PROBE = torch.tensor([
    [-1e-9, -1e3, -2.0, -999.0],
    [-1e3, -1e-9, -900.0, -3.0],
    [-5.0, -5.0, -4.0, -6.0],
    [-1e3, -1e3, -1e3, -1e3],
    [-0.3, -0.2, -0.3, -0.1],
    [-500.0, -520.0, -510.0, -505.0],
    [-40.0, -2.0, -41.0, -1.0],
], dtype=torch.float64)


@dataclass(frozen=True)
class SmokeReport:
    finite: bool
    grad_finite: bool
    shape_ok: bool
    monotone: bool
    detail: str

    @property
    def ok(self) -> bool:
        return self.finite and self.grad_finite and self.shape_ok

    def to_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def smoke_test(objective, progress_points=(0.0, 0.5, 1.0)) -> SmokeReport:
    probe = _PROBE.clone()
    if objective.aggregation == "mean":  # mean log-probs: same shapes, 100-step responses
        probe = probe / 100.0
    pc = probe[:, 0].clone().requires_grad_(True)
    pr, rc, rr = probe[:, 1], probe[:, 2], probe[:, 3]
    kw = {}
    if objective.needs_lengths:
        kw["chosen_lengths"] = torch.full_like(pc, 100.0)
    finite = grad_finite = shape_ok = monotone = True
    details = []
    for t in (progress_points if objective.temporal else (None,)):
        at = "" if t is None else f" at t={t:g}"      # training progress, temporal losses only
        try:
            loss = objective(pc, pr, rc, rr, progress=t, **kw)
        except Exception as exc:  # noqa: BLE001 - a broken candidate is recorded, not raised
            return SmokeReport(False, False, False, False, f"raised {type(exc).__name__}: {exc}")
        shape_ok &= tuple(loss.shape) == (len(pc),)
        finite &= bool(torch.isfinite(loss).all())
        if not finite:
            details.append(f"non-finite loss{at}")
            break
        # a loss that does not depend on the log-probs (the zoo's zero_pref) has no graph: its
        # gradient is zero, not an error
        grad = (torch.autograd.grad(loss.sum(), pc)[0] if loss.requires_grad
                else torch.zeros_like(pc))
        grad_finite &= bool(torch.isfinite(grad).all())
        if bool((grad > 1e-12).any()):
            monotone = False
            rows = torch.nonzero(grad > 1e-12).flatten().tolist()
            details.append(f"dL/dl_w > 0 at probe rows {rows}{at}")
    return SmokeReport(finite, grad_finite, shape_ok, monotone, "; ".join(details) or "ok")
