"""Population training: against a plain independent loop, across modes, with failing members."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lossforge.bench.policy import (PolicySpec, discretize, init_params, segment_logps,
                                    trainable)
from lossforge.bench.trainer import (TrainConfig, TrainingError, WorkerPool, choose_mode,
                                     minibatch_schedule, prepare, train_population)
from harness_fixtures import synthetic_dataset

SPEC = PolicySpec(obs_dim=11, act_dim=3, bins=7, hidden=(16, 16))
CFG = TrainConfig(steps=12, batch_pairs=4, lr=3e-3, eval_every=5)


# Tiny local objectives with the interface of lossforge.objectives (module level: picklable).
class DPO:
    aggregation, needs_reference, temporal = "sum", True, False

    def __init__(self, beta):
        self.beta, self.name = beta, f"dpo-{beta}"

    def __call__(self, pc, pr, rc=None, rr=None, progress=None):
        return -F.logsigmoid(self.beta * ((pc - rc) - (pr - rr)))


class ORPOish:  # reference-free, mean aggregation, NLL + log-odds term
    name, aggregation, needs_reference, temporal = "orpo", "mean", False, False

    def __call__(self, pc, pr, rc=None, rr=None, progress=None):
        assert rc is None and rr is None and progress is None
        log_odds = (pc - torch.log1p(-pc.exp())) - (pr - torch.log1p(-pr.exp()))
        return -pc - 0.5 * F.logsigmoid(log_odds)


class SFTtoDPO:  # temporally aware: imitation first, preference later
    name, aggregation, needs_reference, temporal = "ta", "sum", True, True

    def __call__(self, pc, pr, rc=None, rr=None, progress=None):
        assert progress is not None and 0.0 <= float(progress) < 1.0
        return (1 - progress) * -pc + progress * -F.logsigmoid(0.5 * ((pc - rc) - (pr - rr)))


class LongOnlySFT:  # reads the chosen segment's length: SFT on chosen segments of >= 5 steps
    name, aggregation, needs_reference, temporal, needs_lengths = "long-sft", "sum", True, False, True

    def __call__(self, pc, pr, rc=None, rr=None, progress=None, chosen_lengths=None):
        assert chosen_lengths is not None and chosen_lengths.shape == pc.shape
        return -pc * (chosen_lengths >= 5).to(pc.dtype) - 0.1 * F.logsigmoid((pc - rc) - (pr - rr))


class NaNLater:  # finite at first, then log of a negative number from step 6 on
    name, aggregation, needs_reference, temporal = "nan-later", "mean", False, True

    def __call__(self, pc, pr, rc=None, rr=None, progress=None):
        shift = torch.where(progress * CFG.steps >= 6, torch.tensor(-1.0), torch.tensor(1.0))
        return torch.log(shift + 1e-3 * torch.sigmoid(pc - pr)) - pc


class Raises:
    name, aggregation, needs_reference, temporal = "raises", "sum", False, False

    def __call__(self, pc, pr, rc=None, rr=None, progress=None):
        raise RuntimeError("broken candidate")


@pytest.fixture(scope="module")
def setup():
    ds = synthetic_dataset(n_pairs=16, horizon=9, seed=7)
    ref = init_params(SPEC, torch.Generator().manual_seed(3), obs_mean=torch.full((11,), 0.5),
                      obs_std=torch.full((11,), 2.0))
    ref["w2"] = ref["w2"] * 50  # a reference that is not uniform
    return ds, ref


def plain_loop(objective, seed, ds, ref, cfg):
    """Independent reference: padded segment_logps, torch.optim.Adam, one run, loop by loop."""
    params = {k: v.clone() for k, v in ref.items()}
    weights = {k: v.requires_grad_(True) for k, v in trainable(params).items()}
    opt = torch.optim.Adam(weights.values(), lr=cfg.lr, foreach=False)
    obs = torch.from_numpy(ds.obs)
    idx = discretize(ds.actions, ref["bin_centres"])
    lengths = torch.from_numpy(ds.lengths).long()
    chosen = torch.from_numpy(ds.chosen).long()
    with torch.no_grad():
        ref_lp = segment_logps(ref, obs, idx, lengths, objective.aggregation)
    g = torch.Generator().manual_seed(seed)  # the documented schedule: shuffled epochs
    order = torch.cat([torch.randperm(len(chosen), generator=g) for _ in range(4)])
    for step in range(cfg.steps):
        b = order[step * cfg.batch_pairs:(step + 1) * cfg.batch_pairs]
        lp = segment_logps({**params, **weights}, obs[b], idx[b], lengths[b], objective.aggregation)
        c = chosen[b]
        ar = torch.arange(len(b))
        pc, pr = lp[ar, c], lp[ar, 1 - c]
        kw = {"progress": torch.tensor(step / cfg.steps)} if objective.temporal else {}
        if getattr(objective, "needs_lengths", False):
            kw["chosen_lengths"] = lengths[b][ar, c].double()
        if objective.needs_reference:
            loss = objective(pc, pr, ref_lp[b][ar, c], ref_lp[b][ar, 1 - c], **kw).mean()
        else:
            loss = objective(pc, pr, None, None, **kw).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach() for k, v in weights.items()}


def assert_params_close(a, b, tol=2e-5):
    for k in trainable(a):
        torch.testing.assert_close(a[k], b[k], rtol=tol, atol=tol, msg=f"param {k}")


def test_schedule_depends_only_on_seed():
    a, b = minibatch_schedule(5, 16, 4, 12), minibatch_schedule(5, 16, 4, 12)
    assert torch.equal(a, b) and not torch.equal(a, minibatch_schedule(6, 16, 4, 12))
    for epoch in range(3):  # each epoch visits every pair once
        assert sorted(a.view(-1)[epoch * 16:(epoch + 1) * 16].tolist()) == list(range(16))


@pytest.mark.parametrize("objective", [DPO(0.5), ORPOish(), SFTtoDPO(), LongOnlySFT()],
                         ids=lambda o: o.name)
def test_batched_matches_independent_loop(setup, objective):
    ds, ref = setup
    results = train_population([objective, DPO(2.0)], ds, ref, seeds=[0, 1], config=CFG,
                               mode="batched")
    assert [(r.objective, r.seed) for r in results] == [
        (objective.name, 0), (objective.name, 1), ("dpo-2.0", 0), ("dpo-2.0", 1)]
    for r in results[:2]:
        assert r.ok and r.checkpoint_steps == [5, 10]
        assert_params_close(r.params, plain_loop(objective, r.seed, ds, ref, CFG))
        early = dataclasses.replace(CFG, steps=5)
        if not objective.temporal:  # progress scales with steps, so only for plain objectives
            assert_params_close(r.checkpoints[0], plain_loop(objective, r.seed, ds, ref, early))
    assert not torch.equal(results[0].params["w0"], results[1].params["w0"])  # seeds matter


def test_dpo_widens_the_margin_over_the_reference(setup):
    ds, ref = setup
    cfg = dataclasses.replace(CFG, steps=40)
    (r,) = train_population([DPO(1.0)], ds, ref, seeds=[0], config=cfg, mode="batched")
    idx = discretize(ds.actions, ref["bin_centres"])
    args = (torch.from_numpy(ds.obs), idx, torch.from_numpy(ds.lengths).long(), "sum")
    with torch.no_grad():
        margin = (segment_logps(r.params, *args) - segment_logps(ref, *args))
    c = torch.from_numpy(ds.chosen).long()
    ar = torch.arange(len(c))
    assert (margin[ar, c] - margin[ar, 1 - c]).mean() > 0.5
    assert r.loss[-5:].mean() < r.loss[0] == pytest.approx(np.log(2), abs=1e-6)


def test_batched_and_process_modes_agree(setup):
    ds, ref = setup
    other = synthetic_dataset(n_pairs=12, horizon=6, seed=8)  # a second dataset, same pool
    objectives = [DPO(0.5), ORPOish(), SFTtoDPO(), NaNLater()]
    with WorkerPool(2) as pool:
        for data in (ds, other):
            batched = train_population(objectives, data, ref, seeds=[0, 1], config=CFG,
                                       mode="batched")
            spawned = train_population(objectives, data, ref, seeds=[0, 1], config=CFG,
                                       mode="processes", pool=pool)
            assert spawned[0].meta["mode"] == "processes" and batched[0].meta["mode"] == "batched"
            for a, b in zip(batched, spawned):
                assert (a.objective, a.seed, a.status) == (b.objective, b.seed, b.status)
                assert_params_close(a.params, b.params)
                assert a.checkpoint_steps == b.checkpoint_steps
                for ca, cb in zip(a.checkpoints, b.checkpoints):
                    assert_params_close(ca, cb)
                np.testing.assert_allclose(a.loss, b.loss, rtol=1e-4, atol=1e-5)
    assert batched[0].status == "ok" and batched[-1].status.startswith("nonfinite")
    # One worker (this process, no pool) trains the same members one after another: bit for
    # bit what two spawned workers produce, so a result does not depend on the core count.
    alone = train_population(objectives, other, ref, seeds=[0, 1],
                             config=dataclasses.replace(CFG, workers=1), mode="processes")
    for a, b in zip(alone, spawned):
        assert a.status == b.status
        assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    # A member trained alone (auto mode, any worker count) is that same worker's result: a
    # loss's parameters do not depend on which other losses shared its call.
    for i, obj in enumerate(objectives):
        lone = train_population([obj], other, ref, seeds=[1], config=CFG)[0]
        twin = spawned[2 * i + 1]
        assert lone.meta["mode"] == "processes" and lone.status == twin.status
        assert all(torch.equal(lone.params[k], twin.params[k]) for k in lone.params)


def test_prepared_data_trains_exactly_as_the_raw_dataset(setup):
    ds, ref = setup
    raw = train_population([DPO(0.5), ORPOish()], ds, ref, seeds=[0, 1], config=CFG)
    data = prepare(ds, ref)
    for _ in range(2):  # reused: training leaves the prepared data as it found it
        again = train_population([DPO(0.5), ORPOish()], data, None, seeds=[0, 1], config=CFG)
        for a, b in zip(raw, again):
            assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    with pytest.raises(TrainingError, match="reference=None"):
        train_population([DPO(0.5)], data, ref, seeds=[0], config=CFG)


def test_one_worker_does_not_force_stacking():
    # realistic minibatches (12,800 rows a member-step, 1,000 steps): one member after another
    assert choose_mode(7, 12_800, 1000, workers=1) == "processes"
    assert choose_mode(7, 12_800, 1000, workers=2) == "processes"
    # tiny minibatches or tiny jobs stack; a lone member has nothing to stack with
    assert choose_mode(7, 200, 1000, workers=1) == "batched"
    assert choose_mode(2, 2_000, 10, workers=1) == "batched"
    assert choose_mode(1, 12_800, 1000, workers=2) == "processes"
    assert choose_mode(1, 200, 10, workers=2) == "processes"


def test_nonfinite_member_is_stopped_and_others_unaffected(setup):
    ds, ref = setup
    together = train_population([DPO(0.5), NaNLater(), Raises(), ORPOish()], ds, ref, seeds=[0],
                                config=CFG, mode="batched")
    dpo, nan, raises, orpo = together
    assert nan.status == "nonfinite at step 6"
    assert raises.status.startswith("error at step 0: RuntimeError: broken candidate")
    assert np.isnan(nan.loss[6:]).all() and np.isfinite(nan.loss[:6]).all()
    assert nan.checkpoint_steps == [5]  # reached step 5, stopped before step 10
    assert all(torch.isfinite(v).all() for v in nan.params.values())
    assert not torch.equal(nan.params["w0"], ref["w0"])  # it did train for 6 steps
    assert dpo.ok and orpo.ok and np.isfinite(dpo.loss).all() and np.isfinite(orpo.loss).all()
    alone = train_population([DPO(0.5), ORPOish()], ds, ref, seeds=[0], config=CFG,
                             mode="batched")
    assert_params_close(dpo.params, alone[0].params, tol=1e-6)
    assert_params_close(orpo.params, alone[1].params, tol=1e-6)


def test_objectives_are_checked_for_the_interface(setup):
    ds, ref = setup

    def bare(pc, pr, rc=None, rr=None, progress=None):
        return -pc

    with pytest.raises(TrainingError, match="lacks"):
        train_population([bare], ds, ref, seeds=[0], config=CFG)
