"""The one place lossforge creates a MuJoCo environment, with its per-environment settings.

Every component that steps an environment (zoo training and evaluation, dataset rollouts,
the BC reference, the evaluator) calls :func:`make_env`, so a zoo policy, the segments rolled
out from it and the policies trained on them all see the same observation.

The only setting today is Ant's observation. Ant-v5 appends 78 contact-force features
(``cfrc_ext``) to its 27 joint features by default. With them, SB3 PPO at its defaults never
learned to walk here: its best checkpoint in 1.2M steps returned 381 (screened), barely above
standing still, and the shipped ``expert`` re-evaluated at 220. Gymnasium's Ant-v4 defaulted to
leaving them out, as do most published PPO baselines, so lossforge does the same.
"""

from __future__ import annotations

from typing import Any

ENV_KWARGS: dict[str, dict[str, Any]] = {
    "Ant-v5": {"include_cfrc_ext_in_observation": False},
}


def env_kwargs(env_id: str) -> dict[str, Any]:
    """lossforge's keyword arguments for ``gymnasium.make(env_id)`` (a fresh dict)."""
    return dict(ENV_KWARGS.get(env_id, {}))


def env_key(env_id: str) -> dict[str, Any]:
    """The env settings as part of a cache or resume key: ``{"env_kwargs": ...}`` where lossforge
    sets any, ``{}`` otherwise, so keys made before this module existed stay valid."""
    kwargs = env_kwargs(env_id)
    return {"env_kwargs": kwargs} if kwargs else {}


def make_env(env_id: str, **overrides: Any):
    """``gymnasium.make(env_id)`` with lossforge's settings for that environment."""
    import gymnasium

    return gymnasium.make(env_id, **{**env_kwargs(env_id), **overrides})
