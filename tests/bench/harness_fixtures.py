"""Tiny synthetic preference datasets in the PreferenceDataset layout, for the harness tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:  # the real class once lossforge/bench/datasets.py lands
    from lossforge.bench.datasets import PreferenceDataset
except ImportError:  # a stand-in with the same fields

    @dataclass(frozen=True)
    class PreferenceDataset:  # type: ignore[no-redef]
        env_id: str
        horizon: int
        obs: np.ndarray
        actions: np.ndarray
        lengths: np.ndarray
        returns: np.ndarray
        chosen: np.ndarray
        sources: np.ndarray
        meta: dict


def synthetic_dataset(
    n_pairs: int = 24, horizon: int = 12, obs_dim: int = 11, act_dim: int = 3, seed: int = 0,
    env_id: str = "Hopper-v5",
) -> PreferenceDataset:
    """Random states; actions a noisy function of the state (so behaviour cloning has signal);
    segment lengths vary (some terminate early); labels from a made-up return."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n_pairs, 2, horizon, obs_dim)).astype(np.float32) * 2 + 0.5
    mixing = rng.normal(size=(obs_dim, act_dim)) / np.sqrt(obs_dim)
    actions = np.tanh(obs @ mixing + 0.3 * rng.normal(size=(n_pairs, 2, horizon, act_dim)))
    actions = actions.astype(np.float32)
    lengths = rng.integers(1, horizon + 1, size=(n_pairs, 2)).astype(np.int32)
    lengths[0] = horizon  # at least one full-length pair
    pad = np.arange(horizon)[None, None, :] >= lengths[..., None]
    obs[pad] = 0.0
    actions[pad] = 0.0
    returns = actions.sum(axis=(2, 3)).astype(np.float64)
    chosen = (returns[:, 1] > returns[:, 0]).astype(np.int8)
    return PreferenceDataset(
        env_id=env_id, horizon=horizon, obs=obs, actions=actions, lengths=lengths,
        returns=returns, chosen=chosen, sources=np.zeros((n_pairs, 2), np.int16),
        meta={"synthetic_seed": seed},
    )
