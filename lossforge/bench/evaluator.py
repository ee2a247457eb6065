"""Online evaluation of a population of policies with common random numbers.

All P policies act in ONE batched forward pass per time step over their P x E environments
(weights stacked [P, in, out]); each environment is a plain gymnasium MuJoCo env stepped in a
loop, so the cost is MuJoCo stepping itself. Actions are deterministic (the most likely bin of
each dimension). Every policy plays the same E episodes: episode e starts from
``env.reset(seed=episode_seeds[e])`` for all policies, so differences between policies are paired.

    ev = Evaluator("Hopper-v5", episode_seeds=range(20))
    out = ev.evaluate(policies)            # returns [P, E], lengths [P, E]
    scores = score_runs(run_results, ev, zoo_returns("Hopper-v5"))   # final and AUC per run

Scores are ``normalized_score(R, random, expert) = 100 (R - R_random) / (R_expert - R_random)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from lossforge.bench.envs import make_env
from lossforge.bench.policy import Params, act, stack_params, trainable
from lossforge.bench.progress import progress_bar
from lossforge.errors import ConfigError, LossforgeError
from lossforge.workers import torch_threads


class EvaluationError(LossforgeError):
    """Evaluation inputs are malformed (policies, env id, seeds, zoo metadata)."""


@dataclass(frozen=True)
class EvalResult:
    returns: np.ndarray  # [P, E] float64 undiscounted episode return
    lengths: np.ndarray  # [P, E] int64 episode length (steps until termination or max_steps)
    episode_seeds: tuple[int, ...]

    @property
    def mean_return(self) -> np.ndarray:  # [P]
        return self.returns.mean(1)


def normalized_score(returns, random_return: float, expert_return: float):
    """100 * (R - R_random) / (R_expert - R_random): 0 = random policy, 100 = the zoo's expert."""
    if not expert_return > random_return:
        raise EvaluationError(
            f"expert return {expert_return} must exceed random return {random_return}")
    return 100.0 * (np.asarray(returns, dtype=np.float64) - random_return) / (
        expert_return - random_return)


def zoo_returns(env_id: str, root: str | Path | None = None) -> tuple[float, float]:
    """(random_return, expert_return) from ``<root>/<env_id>/zoo.json``; root defaults to the
    zoo's own default (``$LOSSFORGE_ZOO`` or the repository's ``benchmarks/zoo``), never the
    current directory."""
    from lossforge.bench.zoo import default_root

    path = Path(root if root is not None else default_root()) / env_id / "zoo.json"
    try:
        meta = json.loads(path.read_text())
        return float(meta["random_return"]), float(meta["expert_return"])
    except (OSError, ValueError, KeyError) as exc:
        raise EvaluationError(f"{path}: cannot read random_return/expert_return ({exc})") from exc


class Evaluator:
    """Evaluates populations on fixed episode seeds, reusing one pool of environments."""

    def __init__(self, env_id: str, episode_seeds: Sequence[int], max_steps: int | None = None,
                 chunk_policies: int = 64):
        self.env_id = env_id
        self.episode_seeds = tuple(int(s) for s in episode_seeds)
        if not self.episode_seeds:
            raise ConfigError("Evaluator needs at least one episode seed")
        self._make = lambda: make_env(env_id).unwrapped  # we apply the time limit ourselves
        probe = make_env(env_id)
        self.max_steps = int(max_steps or probe.spec.max_episode_steps or 1000)
        self.obs_dim = int(probe.observation_space.shape[0])
        probe.close()
        self.chunk_policies = chunk_policies
        self._envs: list = []

    def _pool(self, n: int) -> list:
        while len(self._envs) < n:  # creating an env parses its XML (~20 ms): reuse them
            self._envs.append(self._make())
        return self._envs[:n]

    def evaluate(self, policies: Sequence[Params] | Params, progress=False) -> EvalResult:
        """Returns and lengths [P, E] of P policies (a list of Params, or stacked Params)."""
        if isinstance(policies, dict) and policies["w0"].dim() == 2:
            policies = [policies]  # one unstacked policy
        stacked = policies if isinstance(policies, dict) else stack_params(list(policies))
        n_pol = next(iter(trainable(stacked).values())).shape[0]
        n_ep = len(self.episode_seeds)
        returns = np.zeros((n_pol, n_ep))
        lengths = np.zeros((n_pol, n_ep), dtype=np.int64)
        starts = range(0, n_pol, self.chunk_policies)
        with progress_bar(progress) as bar, torch_threads(1):
            # counted in time steps (at most max_steps per chunk of policies), so that a single
            # chunk shows an ETA too; a chunk whose episodes all end early jumps ahead
            task = bar.add_task(f"evaluating {n_pol} policies x {n_ep} episodes (time steps)",
                                total=len(starts) * self.max_steps)
            for c, lo in enumerate(starts):
                hi = min(lo + self.chunk_policies, n_pol)
                chunk = {k: v[lo:hi] if k in trainable(stacked) else v for k, v in stacked.items()}
                returns[lo:hi], lengths[lo:hi] = self._rollout(chunk, hi - lo,
                                                               lambda: bar.advance(task))
                bar.update(task, completed=(c + 1) * self.max_steps)
        return EvalResult(returns, lengths, self.episode_seeds)

    @torch.no_grad()
    def _rollout(self, params: Params, n_pol: int,
                 on_step=lambda: None) -> tuple[np.ndarray, np.ndarray]:
        n_ep = len(self.episode_seeds)
        envs = self._pool(n_pol * n_ep)
        obs = np.empty((n_pol, n_ep, self.obs_dim), dtype=np.float32)
        for i, env in enumerate(envs):
            obs[i // n_ep, i % n_ep] = env.reset(seed=self.episode_seeds[i % n_ep])[0]
        ret = np.zeros((n_pol, n_ep))
        length = np.zeros((n_pol, n_ep), dtype=np.int64)
        alive = np.ones((n_pol, n_ep), dtype=bool)

        # Forward only policies that still have a running episode (rebuilt when that set shrinks).
        active = np.arange(n_pol)
        sub = params
        for _ in range(self.max_steps):
            actions = act(sub, torch.from_numpy(obs[active])).numpy()  # [A, E, act_dim]
            for a, e in zip(*np.nonzero(alive[active])):
                p = active[a]
                o, r, terminated, _, _ = envs[p * n_ep + e].step(actions[a, e])
                obs[p, e] = o
                ret[p, e] += r
                length[p, e] += 1
                if terminated:
                    alive[p, e] = False
            on_step()
            still = np.nonzero(alive.any(1))[0]
            if len(still) == 0:
                break
            if len(still) < len(active):
                active = still
                idx = torch.from_numpy(active)
                sub = {k: v[idx] if k in trainable(params) else v for k, v in params.items()}
        return ret, length

    def close(self) -> None:
        for env in self._envs:
            env.close()
        self._envs.clear()


# --------------------------------------------------------------------------------------------
# Scoring training runs: final parameters and the mean over checkpoints (area under the curve)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunScore:
    objective: str
    seed: int
    status: str
    checkpoint_steps: tuple[int, ...]  # the schedule scored (a stopped run repeats its last params)
    returns: np.ndarray  # [C, E] per checkpoint and episode
    lengths: np.ndarray  # [C, E]
    final_returns: np.ndarray  # [E] of the final (or last finite) parameters
    final_lengths: np.ndarray  # [E]
    final_return: float  # mean over episodes
    auc_return: float  # mean over checkpoints and episodes
    final_score: float | None  # normalised, if zoo returns were given
    auc_score: float | None


def score_runs(runs, evaluator: Evaluator, zoo: tuple[float, float] | None = None,
               progress: bool = False) -> list[RunScore]:
    """Evaluate every run's checkpoints and final parameters as one population (shared episodes).

    The checkpoint schedule is the longest among the runs. A run stopped early (non-finite)
    counts its last finite parameters at the checkpoints it did not reach: it stays where it
    stopped. Its status says so; a search may penalise it further.
    """
    schedule = max((tuple(r.checkpoint_steps) for r in runs), key=len, default=())
    policies: list[Params] = []
    slots = []  # per run: (index of each scheduled checkpoint's policy, index of the final one)
    for r in runs:
        first = len(policies)
        policies.extend(r.checkpoints)
        final_is_last_ckpt = r.ok and bool(r.checkpoint_steps) and r.checkpoint_steps[-1] == r.steps
        if final_is_last_ckpt:
            final = len(policies) - 1
        else:
            final = len(policies)
            policies.append(r.params)
        ckpt = [first + c if c < len(r.checkpoints) else final for c in range(len(schedule))]
        slots.append((ckpt, final))
    out = evaluator.evaluate(policies, progress=progress)

    def norm(x):
        return None if zoo is None else float(normalized_score(x, *zoo))

    scores = []
    for r, (ckpt, final) in zip(runs, slots):
        rets, lens = out.returns[ckpt], out.lengths[ckpt]
        fr, fl = out.returns[final], out.lengths[final]
        auc = float(rets.mean()) if len(ckpt) else float(fr.mean())
        scores.append(RunScore(
            objective=r.objective, seed=r.seed, status=r.status, checkpoint_steps=schedule,
            returns=rets, lengths=lens, final_returns=fr, final_lengths=fl,
            final_return=float(fr.mean()), auc_return=auc,
            final_score=norm(fr.mean()), auc_score=norm(auc),
        ))
    return scores
