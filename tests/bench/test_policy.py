"""The categorical policy against explicit, loop-by-loop hand computations."""

import math

import numpy as np
import pytest
import torch

from lossforge.bench.policy import (
    PackedSegments,
    PolicyError,
    PolicySpec,
    act,
    bin_centres,
    discretize,
    init_params,
    load_policy,
    save_policy,
    segment_logps,
    segment_totals,
    stack_params,
    undiscretize,
)
from harness_fixtures import synthetic_dataset

SPEC = PolicySpec(obs_dim=4, act_dim=2, bins=5, hidden=(8, 6))


def sharp_params(seed: int):
    """Random parameters with a non-negligible output layer (init makes it near uniform)."""
    p = init_params(SPEC, torch.Generator().manual_seed(seed),
                    obs_mean=torch.tensor([0.1, -0.2, 0.3, 0.0]),
                    obs_std=torch.tensor([1.0, 2.0, 0.5, 1.5]))
    p["w2"] = p["w2"] * 300
    p["b2"] = torch.linspace(-1, 1, p["b2"].numel())
    return p


def hand_step_logp(p, o, a_idx):
    """log pi(a|s) for one state, by explicit layer-by-layer math and a loop over dims."""
    h = (o - p["obs_mean"]) / p["obs_std"]
    h = torch.clamp(h @ p["w0"].T + p["b0"], min=0)
    h = torch.clamp(h @ p["w1"].T + p["b1"], min=0)
    z = (h @ p["w2"].T + p["b2"]).reshape(SPEC.act_dim, SPEC.bins)
    total = 0.0
    for d in range(SPEC.act_dim):
        total += torch.log_softmax(z[d], dim=0)[a_idx[d]].item()
    return total


def test_segment_logps_matches_hand_computation():
    p = sharp_params(0)
    g = torch.Generator().manual_seed(1)
    n, horizon = 3, 6
    obs = torch.randn(n, horizon, SPEC.obs_dim, generator=g)
    idx = torch.randint(0, SPEC.bins, (n, horizon, SPEC.act_dim), generator=g)
    lengths = torch.tensor([6, 1, 4])
    got_sum = segment_logps(p, obs, idx, lengths, "sum")
    got_mean = segment_logps(p, obs, idx, lengths, "mean")
    for i in range(n):
        steps = [hand_step_logp(p, obs[i, t], idx[i, t]) for t in range(int(lengths[i]))]
        assert got_sum[i].item() == pytest.approx(sum(steps), rel=1e-5, abs=1e-5)
        assert got_mean[i].item() == pytest.approx(sum(steps) / len(steps), rel=1e-5, abs=1e-5)


def test_padding_steps_do_not_count():
    p = sharp_params(1)
    g = torch.Generator().manual_seed(2)
    obs = torch.randn(2, 5, SPEC.obs_dim, generator=g)
    idx = torch.randint(0, SPEC.bins, (2, 5, SPEC.act_dim), generator=g)
    lengths = torch.tensor([3, 2])
    before = segment_logps(p, obs, idx, lengths, "sum")
    obs[:, 3:] = 1e3 * torch.randn(2, 2, SPEC.obs_dim, generator=g)
    idx[:, 3:] = 0
    obs[1, 2:] = 7.0
    assert torch.equal(segment_logps(p, obs, idx, lengths, "sum"), before)


def test_mean_aggregation_is_a_log_probability():
    p = sharp_params(2)
    g = torch.Generator().manual_seed(3)
    obs = 3 * torch.randn(50, 7, SPEC.obs_dim, generator=g)
    idx = torch.randint(0, SPEC.bins, (50, 7, SPEC.act_dim), generator=g)
    lengths = torch.randint(1, 8, (50,), generator=g)
    lm = segment_logps(p, obs, idx, lengths, "mean")
    ls = segment_logps(p, obs, idx, lengths, "sum")
    assert bool((lm <= 0).all()) and bool(torch.isfinite(lm).all())
    prob = lm.exp()
    assert bool((prob > 0).all()) and bool((prob <= 1).all())
    torch.testing.assert_close(lm * lengths, ls)
    # the most likely actions have the largest per-step log-prob; it is a real maximum
    best = torch.log_softmax(torch.zeros(SPEC.bins), 0)  # uniform reference value
    assert lm.max().item() > best[0].item() * SPEC.act_dim  # sharper than uniform somewhere


def test_bad_lengths_are_rejected():
    p = sharp_params(0)
    obs, idx = torch.zeros(2, 3, SPEC.obs_dim), torch.zeros(2, 3, SPEC.act_dim, dtype=torch.long)
    with pytest.raises(PolicyError):
        segment_logps(p, obs, idx, torch.tensor([0, 3]))
    with pytest.raises(PolicyError):
        segment_logps(p, obs, idx, torch.tensor([1, 4]))


def test_discretize_is_nearest_bin_centre():
    centres = bin_centres(-1.0, 1.0, 21, 3)
    torch.testing.assert_close(centres[0], torch.arange(-10, 11) / 10.0, rtol=0, atol=1e-6)
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1000, 3, generator=g) * 2.4 - 1.2  # some outside the box
    got = discretize(a, centres)
    brute = (a.unsqueeze(-1) - centres).abs().argmin(-1)  # nearest centre, by brute force
    assert torch.equal(got, brute)
    assert torch.equal(undiscretize(discretize(centres.T, centres), centres), centres.T)


def test_stacked_population_equals_members_alone():
    members = [sharp_params(s) for s in range(3)]
    stacked = stack_params(members)
    g = torch.Generator().manual_seed(4)
    obs = torch.randn(3, 4, 5, SPEC.obs_dim, generator=g)
    idx = torch.randint(0, SPEC.bins, (3, 4, 5, SPEC.act_dim), generator=g)
    lengths = torch.randint(1, 6, (3, 4), generator=g)
    together = segment_logps(stacked, obs, idx, lengths, "sum")
    for m in range(3):
        alone = segment_logps(members[m], obs[m], idx[m], lengths[m], "sum")
        torch.testing.assert_close(together[m], alone, rtol=1e-5, atol=1e-5)


def test_packed_segments_match_padded_segment_logps():
    ds = synthetic_dataset(n_pairs=9, horizon=7, obs_dim=4, act_dim=2, seed=5)
    p = sharp_params(3)
    packed = PackedSegments.from_arrays(ds.obs, ds.actions, ds.lengths, p["bin_centres"])
    assert len(packed.obs) == int(ds.lengths.sum())
    pairs = torch.tensor([4, 0, 8])
    rows, seg_id, _ = packed.rows(pairs)
    totals = segment_totals(p, packed.obs[rows], packed.act_idx[rows].long(), seg_id, 6)
    idx = discretize(ds.actions, p["bin_centres"])
    padded = segment_logps(p, torch.from_numpy(ds.obs), idx, torch.from_numpy(ds.lengths), "sum")
    torch.testing.assert_close(totals.view(3, 2), padded[pairs], rtol=1e-5, atol=1e-5)
    side = torch.tensor([1, 0, 1])
    rows, seg_id, _ = packed.rows(pairs, side)
    one = segment_totals(p, packed.obs[rows], packed.act_idx[rows].long(), seg_id, 3)
    torch.testing.assert_close(one, padded[pairs, side], rtol=1e-5, atol=1e-5)


def test_act_is_centre_of_most_likely_bin():
    p = sharp_params(4)
    obs = torch.randn(10, SPEC.obs_dim, generator=torch.Generator().manual_seed(6))
    got = act(p, obs)
    for i in range(10):
        h = torch.clamp(((obs[i] - p["obs_mean"]) / p["obs_std"]) @ p["w0"].T + p["b0"], min=0)
        h = torch.clamp(h @ p["w1"].T + p["b1"], min=0)
        z = (h @ p["w2"].T + p["b2"]).reshape(SPEC.act_dim, SPEC.bins)
        for d in range(SPEC.act_dim):
            assert got[i, d].item() == pytest.approx(-1 + 2 * int(z[d].argmax()) / (SPEC.bins - 1))


def test_save_load_round_trip(tmp_path):
    p = sharp_params(5)
    save_policy(tmp_path / "pol.safetensors", p, {"spec": SPEC.to_json()})
    q, meta = load_policy(tmp_path / "pol.safetensors")
    assert set(q) == set(p) and all(torch.equal(p[k], q[k]) for k in p)
    assert PolicySpec.from_json(meta["spec"]) == SPEC
    assert not any(f.name.endswith(".tmp") for f in tmp_path.iterdir())


def test_uniform_init_has_nll_log_k_per_dim():
    p = init_params(SPEC, torch.Generator().manual_seed(0))
    obs = torch.randn(1, 3, SPEC.obs_dim)
    idx = torch.zeros(1, 3, SPEC.act_dim, dtype=torch.long)
    lm = segment_logps(p, obs, idx, torch.tensor([3]), "mean")
    assert lm.item() == pytest.approx(-SPEC.act_dim * math.log(SPEC.bins), abs=0.05)
    assert np.isfinite(lm.item())
