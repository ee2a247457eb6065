"""Behaviour zoo: PPO policies of graded, *evaluated* quality for each MuJoCo environment.

Made once by project code and shipped small under ``benchmarks/zoo/<env>/``::

    python -m lossforge.bench.zoo train --env Hopper-v5 --steps 1000000 --seed 0
    python -m lossforge.bench.zoo export --env Hopper-v5 --seed 0   # re-select from checkpoints
    python -m lossforge.bench.zoo list

How a zoo is made (read top to bottom: ``train`` -> ``select_and_export``):

1. SB3 PPO (MlpPolicy 64x64 tanh, SB3 defaults, observations and rewards normalised by
   VecNormalize) trains on one core. Every few rollouts the actor -- the Gaussian-mean MLP
   (``mlp_extractor.policy_net`` + ``action_net``), ``log_std`` and the observation
   normaliser's running mean/var -- is written as a small safetensors checkpoint, and the full
   SB3 state (pickle-based, so it stays in the work directory under /tmp) is saved for resuming.
2. Every checkpoint is evaluated with deterministic (mean) actions on ``screen`` episodes;
   a uniformly random policy is evaluated too.
3. Levels are picked by evaluated return, never by step count: ``expert`` is the best screened
   checkpoint; ``qNN`` is the checkpoint whose screened return is closest to
   ``R_random + NN% * (R_expert - R_random)``.
4. The picked checkpoints are re-evaluated on fresh episodes (the screen's maximum is biased
   upwards) and those returns go to ``zoo.json``.

At run time a zoo needs numpy only (:class:`ZooPolicy`); SB3 is needed to *train* one.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from lossforge.io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    sha256_file,
    versions,
)
from lossforge.bench.envs import env_key, env_kwargs, make_env
from lossforge.bench.progress import progress_bar
from lossforge.errors import CheckpointError, ConfigError, LossforgeError

ZOO_FORMAT = 1
DEFAULT_FRACTIONS = (0.05, 0.10, 0.25, 0.50, 0.75)
DEFAULT_WORK = Path(os.environ.get("LOSSFORGE_ZOO_WORK", "/tmp/lossforge-zoo"))


def default_root() -> Path:
    """``$LOSSFORGE_ZOO`` or the repository's ``benchmarks/zoo``."""
    env = os.environ.get("LOSSFORGE_ZOO")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "benchmarks" / "zoo"


def level_name(fraction: float) -> str:
    return f"q{int(round(fraction * 100)):02d}"


# ----------------------------------------------------------------------------------------------
# Run-time policy (numpy only)
# ----------------------------------------------------------------------------------------------

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

    def normalized(self, ret):
        """100 * (R - R_random) / (R_expert - R_random)."""
        return 100.0 * (np.asarray(ret) - self.random_return) / (
            self.expert_return - self.random_return)

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


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------
# Training (SB3 is imported only here)
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainConfig:
    env_id: str
    steps: int = 1_000_000
    seed: int = 0
    out: str = str(default_root())
    work: str = str(DEFAULT_WORK)
    dense_until: int = 102_400      # checkpoint every `dense_every` steps until here (poor levels)
    dense_every: int = 4_096
    ckpt_every: int = 20_480
    screen_episodes: int = 20
    final_episodes: int = 30
    random_episodes: int = 50
    stochastic_episodes: int = 10
    min_steps: int = 0              # checkpoints before this many PPO steps cannot be levels
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    quiet: bool = False
    command: str = ""               # the CLI command line, recorded in the work dir and zoo.json
    # PPO: SB3 defaults (the prototype's "default-like" settings) + VecNormalize.
    n_steps: int = 2048
    batch_size: int = 64
    n_epochs: int = 10
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    net_arch: tuple[int, ...] = (64, 64)

    def ppo_kwargs(self) -> dict:
        return dict(n_steps=self.n_steps, batch_size=self.batch_size, n_epochs=self.n_epochs,
                    learning_rate=self.learning_rate, gamma=self.gamma,
                    gae_lambda=self.gae_lambda, clip_range=self.clip_range,
                    ent_coef=self.ent_coef)

    def identity(self) -> dict:
        """What must match to resume a run."""
        return dict(env_id=self.env_id, seed=self.seed, net_arch=list(self.net_arch),
                    **env_key(self.env_id), **self.ppo_kwargs())


def _log(cfg_quiet: bool, msg: str) -> None:
    if not cfg_quiet:
        print(time.strftime("%H:%M:%S"), msg, flush=True)


def _actor_from_sb3(model, venv_norm, name: str, meta: dict) -> ZooPolicy:
    import torch

    pol = model.policy
    layers = [m for m in pol.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    acts = {type(m).__name__ for m in pol.mlp_extractor.policy_net
            if not isinstance(m, torch.nn.Linear)}
    activation = {"Tanh": "tanh", "ReLU": "relu"}[acts.pop()] if acts else "tanh"
    weights = tuple((l.weight.detach().cpu().numpy().copy(), l.bias.detach().cpu().numpy().copy())
                    for l in layers + [pol.action_net])
    space = model.action_space
    rms = venv_norm.obs_rms
    return ZooPolicy(name=name, kind="mlp",
                     action_low=space.low.astype(np.float32),
                     action_high=space.high.astype(np.float32),
                     weights=weights, log_std=pol.log_std.detach().cpu().numpy().copy(),
                     obs_mean=rms.mean.astype(np.float32), obs_var=rms.var.astype(np.float32),
                     clip_obs=float(venv_norm.clip_obs), obs_epsilon=float(venv_norm.epsilon),
                     activation=activation, meta=meta)


def train(cfg: TrainConfig) -> Path:
    """Train PPO, checkpointing actors to ``<work>/<env>/seed<S>/ckpts``; resumable."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    torch.set_num_threads(1)
    work = Path(cfg.work) / cfg.env_id / f"seed{cfg.seed}"
    ckdir = work / "ckpts"
    resume = work / "resume"
    ckdir.mkdir(parents=True, exist_ok=True)
    resume.mkdir(parents=True, exist_ok=True)
    ident_path = work / "identity.json"
    ident = cfg.identity()
    if ident_path.exists():
        old = json.loads(ident_path.read_text())
        if old != ident:
            raise ConfigError(f"{ident_path}: work directory holds a run with different settings "
                              f"({old}); use another --work or remove it")
    else:
        atomic_write_json(ident_path, ident)
    if cfg.command:
        atomic_write_json(work / "train_command.json", {"command": cfg.command,
                                                        "steps": cfg.steps})

    def make():
        return Monitor(make_env(cfg.env_id))

    venv = DummyVecEnv([make])
    model_path, norm_path = resume / "model.zip", resume / "vecnormalize.pkl"
    if model_path.exists() and norm_path.exists():
        venv = VecNormalize.load(str(norm_path), venv)
        venv.training = True
        model = PPO.load(str(model_path), env=venv, device="cpu")
        _log(cfg.quiet, f"resuming {cfg.env_id} seed {cfg.seed} at {model.num_timesteps} steps")
    else:
        venv = VecNormalize(venv, norm_obs=True, norm_reward=True, clip_obs=10.0,
                            gamma=cfg.gamma)
        model = PPO("MlpPolicy", venv, seed=cfg.seed, device="cpu", verbose=0,
                    policy_kwargs=dict(net_arch=dict(pi=list(cfg.net_arch),
                                                     vf=list(cfg.net_arch))),
                    **cfg.ppo_kwargs())
        venv.seed(cfg.seed)
    remaining = cfg.steps - model.num_timesteps
    if remaining <= 0:
        _log(cfg.quiet, f"{cfg.env_id}: already trained to {model.num_timesteps} steps")
        return work

    t0 = time.time()
    start_steps = model.num_timesteps

    class Checkpoint(BaseCallback):
        def __init__(self):
            super().__init__()
            self.last = start_steps

        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            # The policy now is the one that collected this rollout (train() runs after).
            n = self.model.num_timesteps
            every = cfg.dense_every if n <= cfg.dense_until else cfg.ckpt_every
            if n - self.last < every and n < cfg.steps:
                return
            self.last = n
            pol = _actor_from_sb3(self.model, venv, f"step{n}",
                                  {"env_id": cfg.env_id, "ppo_steps": n, "seed": cfg.seed})
            pol.save(ckdir / f"step_{n:09d}.safetensors")
            # Full SB3 state for resuming (pickle-based: stays in the /tmp work dir).
            buf = io.BytesIO()
            self.model.save(buf)
            atomic_write_bytes(model_path, buf.getvalue())
            tmp = norm_path.with_suffix(".tmp")
            venv.save(str(tmp))
            os.replace(tmp, norm_path)
            eps = [e["r"] for e in self.model.ep_info_buffer]
            rate = (n - start_steps) / max(time.time() - t0, 1e-9)
            _log(cfg.quiet, f"{cfg.env_id} seed {cfg.seed}: {n:>9d} steps  "
                            f"{rate:6.0f} steps/s  train ep return "
                            f"{np.mean(eps) if eps else float('nan'):8.1f}")

    _log(cfg.quiet, f"training {cfg.env_id} seed {cfg.seed}: {remaining} steps to {cfg.steps}")
    model.learn(total_timesteps=remaining, callback=Checkpoint(), reset_num_timesteps=False)
    _log(cfg.quiet, f"{cfg.env_id}: trained to {model.num_timesteps} steps in "
                    f"{time.time() - t0:.0f} s")
    return work


# ----------------------------------------------------------------------------------------------
# Selection and export
# ----------------------------------------------------------------------------------------------

SCREEN_SEED = 10_000    # checkpoint screening episodes use reset seeds 10_000 + i
FINAL_SEED = 20_000     # re-evaluation of picked levels uses fresh seeds 20_000 + i
RANDOM_SEED = 30_000
STOCHASTIC_SEED = 40_000  # stochastic-action returns of picked levels (what dataset segments use)


def screen_checkpoints(cfg: TrainConfig) -> list[dict]:
    """Deterministic return of every checkpoint (cached in the work dir by file and episodes)."""
    work = Path(cfg.work) / cfg.env_id / f"seed{cfg.seed}"
    files = sorted((work / "ckpts").glob("step_*.safetensors"))
    if not files:
        raise CheckpointError(f"{work / 'ckpts'}: no checkpoints; run `zoo train` first")
    cache_path = work / "screen.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    rows = []
    with progress_bar(not cfg.quiet) as prog:
        task = prog.add_task(f"screening {cfg.env_id}", total=len(files))
        for f in files:
            key = f"{f.name}:{cfg.screen_episodes}:{SCREEN_SEED}"
            if key not in cache:
                pol = ZooPolicy.load(f)
                r = evaluate(pol, cfg.env_id, cfg.screen_episodes, SCREEN_SEED)
                cache[key] = {"file": f.name, "ppo_steps": int(pol.meta["ppo_steps"]),
                              "return_mean": float(r.mean()), "return_std": float(r.std()),
                              "episodes": int(r.size)}
                atomic_write_json(cache_path, cache)
                if not sys.stdout.isatty():
                    _log(cfg.quiet, f"  screen {f.name}: {r.mean():8.1f} +- {r.std():6.1f}")
            rows.append(cache[key])
            prog.advance(task)
    return rows


def pick_levels(rows: Sequence[dict], random_return: float,
                fractions: Sequence[float]) -> list[tuple[str, float | None, dict]]:
    """(name, target fraction, screened row) for each level, worst to best; expert is the
    best screened checkpoint, each ``qNN`` the one closest to its target return."""
    best = max(rows, key=lambda r: r["return_mean"])
    span = best["return_mean"] - random_return
    picks = []
    for frac in sorted(fractions):
        target = random_return + frac * span
        row = min(rows, key=lambda r: (abs(r["return_mean"] - target), r["ppo_steps"]))
        picks.append((level_name(frac), frac, row))
    picks.append(("expert", 1.0, best))
    return picks


def select_and_export(cfg: TrainConfig, command: str) -> dict:
    work = Path(cfg.work) / cfg.env_id / f"seed{cfg.seed}"
    out = Path(cfg.out) / cfg.env_id
    out.mkdir(parents=True, exist_ok=True)
    env = make_env(cfg.env_id)
    rand = ZooPolicy.random(cfg.env_id, env.action_space.low, env.action_space.high)
    env.close()
    r_rand = evaluate(rand, cfg.env_id, cfg.random_episodes, RANDOM_SEED,
                      deterministic=False)
    _log(cfg.quiet, f"{cfg.env_id}: random policy {r_rand.mean():.1f} +- {r_rand.std():.1f}")
    rows = screen_checkpoints(cfg)
    candidates = [r for r in rows if r["ppo_steps"] >= cfg.min_steps]
    if not candidates:
        raise ConfigError(f"--min-steps: no checkpoint of {cfg.env_id} has {cfg.min_steps}+ steps")
    picks = pick_levels(candidates, float(r_rand.mean()), cfg.fractions)

    levels = [{"name": "random", "file": "random.safetensors",
               "return_mean": float(r_rand.mean()), "return_std": float(r_rand.std()),
               "episodes": int(r_rand.size), "ppo_steps": 0, "seed": cfg.seed,
               "target_fraction": 0.0, "screen_return_mean": float(r_rand.mean()),
               "stochastic_return_mean": float(r_rand.mean()),
               "stochastic_return_std": float(r_rand.std())}]
    rand.save(out / "random.safetensors")
    finals = {}
    for name, frac, row in picks:
        src = work / "ckpts" / row["file"]
        pol = ZooPolicy.load(src)
        key = row["file"]
        if key not in finals:
            finals[key] = (evaluate(pol, cfg.env_id, cfg.final_episodes, FINAL_SEED),
                           evaluate(pol, cfg.env_id, cfg.stochastic_episodes, STOCHASTIC_SEED,
                                    deterministic=False))
        r, rs = finals[key]
        pol = replace(pol, name=name, meta={**pol.meta, "level": name})
        pol.save(out / f"{name}.safetensors")
        levels.append({"name": name, "file": f"{name}.safetensors",
                       "return_mean": float(r.mean()), "return_std": float(r.std()),
                       "episodes": int(r.size), "ppo_steps": int(row["ppo_steps"]),
                       "seed": cfg.seed, "target_fraction": frac,
                       "screen_return_mean": float(row["return_mean"]),
                       "stochastic_return_mean": float(rs.mean()),
                       "stochastic_return_std": float(rs.std())})
        _log(cfg.quiet, f"{cfg.env_id}: {name:>6s} <- {row['ppo_steps']:>8d} steps, screened "
                        f"{row['return_mean']:8.1f}, re-evaluated {r.mean():8.1f} +- {r.std():6.1f}"
                        f", stochastic actions {rs.mean():8.1f} +- {rs.std():6.1f}")
    r_exp = levels[-1]["return_mean"]
    tc = work / "train_command.json"
    train_cmd = json.loads(tc.read_text())["command"] if tc.exists() else None
    for lv in levels:
        lv["normalized"] = 100.0 * (lv["return_mean"] - levels[0]["return_mean"]) / (
            r_exp - levels[0]["return_mean"])
        lv["sha256"] = sha256_file(out / lv["file"])
    means = [lv["return_mean"] for lv in levels]
    if any(b <= a for a, b in zip(means, means[1:])):
        _log(cfg.quiet, f"WARNING {cfg.env_id}: re-evaluated level returns are not increasing: "
                        f"{[round(m) for m in means]}")

    # The whole screening curve, for the README and for anyone re-picking levels.
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["ppo_steps", "return_mean", "return_std", "episodes"])
    for row in sorted(rows, key=lambda r: r["ppo_steps"]):
        w.writerow([row["ppo_steps"], f"{row['return_mean']:.2f}", f"{row['return_std']:.2f}",
                    row["episodes"]])
    atomic_write_text(out / "checkpoints.csv", buf.getvalue())

    meta = {
        "format": ZOO_FORMAT,
        "env_id": cfg.env_id,
        "env_kwargs": env_kwargs(cfg.env_id),
        "levels": levels,
        "random_return": levels[0]["return_mean"],
        "expert_return": r_exp,
        "command": command,
        "train_command": train_cmd,
        "versions": versions(),
        "selection": {
            "rule": "expert = best deterministic screened return; qNN = screened return closest "
                    "to R_random + NN% (R_expert - R_random); reported returns re-evaluated on "
                    "fresh episodes",
            "screen_episodes": cfg.screen_episodes, "screen_seed": SCREEN_SEED,
            "final_episodes": cfg.final_episodes, "final_seed": FINAL_SEED,
            "random_episodes": cfg.random_episodes, "random_seed": RANDOM_SEED,
            "stochastic_episodes": cfg.stochastic_episodes, "stochastic_seed": STOCHASTIC_SEED,
            "checkpoints_screened": len(rows),
            "min_steps": cfg.min_steps,
            "candidates": len(candidates),
        },
        "ppo": {"algo": "stable_baselines3.PPO", "policy": "MlpPolicy",
                "vec_normalize": {"norm_obs": True, "norm_reward": True, "clip_obs": 10.0},
                "train_steps": max(r["ppo_steps"] for r in rows), **cfg.identity()},
    }
    atomic_write_json(out / "zoo.json", meta)
    return meta


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------

def _parse_fractions(text: str) -> tuple[float, ...]:
    try:
        fr = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--fractions: expected comma-separated numbers, got {text!r}") from None
    if not fr or any(not 0.0 < f < 1.0 for f in fr):
        raise ConfigError(f"--fractions: each fraction must lie in (0, 1), got {text!r}")
    return fr


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lossforge.bench.zoo",
                                description="Train, export and list the PPO behaviour zoo.")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, hlp in (("train", "train PPO (resumable), then pick and export the levels"),
                      ("export", "pick and export levels from an existing run's checkpoints")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("--env", required=True, help="gymnasium id, e.g. Hopper-v5")
        s.add_argument("--steps", type=int, default=1_000_000, help="PPO env steps in total")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--out", default=str(default_root()), help="zoo root (benchmarks/zoo)")
        s.add_argument("--work", default=str(DEFAULT_WORK),
                       help="checkpoints and resume state (default /tmp/lossforge-zoo)")
        s.add_argument("--screen-episodes", type=int, default=20)
        s.add_argument("--final-episodes", type=int, default=30)
        s.add_argument("--fractions", default=",".join(str(f) for f in DEFAULT_FRACTIONS),
                       help="quality levels as fractions of the expert's (normalised) return")
        s.add_argument("--min-steps", type=int, default=0,
                       help="only checkpoints with at least this many PPO steps can become "
                            "levels (e.g. to skip an initial do-nothing phase; recorded)")
        s.add_argument("--quiet", action="store_true")
        if name == "train":
            s.add_argument("--no-export", action="store_true", help="train only")
        else:
            s.add_argument("--screen-only", action="store_true",
                           help="only evaluate (and cache) the checkpoints so far, e.g. while "
                                "training still runs; export nothing")
    s = sub.add_parser("list", help="list zoos and their levels")
    s.add_argument("--root", default=str(default_root()))
    args = p.parse_args(argv)
    try:
        if args.cmd == "list":
            zoos = list_zoos(args.root)
            if not zoos:
                print(f"no zoos under {args.root}")
            for env_id in zoos:
                z = load_zoo(env_id, args.root)
                print(f"{env_id}  (random {z.random_return:.1f}, expert {z.expert_return:.1f})")
                for lv in z.levels:
                    print(f"  {lv.name:>7s}  {lv.return_mean:9.1f} +- {lv.return_std:7.1f}  "
                          f"({lv.episodes} eps, {lv.ppo_steps} PPO steps, seed {lv.seed})  "
                          f"{lv.file}")
            return 0
        if args.steps <= 0:
            raise ConfigError(f"--steps: must be positive, got {args.steps}")
        cfg = TrainConfig(env_id=args.env, steps=args.steps, seed=args.seed, out=args.out,
                          work=args.work, screen_episodes=args.screen_episodes,
                          final_episodes=args.final_episodes,
                          fractions=_parse_fractions(args.fractions), quiet=args.quiet,
                          min_steps=args.min_steps,
                          command="python -m lossforge.bench.zoo " + " ".join(
                              shlex.quote(a) for a in (argv if argv is not None
                                                       else sys.argv[1:])))
        import gymnasium as gym

        if args.env not in gym.registry:
            raise ConfigError(f"--env: unknown gymnasium environment {args.env!r}")
        command = cfg.command
        if args.cmd == "train":
            train(cfg)
            if args.no_export:
                return 0
        elif args.screen_only:
            screen_checkpoints(cfg)
            return 0
        select_and_export(cfg, command)
        return 0
    except LossforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
