"""Returns of a zoo policy on real episodes (deterministic or stochastic actions), seeded per
episode so any subset of episodes can be re-run alone."""

from __future__ import annotations

import numpy as np

from lossforge.bench.envs import make_env
from lossforge.bench.zoo.policy import ZooPolicy


def evaluate(policy: ZooPolicy, env_id: str, episodes: int, seed: int,
             deterministic: bool = True) -> np.ndarray:
    """Undiscounted returns of ``episodes`` episodes; episode i resets with seed ``seed + i``
    and stochastic actions draw from ``default_rng([seed, i])``."""
    env = make_env(env_id)
    out = np.empty(episodes, dtype=np.float64)
    try:
        for i in range(episodes):
            rng = np.random.default_rng([seed, i])
            obs, _ = env.reset(seed=seed + i)
            total, done = 0.0, False
            while not done:
                a = policy.act(obs, rng, deterministic=deterministic)
                obs, r, term, trunc, _ = env.step(a)
                total += float(r)
                done = term or trunc
            out[i] = total
    finally:
        env.close()
    return out
