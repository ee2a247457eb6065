"""``python -m lossforge.bench.zoo train | export | list``."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Sequence

from lossforge.bench.zoo.levels import screen_checkpoints, select_and_export
from lossforge.bench.zoo.loader import default_root, list_zoos, load_zoo
from lossforge.bench.zoo.ppo import DEFAULT_FRACTIONS, DEFAULT_WORK, PPOConfig, train
from lossforge.errors import ConfigError, LossforgeError


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
        cfg = PPOConfig(env_id=args.env, steps=args.steps, seed=args.seed, out=args.out,
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
