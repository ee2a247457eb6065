"""Training a zoo: SB3 PPO on one core, actors checkpointed as ZooPolicy files (SB3 is imported
only here, and only inside the functions that need it)."""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lossforge.io import atomic_write_bytes, atomic_write_json
from lossforge.bench.envs import env_key, make_env
from lossforge.bench.progress import stamped
from lossforge.bench.zoo.loader import default_root
from lossforge.bench.zoo.policy import ZooPolicy
from lossforge.errors import ConfigError

DEFAULT_FRACTIONS = (0.05, 0.10, 0.25, 0.50, 0.75)
DEFAULT_WORK = Path(os.environ.get("LOSSFORGE_ZOO_WORK", "/tmp/lossforge-zoo"))


@dataclass(frozen=True)
class PPOConfig:
    """A zoo's PPO run and its level selection (the CLI's ``train`` / ``export`` options)."""

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

    def work_dir(self) -> Path:
        """Checkpoints, resume state and the screening cache: ``<work>/<env>/seed<S>``."""
        return Path(self.work) / self.env_id / f"seed{self.seed}"

    def identity(self) -> dict:
        """What must match to resume a run."""
        return dict(env_id=self.env_id, seed=self.seed, net_arch=list(self.net_arch),
                    **env_key(self.env_id), **self.ppo_kwargs())


def log(quiet: bool, msg: str) -> None:
    """A timestamped line on stdout unless ``quiet``."""
    if not quiet:
        print(stamped(msg), flush=True)


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


def _claim_work_dir(cfg: PPOConfig) -> Path:
    """The run's work directory, made or checked against ``identity.json`` (a resume must use
    the same settings)."""
    work = cfg.work_dir()
    (work / "ckpts").mkdir(parents=True, exist_ok=True)
    (work / "resume").mkdir(parents=True, exist_ok=True)
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
    return work


def _model(cfg: PPOConfig, model_path: Path, norm_path: Path):
    """(PPO model, its VecNormalize env): resumed from ``model_path`` / ``norm_path`` if both
    exist, else new."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    def make():
        return Monitor(make_env(cfg.env_id))

    venv = DummyVecEnv([make])
    if model_path.exists() and norm_path.exists():
        venv = VecNormalize.load(str(norm_path), venv)
        venv.training = True
        model = PPO.load(str(model_path), env=venv, device="cpu")
        log(cfg.quiet, f"resuming {cfg.env_id} seed {cfg.seed} at {model.num_timesteps} steps")
    else:
        venv = VecNormalize(venv, norm_obs=True, norm_reward=True, clip_obs=10.0,
                            gamma=cfg.gamma)
        model = PPO("MlpPolicy", venv, seed=cfg.seed, device="cpu", verbose=0,
                    policy_kwargs=dict(net_arch=dict(pi=list(cfg.net_arch),
                                                     vf=list(cfg.net_arch))),
                    **cfg.ppo_kwargs())
        venv.seed(cfg.seed)
    return model, venv


def _checkpoint_callback(cfg: PPOConfig, venv, work: Path, start_steps: int, t0: float):
    """An SB3 callback that, every few rollouts, saves the actor as a ZooPolicy checkpoint and
    the full SB3 state for resuming."""
    from stable_baselines3.common.callbacks import BaseCallback

    ckdir = work / "ckpts"
    model_path, norm_path = work / "resume" / "model.zip", work / "resume" / "vecnormalize.pkl"

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
            log(cfg.quiet, f"{cfg.env_id} seed {cfg.seed}: {n:>9d} steps  "
                           f"{rate:6.0f} steps/s  train ep return "
                           f"{np.mean(eps) if eps else float('nan'):8.1f}")

    return Checkpoint()


def train(cfg: PPOConfig) -> Path:
    """Train PPO, checkpointing actors to ``<work>/<env>/seed<S>/ckpts``; resumable."""
    import torch

    torch.set_num_threads(1)
    work = _claim_work_dir(cfg)
    model, venv = _model(cfg, work / "resume" / "model.zip", work / "resume" / "vecnormalize.pkl")
    remaining = cfg.steps - model.num_timesteps
    if remaining <= 0:
        log(cfg.quiet, f"{cfg.env_id}: already trained to {model.num_timesteps} steps")
        return work

    t0 = time.time()
    callback = _checkpoint_callback(cfg, venv, work, model.num_timesteps, t0)
    log(cfg.quiet, f"training {cfg.env_id} seed {cfg.seed}: {remaining} steps to {cfg.steps}")
    model.learn(total_timesteps=remaining, callback=callback, reset_num_timesteps=False)
    log(cfg.quiet, f"{cfg.env_id}: trained to {model.num_timesteps} steps in "
                   f"{time.time() - t0:.0f} s")
    return work
