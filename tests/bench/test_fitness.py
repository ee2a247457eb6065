"""The fitness entry point end to end on the quick scenario (real dataset, BC, training,
MuJoCo evaluation): determinism, common random numbers, failure isolation, CI arithmetic."""

import math
import statistics
from dataclasses import replace

import numpy as np
import pytest
import torch

from lossforge import objectives
from lossforge.bench import fitness
from lossforge.bench.datasets import build_dataset
from lossforge.bench.scenarios import load_scenario
from lossforge.workers import torch_threads


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("LOSSFORGE_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def test_quick_fitness_is_deterministic_paired_and_isolates_failures(cache):
    dpo, orpo = objectives.get("dpo"), objectives.get("orpo")
    broken = objectives.from_mirror_map("p*log(p)", link="log(D)", name="broken")  # NaN for D<0
    first = fitness.evaluate([dpo, broken, orpo], "quick", "quick")
    assert [f.name for f in first] == ["dpo", "broken", "orpo"]
    assert first[0].status == "ok" and first[2].status == "ok"
    assert first[1].status.startswith("nonfinite") and math.isnan(first[1].score)
    for f in (first[0], first[2]):
        assert np.isfinite(f.score) and -50 < f.score < 150
    # common random numbers: a candidate's fitness does not depend on who else is evaluated
    alone = fitness.evaluate([orpo], "quick", "quick")
    assert alone[0].per_seed == first[2].per_seed
    # and a repeated call (datasets and reference now from the cache) gives the same numbers
    again = fitness.evaluate([dpo], "quick", "quick")
    assert again[0].per_seed == first[0].per_seed
    # the prepared training data kept between calls is what a fresh call prepares
    fitness._PREPARED.clear()
    fresh = fitness.evaluate([dpo], "quick", "quick")
    assert fresh[0].per_seed == first[0].per_seed


def test_ci95_matches_the_t_interval_by_hand():
    x = [10.0, 12.0, 14.0]  # mean 12, sd 2, n 3: t(2) = 4.3027 -> 4.3027 * 2 / sqrt 3
    assert math.isclose(fitness.ci95_halfwidth(x), 4.302653 * 2 / math.sqrt(3), rel_tol=1e-6)
    assert math.isnan(fitness.ci95_halfwidth([1.0]))


@pytest.mark.parametrize("n", [2, 5, 31, 32, 35, 200])
def test_ci95_uses_the_exact_t_quantile_at_every_sample_size(n):
    """scipy's t.ppf is the reference; a 3-decimal table (2.776 for df 4) or 1.96 beyond 31
    values (the suite verdict's 35 units: +-0.42 for +-0.43) is off by more than 1e-9."""
    from scipy.stats import t

    x = [math.sin(i) * 3 + i / 7 for i in range(n)]
    want = t.ppf(0.975, n - 1) * statistics.stdev(x) / math.sqrt(n)
    assert math.isclose(fitness.ci95_halfwidth(x), want, rel_tol=1e-9)


def test_quick_fitness_does_not_depend_on_the_processs_thread_count(tmp_path, monkeypatch):
    # a search worker runs one torch thread, an in-process search torch's default; each builds
    # the dataset and the BC reference itself here (a fresh cache per thread count)
    dpo = objectives.get("dpo")
    scores = []
    for n in (1, 2):
        monkeypatch.setenv("LOSSFORGE_CACHE", str(tmp_path / f"cache-{n}"))
        with torch_threads(n):
            scores.append(fitness.evaluate([dpo], "quick", "quick")[0].per_seed)
    assert scores[0] == scores[1]


def test_warm_up_leaves_the_dataset_and_reference_in_the_cache(tmp_path, monkeypatch):
    # what a search runs in its own process before its workers start (rollouts in 2 processes,
    # with the progress bar on)
    monkeypatch.setenv("LOSSFORGE_CACHE", str(tmp_path))
    fitness.warm_up("quick", workers=2, progress=True)
    dataset, ref = fitness.reference_policy(load_scenario("quick"))
    assert dataset.meta["cache"] == "cache hit" and ref.from_cache
    serial = build_dataset(load_scenario("quick"), cache=False, workers=1)
    for f in ("obs", "actions", "lengths", "returns", "chosen"):
        np.testing.assert_array_equal(getattr(dataset, f), getattr(serial, f), err_msg=f)
    # what rows record of it (v2-plan.md, Session 22): the serial rebuild has the cached
    # dataset's digest; one flipped label, or a nudged reference parameter, changes a digest
    got = fitness.data_digests("quick")
    assert got["dataset_sha256"] == fitness.dataset_digest(serial)
    assert got["reference_sha256"] == fitness.params_digest(
        {k: v.clone() for k, v in ref.params.items()})
    flipped = serial.chosen.copy()
    flipped[0] = 1 - flipped[0]
    assert fitness.dataset_digest(replace(serial, chosen=flipped)) != got["dataset_sha256"]
    name = sorted(ref.params)[0]
    nudged = {**ref.params, name: torch.nextafter(ref.params[name], ref.params[name] + 1)}
    assert fitness.params_digest(nudged) != got["reference_sha256"]
