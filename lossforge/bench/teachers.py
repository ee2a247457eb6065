"""The judge of a preference pair: Bradley-Terry teachers on segment returns and their
B-Pref-style variants (myopic, skip, equal, mistake), as functions of returns and a seed.

Labels draw from their own stream (``SeedSequence(seed, spawn_key=(LABEL_STREAM,))``), which
depends neither on the temperature nor on the flip rate: the noisy variants of a scenario are
its clean labels with flips on a nested set of pairs, on the same segments. Labels take
milliseconds, so dataset caches hold segments only (lossforge/bench/datasets.py).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lossforge.bench.scenarios import BUDGET_NAMES
from lossforge.errors import ConfigError

LABEL_STREAM = 0x1ABE1      # spawn key of the labelling stream (independent of T and eps)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def teacher_probability(returns: np.ndarray, temperature: float) -> np.ndarray:
    """P(segment 0 preferred) under the Bradley-Terry teacher (T = 0: hard argmax, ties 1/2)."""
    d = returns[:, 0] - returns[:, 1]
    if temperature == 0.0:
        return np.where(d > 0, 1.0, np.where(d < 0, 0.0, 0.5))
    return _sigmoid(d / temperature)


def label_pairs(returns: np.ndarray, temperature: float, flip_rate: float, seed: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chosen int8, clean_chosen int8, flipped bool). One uniform per pair decides the BT draw
    and another the flip, both from a stream that depends on the seed only."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(LABEL_STREAM,)))
    n = returns.shape[0]
    u_bt, u_flip = rng.random(n), rng.random(n)
    p0 = teacher_probability(returns, temperature)
    clean = np.where(u_bt < p0, 0, 1).astype(np.int8)
    flipped = u_flip < flip_rate
    chosen = (clean ^ flipped.astype(np.int8)).astype(np.int8)
    return chosen, clean, flipped


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """B-Pref's myopic teacher: ``sum_t gamma^(H-1-t) r_t`` over the H-step window (recent steps
    weigh most; steps after a termination are absorbing and earn 0). rewards [N, 2, H]."""
    h = rewards.shape[-1]
    weights = gamma ** np.arange(h - 1, -1, -1, dtype=np.float64)
    return rewards.astype(np.float64) @ weights


def apply_teacher(returns: np.ndarray, rewards: np.ndarray | None, teacher: str,
                  temperature: float, flip_rate: float, seed: int, gamma: float = 1.0,
                  threshold: float = 0.0):
    """Label the pairs with one of the scenario teachers.

    Returns (chosen, clean, flipped, label_prob, keep): the first three as ``label_pairs`` on
    the teacher's values (discounted returns for "myopic", returns otherwise); ``label_prob``
    float32 [N] is 1, or 0.5 where "equal" calls a near-tie (|R0 - R1| < threshold); ``keep``
    bool [N] is False where "skip" drops one. Labels are drawn for every pair from the same
    stream, so the teachers differ only where they say they do.
    """
    if teacher == "myopic":
        if rewards is None:
            raise ConfigError("teacher 'myopic' needs per-step rewards in the segments cache")
        values = discounted_returns(rewards, gamma)
    elif teacher in ("bt", "skip", "equal"):
        values = returns
    else:
        raise ConfigError(f"teacher {teacher!r}: expected bt, myopic, skip or equal")
    chosen, clean, flipped = label_pairs(values, temperature, flip_rate, seed)
    near_tie = np.abs(returns[:, 0] - returns[:, 1]) < threshold
    label_prob = np.where(near_tie & (teacher == "equal"), 0.5, 1.0).astype(np.float32)
    keep = ~(near_tie & (teacher == "skip"))
    return chosen, clean, flipped, label_prob, keep


def check_pairs_kept(scenario, kept: int, seed: int, budget: str | None = None) -> None:
    """Refuse a "skip" teacher that kept fewer pairs than training needs: one minibatch of
    ``budget``'s ``batch_size`` (no budget given: the smallest batch of the scenario's budgets,
    so no pair kept is always refused). ``kept`` of the scenario's ``n_pairs`` pairs of dataset
    seed ``seed`` survived. Called on the labels, before statistics or BC read the kept pairs."""
    if scenario.teacher != "skip":
        return
    name = min((budget,) if budget is not None else BUDGET_NAMES,
               key=lambda b: scenario.budget(b).batch_size)
    need = scenario.budget(name).batch_size
    if kept >= need:
        return
    raise ConfigError(f"{scenario.source or scenario.name}: teacher 'skip' at teacher_threshold "
                      f"{scenario.teacher_threshold:g} kept {kept} of {scenario.n_pairs} pairs "
                      f"(dataset seed {seed}); training needs at least {need} "
                      f"(budgets.{name}.batch_size): lower teacher_threshold or raise n_pairs")


def teacher_stats(returns: np.ndarray, sources: np.ndarray, chosen: np.ndarray,
                  clean: np.ndarray, flipped: np.ndarray, temperature: float,
                  level_names: Sequence[str]) -> dict:
    n = returns.shape[0]
    i = np.arange(n)
    d = returns[:, 0] - returns[:, 1]
    strict = d != 0
    true_better = np.where(d > 0, 0, 1)
    diff_level = sources[:, 0] != sources[:, 1]
    better_level = np.where(sources[:, 0] > sources[:, 1], 0, 1)

    def rate(mask, hits):
        m = int(mask.sum())
        return (float(hits[mask].mean()) if m else None), m

    agree, n_strict = rate(strict, chosen == true_better)
    agree_clean, _ = rate(strict, clean == true_better)
    agree_lvl, n_diff = rate(diff_level, chosen == better_level)
    lvl_true, _ = rate(diff_level & strict, true_better == better_level)
    expected = float(np.mean(np.maximum(teacher_probability(returns, temperature),
                                        1.0 - teacher_probability(returns, temperature))[strict])
                     ) if n_strict else None
    by_mix = []
    pairs = {tuple(sorted(map(int, s))) for s in sources}
    for lo, hi in sorted(pairs):
        m = (np.minimum(sources[:, 0], sources[:, 1]) == lo) & \
            (np.maximum(sources[:, 0], sources[:, 1]) == hi)
        r_lo = np.where(sources[m, 0] == lo, returns[m, 0], returns[m, 1])
        r_hi = np.where(sources[m, 0] == lo, returns[m, 1], returns[m, 0])
        entry = {"levels": [level_names[lo], level_names[hi]], "pairs": int(m.sum()),
                 "return_mean": [float(r_lo.mean()), float(r_hi.mean())]}
        if lo != hi:
            entry["higher_level_truly_better"] = float(np.mean(r_hi > r_lo))
            chosen_src = sources[i[m], chosen[m]]
            entry["labels_prefer_higher_level"] = float(np.mean(chosen_src == hi))
        by_mix.append(entry)
    return {
        "pairs": n,
        "label_true_order_agreement": agree,
        "clean_label_true_order_agreement": agree_clean,
        "expected_clean_agreement": expected,
        "pairs_with_distinct_returns": n_strict,
        "label_level_agreement": agree_lvl,
        "level_true_order_agreement": lvl_true,
        "pairs_with_distinct_levels": n_diff,
        "realised_flip_rate": float(flipped.mean()),
        "by_mix": by_mix,
    }
