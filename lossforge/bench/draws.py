"""Dataset draws: independent instances of one scenario, for tuning and for confirmation.

A scenario fixes a recipe; its ``dataset_seed`` picks one dataset (segments, labels), one BC
reference and, with the evaluation episodes, one instance of the benchmark. A fresh instance
moved baselines by 4-10 points where seed CIs were +-0.5-1 (docs/design/benchmark.md, "What
wave 1's tables taught"), so results are confirmed on several instances: *draws*, with the draw
as the unit of analysis.

Draw ``k`` of a scenario whose file says ``dataset_seed = s`` uses

| draw | role | dataset seed | BC reference init seed | evaluation episode seeds |
|---|---|---|---|---|
| 0 | today's benchmark (the search's) | s | 0 | 100000 + e |
| "t" | tuning baselines (``sweep``) | s + 999000 | 999 | 100000 + 999000000 + e |
| 1, 2, ... | reporting (``confirm``) | s + 1000 k | k | 100000 + 1000000 k + e |

for episodes e = 0 .. E-1 (E < 1,000,000). Draw 0 is exactly what every earlier result used
(the same Scenario object, the same reference, the same episodes: bit-identical), and reporting
draws 1..998 and the tuning draw never share a dataset seed, a reference or an episode with each
other or with draw 0. Every draw builds its own dataset (new segments and labels, cached by
content) and its own BC reference (cached by the data it reads and its config, seed included).
Scenarios whose ``dataset_seed`` values differ by a multiple of 1000 would share draws: the
held-out copies (dataset_seed 1) do not.
"""

from __future__ import annotations

import dataclasses

from lossforge.errors import ConfigError

#: Evaluation episodes of draw 0 use seeds EPISODE_SEED_BASE, +1, ... for every candidate.
EPISODE_SEED_BASE = 100_000
TUNING = "t"
DATASET_STRIDE = 1000          # dataset seeds of consecutive draws
EPISODE_STRIDE = 1_000_000     # episode seeds of consecutive draws (more episodes than this: error)
TUNING_INDEX = 999             # the tuning draw's place in both strides
MAX_REPORTING = TUNING_INDEX - 1

Draw = int | str   # 0, 1, 2, ... or TUNING


def parse_draw(value) -> Draw:
    """0, 3, "3" or "t" -> the draw (an int, or TUNING); anything else is a ConfigError."""
    if value == TUNING:
        return TUNING
    try:
        k = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"draw {value!r}: expected 0-{MAX_REPORTING} or {TUNING!r}") from None
    if isinstance(value, float) or not 0 <= k <= MAX_REPORTING:
        raise ConfigError(f"draw {value!r}: expected 0-{MAX_REPORTING} or {TUNING!r}")
    return k


def parse_draws(text: str) -> tuple[Draw, ...]:
    """'1-5' -> (1, 2, 3, 4, 5); 't' -> ('t',); '0,2' -> (0, 2): the --draws syntax."""
    out: list[Draw] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        if "-" in part:
            a, _, b = part.partition("-")
            lo, hi = parse_draw(a), parse_draw(b)
            if TUNING in (lo, hi) or hi < lo:
                raise ConfigError(f"--draws {text!r}: a range is two numbers such as 1-5")
            out += range(lo, hi + 1)
        else:
            out.append(parse_draw(part))
    if not out or len(set(out)) != len(out):
        raise ConfigError(f"--draws {text!r}: expected distinct draws such as 1-5 or t")
    return tuple(out)


def index(draw: Draw) -> int:
    """The draw's multiplier in both strides (0 for today's, TUNING_INDEX for the tuning draw)."""
    d = parse_draw(draw)
    return TUNING_INDEX if d == TUNING else d


def dataset_seed(scenario, draw: Draw) -> int:
    return scenario.dataset_seed + DATASET_STRIDE * index(draw)


def scenario_for(scenario, draw: Draw):
    """The scenario with draw ``draw``'s dataset seed (draw 0: the scenario itself)."""
    if index(draw) == 0:
        return scenario
    return dataclasses.replace(scenario, dataset_seed=dataset_seed(scenario, draw))


def reference_seed(draw: Draw) -> int:
    """The BC reference's initialisation and minibatch seed on this draw (0 on draw 0)."""
    return index(draw)


def episode_seeds(draw: Draw, n: int) -> range:
    """The n evaluation episode seeds of a draw."""
    if not 1 <= n <= EPISODE_STRIDE:
        raise ConfigError(f"{n} evaluation episodes: expected 1-{EPISODE_STRIDE}")
    base = EPISODE_SEED_BASE + EPISODE_STRIDE * index(draw)
    return range(base, base + n)


def label(draw: Draw) -> str:
    """How tables name a draw: 'draw 3', 'tuning draw'."""
    return "tuning draw" if parse_draw(draw) == TUNING else f"draw {draw}"
