"""The training loop: a population of preference objectives trained from one reference policy.

``train_members`` trains every (objective, seed) member as one stacked population: one forward
and one backward per step for all of them (``baddbmm`` on weights stacked [M, in, out]), Adam
elementwise, so a stacked update is exactly M separate updates. It reads top to bottom as the
whole algorithm; the execution modes that call it (batched, worker processes) are in
lossforge/bench/trainer.py, whose ``train_population`` is the one entry point.

Common random numbers: the minibatch sequence of a run depends only on its seed (not on the
objective, the mode or the other members), and every run starts from the same reference.

The objective interface (what lossforge.objectives provides): a callable

    objective(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
              progress=None, chosen_lengths=None) -> per-example losses [B]

with attributes ``name``, ``aggregation`` ("mean"|"sum"), ``needs_reference`` and ``temporal``
(and optionally ``needs_lengths``). The reference log-probs are None unless
``needs_reference``; ``progress`` (= step / steps, a 0-d float tensor) is passed only when
``temporal``; ``chosen_lengths`` (valid steps of each chosen segment, float [B]) only when
``needs_lengths``. On a length-controlled dataset (``length_control = "absorbing"``) both
the log-probs and ``chosen_lengths`` are those of segments padded to H (``chosen_lengths`` = H;
lossforge/bench/lengths.py). A pair with a soft label y < 1 (``dataset.label_prob``, the "equal"
teacher's ties) is trained on y L(c, r) + (1 - y) L(r, c) (``soft_label_loss``).

A run whose loss or gradient goes non-finite, or whose objective raises or returns the wrong
shape, is stopped before that step's update; its result keeps the last finite parameters and
says why in ``status``. The other runs go on unaffected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from lossforge.bench.lengths import LengthView, absorbing_view
from lossforge.bench.progress import progress_bar
from lossforge.bench.policy import (
    PackedSegments,
    Params,
    aggregate,
    buffers,
    segment_totals,
    stack_params,
    trainable,
)
from lossforge.errors import ConfigError, LossforgeError


class TrainingError(LossforgeError):
    """Inputs to training are malformed (not raised for a diverging objective: that is a status)."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch_pairs: int = 32
    lr: float = 3e-4
    eval_every: int = 250  # keep parameters after every eval_every updates (for AUC scoring)
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    workers: int = 0  # processes mode: worker count; 0 = os.cpu_count()
    threads: int = 1  # batched mode: torch threads. 1 by default: with two, the batched step ran
    #                   5x slower here on a loaded 2-core machine (OpenMP waits for preempted
    #                   threads); parallelism comes from processes instead.

    def __post_init__(self) -> None:
        for name in ("steps", "batch_pairs", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"TrainConfig.lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class RunResult:
    objective: str
    seed: int
    steps: int  # configured number of updates
    status: str  # "ok" | "nonfinite at step k" | "error at step k: ..."
    params: Params  # final (or last finite) parameters
    checkpoint_steps: list[int]  # updates done at each checkpoint: eval_every, 2*eval_every, ...
    checkpoints: list[Params]
    loss: np.ndarray  # [steps] batch-mean loss at each step, NaN after a stop
    chosen_logp: np.ndarray  # [steps] batch-mean policy log-prob of chosen (its aggregation)
    rejected_logp: np.ndarray  # [steps] same for rejected
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# --------------------------------------------------------------------------------------------
# Data prepared once per dataset and reference
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingData:
    segments: PackedSegments
    chosen: torch.Tensor  # [N] long
    reference: Params
    ref_logps: dict[str, torch.Tensor]  # aggregation -> [N, 2] reference log-prob per segment
    # length-controlled datasets: how log-probs and lengths reach an objective (None: as v1)
    view: LengthView | None = None
    # [N] probability that the chosen side is preferred (ties 0.5); None: 1 for every pair
    label_prob: torch.Tensor | None = None

    @property
    def n_pairs(self) -> int:
        return len(self.chosen)


@torch.no_grad()
def reference_logps(reference: Params, segments: PackedSegments, chunk_rows: int = 8192,
                    progress=False):
    """Per-segment reference log-probs [N, 2] under both aggregations, computed once.

    Chunks of about ``chunk_rows`` time steps keep activations in cache (3x faster than 100k-row
    chunks here: the elementwise ops are memory-bound)."""
    n = len(segments.lengths)
    chunk_pairs = max(1, chunk_rows // max(1, int(segments.lengths.max()) * 2))
    totals = torch.empty(n, 2)
    with progress_bar(progress) as bar:
        task = bar.add_task(f"reference log-probs of {n} pairs", total=n)
        for lo in range(0, n, chunk_pairs):
            idx = torch.arange(lo, min(lo + chunk_pairs, n))
            rows, seg_id, _ = segments.rows(idx)
            t = segment_totals(reference, segments.obs[rows], segments.act_idx[rows].long(),
                               seg_id, 2 * len(idx))
            totals[lo:lo + len(idx)] = t.view(-1, 2)
            bar.advance(task, len(idx))
    return {"sum": totals, "mean": aggregate(totals, segments.lengths, "mean")}


def prepare(dataset, reference: Params, progress=False) -> TrainingData:
    """Pack the dataset's valid steps and compute the reference log-probs (once per dataset)."""
    reference = {k: v.detach().clone() for k, v in getattr(reference, "params", reference).items()}
    segments = PackedSegments.from_arrays(dataset.obs, dataset.actions, dataset.lengths,
                                          reference["bin_centres"])
    chosen = torch.as_tensor(np.asarray(dataset.chosen), dtype=torch.long)
    if chosen.shape != (len(segments.lengths),) or bool(((chosen != 0) & (chosen != 1)).any()):
        raise TrainingError("dataset.chosen must be 0/1 with one entry per pair")
    ref_logps = reference_logps(reference, segments, progress=progress)
    view = None
    control = getattr(dataset, "length_control", "none")
    if control == "absorbing":
        view = absorbing_view(segments.lengths, int(dataset.obs.shape[2]),
                              dataset.absorbing_logp, ref_logps["sum"])
        ref_logps = {agg: view.logps(ref_logps["sum"], slice(None), agg) for agg in ref_logps}
    elif control != "none":
        raise TrainingError(f"dataset.length_control {control!r}: expected none or absorbing")
    label_prob = getattr(dataset, "label_prob", None)
    if label_prob is not None:
        label_prob = torch.as_tensor(np.asarray(label_prob), dtype=torch.float32)
        if label_prob.shape != chosen.shape or bool(((label_prob < 0.5) | (label_prob > 1)).any()):
            raise TrainingError("dataset.label_prob must lie in [0.5, 1], one entry per pair")
    return TrainingData(segments, chosen, reference, ref_logps, view, label_prob)


def minibatch_schedule(seed: int, n_pairs: int, batch_pairs: int, steps: int) -> torch.Tensor:
    """Pair indices [steps, batch_pairs] of every step: shuffled epochs, a function of seed only."""
    g = torch.Generator().manual_seed(seed)
    need = steps * batch_pairs
    epochs = [torch.randperm(n_pairs, generator=g) for _ in range(-(-need // n_pairs))]
    return torch.cat(epochs)[:need].view(steps, batch_pairs)


# --------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------
class _Population:
    """M copies of the reference, trained tensors stacked [M, ...], with their Adam state.

    ``slot_member[slot]`` is the member index of each stacked slot; a stopped member leaves
    (``keep``), so the slots shrink while the member indices stay."""

    def __init__(self, reference: Params, n_members: int):
        stacked = stack_params([reference] * n_members)
        self.fixed = buffers(stacked)
        self.weights = {k: v.clone() for k, v in trainable(stacked).items()}
        self.adam_m = {k: torch.zeros_like(v) for k, v in self.weights.items()}
        self.adam_v = {k: torch.zeros_like(v) for k, v in self.weights.items()}
        self.slot_member = list(range(n_members))

    def snapshot(self, slot: int) -> Params:
        return {**self.fixed, **{k: w[slot].detach().clone() for k, w in self.weights.items()}}

    def segment_totals(self, obs, act, seg_id, n_seg: int) -> torch.Tensor:
        """Summed log pi of every segment, for every member at once (with gradients)."""
        for w in self.weights.values():
            w.requires_grad_(True)
        return segment_totals({**self.fixed, **self.weights}, obs, act, seg_id, n_seg)

    def gradients(self, losses: list[torch.Tensor]):
        """(parameter names, gradient of each [M, ...], finite [M]: loss and gradient finite).
        One backward pass for the whole population (members do not interact)."""
        total = torch.stack(losses).sum()
        keys = list(self.weights)
        if total.requires_grad:
            grads = torch.autograd.grad(total, [self.weights[k] for k in keys],
                                        allow_unused=True)
            grads = [torch.zeros_like(self.weights[k]) if g is None else g
                     for k, g in zip(keys, grads)]
        else:
            grads = [torch.zeros_like(self.weights[k]) for k in keys]
        finite = torch.stack([torch.stack(losses).detach().isfinite()]
                             + [g.flatten(1).isfinite().all(1) for g in grads]).all(0)
        return keys, grads, finite

    @torch.no_grad()
    def keep_and_update(self, keep: list[int], keys: list[str], grads: list[torch.Tensor],
                        t: int, config: TrainConfig) -> None:
        """Drop the slots not in ``keep``, then Adam's update number ``t`` (elementwise, so a
        stacked update is exactly M separate updates)."""
        self.weights = {k: w.detach() for k, w in self.weights.items()}
        if len(keep) < len(self.slot_member):
            idx = torch.tensor(keep, dtype=torch.long)
            self.weights = {k: w[idx] for k, w in self.weights.items()}
            self.adam_m = {k: v[idx] for k, v in self.adam_m.items()}
            self.adam_v = {k: v[idx] for k, v in self.adam_v.items()}
            grads = [g[idx] for g in grads]
            self.slot_member = [self.slot_member[s] for s in keep]
        b1, b2 = config.adam_beta1, config.adam_beta2
        step_size = config.lr / (1 - b1**t)
        bias2_sqrt = math.sqrt(1 - b2**t)
        for k, g in zip(keys, grads):
            self.adam_m[k].mul_(b1).add_(g, alpha=1 - b1)
            self.adam_v[k].mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (self.adam_v[k].sqrt() / bias2_sqrt).add_(config.adam_eps)
            self.weights[k].addcdiv_(self.adam_m[k], denom, value=-step_size)


@dataclass
class _Records:
    """What each member's RunResult reports, filled in as training goes."""

    loss: np.ndarray       # [M, steps]
    chosen: np.ndarray     # [M, steps]
    rejected: np.ndarray   # [M, steps]
    status: list[str]
    final: list[Params | None]
    ckpt_steps: list[list[int]]
    ckpts: list[list[Params]]

    @classmethod
    def empty(cls, n_members: int, steps: int) -> "_Records":
        return cls(np.full((n_members, steps), np.nan), np.full((n_members, steps), np.nan),
                   np.full((n_members, steps), np.nan), ["ok"] * n_members, [None] * n_members,
                   [[] for _ in range(n_members)], [[] for _ in range(n_members)])

    def results(self, members: Sequence[tuple[Callable, int]], steps: int) -> list[RunResult]:
        return [
            RunResult(
                objective=str(getattr(members[m][0], "name", repr(members[m][0]))),
                seed=members[m][1],
                steps=steps,
                status=self.status[m],
                params=self.final[m],
                checkpoint_steps=self.ckpt_steps[m],
                checkpoints=self.ckpts[m],
                loss=self.loss[m],
                chosen_logp=self.chosen[m],
                rejected_logp=self.rejected[m],
            )
            for m in range(len(members))
        ]


def _minibatch(data: TrainingData, schedule: dict[int, torch.Tensor], slot_seed: list[int],
               step: int, batch: int):
    """(pair indices of each seed in use, obs [M, R, obs_dim], act [M, R, act_dim], segment id
    [M, R]): the packed rows of both segments of every pair, padded to the longest seed's."""
    per_seed = {}
    for s in set(slot_seed):
        pair_idx = schedule[s][step]
        rows, seg_id, _ = data.segments.rows(pair_idx)
        per_seed[s] = (pair_idx, rows, seg_id)
    n_rows = max(len(r) for _, r, _ in per_seed.values())
    n_seg = 2 * batch
    padded = {}
    for s, (pair_idx, rows, seg_id) in per_seed.items():
        pad = n_rows - len(rows)
        obs = data.segments.obs[rows]
        act = data.segments.act_idx[rows].long()
        if pad:  # padding rows go to segment id n_seg, which segment_totals drops
            obs = torch.cat([obs, obs.new_zeros(pad, obs.shape[1])])
            act = torch.cat([act, act.new_zeros(pad, act.shape[1])])
            seg_id = torch.cat([seg_id, seg_id.new_full((pad,), n_seg)])
        padded[s] = (obs, act, seg_id)
    obs = torch.stack([padded[s][0] for s in slot_seed])
    act = torch.stack([padded[s][1] for s in slot_seed])
    seg_id = torch.stack([padded[s][2] for s in slot_seed])
    return {s: v[0] for s, v in per_seed.items()}, obs, act, seg_id


class _ObjectiveFailed(Exception):
    """The member's objective raised or returned a wrong shape (``cause``): its status, not the
    population's failure."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


def _member_loss(objective: Callable, totals: torch.Tensor, pair_idx: torch.Tensor,
                 data: TrainingData, progress: torch.Tensor, batch: int):
    """(per-pair loss [B], policy log-probs of chosen [B] and rejected [B]) of one member from
    its segment totals [B, 2]; raises _ObjectiveFailed when the objective itself fails."""
    agg = objective.aggregation
    if data.view is None:
        logps = aggregate(totals, data.segments.lengths[pair_idx], agg)  # [B, 2]
    else:  # length-controlled: padded to H (see lossforge/bench/lengths.py)
        logps = data.view.logps(totals, pair_idx, agg)
    c = data.chosen[pair_idx].unsqueeze(1)
    pc, pr = logps.gather(1, c).squeeze(1), logps.gather(1, 1 - c).squeeze(1)
    rc = rr = None
    if objective.needs_reference:
        ref = data.ref_logps[agg][pair_idx]
        rc, rr = ref.gather(1, c).squeeze(1), ref.gather(1, 1 - c).squeeze(1)
    extra = {}
    if objective.temporal:
        extra["progress"] = progress
    lengths = None
    if getattr(objective, "needs_lengths", False):  # steps in the chosen segment
        seen = data.segments.lengths if data.view is None else data.view.seen_lengths
        lengths = seen[pair_idx].to(pc.dtype)
        extra["chosen_lengths"] = lengths.gather(1, c).squeeze(1)
    try:
        out = _checked(objective(pc, pr, rc, rr, **extra), batch)
        if data.label_prob is not None:
            out = soft_label_loss(objective, out, data.label_prob[pair_idx], pc, pr,
                                  rc, rr, extra, lengths, c)
    except Exception as exc:  # a candidate's failure is its own, not the population's
        raise _ObjectiveFailed(exc) from exc
    return out, pc, pr


def train_members(
    members: Sequence[tuple[Callable, int]],
    data: TrainingData,
    config: TrainConfig,
    on_step: Callable[[int], None] | None = None,
) -> list[RunResult]:
    """Train every (objective, seed) member from the reference, stacked as one population."""
    steps, batch = config.steps, config.batch_pairs
    if batch > data.n_pairs:
        raise TrainingError(f"batch_pairs {batch} exceeds the dataset's {data.n_pairs} pairs")
    # 1. The population: M copies of the reference, trained tensors stacked [M, ...]; Adam state.
    pop = _Population(data.reference, len(members))
    # 2. Common random numbers: one minibatch schedule per distinct seed.
    seeds = sorted({seed for _, seed in members})
    schedule = {s: minibatch_schedule(s, data.n_pairs, batch, steps) for s in seeds}
    rec = _Records.empty(len(members), steps)

    for step in range(steps):
        if not pop.slot_member:
            break
        progress = torch.tensor(step / steps, dtype=torch.float32)
        slot_seed = [members[m][1] for m in pop.slot_member]
        # 3. Minibatch of each seed in use; 4. forward for every member at once.
        pair_idx, obs, act, seg_id = _minibatch(data, schedule, slot_seed, step, batch)
        totals = pop.segment_totals(obs, act, seg_id, 2 * batch).view(-1, batch, 2)

        # 5. Each member's objective on its own chosen / rejected log-probs.
        losses, ok = [], []
        for slot, m in enumerate(pop.slot_member):
            objective, seed = members[m]
            try:
                out, pc, pr = _member_loss(objective, totals[slot], pair_idx[seed], data,
                                           progress, batch)
            except _ObjectiveFailed as failed:
                exc = failed.cause
                rec.status[m] = f"error at step {step}: {type(exc).__name__}: {exc}"
                losses.append(torch.zeros(()))
                ok.append(False)
                continue
            loss = out.mean()
            losses.append(loss)
            ok.append(True)
            rec.loss[m, step] = loss.item()
            rec.chosen[m, step] = pc.mean().item()
            rec.rejected[m, step] = pr.mean().item()

        # 6. Backward: one pass for the whole population.
        keys, grads, finite = pop.gradients(losses)

        # 7. Stop members whose loss or gradient is non-finite; they keep their current weights.
        keep = []
        for slot, m in enumerate(pop.slot_member):
            if ok[slot] and bool(finite[slot]):
                keep.append(slot)
                continue
            if rec.status[m] == "ok":
                rec.status[m] = f"nonfinite at step {step}"
            rec.final[m] = pop.snapshot(slot)
        # 8. Adam on the members that go on.
        pop.keep_and_update(keep, keys, grads, step + 1, config)

        # 9. Checkpoints for area-under-the-curve scoring.
        if (step + 1) % config.eval_every == 0:
            for slot, m in enumerate(pop.slot_member):
                rec.ckpt_steps[m].append(step + 1)
                rec.ckpts[m].append(pop.snapshot(slot))
        if on_step is not None:
            on_step(step)

    for slot, m in enumerate(pop.slot_member):
        rec.final[m] = pop.snapshot(slot)
    return rec.results(members, steps)


def _checked(out, batch: int) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.shape != (batch,):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
        raise TrainingError(f"objective returned {shape}, expected ({batch},)")
    return out


def soft_label_loss(objective: Callable, out: torch.Tensor, label_prob: torch.Tensor,
                    pc, pr, rc, rr, extra: dict, lengths: torch.Tensor | None,
                    c: torch.Tensor) -> torch.Tensor:
    """Per-pair loss under a soft label y = P(chosen preferred): ``y L(c, r) + (1 - y) L(r, c)``
    (y = 1/2 for the "equal" teacher's ties: the symmetrised loss, which any pairwise loss
    allows). ``out`` is L(c, r) for the batch; L(r, c) is computed only for pairs with y < 1, with
    the sides swapped everywhere (log-probs, reference, the imitation slot's length)."""
    soft = torch.nonzero(label_prob < 1).squeeze(1)
    if len(soft) == 0:
        return out
    swapped = {**extra}
    if lengths is not None:
        swapped["chosen_lengths"] = lengths.gather(1, 1 - c).squeeze(1)[soft]
    pick = (lambda t: None if t is None else t[soft])
    back = _checked(objective(pr[soft], pc[soft], pick(rr), pick(rc), **swapped), len(soft))
    y = label_prob[soft].to(out.dtype)
    return out.index_put((soft,), y * out[soft] + (1 - y) * back)
