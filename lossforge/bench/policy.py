"""The policy: an MLP with a factorised categorical action distribution.

Each action dimension is discretised into K uniform bins over the environment's action box, and
the policy outputs K logits per dimension. This keeps p = exp(l) a real probability in (0, 1], so
every mirror map on (0, 1) (log-odds for ORPO and the rest) is well defined: the LLM analogy of
benchmark.md, with bins as tokens and a segment of H steps as a response.

Parameters are a plain ``dict[str, Tensor]`` (functional style), so a population is just the same
dict with a leading member dimension on every trained tensor. Three entries are fixed buffers,
never trained, that make the dict self-describing:

    obs_mean, obs_std  [obs_dim]     input normalisation (from the data the reference was cloned on)
    bin_centres        [act_dim, K]  action value of each bin
    w0, b0, w1, b1, ...               the MLP, weights [out, in] as in torch.nn.Linear

Every function below accepts single params (w: [out, in]) or stacked params (w: [M, out, in],
obs with a matching leading M); buffers are never stacked.

Inside, activations are feature-major ([features, rows]): the K-way log-softmax then runs over a
non-contiguous dim with long contiguous rows, which vectorises far better on CPU than 21-wide
rows (about half the cost of the row-major softmax and its backward, measured here).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import safetensors
import safetensors.torch
import torch

from lossforge.errors import LossforgeError

Aggregation = Literal["mean", "sum"]
Params = dict[str, torch.Tensor]

BUFFER_KEYS = ("obs_mean", "obs_std", "bin_centres")


class PolicyError(LossforgeError):
    """Policy parameters or inputs are malformed."""


@dataclass(frozen=True)
class PolicySpec:
    """Architecture and action box; everything needed to build fresh parameters."""

    obs_dim: int
    act_dim: int
    bins: int = 21
    hidden: tuple[int, ...] = (128, 128)
    action_low: float = -1.0  # Hopper, Walker2d, HalfCheetah and Ant boxes are all [-1, 1]
    action_high: float = 1.0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "PolicySpec":
        return cls(**{**data, "hidden": tuple(data["hidden"])})


# --------------------------------------------------------------------------------------------
# Construction
# --------------------------------------------------------------------------------------------
def bin_centres(low: float, high: float, bins: int, act_dim: int) -> torch.Tensor:
    """Uniform bin centres [act_dim, bins], endpoints included (K = 21 on [-1, 1]: step 0.1)."""
    if bins < 2:
        raise PolicyError(f"bins must be >= 2, got {bins}")
    return torch.linspace(low, high, bins, dtype=torch.float32).expand(act_dim, bins).clone()


def init_params(
    spec: PolicySpec,
    generator: torch.Generator,
    obs_mean: torch.Tensor | None = None,
    obs_std: torch.Tensor | None = None,
) -> Params:
    """Fresh parameters: uniform(+-1/sqrt(fan_in)) hidden layers, a near-uniform output layer."""
    sizes = [spec.obs_dim, *spec.hidden, spec.act_dim * spec.bins]
    params: Params = {
        "obs_mean": torch.zeros(spec.obs_dim) if obs_mean is None else obs_mean.float().clone(),
        "obs_std": torch.ones(spec.obs_dim) if obs_std is None else obs_std.float().clone(),
        "bin_centres": bin_centres(spec.action_low, spec.action_high, spec.bins, spec.act_dim),
    }
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / math.sqrt(fan_in)
        if i == len(sizes) - 2:
            bound *= 0.01  # start close to uniform over bins
        params[f"w{i}"] = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
        params[f"b{i}"] = torch.zeros(fan_out)
    return params


def n_layers(params: Params) -> int:
    return sum(1 for k in params if k.startswith("w"))


def trainable(params: Params) -> Params:
    """The entries an optimiser updates (everything but the buffers)."""
    return {k: v for k, v in params.items() if k not in BUFFER_KEYS}


def buffers(params: Params) -> Params:
    return {k: params[k] for k in BUFFER_KEYS}


def stack_params(members: list[Params]) -> Params:
    """A population: trained tensors stacked on a new leading dim, buffers taken from member 0.

    All members must share the buffers (they do when they start from one reference).
    """
    first = members[0]
    for m in members[1:]:
        for k in BUFFER_KEYS:
            if not torch.equal(m[k], first[k]):
                raise PolicyError(f"cannot stack policies with different '{k}'")
    out = dict(buffers(first))
    for k in trainable(first):
        out[k] = torch.stack([m[k] for m in members])
    return out


# --------------------------------------------------------------------------------------------
# Actions <-> bins
# --------------------------------------------------------------------------------------------
def discretize(actions: torch.Tensor | np.ndarray, centres: torch.Tensor) -> torch.Tensor:
    """Nearest bin index (long) of each action value; values outside the box go to the end bins.

    actions [..., act_dim], centres [act_dim, K] (uniform, as built by ``bin_centres``).
    """
    a = torch.as_tensor(actions, dtype=torch.float32)
    low, high = centres[:, 0], centres[:, -1]
    k = centres.shape[1]
    idx = torch.round((a - low) / (high - low) * (k - 1))
    return idx.clamp_(0, k - 1).long()


def undiscretize(idx: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Action values [..., act_dim] of bin indices [..., act_dim]."""
    d = centres.shape[0]
    flat = idx.reshape(-1, d)
    values = centres.gather(1, flat.T).T  # [n, d]
    return values.reshape(idx.shape)


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------
def _features_major(params: Params, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Size]:
    """Last-layer output [D, K, R] (stacked: [M, D, K, R]) for obs [..., obs_dim]."""
    d, k = params["bin_centres"].shape
    last = n_layers(params) - 1
    stacked = params["w0"].dim() == 3
    lead = obs.shape[:-1]
    x = (obs - params["obs_mean"]) / params["obs_std"]
    if stacked:
        h = x.reshape(lead[0], -1, obs.shape[-1]).transpose(1, 2).contiguous()  # [M, in, R]
    else:
        h = x.reshape(-1, obs.shape[-1]).T.contiguous()  # [in, R]
    for i in range(last + 1):
        w, b = params[f"w{i}"], params[f"b{i}"]
        h = torch.baddbmm(b.unsqueeze(-1), w, h) if stacked else torch.addmm(b.unsqueeze(-1), w, h)
        if i < last:
            h = h.relu_()  # in place on a fresh tensor: one memory pass less
    return h.reshape(*h.shape[:-2], d, k, h.shape[-1]), lead


def logits(params: Params, obs: torch.Tensor) -> torch.Tensor:
    """Bin logits [..., act_dim, K] for observations [..., obs_dim] (stacked: [M, ..., obs_dim])."""
    z, lead = _features_major(params, obs)  # [(M,) D, K, R]
    return z.movedim(-1, -3).reshape(*lead, *z.shape[-3:-1])


def step_logps(params: Params, obs: torch.Tensor, act_idx: torch.Tensor) -> torch.Tensor:
    """log pi(a|s) of each step, summed over action dims: obs [..., obs_dim], act_idx [..., D]."""
    z, lead = _features_major(params, obs)  # [(M,) D, K, R]
    logp = torch.log_softmax(z, dim=-2)
    idx = act_idx.reshape(*z.shape[:-3], -1, z.shape[-3]).movedim(-1, -2)  # [(M,) D, R]
    picked = logp.gather(-2, idx.unsqueeze(-2)).squeeze(-2)  # [(M,) D, R]
    return picked.sum(-2).reshape(lead)


def aggregate(total: torch.Tensor, lengths: torch.Tensor, aggregation: Aggregation) -> torch.Tensor:
    """Per-segment log-prob from the summed one: 'sum' keeps it, 'mean' divides by the length."""
    if aggregation == "sum":
        return total
    if aggregation == "mean":
        return total / lengths.to(total.dtype)
    raise PolicyError(f"aggregation must be 'mean' or 'sum', got {aggregation!r}")


def segment_logps(
    params: Params,
    obs: torch.Tensor,
    act_idx: torch.Tensor,
    lengths: torch.Tensor,
    aggregation: Aggregation = "mean",
) -> torch.Tensor:
    """Per-segment log pi: summed over action dims, then summed or averaged over valid steps.

    obs [..., H, obs_dim], act_idx [..., H, D] (long), lengths [...] (valid steps, >= 1).
    Steps t >= length are padding and do not count. With 'mean', p = exp(l) is the geometric
    mean per-step probability, in (0, 1].
    """
    horizon = obs.shape[-2]
    lengths = torch.as_tensor(lengths)
    if bool((lengths < 1).any()) or bool((lengths > horizon).any()):
        raise PolicyError(f"segment lengths must be in [1, {horizon}]")
    lp = step_logps(params, obs, act_idx)  # [..., H]
    valid = torch.arange(horizon) < lengths.unsqueeze(-1)
    total = torch.where(valid, lp, torch.zeros((), dtype=lp.dtype)).sum(-1)
    return aggregate(total, lengths, aggregation)


# --------------------------------------------------------------------------------------------
# Packed segments: only valid steps, no padding (what training uses)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackedSegments:
    """The valid steps of every segment of a dataset, concatenated without padding.

    Segment (i, j) (pair i, side j) owns rows ``start[i, j] : start[i, j] + lengths[i, j]``.
    Training on packed rows does no work for the padding of short (terminated) segments.
    """

    obs: torch.Tensor  # [T, obs_dim] float32
    act_idx: torch.Tensor  # [T, act_dim] uint8 bin indices (K <= 256)
    start: torch.Tensor  # [N, 2] long
    lengths: torch.Tensor  # [N, 2] long

    @classmethod
    def from_arrays(
        cls, obs: np.ndarray, actions: np.ndarray, lengths: np.ndarray, centres: torch.Tensor
    ) -> "PackedSegments":
        """From the PreferenceDataset layout: obs [N, 2, H, o], actions [N, 2, H, d], lengths [N, 2]."""
        n, two, horizon = obs.shape[:3]
        lengths_t = torch.as_tensor(np.asarray(lengths), dtype=torch.long)
        if two != 2 or lengths_t.shape != (n, 2):
            raise PolicyError(f"expected obs [N, 2, H, obs_dim] and lengths [N, 2], got "
                              f"{tuple(obs.shape)} and {tuple(lengths_t.shape)}")
        if bool((lengths_t < 1).any()) or bool((lengths_t > horizon).any()):
            raise PolicyError(f"segment lengths must be in [1, {horizon}]")
        if centres.shape[1] > 256:
            raise PolicyError("at most 256 bins per action dimension")
        valid = (torch.arange(horizon) < lengths_t.unsqueeze(-1)).numpy()  # [N, 2, H]
        flat_len = lengths_t.reshape(-1)
        start = (torch.cumsum(flat_len, 0) - flat_len).reshape(n, 2)
        return cls(
            obs=torch.from_numpy(np.ascontiguousarray(obs[valid], dtype=np.float32)),
            act_idx=discretize(actions[valid], centres).to(torch.uint8),
            start=start,
            lengths=lengths_t,
        )

    def rows(self, pair_idx: torch.Tensor, side: torch.Tensor | None = None):
        """Row indices and segment ids of the segments of ``pair_idx``.

        side None: both segments of each pair, segment id 2 * b + j for batch position b, side j.
        side [B]: one segment per pair (side[b] of pair b), segment id b.
        Returns (rows [R] long, seg_id [R] long, seg_lengths [S] long).
        """
        if side is None:
            starts, lens = self.start[pair_idx].reshape(-1), self.lengths[pair_idx].reshape(-1)
        else:
            starts = self.start[pair_idx, side]
            lens = self.lengths[pair_idx, side]
        seg_id = torch.repeat_interleave(torch.arange(len(lens)), lens)
        first_row = torch.cumsum(lens, 0) - lens  # position of each segment's first row in out
        rows = starts[seg_id] + (torch.arange(len(seg_id)) - first_row[seg_id])
        return rows, seg_id, lens


def segment_totals(
    params: Params, obs: torch.Tensor, act_idx: torch.Tensor, seg_id: torch.Tensor, n_segments: int
) -> torch.Tensor:
    """Summed log pi of packed segments: rows [..., R, *] -> [..., n_segments].

    seg_id [..., R] says which segment each row belongs to; rows with seg_id == n_segments are
    padding and are dropped (used to stack members with different row counts).
    """
    lp = step_logps(params, obs, act_idx)  # [..., R]
    out = torch.zeros(*lp.shape[:-1], n_segments + 1, dtype=lp.dtype)
    return out.scatter_add(-1, seg_id, lp)[..., :n_segments]


@torch.no_grad()
def act(params: Params, obs: torch.Tensor) -> torch.Tensor:
    """Deterministic action: the centre of the most likely bin of each dimension."""
    idx = logits(params, obs).argmax(-1)  # [..., D]
    return undiscretize(idx, params["bin_centres"])


# --------------------------------------------------------------------------------------------
# Files: safetensors for tensors, JSON for the rest; atomic writes
# --------------------------------------------------------------------------------------------
def save_policy(path: str | Path, params: Params, meta: dict | None = None) -> None:
    """Write ``path`` (.safetensors) and ``path.with_suffix('.json')`` atomically."""
    from lossforge.bench.cache import atomic_save_tensors
    from lossforge.io import atomic_write_json

    path = Path(path)
    atomic_save_tensors(path, {k: v.contiguous() for k, v in params.items()})
    atomic_write_json(path.with_suffix(".json"), meta or {})


def load_policy(path: str | Path) -> tuple[Params, dict]:
    path = Path(path)
    try:
        params = safetensors.torch.load_file(str(path))
        meta = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError, safetensors.SafetensorError) as exc:
        raise PolicyError(f"cannot read policy {path}: {exc}") from exc
    missing = [k for k in BUFFER_KEYS + ("w0", "b0") if k not in params]
    if missing:
        raise PolicyError(f"{path}: not a policy file (missing {', '.join(missing)})")
    return params, meta
