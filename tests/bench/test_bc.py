"""Behaviour cloning: it learns, its recipes read what they should, and its cache round-trips."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from lossforge.bench.bc import BCConfig, BCError, reference_key, policy_spec, train_bc
from lossforge.bench.policy import discretize, init_params, segment_logps
from lossforge.workers import torch_threads
from harness_fixtures import synthetic_dataset

CFG = BCConfig(steps=60, batch_segments=16, lr=3e-3, hidden=(32, 32), bins=11)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSFORGE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def full_nll(params, ds, which="all"):
    """Mean NLL per valid step over the dataset, via the padded segment_logps path."""
    idx = discretize(ds.actions, params["bin_centres"])
    obs, lengths = torch.from_numpy(ds.obs), torch.from_numpy(ds.lengths).long()
    with torch.no_grad():
        total = segment_logps(params, obs, idx, lengths, "sum")  # [N, 2]
    if which == "chosen":
        c = torch.from_numpy(ds.chosen).long().unsqueeze(1)
        return -(total.gather(1, c).sum() / lengths.gather(1, c).sum()).item()
    return -(total.sum() / lengths.sum()).item()


def test_bc_reduces_nll_below_uniform():
    ds = synthetic_dataset(n_pairs=40, horizon=10, seed=1)
    res = train_bc(ds, CFG)
    spec = policy_spec(ds, CFG)
    start = init_params(spec, torch.Generator().manual_seed(CFG.seed))
    uniform = spec.act_dim * math.log(spec.bins)
    assert full_nll(start, ds) == pytest.approx(uniform, abs=0.05)
    assert full_nll(res.params, ds) < uniform - 1.0  # actions depend on states: learnable
    assert res.nll[-5:].mean() < res.nll[:5].mean() - 1.0
    assert not res.from_cache


def test_cache_round_trip_and_atomic_files(private_cache):
    ds = synthetic_dataset(n_pairs=20, horizon=8, seed=2)
    first = train_bc(ds, CFG)
    files = sorted(p.name for p in (private_cache / "bc").iterdir())
    assert files == [f"{first.key}.json", f"{first.key}.safetensors"]  # no temp files left
    second = train_bc(ds, CFG)
    assert second.from_cache and second.key == first.key
    assert all(torch.equal(first.params[k], second.params[k]) for k in first.params)
    np.testing.assert_array_equal(first.nll, second.nll)
    third = train_bc(ds, dataclasses.replace(CFG, seed=1))  # another config, another entry
    assert not third.from_cache and third.key != first.key


def test_clone_does_not_depend_on_the_callers_thread_count():
    # at these sizes one and two threads give different floats unless BC fixes its own count
    ds = synthetic_dataset(n_pairs=64, horizon=30, seed=1)
    cfg = BCConfig(steps=20, batch_segments=64, hidden=(128, 128), bins=11)
    clones = []
    for n in (1, 2, 3):
        with torch_threads(n):
            clones.append(train_bc(ds, cfg, cache=False).params)
            assert torch.get_num_threads() == n  # the caller's setting is restored
    for other in clones[1:]:
        assert all(torch.equal(clones[0][k], other[k]) for k in clones[0])


def test_recipe_all_ignores_labels_recipe_chosen_reads_them():
    ds = synthetic_dataset(n_pairs=20, horizon=8, seed=3)
    flipped = dataclasses.replace(ds, chosen=(1 - ds.chosen).astype(np.int8))
    spec = policy_spec(ds, CFG)
    assert reference_key(ds, CFG, spec) == reference_key(flipped, CFG, spec)
    chosen = dataclasses.replace(CFG, recipe="chosen")
    assert reference_key(ds, chosen, spec) != reference_key(flipped, chosen, spec)

    a = train_bc(ds, CFG)
    b = train_bc(flipped, CFG)  # a noisy variant shares the clean reference: a cache hit
    assert b.from_cache and all(torch.equal(a.params[k], b.params[k]) for k in a.params)

    on_chosen = train_bc(ds, dataclasses.replace(chosen, steps=150))
    on_rejected = train_bc(flipped, dataclasses.replace(chosen, steps=150))
    # each clone fits the segments it was trained on better than the other side's
    assert full_nll(on_chosen.params, ds, "chosen") < full_nll(on_rejected.params, ds, "chosen")
    assert full_nll(on_rejected.params, flipped, "chosen") < full_nll(on_chosen.params, flipped,
                                                                       "chosen")


def test_corrupted_cache_entry_is_reported(private_cache):
    ds = synthetic_dataset(n_pairs=10, horizon=5, seed=4)
    res = train_bc(ds, CFG)
    (private_cache / "bc" / f"{res.key}.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(BCError, match=res.key):
        train_bc(ds, CFG)
