"""Objectives: the MPO family compiled to torch, and the zoo of known members.

    from lossforge import objectives
    dpo = objectives.get("dpo", beta=0.1)
    mine = objectives.from_mirror_map("p*log(p) + p**2", beta=0.1, reference=True)
    losses = mine(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
"""

from lossforge.objectives.mpo import MPOSpec, Objective, from_mirror_map
from lossforge.objectives.neural import NeuralObjective, NeuralSpec, from_spec
from lossforge.objectives.zoo import ZOO, get, get_spec, names

__all__ = ["MPOSpec", "NeuralObjective", "NeuralSpec", "Objective", "ZOO", "from_mirror_map",
           "from_spec", "get", "get_spec", "names"]
