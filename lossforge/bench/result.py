"""``Fitness``: what every fitness function returns for one objective.

The bench (``bench/fitness.py``), the probe (``search/probe_fitness.py``), the LLM test bed
(``llm/fitness.py``) and a user's ``--fitness module:function`` return it; the search's
executors turn it into JSON (``search/executors.py``). It lives in this small module of the
bench layer, below the search, with no MuJoCo import, so a fitness anywhere in the package can
return it without reaching up into the search or loading the benchmark.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: The rows of a benchmark table that are policies, not losses, by name: the MuJoCo bench's
#: reference (the BC policy every loss starts from) and BC-on-chosen (``bench.fitness
#: .fixed_policies``), and the LLM test bed's SFT base (``llm.fitness``). Every table and
#: report finds them by these names, so they are written here once, with no torch import.
REFERENCE, BC_ON_CHOSEN = "reference (BC)", "bc-on-chosen"
LLM_REFERENCE = "reference (SFT base)"

#: What a fitness scores (``--metric``): the area under the learning curve, or the final
#: policy's score. Here, with no torch import, for the command lines that offer them.
METRICS = ("auc", "final")


@dataclass(frozen=True)
class Fitness:
    name: str
    status: str                   # "ok" or the first failure reason among its seeds
    score: float                  # mean over seeds of the configured metric (NaN if failed)
    ci95: float                   # 95 % CI half-width over seeds
    per_seed: tuple[float, ...]   # the metric per training seed
    final: float                  # mean normalised score of the final policies
    auc: float                    # mean normalised score over checkpoints (area under curve)
    seconds: float                # wall time of the whole call, shared by its candidates
    curve: tuple[tuple[int, float], ...] = ()  # (training step, score mean over seeds)

    def to_json(self) -> dict:
        return asdict(self)
