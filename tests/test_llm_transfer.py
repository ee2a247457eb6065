"""The pieces of ``benchmarks/llm_transfer.py`` (from ``lossforge.llm``): tokenizer, program
scorer, data builder."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import llm_transfer as lt  # noqa: E402

from lossforge.llm.model import build_tokenizer  # noqa: E402
from lossforge.llm.tasks import Addition, build_sampled_preferences  # noqa: E402

ADD = Addition()


def test_tokenizer_round_trips_characters_and_specials():
    tok = build_tokenizer(lt.CHARS)
    ids = tok("07+48=55<eos>")["input_ids"]
    assert len(ids) == 9  # one id per character, <eos> as one special token
    assert ids[-1] == tok.eos_token_id == 1 and tok.pad_token_id == 0
    assert tok.decode(ids) == "07+48=55<eos>"
    assert tok.decode(ids, skip_special_tokens=True) == "07+48=55"
    assert tok.convert_ids_to_tokens(ids[:3]) == ["0", "7", "+"]
    assert len(tok) == 3 + len(lt.CHARS)
    assert tok.padding_side == "left"  # what TRL's DPOTrainer asks of its processing_class


@pytest.mark.parametrize("prompt,response,ok", [
    ("07+48=", "55", True),
    ("07+48=", "55<eos>", True),
    ("07+48=", "055", False),        # no leading zeros
    ("07+48=", "54", False),
    ("99+99=", "198", True),
    ("00+00=", "0", True),
    ("00+00=", "", False),
    ("50+50=", "100", True),
    ("50+50=", "1000", False),
    ("7+48=", "55", False),          # not a prompt of the task
    ("07+48=", "55 ", False),
])
def test_program_scorer_on_hand_written_examples(prompt, response, ok):
    assert ADD.score(prompt, response) is ok


def test_splits_are_disjoint_and_cover_every_prompt():
    s = lt.splits(3, 500, 1500)
    assert [len(s[k]) for k in ("eval", "pref", "sft")] == [500, 1500, 8000]
    assert len(set(s["eval"]) | set(s["pref"]) | set(s["sft"])) == 10_000
    assert lt.splits(3, 500, 1500) == s and lt.splits(4, 500, 1500) != s


def test_mixed_quality_builder_has_the_asked_wrong_fraction():
    prompts = lt.splits(0, 500, 1000)["pref"]
    # a model that gets the even-indexed prompts wrong in one of its samples
    samples = {p: ["7", ADD.answer(p)] if i % 2 == 0 else [ADD.answer(p)]
               for i, p in enumerate(prompts)}
    pairs = build_sampled_preferences(ADD, prompts, 0.3, np.random.default_rng(0), samples)
    assert len(pairs) == 1000
    wrong_chosen = [not ADD.score(p["prompt"], p["chosen"]) for p in pairs]
    assert sum(wrong_chosen) == 300  # exactly round(0.3 * 1000), checked by the scorer
    assert wrong_chosen == [not p["chosen_correct"] for p in pairs]
    assert not any(ADD.score(p["prompt"], p["rejected"]) for p in pairs)  # rejected always wrong
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    for i, p in enumerate(pairs):  # model samples are used when wrong, else a perturbation
        if i % 2 == 0 and ADD.answer(p["prompt"]) != "7":
            assert (p["rejected"], p["rejected_source"]) == ("7", "model")
        if i % 2 == 1:
            assert p["rejected_source"] == "perturbed"
    # a wrong chosen answer is one digit off the sum, same length, no leading zero
    for p in (p for p, w in zip(pairs, wrong_chosen) if w):
        right = ADD.answer(p["prompt"])
        assert len(p["chosen"]) == len(right)
        assert sum(a != b for a, b in zip(p["chosen"], right)) == 1
        assert len(right) == 1 or not p["chosen"].startswith("0")
    clean = build_sampled_preferences(ADD, prompts, 0.0, np.random.default_rng(0), samples)
    assert all(ADD.score(p["prompt"], p["chosen"]) for p in clean)
