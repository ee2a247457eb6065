"""Behaviour cloning: the reference policy (the SFT model of the LLM analogy) and a baseline.

Recipes:
- "all": maximum likelihood on both segments of every pair. It never reads the labels, so the
  clean and noisy variants of a scenario share one reference (and one cache entry: the cache key
  leaves the labels out).
- "chosen": maximum likelihood on the chosen segment of each pair (BC-on-chosen, a baseline in
  every table; its key includes the labels).

The loss is the mean negative log-likelihood per valid time step (summed over action dims), like
token-level SFT. Results are cached under ``cache_root()/bc/<key>.{safetensors,json}``, keyed by
the sha256 of the data it reads, the config, the format version and the thread count it trains
with (``BC_THREADS``, fixed: the clone does not depend on the machine or the calling process).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Literal, Sequence

import numpy as np
import safetensors
import safetensors.torch
import torch

from lossforge.bench.cache import Hasher, atomic_save_tensors, cache_root
from lossforge.bench.envs import make_env
from lossforge.bench.policy import (
    PackedSegments,
    Params,
    PolicySpec,
    bin_centres,
    init_params,
    segment_totals,
    trainable,
)
from lossforge.bench.progress import progress_bar
from lossforge.errors import ConfigError, LossforgeError
from lossforge.io import atomic_write_json
from lossforge.workers import torch_threads

FORMAT_VERSION = 2  # bump when the training code changes what a cached reference is
# 2: the thread count is fixed (BC_THREADS); version-1 entries were built with whatever the
#    building process had, and could not say which.

#: Torch threads BC trains with, whatever the calling process uses. The clone's floats depend on
#: the thread count (the weight gradients' reductions split across threads), so without a fixed
#: count a cached reference depended on which process built it first (a search worker runs one
#: thread, baselines.py torch's default) and on the machine's cores. Two is torch's default on
#: the 2-core machines the result tables were made on: every Hopper and Ant reference behind
#: them equals a fresh two-thread clone bit for bit (the quick scenario's, built by a one-thread
#: search worker, did not). Part of the cache key.
BC_THREADS = 2


class BCError(LossforgeError):
    """Behaviour cloning inputs are malformed or a cache entry is unreadable."""


@dataclass(frozen=True)
class BCConfig:
    recipe: Literal["all", "chosen"] = "all"
    steps: int = 1500
    batch_segments: int = 64
    lr: float = 1e-3
    seed: int = 0
    bins: int = 21
    hidden: tuple[int, ...] = (128, 128)

    def __post_init__(self) -> None:
        if self.recipe not in ("all", "chosen"):
            raise ConfigError(f"BCConfig.recipe must be 'all' or 'chosen', got {self.recipe!r}")
        if self.steps < 1 or self.batch_segments < 1 or not self.lr > 0:
            raise ConfigError(f"BCConfig needs steps, batch_segments >= 1 and lr > 0: {self}")

    @classmethod
    def from_json(cls, data: dict) -> "BCConfig":
        return cls(**{**data, "hidden": tuple(data["hidden"])})


@dataclass(frozen=True)
class BCResult:
    params: Params
    spec: PolicySpec
    config: BCConfig
    key: str
    nll: np.ndarray  # [steps] minibatch NLL per valid step
    from_cache: bool
    checkpoints: tuple[Params, ...] = ()   # parameters after each step of ``keep_at``, if asked


def action_box(env_id: str) -> tuple[float, float]:
    """The env's action box, which must be the same interval on every dimension."""
    env = make_env(env_id)
    try:
        low, high = env.action_space.low, env.action_space.high
    finally:
        env.close()
    if not (np.all(low == low[0]) and np.all(high == high[0])):
        raise BCError(f"{env_id}: action box differs across dimensions; not supported")
    return float(low[0]), float(high[0])


def policy_spec(dataset, config: BCConfig) -> PolicySpec:
    low, high = action_box(dataset.env_id)
    return PolicySpec(obs_dim=dataset.obs.shape[-1], act_dim=dataset.actions.shape[-1],
                      bins=config.bins, hidden=config.hidden, action_low=low, action_high=high)


def reference_key(dataset, config: BCConfig, spec: PolicySpec) -> str:
    """Content hash of what determines the clone; labels only count for recipe 'chosen'."""
    h = Hasher().json("format", FORMAT_VERSION).json("threads", BC_THREADS)
    h.json("config", asdict(config))
    h.json("spec", spec.to_json()).json("env", [dataset.env_id, int(dataset.horizon)])
    h.array("obs", dataset.obs).array("actions", dataset.actions)
    h.array("lengths", dataset.lengths)
    if config.recipe == "chosen":
        h.array("chosen", dataset.chosen)
    return h.hexdigest()


def _load(key: str):
    base = cache_root() / "bc" / key
    meta_path, tensor_path = base.with_suffix(".json"), base.with_suffix(".safetensors")
    if not meta_path.exists():  # the JSON is written last: its presence marks a complete entry
        return None
    try:
        meta = json.loads(meta_path.read_text())
        params = safetensors.torch.load_file(str(tensor_path))
    except (OSError, ValueError, safetensors.SafetensorError) as exc:
        raise BCError(f"unreadable cache entry {base}.*: {exc}; delete it to retrain") from exc
    return params, meta


def train_bc(dataset, config: BCConfig = BCConfig(), *, cache: bool = True,
             progress: bool = False, keep_at: Sequence[int] = ()) -> BCResult:
    """Clone the dataset's behaviour (per ``config.recipe``), or load the cached clone.

    ``keep_at``: training steps (1..steps) after which to keep the parameters too, e.g. to score
    the clone over its training like a loss's checkpoints. Keeping them changes nothing in the
    training; they are cached beside the clone (an entry without them is trained again, to the
    same final parameters)."""
    spec = policy_spec(dataset, config)
    key = reference_key(dataset, config, spec)
    keep_at = tuple(int(k) for k in keep_at)
    if any(not 1 <= k <= config.steps for k in keep_at):
        raise ConfigError(f"keep_at {keep_at}: steps must lie in 1..{config.steps}")
    base = cache_root() / "bc" / key
    ckpt_path = base.with_name(f"{key}.steps-{'-'.join(map(str, keep_at))}.safetensors")
    if cache and (hit := _load(key)) is not None and (not keep_at or ckpt_path.exists()):
        params, meta = hit
        return BCResult(params, spec, config, key, np.asarray(meta["nll"]), from_cache=True,
                        checkpoints=_load_checkpoints(ckpt_path, keep_at, params))
    with torch_threads(BC_THREADS):
        params, nll, seconds, kept = _clone(dataset, config, spec, progress, keep_at)
    if cache:
        if keep_at:   # before the clone's JSON, whose presence marks a complete entry
            atomic_save_tensors(ckpt_path, {f"{k}/{name}": v for k, ck in zip(keep_at, kept)
                                            for name, v in trainable(ck).items()})
        atomic_save_tensors(base.with_suffix(".safetensors"), params)
        atomic_write_json(base.with_suffix(".json"), {
            "key": key, "format": FORMAT_VERSION, "threads": BC_THREADS, "config": asdict(config),
            "spec": spec.to_json(), "env_id": dataset.env_id, "horizon": int(dataset.horizon),
            "n_pairs": len(dataset.lengths), "nll": nll.tolist(), "seconds": seconds,
        })
    return BCResult(params, spec, config, key, nll, from_cache=False, checkpoints=tuple(kept))


def _load_checkpoints(path, keep_at: tuple[int, ...], params: Params) -> tuple[Params, ...]:
    """Cached checkpoints: their weights (the file holds only those) with the clone's fixed
    buffers (input normalisation, bin centres), which training never changes."""
    if not keep_at:
        return ()
    try:
        flat = safetensors.torch.load_file(str(path))
    except (OSError, ValueError, safetensors.SafetensorError) as exc:
        raise BCError(f"unreadable cache entry {path}: {exc}; delete it to retrain") from exc
    out = []
    for k in keep_at:
        prefix = f"{k}/"
        out.append({**params, **{name[len(prefix):]: v for name, v in flat.items()
                                 if name.startswith(prefix)}})
    return tuple(out)


def _clone(dataset, config: BCConfig, spec: PolicySpec, progress: bool,
           keep_at: tuple[int, ...] = ()):
    """The maximum-likelihood training itself: (params, NLL per step, seconds, the parameters
    after each step of ``keep_at``)."""
    # 1. Data: packed valid steps; the segments this recipe clones.
    gen = torch.Generator().manual_seed(config.seed)
    lengths = torch.as_tensor(np.asarray(dataset.lengths), dtype=torch.long)
    n = len(lengths)
    centres = bin_centres(spec.action_low, spec.action_high, spec.bins, spec.act_dim)
    segs = PackedSegments.from_arrays(dataset.obs, dataset.actions, dataset.lengths, centres)
    if config.recipe == "all":
        pair_of = torch.arange(n).repeat_interleave(2)
        side_of = torch.arange(2).repeat(n)
    else:
        pair_of = torch.arange(n)
        side_of = torch.as_tensor(np.asarray(dataset.chosen), dtype=torch.long)
    n_segments = len(pair_of)
    batch = min(config.batch_segments, n_segments)

    # 2. Policy: input normalisation from all valid states (label-independent), fresh weights.
    mean = segs.obs.mean(0)
    std = segs.obs.std(0).clamp(min=1e-3)
    params = init_params(spec, gen, obs_mean=mean, obs_std=std)
    weights = {k: v.requires_grad_(True) for k, v in trainable(params).items()}
    fixed = {k: v for k, v in params.items() if k not in weights}
    optimizer = torch.optim.Adam(weights.values(), lr=config.lr)

    # 3. Maximum likelihood over shuffled epochs of segments.
    need = config.steps * batch
    order = torch.cat([torch.randperm(n_segments, generator=gen)
                       for _ in range(math.ceil(need / n_segments))])[:need].view(-1, batch)
    nll = np.empty(config.steps)
    kept: dict[int, Params] = {}
    start = time.perf_counter()
    with progress_bar(progress) as bar:
        task = bar.add_task(f"behaviour cloning ({config.recipe})", total=config.steps)
        for step in range(config.steps):
            chosen_segments = order[step]
            rows, seg_id, seg_len = segs.rows(pair_of[chosen_segments], side_of[chosen_segments])
            totals = segment_totals({**fixed, **weights}, segs.obs[rows],
                                    segs.act_idx[rows].long(), seg_id, batch)
            loss = -totals.sum() / seg_len.sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            nll[step] = loss.item()
            if step + 1 in keep_at:
                kept[step + 1] = {**fixed, **{k: v.detach().clone() for k, v in weights.items()}}
            bar.advance(task)

    params = {**fixed, **{k: v.detach().clone() for k, v in weights.items()}}
    return params, nll, time.perf_counter() - start, [kept[k] for k in keep_at]
