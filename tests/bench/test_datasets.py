"""Preference datasets: labels against an independent teacher reference, determinism, cache,
shared start states. Uses the in-memory synthetic zoo (uniform random + a fixed linear policy)
so no PPO training or shipped weights are needed; each build takes a second or two."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from lossforge.bench.datasets import PreferenceDataset, build_dataset
from lossforge.bench.teachers import label_pairs
from lossforge.bench.scenarios import scenario_from_dict
from lossforge.bench.zoo import synthetic_zoo

ENV = "Hopper-v5"


@pytest.fixture(scope="module")
def zoo():
    return synthetic_zoo(ENV, seed=3)


def make_scenario(**overrides):
    b = dict(train_steps=1, batch_size=1, lr=1e-3, seeds=1, eval_episodes=1, eval_every=1)
    d = dict(name="test", env_id=ENV, horizon=40, n_pairs=300,
             pair_mix=[["random", "linear", 2.0], ["linear", "linear", 1.0]],
             bt_temperature=10.0, flip_rate=0.0, reference="all", beta=0.1,
             start_policy="linear", start_steps=[0, 8], budgets=dict(quick=b, screen=b, full=b))
    d.update(overrides)
    return scenario_from_dict(d, where="<test>")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dscache")


@pytest.fixture(scope="module")
def clean(zoo, cache_dir):
    return build_dataset(make_scenario(), 0, zoo=zoo, cache_dir=cache_dir)


# -- independent references ---------------------------------------------------------------------

def binom_interval(n: int, p: float, level: float = 0.99) -> tuple[int, int]:
    """Exact central interval [lo, hi] of Binomial(n, p) holding at least ``level``."""
    pmf = [math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                    + (k * math.log(p) if k else 0.0) + ((n - k) * math.log1p(-p) if n - k else 0.0))
           for k in range(n + 1)]
    tail = (1.0 - level) / 2.0
    acc, lo = 0.0, 0
    while acc + pmf[lo] <= tail:
        acc += pmf[lo]
        lo += 1
    acc, hi = 0.0, n
    while acc + pmf[hi] <= tail:
        acc += pmf[hi]
        hi -= 1
    return lo, hi


def test_binom_interval_reference():
    # Normal approximation check of the helper itself: n=10000, p=0.3 -> 3000 +- 2.576*45.8
    lo, hi = binom_interval(10000, 0.3)
    assert abs(lo - (3000 - 118)) <= 3 and abs(hi - (3000 + 118)) <= 3


# -- contract --------------------------------------------------------------------------------------

def test_layout_and_dtypes(clean, zoo):
    ds = clean
    n, h = 300, 40
    assert isinstance(ds, PreferenceDataset)
    assert ds.obs.dtype == np.float32 and ds.obs.shape == (n, 2, h, 11)
    assert ds.actions.dtype == np.float32 and ds.actions.shape == (n, 2, h, 3)
    assert ds.lengths.dtype == np.int32 and ds.lengths.shape == (n, 2)
    assert ds.returns.dtype == np.float64 and ds.chosen.dtype == np.int8
    assert ds.sources.dtype == np.int16 and set(np.unique(ds.chosen)) <= {0, 1}
    assert np.all(ds.lengths >= 1) and np.all(ds.lengths <= h)
    low, high = zoo.policies[0].action_low, zoo.policies[0].action_high
    assert np.all(ds.actions >= low) and np.all(ds.actions <= high)
    # zero padding after the valid steps, and something non-zero inside them
    t = np.arange(h)[None, None, :]
    pad = t >= ds.lengths[..., None]
    assert np.all(ds.obs[pad] == 0) and np.all(ds.actions[pad] == 0)
    assert np.all(np.abs(ds.obs[:, :, 0]).sum(-1) > 0)
    # some segments terminate early, so the padding rule above was exercised
    assert (ds.lengths < h).any()


def test_mix_allocation_and_sides(clean):
    s = np.sort(clean.sources, axis=1)
    n_rand_lin = int(np.sum((s[:, 0] == 0) & (s[:, 1] == 1)))
    n_lin_lin = int(np.sum((s[:, 0] == 1) & (s[:, 1] == 1)))
    assert (n_rand_lin, n_lin_lin) == (200, 100)   # weights 2:1 of 300, exactly
    # which side the random level lands on is a fair coin
    k = int(np.sum(clean.sources[:, 0] == 0))
    lo, hi = binom_interval(200, 0.5)
    assert lo <= k <= hi


def test_both_segments_start_from_the_same_state(clean):
    assert np.array_equal(clean.obs[:, 0, 0], clean.obs[:, 1, 0])
    # different segments do diverge (stochastic actions) -- so the equality above is not vacuous
    assert not np.array_equal(clean.obs[:, 0, 1], clean.obs[:, 1, 1])


def test_segments_replay_from_their_recorded_start_state(clean):
    """Independent check with the simulator: put Hopper in the state recorded in obs[:, j, 0]
    (obs = qpos[1:], qvel; x does not affect the dynamics), replay the recorded actions, and
    get the recorded next observations and returns."""
    import gymnasium as gym

    env = gym.make(ENV)
    u = env.unwrapped
    env.reset(seed=0)
    checked = 0
    for i in range(40):
        for j in range(2):
            o0 = clean.obs[i, j, 0].astype(np.float64)
            if np.any(np.abs(o0[5:]) >= 10.0):   # velocity clipped in obs: state unknown
                continue
            u.set_state(np.concatenate([[0.0], o0[:5]]), o0[5:].copy())
            steps = min(5, int(clean.lengths[i, j]) - 1)
            for t in range(steps):
                o, r, term, _, _ = u.step(clean.actions[i, j, t])
                np.testing.assert_allclose(o, clean.obs[i, j, t + 1], atol=2e-3)
            checked += 1
    env.close()
    assert checked >= 40


def test_returns_are_sums_of_env_rewards(zoo, cache_dir):
    """Replay whole short segments: the summed rewards equal the stored return."""
    import gymnasium as gym

    ds = build_dataset(make_scenario(n_pairs=20, horizon=6, start_steps=[0, 0]), 1, zoo=zoo,
                       cache_dir=cache_dir)
    env = gym.make(ENV)
    u = env.unwrapped
    env.reset(seed=0)
    for i in range(len(ds)):
        for j in range(2):
            o0 = ds.obs[i, j, 0].astype(np.float64)
            u.set_state(np.concatenate([[0.0], o0[:5]]), o0[5:].copy())
            total = 0.0
            for t in range(ds.lengths[i, j]):
                _, r, term, _, _ = u.step(ds.actions[i, j, t])
                total += r
            assert total == pytest.approx(ds.returns[i, j], abs=1e-2)
            assert term == (ds.lengths[i, j] < 6)
    env.close()


# -- teacher -------------------------------------------------------------------------------------

@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_realised_flip_rate_matches_eps(zoo, cache_dir, clean, eps):
    noisy = build_dataset(make_scenario(flip_rate=eps), 0, zoo=zoo, cache_dir=cache_dir)
    # same segments (shared cache entry), labels differ exactly where a flip happened
    assert np.array_equal(noisy.returns, clean.returns)
    flips = int(np.sum(noisy.chosen != clean.chosen))
    lo, hi = binom_interval(len(clean), eps)
    assert lo <= flips <= hi, (flips, lo, hi)
    assert noisy.meta["teacher"]["realised_flip_rate"] == pytest.approx(flips / len(clean))


def test_clean_labels_agree_with_true_order_at_the_rate_the_temperature_implies(clean):
    T = 10.0
    d = clean.returns[:, 0] - clean.returns[:, 1]
    m = d != 0
    p = 1.0 / (1.0 + np.exp(-np.abs(d[m]) / T))       # P(label = true better) per pair
    true_better = np.where(d > 0, 0, 1)
    agree = int(np.sum(clean.chosen[m] == true_better[m]))
    # the model must be non-trivial here: many pairs are genuinely uncertain
    assert 0.6 < p.mean() < 0.95
    # Poisson-binomial: mean sum(p), variance sum(p(1-p)); 99 % normal interval
    mu, sd = p.sum(), math.sqrt(np.sum(p * (1 - p)))
    assert abs(agree - mu) <= 2.576 * sd + 1, (agree, mu, sd)
    assert clean.meta["teacher"]["expected_clean_agreement"] == pytest.approx(p.mean())
    assert clean.meta["teacher"]["label_true_order_agreement"] == pytest.approx(agree / m.sum())


def test_zero_temperature_is_the_argmax(zoo, cache_dir, clean):
    hard = build_dataset(make_scenario(bt_temperature=0.0), 0, zoo=zoo, cache_dir=cache_dir)
    d = hard.returns[:, 0] - hard.returns[:, 1]
    m = d != 0
    assert np.array_equal(hard.chosen[m], np.where(d[m] > 0, 0, 1).astype(np.int8))


def test_label_pairs_flip_sets_are_nested():
    """Flip decisions share one uniform per pair: a noisier variant flips a superset."""
    r = np.random.default_rng(0).normal(size=(2000, 2)) * 5
    _, clean1, f1 = label_pairs(r, 1.0, 0.1, seed=7)
    _, clean2, f3 = label_pairs(r, 1.0, 0.3, seed=7)
    assert np.array_equal(clean1, clean2)
    assert np.all(f3[f1])


def test_chosen_rejected_and_split(clean):
    oc, ac, lc, orj, arj, lr = clean.chosen_rejected()
    i = np.arange(len(clean))
    c = clean.chosen.astype(int)
    np.testing.assert_array_equal(oc, clean.obs[i, c])
    np.testing.assert_array_equal(arj, clean.actions[i, 1 - c])
    np.testing.assert_array_equal(lc, clean.lengths[i, c])
    np.testing.assert_array_equal(lr, clean.lengths[i, 1 - c])
    tr, te = clean.split(0.8, np.random.default_rng(0))
    assert (len(tr), len(te)) == (240, 60)
    rows = np.concatenate([tr.returns, te.returns])
    # a partition: every pair exactly once
    assert sorted(map(tuple, rows)) == sorted(map(tuple, clean.returns))
    tr2, _ = clean.split(0.8, np.random.default_rng(0))
    np.testing.assert_array_equal(tr.obs, tr2.obs)
    with pytest.raises(Exception):
        clean.split(1.0, np.random.default_rng(0))


# -- determinism and cache -----------------------------------------------------------------------

FIELDS = ("obs", "actions", "lengths", "returns", "chosen", "sources")


@pytest.fixture(scope="module")
def small(zoo):
    return build_dataset(make_scenario(n_pairs=80), 0, zoo=zoo, cache=False)


def test_same_seed_same_dataset_different_seed_different(zoo, small):
    sc = make_scenario(n_pairs=80)
    again = build_dataset(sc, 0, zoo=zoo, cache=False)
    assert again.meta["cache"] == "built"
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(again, f), getattr(small, f), err_msg=f)
    other = build_dataset(sc, 1, zoo=zoo, cache=False)
    assert not np.array_equal(other.obs, small.obs)
    assert not np.array_equal(other.returns, small.returns)


@pytest.mark.slow
def test_worker_processes_give_the_same_dataset(zoo, small):
    par = build_dataset(make_scenario(n_pairs=80), 0, zoo=zoo, cache=False, workers=2)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(par, f), getattr(small, f), err_msg=f)


def test_cache_round_trip_and_corruption(zoo, tmp_path):
    sc = make_scenario(n_pairs=40)
    first = build_dataset(sc, 5, zoo=zoo, cache_dir=tmp_path)
    assert first.meta["cache"] == "built"
    npz = sorted(tmp_path.glob("*.npz"))
    assert len(npz) == 1
    hit = build_dataset(sc, 5, zoo=zoo, cache_dir=tmp_path)
    assert hit.meta["cache"] == "cache hit"
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(hit, f), getattr(first, f), err_msg=f)
    # a different definition (other zoo weights) must not hit this entry
    other_zoo = synthetic_zoo(ENV, seed=4)
    miss = build_dataset(sc, 5, zoo=other_zoo, cache_dir=tmp_path)
    assert miss.meta["cache"] == "built" and len(list(tmp_path.glob("*.npz"))) == 2

    # flip one byte in the middle of the npz: detected, warned, rebuilt identically
    data = bytearray(npz[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz[0].write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupted dataset cache"):
        rebuilt = build_dataset(sc, 5, zoo=zoo, cache_dir=tmp_path)
    assert rebuilt.meta["cache"].startswith("rebuilt")
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(rebuilt, f), getattr(first, f), err_msg=f)
    # and the rebuilt entry is valid again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build_dataset(sc, 5, zoo=zoo, cache_dir=tmp_path).meta["cache"] == "cache hit"

    # truncated npz and garbage JSON sidecar are caught too
    npz[0].write_bytes(npz[0].read_bytes()[:100])
    with pytest.warns(UserWarning, match="corrupted dataset cache"):
        build_dataset(sc, 5, zoo=zoo, cache_dir=tmp_path)
    npz[0].with_suffix(".json").write_text("{not json")
    with pytest.warns(UserWarning, match="corrupted dataset cache"):
        again = build_dataset(sc, 5, zoo=zoo, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.obs, first.obs)


def test_cache_files_hold_no_pickles(zoo, tmp_path):
    build_dataset(make_scenario(n_pairs=10), 0, zoo=zoo, cache_dir=tmp_path)
    (npz,) = tmp_path.glob("*.npz")
    with np.load(npz, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_unknown_level_is_a_config_error_naming_the_field(zoo):
    from lossforge.errors import ConfigError

    with pytest.raises(ConfigError, match=r"pair_mix\[1\]\[0\].*'nope'"):
        build_dataset(make_scenario(pair_mix=[["random", "linear", 1.0], ["nope", "linear", 1.0]]),
                      0, zoo=zoo, cache=False)
    with pytest.raises(ConfigError, match="start_policy"):
        build_dataset(make_scenario(start_policy="expert"), 0, zoo=zoo, cache=False)
