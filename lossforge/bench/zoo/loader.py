"""A shipped zoo: ``<root>/<env>/zoo.json`` and its level files, loaded and checked (sha256,
the env's construction), plus a two-level synthetic zoo for tests.

The root is ``$LOSSFORGE_ZOO`` or the repository's ``benchmarks/zoo`` (an installed wheel's
copy: lossforge/resources.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lossforge.io import sha256_file
from lossforge.bench.envs import env_kwargs, make_env
from lossforge.bench.zoo.policy import ZooPolicy
from lossforge.errors import CheckpointError, ConfigError
from lossforge.resources import data_dir


def default_root() -> Path:
    """``$LOSSFORGE_ZOO`` or the repository's ``benchmarks/zoo`` (an installed wheel's copy:
    lossforge/resources.py)."""
    return data_dir("zoo", env="LOSSFORGE_ZOO")


@dataclass(frozen=True)
class ZooLevel:
    name: str
    file: str
    return_mean: float
    return_std: float
    episodes: int
    ppo_steps: int
    seed: int


@dataclass(frozen=True, eq=False)
class Zoo:
    """The zoo of one environment, levels ordered from worst to best as in ``zoo.json``."""

    env_id: str
    root: Path
    levels: tuple[ZooLevel, ...]
    policies: tuple[ZooPolicy, ...]
    random_return: float
    expert_return: float
    meta: dict

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(lv.name for lv in self.levels)

    def index(self, name: str) -> int:
        try:
            return self.level_names.index(name)
        except ValueError:
            raise ConfigError(f"{self.root / 'zoo.json'}: no zoo level {name!r} for "
                              f"{self.env_id}; levels are {', '.join(self.level_names)}") from None

    def policy(self, level: str | int) -> ZooPolicy:
        return self.policies[level if isinstance(level, int) else self.index(level)]

    def level(self, level: str | int) -> ZooLevel:
        return self.levels[level if isinstance(level, int) else self.index(level)]

    def fingerprint(self) -> str:
        """sha256 of the levels' names, weights and settings: the cache key of derived data."""
        return policies_fingerprint(self.policies, self.level_names)


def policies_fingerprint(policies: Sequence[ZooPolicy], names: Sequence[str]) -> str:
    import hashlib

    h = hashlib.sha256()
    for name, pol in zip(names, policies):
        tensors, md = pol.to_tensors()
        md = {k: v for k, v in md.items() if k not in ("meta", "name")}
        h.update(json.dumps([name, md], sort_keys=True).encode())
        for k in sorted(tensors):
            h.update(k.encode())
            h.update(np.ascontiguousarray(tensors[k], np.float32).tobytes())
    return h.hexdigest()


def synthetic_zoo(env_id: str = "Hopper-v5", seed: int = 0, scale: float = 0.3,
                  log_std: float = -1.0) -> Zoo:
    """A two-level in-memory zoo for tests and examples, no training needed: ``random``
    (uniform actions) and ``linear`` (a fixed random linear Gaussian policy drawn from
    ``seed``)."""
    env = make_env(env_id)
    low = env.action_space.low.astype(np.float32)
    high = env.action_space.high.astype(np.float32)
    obs_dim, act_dim = env.observation_space.shape[0], low.shape[0]
    env.close()
    g = np.random.default_rng(seed)
    lin = ZooPolicy(name="linear", kind="mlp", action_low=low, action_high=high,
                    weights=((g.normal(0.0, scale, (act_dim, obs_dim)).astype(np.float32),
                              np.zeros(act_dim, np.float32)),),
                    log_std=np.full(act_dim, log_std, np.float32),
                    meta={"env_id": env_id, "synthetic_seed": seed})
    pols = (ZooPolicy.random(env_id, low, high), lin)
    levels = tuple(ZooLevel(p.name, f"{p.name}.safetensors", float("nan"), float("nan"), 0, 0,
                            seed) for p in pols)
    return Zoo(env_id=env_id, root=Path("<synthetic>"), levels=levels, policies=pols,
               random_return=0.0, expert_return=1.0, meta={"synthetic": True})


def load_zoo(env_id: str, root: str | os.PathLike | None = None, verify: bool = True) -> Zoo:
    """Load ``<root>/<env_id>/zoo.json`` and its level files (checked against their sha256)."""
    root = Path(root) if root is not None else default_root()
    d = root / env_id
    meta_path = d / "zoo.json"
    if not meta_path.exists():
        have = sorted(p.name for p in root.iterdir() if (p / "zoo.json").exists()) \
            if root.exists() else []
        raise ConfigError(f"{meta_path}: no zoo for {env_id!r} (zoos in {root}: "
                          f"{', '.join(have) or 'none'}); train one with "
                          f"`python -m lossforge.bench.zoo train --env {env_id}`")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{meta_path}: corrupted zoo metadata ({e})") from None
    made_with, ours = meta.get("env_kwargs", {}), env_kwargs(env_id)
    if made_with != ours:
        raise ConfigError(f"{meta_path}: this zoo was made with gymnasium.make({env_id!r}, "
                          f"**{made_with}) but lossforge now makes the env with "
                          f"**{ours} (lossforge/bench/envs.py); its policies would "
                          f"see other observations. Re-train it: `python -m lossforge.bench.zoo "
                          f"train --env {env_id}`")
    levels, policies = [], []
    for i, lv in enumerate(meta["levels"]):
        try:
            level = ZooLevel(name=str(lv["name"]), file=str(lv["file"]),
                             return_mean=float(lv["return_mean"]),
                             return_std=float(lv["return_std"]),
                             episodes=int(lv["episodes"]), ppo_steps=int(lv["ppo_steps"]),
                             seed=int(lv["seed"]))
        except KeyError as e:
            raise CheckpointError(f"{meta_path}: levels[{i}] lacks {e}") from None
        f = d / level.file
        if verify and "sha256" in lv:
            if not f.exists():
                raise CheckpointError(f"{f}: zoo level file is missing")
            digest = sha256_file(f)
            if digest != lv["sha256"]:
                raise CheckpointError(f"{f}: sha256 {digest[:12]}... does not match "
                                      f"zoo.json levels[{i}].sha256 {lv['sha256'][:12]}...")
        levels.append(level)
        policies.append(ZooPolicy.load(f, name=level.name))
    return Zoo(env_id=env_id, root=d, levels=tuple(levels), policies=tuple(policies),
               random_return=float(meta["random_return"]),
               expert_return=float(meta["expert_return"]), meta=meta)


def list_zoos(root: str | os.PathLike | None = None) -> list[str]:
    root = Path(root) if root is not None else default_root()
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "zoo.json").exists())
