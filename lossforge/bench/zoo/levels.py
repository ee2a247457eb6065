"""Picking a zoo's levels from a PPO run's checkpoints by evaluated return, and writing the zoo
(level files, ``zoo.json``, ``checkpoints.csv``)."""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from lossforge.io import atomic_write_json, atomic_write_text, sha256_file, versions
from lossforge.bench.envs import env_kwargs, make_env
from lossforge.bench.evaluator import normalized_score
from lossforge.bench.progress import progress_bar
from lossforge.bench.zoo.policy import ZOO_FORMAT, ZooPolicy
from lossforge.bench.zoo.ppo import PPOConfig, log
from lossforge.bench.zoo.rollouts import evaluate
from lossforge.errors import CheckpointError, ConfigError


def level_name(fraction: float) -> str:
    return f"q{int(round(fraction * 100)):02d}"


SCREEN_SEED = 10_000    # checkpoint screening episodes use reset seeds 10_000 + i
FINAL_SEED = 20_000     # re-evaluation of picked levels uses fresh seeds 20_000 + i
RANDOM_SEED = 30_000
STOCHASTIC_SEED = 40_000  # stochastic-action returns of picked levels (what dataset segments use)


def screen_checkpoints(cfg: PPOConfig) -> list[dict]:
    """Deterministic return of every checkpoint (cached in the work dir by file and episodes)."""
    work = cfg.work_dir()
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
                    log(cfg.quiet, f"  screen {f.name}: {r.mean():8.1f} +- {r.std():6.1f}")
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


def _random_level(cfg: PPOConfig) -> tuple[dict, ZooPolicy]:
    """(zoo.json entry, policy) of the uniformly random level, evaluated with its own
    (stochastic) actions."""
    env = make_env(cfg.env_id)
    rand = ZooPolicy.random(cfg.env_id, env.action_space.low, env.action_space.high)
    env.close()
    r_rand = evaluate(rand, cfg.env_id, cfg.random_episodes, RANDOM_SEED,
                      deterministic=False)
    log(cfg.quiet, f"{cfg.env_id}: random policy {r_rand.mean():.1f} +- {r_rand.std():.1f}")
    return {"name": "random", "file": "random.safetensors",
            "return_mean": float(r_rand.mean()), "return_std": float(r_rand.std()),
            "episodes": int(r_rand.size), "ppo_steps": 0, "seed": cfg.seed,
            "target_fraction": 0.0, "screen_return_mean": float(r_rand.mean()),
            "stochastic_return_mean": float(r_rand.mean()),
            "stochastic_return_std": float(r_rand.std())}, rand


def _export_picks(cfg: PPOConfig, picks, out: Path) -> list[dict]:
    """Each picked checkpoint re-evaluated on fresh episodes (deterministic and stochastic
    actions; once per checkpoint), written as ``<level>.safetensors``; their zoo.json entries."""
    levels, finals = [], {}
    for name, frac, row in picks:
        pol = ZooPolicy.load(cfg.work_dir() / "ckpts" / row["file"])
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
        log(cfg.quiet, f"{cfg.env_id}: {name:>6s} <- {row['ppo_steps']:>8d} steps, screened "
                       f"{row['return_mean']:8.1f}, re-evaluated {r.mean():8.1f} +- {r.std():6.1f}"
                       f", stochastic actions {rs.mean():8.1f} +- {rs.std():6.1f}")
    return levels


def _write_screening_curve(rows: Sequence[dict], out: Path) -> None:
    """``checkpoints.csv``: the whole screening curve, for the README and for anyone re-picking
    levels."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["ppo_steps", "return_mean", "return_std", "episodes"])
    for row in sorted(rows, key=lambda r: r["ppo_steps"]):
        w.writerow([row["ppo_steps"], f"{row['return_mean']:.2f}", f"{row['return_std']:.2f}",
                    row["episodes"]])
    atomic_write_text(out / "checkpoints.csv", buf.getvalue())


def _zoo_meta(cfg: PPOConfig, levels: list[dict], rows: Sequence[dict], n_candidates: int,
              command: str) -> dict:
    """zoo.json: the levels, how they were picked and the PPO run that made them."""
    tc = cfg.work_dir() / "train_command.json"
    train_cmd = json.loads(tc.read_text())["command"] if tc.exists() else None
    return {
        "format": ZOO_FORMAT,
        "env_id": cfg.env_id,
        "env_kwargs": env_kwargs(cfg.env_id),
        "levels": levels,
        "random_return": levels[0]["return_mean"],
        "expert_return": levels[-1]["return_mean"],
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
            "candidates": n_candidates,
        },
        "ppo": {"algo": "stable_baselines3.PPO", "policy": "MlpPolicy",
                "vec_normalize": {"norm_obs": True, "norm_reward": True, "clip_obs": 10.0},
                "train_steps": max(r["ppo_steps"] for r in rows), **cfg.identity()},
    }


def select_and_export(cfg: PPOConfig, command: str) -> dict:
    """Steps 2-4 of making a zoo (see the package docstring): evaluate the random policy, screen
    the checkpoints, pick the levels, re-evaluate and write them; returns zoo.json's content."""
    out = Path(cfg.out) / cfg.env_id
    out.mkdir(parents=True, exist_ok=True)
    random_level, rand = _random_level(cfg)
    rows = screen_checkpoints(cfg)
    candidates = [r for r in rows if r["ppo_steps"] >= cfg.min_steps]
    if not candidates:
        raise ConfigError(f"--min-steps: no checkpoint of {cfg.env_id} has {cfg.min_steps}+ steps")
    picks = pick_levels(candidates, random_level["return_mean"], cfg.fractions)
    rand.save(out / "random.safetensors")
    levels = [random_level] + _export_picks(cfg, picks, out)
    means = [lv["return_mean"] for lv in levels]
    if any(b <= a for a, b in zip(means, means[1:])):
        log(cfg.quiet, f"WARNING {cfg.env_id}: re-evaluated level returns are not increasing: "
                       f"{[round(m) for m in means]}")
    for lv in levels:   # (an expert no better than random is refused here: EvaluationError)
        lv["normalized"] = float(normalized_score(lv["return_mean"], means[0], means[-1]))
        lv["sha256"] = sha256_file(out / lv["file"])
    _write_screening_curve(rows, out)
    meta = _zoo_meta(cfg, levels, rows, len(candidates), command)
    atomic_write_json(out / "zoo.json", meta)
    return meta
