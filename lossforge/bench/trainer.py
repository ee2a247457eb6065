"""Train a population of preference objectives from one reference policy.

One interface, two execution modes that give the same parameters:

    train_population(objectives, dataset, reference, seeds, config, mode="auto")

- "batched": every run (objective x seed) is one member of a stacked population; one forward and
  one backward per step for all of them (``baddbmm`` on weights stacked [M, in, out]).
- "processes": each run trains alone (a population of one, the very same code) in a spawned
  worker process with one torch thread; with one worker, "the worker" is this process, and the
  runs train one after another. The parameters do not depend on the worker count.

Both run ``train_members`` below, which reads top to bottom as the whole algorithm. On CPU
training is compute-bound, so stacking pays only at tiny batches (few rows per matmul) and
processes pay at realistic ones; "auto" chooses by the rows per step and the size of the job
(see ``choose_mode``).

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

In "processes" mode the objective is pickled to the worker, so it must be picklable (a
module-level class instance or function, not a lambda or a closure); formula objectives
pickle as their spec (the formula text) and are rebuilt in the worker (``__reduce__`` in
objectives/mpo.py and objectives/neural.py).

A run whose loss or gradient goes non-finite, or whose objective raises or returns the wrong
shape, is stopped before that step's update; its result keeps the last finite parameters and
says why in ``status``. The other runs go on unaffected.
"""

from __future__ import annotations

import contextlib
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch
import torch.multiprocessing

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
from lossforge.workers import exit_with_parent, torch_threads, worker_count

Mode = Literal["auto", "batched", "processes"]

# "auto" (see choose_mode), from benchmarks/results/throughput.json (2-core CPU shared with
# other tenants' jobs, load 5-8): stacking 8 runs on one core beat running them one after
# another only at tiny minibatches (1.24x at 800 time steps a member-step; 0.6-0.8x at 3,200 to
# 25,600). End to end, one-thread batched beat two warm workers 2.3x at 200 rows and 1.7x at
# 800, and lost (0.88x) at 12,800; a fresh pool adds ~5 s of worker start-up.
AUTO_BATCHED_MAX_ROWS = 1024  # time steps per member-step up to which stacking wins
AUTO_BATCHED_MAX_WORK = 4_000_000  # row-steps (~10 s on one core at hidden 128): below this,
#                                    starting workers costs more than it saves


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
    n_members = len(members)

    # 1. The population: M copies of the reference, trained tensors stacked [M, ...]; Adam state.
    stacked = stack_params([data.reference] * n_members)
    fixed = buffers(stacked)
    weights = {k: v.clone() for k, v in trainable(stacked).items()}
    adam_m = {k: torch.zeros_like(v) for k, v in weights.items()}
    adam_v = {k: torch.zeros_like(v) for k, v in weights.items()}
    slot_member = list(range(n_members))  # member index of each stacked slot (failed ones leave)

    # 2. Common random numbers: one minibatch schedule per distinct seed.
    seeds = sorted({seed for _, seed in members})
    schedule = {s: minibatch_schedule(s, data.n_pairs, batch, steps) for s in seeds}

    # Per-member records.
    loss_curve = np.full((n_members, steps), np.nan)
    chosen_curve = np.full((n_members, steps), np.nan)
    rejected_curve = np.full((n_members, steps), np.nan)
    status = ["ok"] * n_members
    final: list[Params | None] = [None] * n_members
    ckpt_steps: list[list[int]] = [[] for _ in range(n_members)]
    ckpts: list[list[Params]] = [[] for _ in range(n_members)]

    def snapshot(slot: int) -> Params:
        return {**fixed, **{k: w[slot].detach().clone() for k, w in weights.items()}}

    for step in range(steps):
        if not slot_member:
            break
        progress = torch.tensor(step / steps, dtype=torch.float32)
        slot_seed = [members[m][1] for m in slot_member]

        # 3. Minibatch of each seed in use: packed rows of both segments of every pair.
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
        obs = torch.stack([padded[s][0] for s in slot_seed])  # [M, R, obs_dim]
        act = torch.stack([padded[s][1] for s in slot_seed])  # [M, R, act_dim]
        seg_id = torch.stack([padded[s][2] for s in slot_seed])  # [M, R]

        # 4. Forward: summed log pi of every segment, for every member at once.
        for w in weights.values():
            w.requires_grad_(True)
        totals = segment_totals({**fixed, **weights}, obs, act, seg_id, n_seg).view(-1, batch, 2)

        # 5. Each member's objective on its own chosen / rejected log-probs.
        losses, ok = [], []
        for slot, m in enumerate(slot_member):
            objective, seed = members[m]
            pair_idx = per_seed[seed][0]
            agg = objective.aggregation
            if data.view is None:
                logps = aggregate(totals[slot], data.segments.lengths[pair_idx], agg)  # [B, 2]
            else:  # length-controlled: padded to H (see lossforge/bench/lengths.py)
                logps = data.view.logps(totals[slot], pair_idx, agg)
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
                status[m] = f"error at step {step}: {type(exc).__name__}: {exc}"
                losses.append(torch.zeros(()))
                ok.append(False)
                continue
            loss = out.mean()
            losses.append(loss)
            ok.append(True)
            loss_curve[m, step] = loss.item()
            chosen_curve[m, step] = pc.mean().item()
            rejected_curve[m, step] = pr.mean().item()

        # 6. Backward: one pass for the whole population (members do not interact).
        total = torch.stack(losses).sum()
        keys = list(weights)
        if total.requires_grad:
            grads = torch.autograd.grad(total, [weights[k] for k in keys], allow_unused=True)
            grads = [torch.zeros_like(weights[k]) if g is None else g for k, g in zip(keys, grads)]
        else:
            grads = [torch.zeros_like(weights[k]) for k in keys]
        finite = torch.stack([torch.stack(losses).detach().isfinite()]
                             + [g.flatten(1).isfinite().all(1) for g in grads]).all(0)

        # 7. Stop members whose loss or gradient is non-finite; they keep their current weights.
        keep = []
        for slot, m in enumerate(slot_member):
            if ok[slot] and bool(finite[slot]):
                keep.append(slot)
                continue
            if status[m] == "ok":
                status[m] = f"nonfinite at step {step}"
            final[m] = snapshot(slot)
        with torch.no_grad():
            weights = {k: w.detach() for k, w in weights.items()}
            if len(keep) < len(slot_member):
                idx = torch.tensor(keep, dtype=torch.long)
                weights = {k: w[idx] for k, w in weights.items()}
                adam_m = {k: v[idx] for k, v in adam_m.items()}
                adam_v = {k: v[idx] for k, v in adam_v.items()}
                grads = [g[idx] for g in grads]
                slot_member = [slot_member[s] for s in keep]

            # 8. Adam (elementwise, so a stacked update is exactly M separate updates).
            t = step + 1
            b1, b2 = config.adam_beta1, config.adam_beta2
            step_size = config.lr / (1 - b1**t)
            bias2_sqrt = math.sqrt(1 - b2**t)
            for k, g in zip(keys, grads):
                adam_m[k].mul_(b1).add_(g, alpha=1 - b1)
                adam_v[k].mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (adam_v[k].sqrt() / bias2_sqrt).add_(config.adam_eps)
                weights[k].addcdiv_(adam_m[k], denom, value=-step_size)

        # 9. Checkpoints for area-under-the-curve scoring.
        if (step + 1) % config.eval_every == 0:
            for slot, m in enumerate(slot_member):
                ckpt_steps[m].append(step + 1)
                ckpts[m].append(snapshot(slot))
        if on_step is not None:
            on_step(step)

    for slot, m in enumerate(slot_member):
        final[m] = snapshot(slot)
    return [
        RunResult(
            objective=str(getattr(members[m][0], "name", repr(members[m][0]))),
            seed=members[m][1],
            steps=steps,
            status=status[m],
            params=final[m],
            checkpoint_steps=ckpt_steps[m],
            checkpoints=ckpts[m],
            loss=loss_curve[m],
            chosen_logp=chosen_curve[m],
            rejected_logp=rejected_curve[m],
        )
        for m in range(n_members)
    ]


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


# --------------------------------------------------------------------------------------------
# Worker processes (mode "processes")
# --------------------------------------------------------------------------------------------
def _one_core() -> None:
    """A worker's torch settings."""
    torch.set_num_threads(1)  # one core per worker: cores are shared by processes, not threads
    # Sharp policies push exp() in the log-softmax into denormals, 4x slower on x86 (measured);
    # flushing them changes nothing above 1e-38.
    torch.set_flush_denormal(True)


def _worker_init() -> None:
    exit_with_parent()
    _one_core()


@contextlib.contextmanager
def _worker_settings():
    """A worker's torch settings in this process, for the duration (a 1-worker run)."""
    with torch_threads(1):
        _one_core()
        try:
            yield
        finally:
            torch.set_flush_denormal(False)  # torch's default; nothing else here sets it


def _train_one(data: TrainingData, config: TrainConfig, objective: Callable,
               seed: int) -> RunResult:
    return train_members([(objective, seed)], data, config)[0]


class WorkerPool:
    """Spawned training workers, one torch thread each, for mode "processes".

    Starting a worker (a fresh interpreter importing torch) takes seconds. Pass one pool to many
    ``train_population`` calls (e.g. every generation of a search) to pay that once; without
    one, each call starts and stops its own. Tasks carry the TrainingData: its tensors travel
    through shared memory (torch.multiprocessing), so sending it per task costs little.
    """

    def __init__(self, workers: int = 0):
        self.workers = worker_count(workers)
        ctx = torch.multiprocessing.get_context("spawn")
        self._executor = ProcessPoolExecutor(self.workers, mp_context=ctx,
                                             initializer=_worker_init)

    def run(self, members, data: TrainingData, config: TrainConfig,
            progress: Callable[[int], None] | None = None) -> list[RunResult]:
        futures = [self._executor.submit(_train_one, data, config, obj, seed)
                   for obj, seed in members]
        results = []
        for fut in futures:  # in submission order, so results line up with members
            results.append(fut.result())
            if progress is not None:
                progress(len(results))
        return results

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


# --------------------------------------------------------------------------------------------
# The one entry point
# --------------------------------------------------------------------------------------------
def choose_mode(n_members: int, rows_per_step: float, steps: int, workers: int,
                warm_pool: bool = False) -> str:
    """'batched' at tiny minibatches (stacking fills the matmuls) or for jobs too small to pay
    for starting workers; otherwise 'processes' (compute-bound training scales with cores, not
    with stacking). Thresholds: see AUTO_BATCHED_MAX_ROWS / _WORK above.

    One worker is no reason to stack: at realistic minibatches one member after another beats
    stacking them on the same core (0.6-0.8x above), and each member trained alone gets the
    same parameters whatever the worker count, so a 1-worker and a 2-worker run agree. For the
    same reason a lone member is not 'batched': it trains as a worker would, so its parameters
    do not depend on which other losses shared its call (a per-loss resume relies on that)."""
    if n_members == 1:
        return "processes"
    if rows_per_step <= AUTO_BATCHED_MAX_ROWS:
        return "batched"
    if not warm_pool and n_members * steps * rows_per_step <= AUTO_BATCHED_MAX_WORK:
        return "batched"
    return "processes"


def train_population(
    objectives: Sequence[Callable],
    dataset,
    reference,
    seeds: Sequence[int],
    config: TrainConfig = TrainConfig(),
    mode: Mode = "auto",
    progress: bool = False,
    pool: "WorkerPool | None" = None,
) -> list[RunResult]:
    """Train every objective with every seed from ``reference`` on ``dataset``.

    ``reference`` is a Params dict (or anything with ``.params``, e.g. a BC result). Returns one
    RunResult per (objective, seed), objective-major: [(o0, s0), (o0, s1), ..., (o1, s0), ...].
    ``dataset`` may instead be a TrainingData from ``prepare(dataset, reference)``, with
    ``reference=None``: prepare once, train many times (it is the same data either way).
    ``pool``: a WorkerPool to reuse for mode "processes" (else one is started for this call).
    """
    for obj in objectives:
        missing = [a for a in ("name", "aggregation", "needs_reference", "temporal")
                   if not hasattr(obj, a)]
        if missing or obj.aggregation not in ("mean", "sum"):
            raise TrainingError(f"objective {obj!r} lacks {missing or 'a valid aggregation'}")
    if not objectives or not seeds:
        raise TrainingError("need at least one objective and one seed")
    if isinstance(dataset, TrainingData):
        if reference is not None:
            raise TrainingError("a prepared TrainingData carries its reference: pass "
                                "reference=None")
        data = dataset
    else:
        data = prepare(dataset, reference)
    members = [(obj, int(seed)) for obj in objectives for seed in seeds]
    workers = worker_count(config.workers)
    rows_per_step = 2 * config.batch_pairs * float(data.segments.lengths.float().mean())
    if mode == "auto":
        mode = choose_mode(len(members), rows_per_step, config.steps,
                           pool.workers if pool else workers, warm_pool=pool is not None)
    if mode not in ("batched", "processes"):
        raise ConfigError(f"mode must be 'auto', 'batched' or 'processes', got {mode!r}")

    start = time.perf_counter()
    with progress_bar(progress) as bar:
        if mode == "batched":
            task = bar.add_task(f"training {len(members)} runs (batched)", total=config.steps)
            with torch_threads(config.threads or torch.get_num_threads()):
                results = train_members(members, data, config,
                                        on_step=lambda s: bar.update(task, completed=s + 1))
        elif pool is None and (workers == 1 or len(members) == 1):
            # One worker is this process: the members one after another, set up as a worker is
            # (one thread, denormals flushed), so the parameters are a worker's bit for bit.
            task = bar.add_task(f"training {len(members)} runs (one after another)",
                                total=len(members))
            results = []
            with _worker_settings():
                for obj, seed in members:
                    results.append(_train_one(data, config, obj, seed))
                    bar.update(task, completed=len(results))
        else:
            own = pool is None
            pool = pool or WorkerPool(min(workers, len(members)))
            task = bar.add_task(f"training {len(members)} runs ({pool.workers} processes)",
                                total=len(members))
            try:
                results = pool.run(members, data, config, lambda n: bar.update(task, completed=n))
            finally:
                if own:
                    pool.close()
    seconds = time.perf_counter() - start
    for r in results:
        r.meta.update(mode=mode, population_seconds=seconds, population_size=len(members))
    return results
