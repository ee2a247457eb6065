"""The LLM test bed's tasks and preference-data variants (lossforge.llm.tasks): generators are
deterministic, scorers exact, and every variant has the property it declares, checked with
the task's own scorer and the tokenizer rather than the builder's bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from lossforge.errors import ConfigError
from lossforge.llm.model import build_tokenizer
from lossforge.llm.tasks import (BOTH_WRONG, TASKS, build_pairs, edit_distance, get_task,
                                 get_variant)

VARIANTS = ("clean", "noisy-0.2", "mixed-quality", "length-controlled", "verbose-wrong")


def pairs(task: str, variant: str, seed: int = 0, n: int = 200) -> list[dict]:
    t = get_task(task)
    prompts = t.splits(seed, 100, n, 50)["pref"]
    return build_pairs(t, get_variant(variant), prompts, np.random.default_rng(seed))


@pytest.mark.parametrize("task,prompt,response,ok", [
    ("sort", "31415=", "11345", True),
    ("sort", "31415=", "11345<eos>", True),
    ("sort", "31415=", "11354", False),
    ("sort", "31415=", "1134", False),
    ("sort", "31415=", "113455", False),
    ("sort", "00000=", "00000", True),
    ("sort", "3141=", "1134", False),          # not a prompt of the task (four digits)
    ("reverse", "abccef=", "feccba", True),
    ("reverse", "abccef=", "abccef", False),
    ("reverse", "abccef=", "feccb", False),
    ("reverse", "abcceg=", "gecba", False),    # g is outside the task's letters
    ("add", "07+48=", "55", True),
    ("add", "07+48=", "055", False),
])
def test_scorers_on_hand_written_examples(task, prompt, response, ok):
    assert get_task(task).score(prompt, response) is ok


def test_quality_is_one_exactly_for_the_correct_answer_and_graded_below():
    sort = get_task("sort")
    assert sort.quality("31415=", "11345") == 1.0
    assert sort.quality("31415=", "11346") == pytest.approx(1 - 1 / 5)    # one substitution
    assert sort.quality("31415=", "113456") == pytest.approx(1 - 1 / 6)   # one insertion
    assert sort.quality("31415=", "99999") == pytest.approx(1 - 5 / 5)
    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "abc") == 3


def test_prompt_spaces_are_complete_and_distinct():
    for t in TASKS.values():
        sample = [t.prompt_of(i) for i in range(0, t.space, max(1, t.space // 997))]
        assert len(set(sample)) == len(sample)
        assert len({len(p) for p in sample}) == 1          # one prompt length: no padding
        assert all(t.pattern.match(p) for p in sample)
        assert all(set(p) <= set(t.chars) for p in sample)
    assert get_task("reverse").prompt_of(6 ** 6 - 1) == "ffffff="
    assert get_task("sort").prompt_of(31415) == "31415="


@pytest.mark.parametrize("task", ["sort", "reverse"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_same_seed_same_data_other_seed_other_data(task, variant):
    assert pairs(task, variant, seed=1) == pairs(task, variant, seed=1)
    assert pairs(task, variant, seed=1) != pairs(task, variant, seed=2)
    t = get_task(task)
    assert t.splits(3, 100, 200, 50) == t.splits(3, 100, 200, 50) != t.splits(4, 100, 200, 50)
    s = t.splits(3, 100, 200, 50)
    assert len(set().union(*s.values())) == t.space         # disjoint, covering the space


@pytest.mark.parametrize("task", ["sort", "reverse"])
def test_clean_and_noisy_have_the_declared_flips(task):
    t = get_task(task)
    clean = pairs(task, "clean")
    assert all(t.score(p["prompt"], p["chosen"]) for p in clean)
    assert not any(t.score(p["prompt"], p["rejected"]) for p in clean)
    noisy = pairs(task, "noisy-0.2")
    flipped = [p for p in noisy if t.score(p["prompt"], p["rejected"])]
    assert len(flipped) == round(0.2 * len(noisy)) == 40
    assert all(not t.score(p["prompt"], p["chosen"]) for p in flipped)


@pytest.mark.parametrize("task", ["sort", "reverse", "add"])
@pytest.mark.parametrize("variant", ["mixed-quality", "length-controlled", "verbose-wrong"])
def test_mixed_quality_share_has_both_answers_wrong_and_chosen_better(task, variant):
    t = get_task(task)
    ps = pairs(task, variant)
    both = [p for p in ps if not t.score(p["prompt"], p["chosen"])]
    assert len(both) == round(BOTH_WRONG * len(ps)) == 60
    assert not any(t.score(p["prompt"], p["rejected"]) for p in ps)   # rejected always wrong
    for p in ps:   # chosen is strictly better by the task's grade, recomputed here
        assert t.quality(p["prompt"], p["chosen"]) > t.quality(p["prompt"], p["rejected"])


@pytest.mark.parametrize("task", ["sort", "reverse", "add"])
def test_length_controlled_pairs_have_equal_token_lengths(task):
    t = get_task(task)
    tok = build_tokenizer(t.chars)
    ps = pairs(task, "length-controlled")
    for p in ps:
        assert len(tok(p["chosen"])["input_ids"]) == len(tok(p["rejected"])["input_ids"])
    # ... while the default mixed-quality data does differ in length (so the control matters)
    assert any(len(p["chosen"]) != len(p["rejected"]) for p in pairs(task, "mixed-quality"))


@pytest.mark.parametrize("task", ["sort", "reverse"])
def test_verbose_wrong_answers_are_longer_so_a_length_preference_is_wrong(task):
    t = get_task(task)
    for p in pairs(task, "verbose-wrong"):
        right = t.answer(p["prompt"])
        for ans in (p["chosen"], p["rejected"]):
            assert t.score(p["prompt"], ans) or len(ans) > len(right)
        assert len(p["rejected"]) > len(p["chosen"])   # "prefer longer" picks wrong every time


@pytest.mark.parametrize("name,fragment", [
    ("noisy-2", "LLM variant 'noisy-2'"), ("noisy-0", "LLM variant"), ("dirty", "expected clean"),
])
def test_bad_variant_names_are_config_errors(name, fragment):
    with pytest.raises(ConfigError, match=fragment):
        get_variant(name)
    with pytest.raises(ConfigError, match="LLM task 'mul'"):
        get_task("mul")


def test_one_digit_sums_never_get_both_wrong_same_length_answers():
    """Two wrong one-digit sums both score 0, so no rejected answer is strictly worse with
    same-length edits: such a prompt never gets a both-wrong pair (the builder looped forever
    on one before), the share stays exact, and too few gradeable prompts is a clear error."""
    t = get_task("add")
    short = [p for p in t.splits(0, 0, 0, 0)["sft"] if len(t.answer(p)) == 1]
    long_ = [p for p in t.splits(0, 0, 0, 0)["sft"] if len(t.answer(p)) >= 2]
    prompts = short[:30] + long_[:30]
    lc = get_variant("length-controlled")
    ps = build_pairs(t, lc, prompts, np.random.default_rng(0))
    both = [p for p in ps if not t.score(p["prompt"], p["chosen"])]
    assert len(both) == round(BOTH_WRONG * 60) == 18
    assert all(len(t.answer(p["prompt"])) >= 2 for p in both)
    for p in ps:
        assert t.quality(p["prompt"], p["chosen"]) > t.quality(p["prompt"], p["rejected"])
        assert len(p["chosen"]) == len(p["rejected"])
    with pytest.raises(ConfigError, match="only 0 of 30 prompts have answers long enough"):
        build_pairs(t, lc, short[:30], np.random.default_rng(0))
