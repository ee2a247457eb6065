"""Greedy decoding and the exact scorer together (``lossforge.llm.model.accuracy``): a stand-in
model that spells out chosen answers token by token is scored 1 when every answer is right, 0
when every answer is wrong, and the exact share in between."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from lossforge.llm.model import EOS, accuracy, build_tokenizer, decode
from lossforge.llm.tasks import get_task


class Spell(torch.nn.Module):
    """Answers ``answers[prompt]`` then EOS: one-hot logits at the last position."""

    def __init__(self, tokenizer, answers: dict[str, str]):
        super().__init__()
        self.tok, self.answers = tokenizer, answers
        self.plen = len(next(iter(answers)))

    def forward(self, input_ids, use_cache=False):
        rows = []
        for ids in input_ids.tolist():
            prompt = self.tok.decode(ids[:self.plen])
            want = self.tok(self.answers[prompt] + EOS)["input_ids"]
            k = len(ids) - self.plen
            nxt = want[k] if k < len(want) else self.tok.eos_token_id
            rows.append(torch.nn.functional.one_hot(torch.tensor(nxt), len(self.tok)).float())
        logits = torch.zeros(len(rows), input_ids.shape[1], len(self.tok))
        logits[:, -1] = torch.stack(rows)
        return SimpleNamespace(logits=logits)


@pytest.mark.parametrize("task", ["sort", "reverse"])
def test_accuracy_is_the_exact_share_of_right_greedy_answers(task):
    t = get_task(task)
    tok = build_tokenizer(t.chars)
    prompts = t.splits(0, 8, 0)["eval"]
    right = {p: t.answer(p) for p in prompts}
    assert decode(Spell(tok, right), tok, prompts, t.max_new) == [right[p] for p in prompts]
    assert accuracy(Spell(tok, right), tok, prompts, t.score, t.max_new) == 1.0
    wrong = {p: a[::-1] + a[0] for p, a in right.items()}          # one too long, never right
    assert accuracy(Spell(tok, wrong), tok, prompts, t.score, t.max_new) == 0.0
    mixed = {p: right[p] if i < 3 else wrong[p] for i, p in enumerate(prompts)}
    assert accuracy(Spell(tok, mixed), tok, prompts, t.score, t.max_new) == 3 / 8
