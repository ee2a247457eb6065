"""Batched evaluation against plain gymnasium rollouts; common random numbers; scoring."""

import gymnasium
import numpy as np
import pytest
import torch

from lossforge.bench.evaluator import (EvaluationError, Evaluator, normalized_score, score_runs,
                                       zoo_returns)
from lossforge.bench.policy import PolicySpec, act, init_params
from lossforge.bench.trainer import RunResult

ENV = "Hopper-v5"
SPEC = PolicySpec(obs_dim=11, act_dim=3, bins=11, hidden=(16, 16))


def policy(seed: int, sharpness: float = 40.0):
    p = init_params(SPEC, torch.Generator().manual_seed(seed))
    p["w2"] = p["w2"] * sharpness  # distinct, decisive policies
    return p


def plain_rollout(params, seed: int, max_steps: int):
    """One episode through gymnasium's own wrappers (TimeLimit included), one policy at a time."""
    env = gymnasium.make(ENV, max_episode_steps=max_steps)
    obs, _ = env.reset(seed=seed)
    total, steps, done = 0.0, 0, False
    while not done:
        a = act(params, torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))[0].numpy()
        obs, r, terminated, truncated, _ = env.step(a)
        total, steps, done = total + r, steps + 1, terminated or truncated
    env.close()
    return total, steps


@pytest.fixture(scope="module")
def evaluator():
    ev = Evaluator(ENV, episode_seeds=[11, 12, 13], max_steps=20)
    yield ev
    ev.close()


def test_batched_equals_each_policy_alone_and_plain_gymnasium(evaluator):
    pols = [policy(s) for s in range(4)]
    together = evaluator.evaluate(pols)
    assert together.returns.shape == (4, 3) and together.lengths.shape == (4, 3)
    for i, p in enumerate(pols):
        alone = evaluator.evaluate(p)  # one unstacked policy
        np.testing.assert_array_equal(alone.returns[0], together.returns[i])
        np.testing.assert_array_equal(alone.lengths[0], together.lengths[i])
        for e, seed in enumerate(evaluator.episode_seeds):
            ret, length = plain_rollout(p, seed, max_steps=20)
            assert together.lengths[i, e] == length
            assert together.returns[i, e] == pytest.approx(ret, rel=1e-9, abs=1e-9)
    # not degenerate: policies and episodes differ; some episodes fall, some hit the time limit
    assert len(np.unique(together.returns.round(6))) > 6
    assert (together.lengths == 20).any() and (together.lengths < 20).any()


def test_one_thread_acts_exactly_as_the_callers_threads(evaluator):
    """The evaluator runs its forward passes in one torch thread (faster on a shared machine);
    the actions, so the returns, are bit for bit those of the caller's two threads, and the
    caller's thread count is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pols = [policy(s) for s in range(3)]
        out = evaluator.evaluate(pols)
        assert torch.get_num_threads() == 2
        for i, p in enumerate(pols):
            for e, seed in enumerate(evaluator.episode_seeds):
                env = gymnasium.make(ENV).unwrapped
                obs, _ = env.reset(seed=seed)
                total = 0.0
                for _ in range(evaluator.max_steps):  # act() here runs in two threads
                    a = act(p, torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))[0]
                    obs, r, terminated, _, _ = env.step(a.numpy())
                    total += r
                    if terminated:
                        break
                env.close()
                assert out.returns[i, e] == total
    finally:
        torch.set_num_threads(before)


def test_same_seeds_same_returns_other_seeds_other_returns(evaluator):
    pols = [policy(s) for s in range(3)]
    a, b = evaluator.evaluate(pols), evaluator.evaluate(pols)
    np.testing.assert_array_equal(a.returns, b.returns)
    np.testing.assert_array_equal(a.lengths, b.lengths)
    other = Evaluator(ENV, episode_seeds=[21, 22, 23], max_steps=20)
    c = other.evaluate(pols)
    other.close()
    assert not np.array_equal(a.returns, c.returns)
    small = Evaluator(ENV, episode_seeds=[11, 12, 13], max_steps=20, chunk_policies=2)
    d = small.evaluate(pols)  # chunking (and a fresh env pool) changes nothing
    small.close()
    np.testing.assert_array_equal(a.returns, d.returns)


def test_normalized_score_hand_values():
    assert normalized_score(10.0, 10.0, 110.0) == pytest.approx(0.0)
    assert normalized_score(110.0, 10.0, 110.0) == pytest.approx(100.0)
    np.testing.assert_allclose(normalized_score([60.0, -40.0, 160.0], 10.0, 110.0),
                               [50.0, -50.0, 150.0])
    assert normalized_score(3000.0, -20.0, 3020.0) == pytest.approx(100 * 3020 / 3040)
    with pytest.raises(EvaluationError):
        normalized_score(1.0, 5.0, 5.0)


def test_zoo_returns_reads_zoo_json(tmp_path):
    (tmp_path / ENV).mkdir()
    (tmp_path / ENV / "zoo.json").write_text('{"random_return": -3.5, "expert_return": 3100}')
    assert zoo_returns(ENV, tmp_path) == (-3.5, 3100.0)
    with pytest.raises(EvaluationError, match="Ant-v5"):
        zoo_returns("Ant-v5", tmp_path)


def run(name, status, steps, ckpt_steps, ckpts, final):
    return RunResult(objective=name, seed=0, steps=steps, status=status, params=final,
                     checkpoint_steps=ckpt_steps, checkpoints=ckpts, loss=np.zeros(steps),
                     chosen_logp=np.zeros(steps), rejected_logp=np.zeros(steps))


def test_score_runs_final_and_area_under_curve(evaluator):
    p = [policy(s) for s in range(5)]
    ok = run("ok", "ok", 10, [5, 10], [p[0], p[1]], p[1])
    stopped = run("stopped", "nonfinite at step 7", 10, [5], [p[2]], p[3])
    odd = run("odd", "ok", 12, [5, 10], [p[4], p[0]], p[2])  # final differs from last ckpt
    scores = score_runs([ok, stopped, odd], evaluator, zoo=(0.0, 100.0))
    direct = evaluator.evaluate(p).returns.mean(1)  # mean over the shared episodes
    s_ok, s_stopped, s_odd = scores
    assert s_ok.checkpoint_steps == (5, 10)
    assert s_ok.final_return == pytest.approx(direct[1])
    assert s_ok.auc_return == pytest.approx((direct[0] + direct[1]) / 2)
    assert s_stopped.auc_return == pytest.approx((direct[2] + direct[3]) / 2)  # stays stopped
    assert s_stopped.final_return == pytest.approx(direct[3])
    assert s_odd.final_return == pytest.approx(direct[2])
    assert s_odd.auc_return == pytest.approx((direct[4] + direct[0]) / 2)
    assert s_ok.final_score == pytest.approx(direct[1])  # zoo (0, 100): score == return
    assert s_ok.returns.shape == (2, 3) and s_ok.final_lengths.shape == (3,)
