"""One zoo level as a numpy policy (``ZooPolicy``) and its safetensors file format.

At run time a zoo needs numpy only; the file holds the actor's layers, ``log_std``, the
observation normaliser's mean/var and a few settings as metadata (``ZOO_FORMAT``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lossforge.io import atomic_write_bytes
from lossforge.errors import CheckpointError, LossforgeError

ZOO_FORMAT = 1

_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
}


@dataclass(frozen=True, eq=False)
class ZooPolicy:
    """One zoo level as a numpy policy. ``kind`` is ``"mlp"`` (PPO actor) or ``"random"``.

    ``act(obs, rng, deterministic)`` returns float32 actions in the env's action box:
    the Gaussian mean (deterministic) or mean + exp(log_std) * N(0, 1) clipped to the box,
    exactly as SB3 acts; the random level draws uniformly from the box either way.
    """

    name: str
    kind: str
    action_low: np.ndarray
    action_high: np.ndarray
    weights: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # hidden layers then action layer
    log_std: np.ndarray | None = None
    obs_mean: np.ndarray | None = None
    obs_var: np.ndarray | None = None
    clip_obs: float = 10.0
    obs_epsilon: float = 1e-8
    activation: str = "tanh"
    meta: dict = field(default_factory=dict)

    @property
    def act_dim(self) -> int:
        return int(self.action_low.shape[0])

    def __post_init__(self):
        # Constants of act(), computed once (same float32 operations as before, so results are
        # bit-identical to computing them per call).
        denom = (np.sqrt(self.obs_var + self.obs_epsilon) if self.obs_var is not None else None)
        std = np.exp(self.log_std) if self.log_std is not None else None
        object.__setattr__(self, "_denom", denom)
        object.__setattr__(self, "_std", std)

    def mean_action(self, obs: np.ndarray) -> np.ndarray:
        """Unclipped Gaussian mean for a batch ``[B, obs_dim]`` (float32)."""
        if self.kind != "mlp":
            raise LossforgeError(f"zoo level {self.name!r} ({self.kind}) has no Gaussian mean")
        x = np.asarray(obs, dtype=np.float32)
        if self.obs_mean is not None:
            x = (x - self.obs_mean) / self._denom
            x = np.minimum(np.maximum(x, -self.clip_obs), self.clip_obs).astype(np.float32)
        act = _ACTIVATIONS[self.activation]
        for w, b in self.weights[:-1]:
            x = act(x @ w.T + b)
        w, b = self.weights[-1]
        return x @ w.T + b

    def act(self, obs: np.ndarray, rng: np.random.Generator,
            deterministic: bool = False) -> np.ndarray:
        obs = np.asarray(obs)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        if self.kind == "random":
            a = rng.uniform(self.action_low, self.action_high,
                            size=(batch.shape[0], self.action_low.shape[0]))
        else:
            a = self.mean_action(batch)
            if not deterministic:
                a = a + self._std * rng.standard_normal(a.shape)
        a = np.minimum(np.maximum(a, self.action_low), self.action_high).astype(np.float32)
        return a[0] if single else a

    # -- serialisation ---------------------------------------------------------------------

    def to_tensors(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        t: dict[str, np.ndarray] = {
            "action_low": np.asarray(self.action_low, np.float32),
            "action_high": np.asarray(self.action_high, np.float32),
        }
        if self.kind == "mlp":
            for i, (w, b) in enumerate(self.weights):
                t[f"layer{i}.weight"] = np.ascontiguousarray(w, np.float32)
                t[f"layer{i}.bias"] = np.ascontiguousarray(b, np.float32)
            t["log_std"] = np.asarray(self.log_std, np.float32)
            if self.obs_mean is not None:
                t["obs_mean"] = np.asarray(self.obs_mean, np.float32)
                t["obs_var"] = np.asarray(self.obs_var, np.float32)
        md = {
            "format": str(ZOO_FORMAT),
            "name": self.name,
            "kind": self.kind,
            "activation": self.activation,
            "n_layers": str(len(self.weights)),
            "clip_obs": repr(float(self.clip_obs)),
            "obs_epsilon": repr(float(self.obs_epsilon)),
            "meta": json.dumps(self.meta, sort_keys=True),
        }
        return t, md

    def save(self, path: str | os.PathLike) -> None:
        from safetensors.numpy import save

        tensors, md = self.to_tensors()
        atomic_write_bytes(path, save(tensors, metadata=md))

    @classmethod
    def load(cls, path: str | os.PathLike, name: str | None = None) -> "ZooPolicy":
        from safetensors import safe_open

        path = Path(path)
        try:
            with safe_open(str(path), framework="numpy") as f:
                md = f.metadata() or {}
                t = {k: f.get_tensor(k) for k in f.keys()}
        except FileNotFoundError:
            raise CheckpointError(f"{path}: zoo policy file is missing") from None
        except Exception as e:  # noqa: BLE001 - safetensors raises several types
            raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
        try:
            if int(md.get("format", -1)) != ZOO_FORMAT:
                raise CheckpointError(f"{path}: zoo format {md.get('format')!r}, "
                                      f"expected {ZOO_FORMAT}")
            kind = md["kind"]
            n = int(md["n_layers"])
            weights = tuple((t[f"layer{i}.weight"], t[f"layer{i}.bias"]) for i in range(n))
            return cls(
                name=name or md["name"], kind=kind,
                action_low=t["action_low"], action_high=t["action_high"],
                weights=weights, log_std=t.get("log_std"),
                obs_mean=t.get("obs_mean"), obs_var=t.get("obs_var"),
                clip_obs=float(md["clip_obs"]), obs_epsilon=float(md["obs_epsilon"]),
                activation=md["activation"], meta=json.loads(md.get("meta", "{}")),
            )
        except KeyError as e:
            raise CheckpointError(f"{path}: zoo policy file lacks {e}") from None

    @classmethod
    def random(cls, env_id: str, action_low: np.ndarray, action_high: np.ndarray) -> "ZooPolicy":
        return cls(name="random", kind="random",
                   action_low=np.asarray(action_low, np.float32),
                   action_high=np.asarray(action_high, np.float32),
                   meta={"env_id": env_id})
