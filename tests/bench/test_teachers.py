"""B-Pref-style teachers against hand-computed labels, and the soft-label (tie) loss against a
direct computation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lossforge import objectives
from lossforge.bench.datasets import build_dataset
from lossforge.bench.teachers import apply_teacher, discounted_returns, label_pairs
from lossforge.bench.scenarios import scenario_from_dict
from lossforge.bench.trainer import (TrainConfig, minibatch_schedule, prepare, soft_label_loss,
                                     train_population)
from lossforge.errors import ConfigError

from test_length_control import padded, padded_scenario, cache_dir, reference  # noqa: F401


def test_myopic_weighs_recent_steps_by_hand():
    # H = 3, gamma = 0.5: weights (0.25, 0.5, 1) on steps (0, 1, 2)
    rewards = np.array([[[4.0, 0.0, 0.0], [0.0, 0.0, 2.0]],
                        [[1.0, 1.0, 1.0], [0.0, 3.0, 0.0]]])
    np.testing.assert_allclose(discounted_returns(rewards, 0.5), [[1.0, 2.0], [1.75, 1.5]])
    returns = rewards.sum(-1)  # [[4, 2], [3, 3]]
    chosen, *_ = apply_teacher(returns, rewards, "myopic", 0.0, 0.0, seed=0, gamma=0.5)
    # the plain argmax teacher prefers segment 0 of pair 0 (4 > 2); the myopic one segment 1
    # (1.0 < 2.0); pair 1 is a tie in return but not for the myopic teacher (1.75 > 1.5)
    assert chosen.tolist() == [1, 0]
    assert label_pairs(returns, 0.0, 0.0, 0)[0][0] == 0


def test_skip_and_equal_by_hand():
    returns = np.array([[10.0, 0.0], [5.0, 4.0], [0.0, 30.0], [7.0, 8.9]])
    bt = label_pairs(returns, 1.0, 0.0, 3)[0]
    c, _, _, prob, keep = apply_teacher(returns, None, "skip", 1.0, 0.0, 3, threshold=2.0)
    assert keep.tolist() == [True, False, True, False] and prob.tolist() == [1, 1, 1, 1]
    assert np.array_equal(c, bt)  # labels of kept pairs are the BT labels: same stream
    c, _, _, prob, keep = apply_teacher(returns, None, "equal", 1.0, 0.0, 3, threshold=2.0)
    assert keep.all() and prob.tolist() == [1.0, 0.5, 1.0, 0.5] and np.array_equal(c, bt)


def test_flip_rate_at_T0_is_bpref_mistake():
    """B-Pref's mistake teacher: the argmax label, flipped with probability eps. flip_rate with
    bt_temperature = 0 is exactly that: flipped pairs are the argmax's opposite, the rest equal."""
    rng = np.random.default_rng(5)
    returns = rng.normal(size=(4000, 2))
    argmax = np.where(returns[:, 0] > returns[:, 1], 0, 1)
    chosen, clean, flipped, _, _ = apply_teacher(returns, None, "bt", 0.0, 0.2, seed=1)
    assert np.array_equal(clean, argmax)
    assert np.array_equal(chosen, np.where(flipped, 1 - argmax, argmax))
    assert abs(flipped.mean() - 0.2) < 4 * np.sqrt(0.2 * 0.8 / 4000)


def test_teacher_fields_are_strict():
    base = dict(name="t", env_id="Hopper-v5", horizon=10, n_pairs=4, pair_mix=[["a", "b", 1.0]],
                bt_temperature=1.0, flip_rate=0.0, reference="all", beta=0.1,
                budgets={b: dict(train_steps=1, batch_size=1, lr=1e-3, seeds=1,
                                 eval_episodes=1, eval_every=1)
                         for b in ("quick", "screen", "full")})
    with pytest.raises(ConfigError, match="'teacher_gamma': required"):
        scenario_from_dict({**base, "teacher": "myopic"})
    with pytest.raises(ConfigError, match="'teacher_threshold': only used"):
        scenario_from_dict({**base, "teacher_threshold": 3.0})
    with pytest.raises(ConfigError, match="'teacher': 'boltzmann' is not one of"):
        scenario_from_dict({**base, "teacher": "boltzmann"})
    with pytest.raises(ConfigError, match="'absorbing_logp': only used"):
        scenario_from_dict({**base, "absorbing_logp": "segment-mean"})
    sc = scenario_from_dict({**base, "teacher": "equal", "teacher_threshold": 3.0,
                             "length_control": "absorbing"})
    assert scenario_from_dict(sc.to_dict()) == sc


def test_teachers_share_the_cached_build(padded, cache_dir):  # noqa: F811
    """Per-step rewards are cached for v2 scenarios; every teacher derives labels from the
    same cached segments, with no new rollout."""
    rewards_sum = discounted_returns(_cached_rewards(padded, cache_dir), 1.0)
    np.testing.assert_allclose(rewards_sum, padded.returns, rtol=1e-9, atol=1e-9)
    thr = float(np.quantile(np.abs(padded.returns[:, 0] - padded.returns[:, 1]), 0.3))
    skip = build_dataset(padded_scenario(teacher="skip", teacher_threshold=thr),
                         cache_dir=cache_dir)
    equal = build_dataset(padded_scenario(teacher="equal", teacher_threshold=thr),
                          cache_dir=cache_dir)
    myopic = build_dataset(padded_scenario(teacher="myopic", teacher_gamma=0.9),
                           cache_dir=cache_dir)
    assert {skip.meta["cache"], equal.meta["cache"], myopic.meta["cache"]} == {"cache hit"}
    near = np.abs(padded.returns[:, 0] - padded.returns[:, 1]) < thr
    assert len(skip) == int((~near).sum()) and np.array_equal(skip.chosen, padded.chosen[~near])
    assert np.array_equal(equal.label_prob, np.where(near, 0.5, 1.0).astype(np.float32))


def _cached_rewards(ds, cache_dir):
    with np.load(ds.meta["cache_file"], allow_pickle=False) as z:
        return z["rewards"]


# -- soft labels --------------------------------------------------------------------------------

def test_soft_label_loss_is_the_symmetrised_loss():
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (-torch.rand(6, generator=g) * 50 for _ in range(4))
    y = torch.tensor([1.0, 0.5, 1.0, 0.5, 0.5, 1.0])
    for obj in (objectives.Objective(objectives.get_spec("dpo", beta=0.3)),
                objectives.Objective(objectives.get_spec("orpo"))):
        kw = dict(zip(("rc", "rr"), (rc, rr))) if obj.needs_reference else {}
        a = obj(pc, pr, kw.get("rc"), kw.get("rr"))
        b = obj(pr, pc, kw.get("rr"), kw.get("rc"))
        got = soft_label_loss(obj, a, y, pc, pr, kw.get("rc"), kw.get("rr"), {}, None,
                              torch.zeros(6, 1, dtype=torch.long))
        want = torch.where(y < 1, 0.5 * (a + b), a)
        torch.testing.assert_close(got, want)


def test_trainer_uses_the_symmetrised_loss_for_ties(padded):  # noqa: F811
    """At step 0 the policy is the reference: ORPO's loss on a dataset of ties is the mean of
    0.5 L(c, r) + 0.5 L(r, c) on the reference's log-probs of the minibatch."""
    ref = reference(padded, uniform=False)
    obj = objectives.Objective(objectives.get_spec("orpo"))
    ties = dataclasses.replace(padded, label_prob=np.full(len(padded), 0.5, np.float32))
    res = train_population([obj], ties, ref, seeds=[0],
                           config=TrainConfig(steps=1, batch_pairs=16, workers=1, eval_every=1))
    data = prepare(padded, ref)
    pairs = minibatch_schedule(0, len(padded), 16, 1)[0]
    lp = data.ref_logps[obj.aggregation][pairs]
    c = data.chosen[pairs]
    lc, lr = lp[torch.arange(16), c], lp[torch.arange(16), 1 - c]
    want = (0.5 * (obj(lc, lr, None, None) + obj(lr, lc, None, None))).mean()
    assert res[0].ok
    assert res[0].loss[0] == pytest.approx(float(want), rel=1e-5)
    hard = train_population([obj], padded, ref, seeds=[0],
                            config=TrainConfig(steps=1, batch_pairs=16, workers=1, eval_every=1))
    assert hard[0].loss[0] == pytest.approx(float(obj(lc, lr, None, None).mean()), rel=1e-5)
    assert hard[0].loss[0] != pytest.approx(res[0].loss[0], rel=1e-3)
