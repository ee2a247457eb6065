"""Length control (benchmark v2): padded segments hide their length from the loss.

One small real Hopper build (48 pairs, H = 100, q05 vs q25 from the shipped zoo, about 2-3 s):
q05 falls within the segment about half the time, so under v1 rules the longer segment is the
chosen one in nearly every pair."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lossforge.bench.datasets import build_dataset
from lossforge.bench.lengths import predictor_accuracy
from lossforge.bench.policy import PolicySpec, discretize, init_params, segment_logps, step_logps
from lossforge.bench.scenarios import PairMix, load_scenario
from lossforge.bench.trainer import TrainConfig, minibatch_schedule, prepare, train_population

H = 100


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("lencache")


def padded_scenario(**overrides):
    sc = load_scenario("quick")
    return dataclasses.replace(sc, name="padded-test", horizon=H, n_pairs=48,
                               pair_mix=(PairMix("q05", "q25", 1.0),),
                               length_control="absorbing", **overrides)


@pytest.fixture(scope="module")
def padded(cache_dir):
    return build_dataset(padded_scenario(), cache_dir=cache_dir)


def v1_view(ds):
    return dataclasses.replace(ds, length_control="none")


def reference(ds, uniform: bool) -> dict:
    """A policy for the dataset; ``uniform``: every bin equally likely, so every step has the
    same log-prob -D log K and a segment's log-prob can only tell its step count; else a sharp
    random policy (log-probs vary from step to step)."""
    spec = PolicySpec(obs_dim=ds.obs_dim, act_dim=ds.act_dim)
    params = init_params(spec, torch.Generator().manual_seed(0))
    last = max(int(k[1:]) for k in params if k.startswith("w"))
    params[f"w{last}"].mul_(0.0 if uniform else 100.0)
    return params


def test_padded_dataset_is_the_v1_dataset_with_a_flag(padded, cache_dir):
    """Same segments and labels as length_control = "none"; only what the loss sees differs."""
    v1 = build_dataset(dataclasses.replace(padded_scenario(), length_control="none"),
                       cache_dir=cache_dir)
    for a in ("obs", "actions", "lengths", "returns", "chosen", "sources"):
        assert np.array_equal(getattr(v1, a), getattr(padded, a)), a
    assert padded.length_control == "absorbing" and v1.length_control == "none"
    assert (padded.lengths < H).mean() > 0.3  # the test means something: many falls


def test_length_predictor_drops_to_chance(padded):
    ref = reference(padded, uniform=True)
    v1, v2 = prepare(v1_view(padded), ref), prepare(padded, ref)
    # before: the length the loss sees, and |l_ref| summed over it, give the label away
    assert predictor_accuracy(v1.segments.lengths.numpy(), padded.chosen) > 0.9
    assert predictor_accuracy(-v1.ref_logps["sum"].numpy(), padded.chosen) > 0.9
    # padded: n = H for every segment; with a reference that says nothing per step, the
    # padded log-prob is H * (-D log K) for every segment: no information beyond float32
    # rounding (a sum of n equal terms plus (H - n) of them differs from H of them by ~1e-4)
    assert torch.equal(v2.view.seen_lengths, torch.full((len(padded), 2), float(H)))
    assert predictor_accuracy(v2.view.seen_lengths.numpy(), padded.chosen) == 0.5
    for agg in ("sum", "mean"):
        lref = v2.ref_logps[agg].numpy()
        np.testing.assert_allclose(lref, lref[0, 0], rtol=1e-5)
        assert predictor_accuracy(np.round(lref, 2), padded.chosen) == 0.5
    # the valid length itself still predicts the label: it is hidden, not gone
    assert predictor_accuracy(padded.lengths, padded.chosen) > 0.9


@pytest.mark.parametrize("mode", ["reference-mean", "segment-mean"])
def test_padded_log_probs_against_the_padded_arrays(padded, mode):
    """The view's reference log-probs, recomputed from the [N, 2, H] arrays with a mask."""
    ref = reference(padded, uniform=False)
    data = prepare(dataclasses.replace(padded, absorbing_logp=mode), ref)
    obs = torch.as_tensor(padded.obs)
    act = discretize(padded.actions, ref["bin_centres"])
    n = torch.as_tensor(padded.lengths, dtype=torch.long)
    with torch.no_grad():
        valid_sum = segment_logps(ref, obs, act, n, "sum").double()
        lp = step_logps(ref, obs, act).double()  # [N, 2, H]
    mask = torch.arange(H) < n.unsqueeze(-1)
    c = lp[mask].mean()  # the reference's mean per-step log-prob on valid steps
    if mode == "reference-mean":
        want_sum = valid_sum + (H - n) * c
    else:
        want_sum = valid_sum * H / n
    torch.testing.assert_close(data.ref_logps["sum"].double(), want_sum, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(data.ref_logps["mean"].double(), want_sum / H, rtol=1e-5,
                               atol=1e-5)


class _Recorder:
    """A loss reading n that records what the trainer passes it."""
    name, aggregation, needs_reference, temporal, needs_lengths = "rec", "sum", True, False, True
    seen: list = []

    def __call__(self, pc, pr, rc, rr, chosen_lengths=None):
        self.seen.append((chosen_lengths.clone(), (pc - rc).detach().clone(),
                          (pr - rr).detach().clone()))
        return -(pc - pr) * 0.0 + (pc - rc) ** 2 + (pr - rr) ** 2


def test_trainer_gives_losses_n_equal_H(padded):
    _Recorder.seen.clear()
    ref = reference(padded, uniform=False)
    res = train_population([_Recorder()], padded, ref, seeds=[0],
                           config=TrainConfig(steps=2, batch_pairs=8, workers=1, eval_every=2))
    assert res[0].ok
    n, dc, dr = _Recorder.seen[0]
    assert torch.equal(n, torch.full((8,), float(H)))
    # step 0: the policy is the reference, so the padded policy and reference log-probs agree
    assert float(dc.abs().max()) < 1e-3 and float(dr.abs().max()) < 1e-3
    # the v1 view passes the chosen segments' valid lengths (labels reversed here: every chosen
    # segment of this dataset is a full one)
    _Recorder.seen.clear()
    reversed_v1 = dataclasses.replace(v1_view(padded), chosen=1 - padded.chosen)
    train_population([_Recorder()], reversed_v1, ref, seeds=[0],
                     config=TrainConfig(steps=1, batch_pairs=48, workers=1, eval_every=1))
    pairs = minibatch_schedule(0, len(padded), 48, 1)[0].numpy()
    want = padded.lengths[pairs, 1 - padded.chosen[pairs]]
    assert np.array_equal(_Recorder.seen[0][0].numpy(), want) and want.min() < H


def test_length_filtered_sft_is_sft_on_padded_data(padded):
    """Why the v2 tables carry one tuned SFT row for both shortcuts (v2-plan.md, session 16):
    on a length-controlled dataset every segment is seen as H long, so length_sft's filter
    (n_w >= c, c = 3/4 H) passes every pair and its loss, -l_w summed, is H times sft's (-l_w
    averaged). Adam is invariant to that constant factor, so the two train the same policy up to
    Adam's epsilon (set near zero here to see the identity; at 1e-8 it only touches weights
    whose gradients are ~1e-8); where the loss sees valid lengths (v1) they differ."""
    from lossforge.bench.losses import build_objectives

    ref = reference(padded, uniform=False)
    cfg = TrainConfig(steps=6, batch_pairs=16, workers=1, eval_every=6, adam_eps=1e-30)
    scen = padded_scenario()
    lsft, sft = build_objectives("length_sft,sft", scen)
    a, b = train_population([lsft, sft], padded, ref, seeds=[0], config=cfg)
    assert a.ok and b.ok
    for k in ("w0", "b0", "w1", "b1"):
        torch.testing.assert_close(a.params[k], b.params[k], rtol=1e-4, atol=1e-6)
    moved = float((b.params["w0"] - ref["w0"]).abs().max())
    assert moved > 1e-3   # they trained: the equality is not two unchanged policies
    # v1 view with the labels reversed (here every chosen segment is a full one, so the filter
    # would pass them all): chosen segments that fell are shorter than c, and the two differ
    reversed_v1 = dataclasses.replace(v1_view(padded), chosen=1 - padded.chosen)
    c, d = train_population([lsft, sft], reversed_v1, ref, seeds=[0], config=cfg)
    assert float((c.params["w0"] - d.params["w0"]).abs().max()) > 1e-3
