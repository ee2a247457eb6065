"""The log-probs a distilled phi~ is fitted on: those the run's fitness feeds the network.

The loss depends on phi~ only where it is called: reward margins beta * [phi~(l) - phi~(l_ref)]
and their gradients beta * phi~'(l) at the policy's and the reference's log-probs of the
data. A network's own ``l_range`` ([-1500, 0] for summed log-probs) is where its tanh windows
were placed at the start, a generous guess at where Hopper segments lie; a fitness may use a
small part of it (the probe: about [-104, -38]), and a formula fitted over all of it can be
far off there (flat where the data is, say) and still fit the rest. So the range is, in order:

1. ``--l-range LO,HI`` (``parse_l_range``): the user's.
2. Measured, for a fitness whose log-probs can be read in this process (``MEASURED``: the
   probe, in milliseconds; the MuJoCo bench, one training of the network at the budget, in
   this process: seconds on the quick scenario, about a minute at screen on Hopper): the
   fitness itself trains the network once, at the budget the formula is scored at, with a
   recorder around it that keeps the smallest and largest log-prob it is called with (policy
   and reference, chosen and rejected, every step and seed). That is the set the run's scoring
   evaluated phi~ on, and nothing is stored in the run, so every existing run distils this way
   too. The range is not padded: a formula that fits trains close to the network's path.
   That training is the network's scoring too: distill's re-scoring takes the network's
   fitness from it (``Measured.result``) rather than train it again (a fitness is a function
   of each loss alone, on the budget's seeds and episodes, so it is the same number).
3. Otherwise the network's ``l_range``, with a note saying so: a plug-in fitness's cost is
   unknown, and the LLM fitness trains a language model. Its data's range can be given with
   ``--l-range``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

#: fitnesses whose log-probs are measured (each in this process, at a known cost)
MEASURED = ("probe", "bench")


def parse_l_range(text: str) -> tuple[float, float]:
    """``"LO,HI"`` -> (LO, HI), finite with LO < HI <= 0 (log-probs); ``ValueError`` saying what
    is expected otherwise."""
    expected = "expected LO,HI: two log-probs with LO < HI <= 0, e.g. -110,-30"
    parts = text.split(",")
    try:
        lo, hi = (float(x) for x in parts)
    except ValueError:
        raise ValueError(expected) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi <= 0):
        raise ValueError(expected)
    return lo, hi


class _Recorder:
    """An objective that is ``objective`` and keeps the range of the log-probs it is called
    with (the first four arguments: policy and reference, chosen and rejected)."""

    def __init__(self, objective):
        self._objective = objective
        self.lo, self.hi = math.inf, -math.inf

    def __getattr__(self, name):
        return getattr(self._objective, name)

    def __call__(self, *args, **kwargs):
        names = ("ref_chosen_logps", "ref_rejected_logps")
        for t in [*args[:4], *(kwargs.get(k) for k in names)]:
            if t is not None and t.numel():
                t = t.detach()
                self.lo = min(self.lo, float(t.min()))
                self.hi = max(self.hi, float(t.max()))
        return self._objective(*args, **kwargs)


@dataclass(frozen=True)
class Measured:
    """What measuring by training gave: the range (None if the fitness fed the network no
    finite log-probs) and the network's fitness dict from that training, at ``budget``."""

    range: tuple[float, float] | None
    budget: str
    result: dict


def measure(spec: dict, fitness: str, scenario: str, budget: str, metric: str,
            progress: bool = False) -> Measured:
    """The smallest and largest log-prob ``fitness`` (one of ``MEASURED``) calls the objective
    of ``spec`` with while scoring it at ``budget``, and that scoring's result.
    ``progress``: the fitness's own progress bars (the bench's training)."""
    from lossforge.objectives import from_spec
    from lossforge.search.executors import check_results, fitness_to_dict, resolve_fitness

    rec = _Recorder(from_spec(spec, check=False))
    results = resolve_fitness(fitness)([rec], scenario, budget, seeds=None, metric=metric,
                                       workers=1, progress=progress)
    check_results(fitness, results, [rec.name])
    ok = math.isfinite(rec.lo) and math.isfinite(rec.hi) and rec.lo < rec.hi <= 0
    return Measured((rec.lo, rec.hi) if ok else None, budget, fitness_to_dict(results[0]))


def fit_range(run_dir: Path, spec: dict, l_range: tuple[float, float] | None,
              budget: str | None, progress: bool = False
              ) -> tuple[tuple[float, float] | None, str, str, Measured | None]:
    """(range or None for the network's own, where it came from, a note or "", the
    measurement when there was one): the module docstring's order. ``budget``: the one the
    formula is scored at (default the run's). ``progress``: say so before a measurement that
    trains for more than a moment."""
    if l_range is not None:
        return l_range, "given by --l-range", "", None
    from lossforge.objectives.neural import NeuralSpec
    from lossforge.runfiles import read_json

    lo, hi = NeuralSpec.from_json(spec).l_range
    try:
        cfg = read_json(Path(run_dir) / "config.json")
        conf = cfg["config"]
        fitness, budget = conf["fitness"], budget or conf["budget"]
        scenario, metric = cfg["scenario_file"], conf["metric"]
    except (OSError, ValueError, KeyError, TypeError):
        fitness = None
    seen = None
    if fitness in MEASURED:
        if progress and fitness != "probe":
            print(f"measuring the log-probs the {fitness} fitness feeds the network: one "
                  f"training of it at budget {budget} ...", flush=True)
        seen = measure(spec, fitness, scenario, budget, metric, progress=progress)
        if seen.range is not None:
            where = (f"the log-probs the {fitness} fitness feeds this network, policy's and "
                     f"reference's, every step at budget {budget}")
            return seen.range, where, "", seen
        why = f"the {fitness} fitness fed this network no finite log-probs"
    else:
        why = (f"the {fitness or 'run'} fitness does not tell which log-probs it feeds the "
               "loss")
    return None, "the network's l_range", (
        f"{why}: fitting over the network's whole l_range [{lo:g}, {hi:g}] instead, of "
        "which the data may use a small part (--l-range LO,HI sets the data's range)"), seen
