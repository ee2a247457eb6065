"""``Fitness``: what every fitness function returns for one objective.

The bench (``bench/fitness.py``), the probe (``search/probe_fitness.py``), the LLM test bed
(``llm/fitness.py``) and a user's ``--fitness module:function`` return it; the search's
executors turn it into JSON (``search/executors.py``). It lives in this small module of the
bench layer, below the search, with no MuJoCo import, so a fitness anywhere in the package can
return it without reaching up into the search or loading the benchmark.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
