"""The probe fitness scores losses whose imitation term reads the chosen length n."""

from __future__ import annotations

import math

import pytest

from lossforge.objectives import MPOSpec, Objective
from lossforge.search import probe_fitness


def _obj(imitation: str | None) -> Objective:
    return Objective(MPOSpec(name=f"dpo+{imitation}", mirror_map="p*log(p)", beta=0.1,
                             imitation=imitation))


@pytest.mark.parametrize("budget", ["screen", "full"])
def test_length_aware_imitation_is_scored_and_reads_n(budget):
    # the search's imitation slot makes such terms (grammars/imitation.toml); before, the probe
    # never passed chosen_lengths and the objective raised "uses n: pass chosen_lengths"
    gated, never, always, dpo, sft = probe_fitness.evaluate(
        [_obj("-sigmoid(n - 100)*l"), _obj("-sigmoid(n - 1000)*l"), _obj("-sigmoid(n)*l"),
         _obj(None), _obj("-l")], budget=budget)
    for f in (gated, never, always, dpo, sft):
        assert f.status == "ok" and math.isfinite(f.score), f
    # closed forms: n <= 200, so sigmoid(n - 1000) < e^-800 (the term vanishes: DPO), and
    # n >= 20, so sigmoid(n) > 1 - e^-20 (the term is SFT's -l)
    assert never.score == pytest.approx(dpo.score, abs=1e-9)
    assert always.score == pytest.approx(sft.score, abs=1e-6)
    # a threshold inside the range of lengths gives a third loss, between the two
    assert gated.score not in (pytest.approx(dpo.score), pytest.approx(sft.score))


def test_lengths_follow_the_labels():
    _, _, flipped, n = probe_fitness._batch()
    assert bool((n[flipped] >= 20).all() and (n[flipped] <= 120).all())
    assert bool((n[~flipped] >= 50).all() and (n[~flipped] <= 200).all())
    assert n[~flipped].mean() > n[flipped].mean() + 30


def test_the_probes_interval_is_the_benchmarks_t_interval_and_none_for_one_seed():
    """As the benchmark's fitness (and the fitness interface): ci95 is t(0.975, n-1) s/sqrt(n)
    over the seeds (t(0.975, 2) = 4.303 for the full budget's three), NaN for one seed."""
    import math
    import statistics

    from lossforge import objectives
    from lossforge.search import probe_fitness

    [full] = probe_fitness.evaluate([objectives.get("dpo")], None, "full")
    assert len(full.per_seed) == 3
    sd = statistics.stdev(full.per_seed)
    assert full.ci95 == pytest.approx(4.302653 * sd / math.sqrt(3), rel=1e-6)
    [one] = probe_fitness.evaluate([objectives.get("dpo")], None, "screen")
    assert len(one.per_seed) == 1 and math.isnan(one.ci95)
