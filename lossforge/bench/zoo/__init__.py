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

One job per module:

    policy.py     ZooPolicy: the numpy actor and its safetensors file
    loader.py     Zoo, load_zoo, list_zoos, synthetic_zoo: a shipped zoo, checked on load
    rollouts.py   evaluate: a policy's returns on seeded episodes
    ppo.py        PPOConfig and train: step 1 (SB3 is imported only here)
    levels.py     screen_checkpoints, pick_levels, select_and_export: steps 2-4
    cli.py        the command line above (``__main__.py`` runs it)

This package exports the run-time part (no SB3, no torch); import training and selection from
their modules.
"""

from lossforge.bench.zoo.loader import (
    Zoo,
    ZooLevel,
    default_root,
    list_zoos,
    load_zoo,
    policies_fingerprint,
    synthetic_zoo,
)
from lossforge.bench.zoo.policy import ZOO_FORMAT, ZooPolicy
from lossforge.bench.zoo.rollouts import evaluate

__all__ = ["ZOO_FORMAT", "Zoo", "ZooLevel", "ZooPolicy", "default_root", "evaluate", "list_zoos",
           "load_zoo", "policies_fingerprint", "synthetic_zoo"]
