"""Tasks of the LLM test bed: programs that make prompts, know the right answer, grade wrong
ones, and build preference data of a declared quality.

A task is

* a deterministic prompt space (``space`` prompts, ``prompt_of(index)``), split by a seed into
  disjoint eval / preference / dev / SFT sets (``splits``);
* ``answer(prompt)``: the correct answer; ``score(prompt, response)``: exact match (the
  scorer of greedy decoding); ``quality(prompt, response)``: 1 for the correct answer, less for
  a wrong one (1 - edit distance / length), a grade for mixed-quality data;
* ``wrong(prompt, rng, edits, kind)``: a wrong answer ``edits`` character edits away from the
  right one; ``kind`` "any" (substitute, swap, drop, insert), "same-length" (substitute,
  swap) or "longer" (insertions only).

Tasks (all prompts of a task have the same length, so greedy decoding needs no padding):

    add      two-digit addition, "07+48=" -> "55" (the original transfer task)
    sort     sort five digits, "31415=" -> "11345"
    reverse  reverse six letters of a-f, "abccef=" -> "feccba"

Variants (``build_pairs``): how a preference pair is made from a prompt.

    clean              chosen correct, rejected wrong (1-3 edits of any kind)
    noisy-<r>          clean, then chosen and rejected swapped in exactly round(r n) pairs
    mixed-quality      in exactly round(both_wrong n) pairs both answers are wrong: chosen
                       1 edit away, rejected 2-3 edits away (strictly lower quality); else clean
    length-controlled  mixed-quality with same-length edits only: chosen and rejected have
                       the same length (the same number of tokens) in every pair, so length
                       says nothing
    verbose-wrong      mixed-quality with insertions only: every wrong answer is longer than
                       the correct one, and in the both-wrong pairs the rejected answer is the
                       longer: preferring the longer answer is wrong in every pair

Same task, variant, split and seed: the same pairs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lossforge.errors import ConfigError

EDIT_KINDS = {"any": ("substitute", "swap", "drop", "insert"),
              "same-length": ("substitute", "swap"),
              "longer": ("insert",)}


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (unit costs)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


class Task:
    """Base class; subclasses set the class fields and ``prompt_of`` / ``answer``."""

    name: str = ""
    chars: str = ""          # the tokenizer's characters (prompts and answers)
    answer_chars: str = ""   # characters a wrong answer is made of
    space: int = 0           # number of distinct prompts
    max_answer: int = 0      # longest correct answer (characters)
    pattern: re.Pattern

    def prompt_of(self, index: int) -> str:
        raise NotImplementedError

    def answer(self, prompt: str) -> str:
        raise NotImplementedError

    def parse(self, prompt: str) -> re.Match:
        """``pattern`` matched on ``prompt``; ValueError for a prompt not of this task."""
        m = self.pattern.match(prompt)
        if m is None:
            raise ValueError(f"not {self.what} prompt: {prompt!r}")
        return m

    @property
    def what(self) -> str:
        """The task's prompts in the error message: "a sort", "an addition"."""
        return f"a {self.name}"

    @property
    def max_new(self) -> int:
        """Decoding length: the longest correct answer, three more characters and EOS."""
        return self.max_answer + 4

    def score(self, prompt: str, response: str) -> bool:
        """Exact match: the response (EOS and after stripped) is the correct answer."""
        from lossforge.llm.model import EOS

        try:
            want = self.answer(prompt)
        except ValueError:
            return False
        return response.split(EOS)[0] == want

    def quality(self, prompt: str, response: str) -> float:
        """1 - edit distance / max(length): 1 exactly for the correct answer."""
        want = self.answer(prompt)
        return 1.0 - edit_distance(response, want) / max(len(response), len(want), 1)

    def splits(self, seed: int, n_eval: int, n_pref: int, n_dev: int = 0
               ) -> dict[str, list[str]]:
        """All prompts, shuffled by ``seed`` into disjoint eval / pref / dev / sft sets."""
        if n_eval + n_pref + n_dev >= self.space:
            raise ConfigError(f"task {self.name}: {n_eval + n_pref + n_dev} held-out prompts "
                              f"leave none of its {self.space} for SFT")
        shuffled = _shuffled(self, seed)
        a, b, c = n_eval, n_eval + n_pref, n_eval + n_pref + n_dev
        return {"eval": list(shuffled[:a]), "pref": list(shuffled[a:b]),
                "dev": list(shuffled[b:c]), "sft": list(shuffled[c:])}

    def wrong(self, prompt: str, rng: np.random.Generator, edits: int = 1, kind: str = "any",
              avoid: frozenset[str] | set[str] = frozenset()) -> str:
        """A wrong answer ``edits`` random edits of ``kind`` away from the right one (redrawn
        until it is wrong, non-empty and not in ``avoid``)."""
        right = self.answer(prompt)
        ops = EDIT_KINDS[kind]
        for _ in range(100):
            s = right
            for _ in range(edits):
                s = _edit(s, ops[int(rng.integers(len(ops)))], self.answer_chars, rng)
            if s and s != right and s not in avoid:
                return s
        raise RuntimeError(f"no wrong answer for {prompt!r} outside {sorted(avoid)}")


@lru_cache(maxsize=8)
def _shuffled(task: Task, seed: int) -> tuple[str, ...]:
    """Every prompt of ``task`` in the order of a permutation drawn from PCG64(seed)."""
    order = np.random.default_rng(seed).permutation(task.space)
    return tuple(task.prompt_of(int(i)) for i in order)


def _edit(s: str, op: str, alphabet: str, rng: np.random.Generator) -> str:
    if op == "swap" and len(s) >= 2 and len(set(s)) > 1:
        while True:
            k = int(rng.integers(len(s) - 1))
            if s[k] != s[k + 1]:
                return s[:k] + s[k + 1] + s[k] + s[k + 2:]
    if op == "drop" and len(s) >= 2:
        k = int(rng.integers(len(s)))
        return s[:k] + s[k + 1:]
    if op == "insert":
        k = int(rng.integers(len(s) + 1))
        return s[:k] + alphabet[int(rng.integers(len(alphabet)))] + s[k:]
    # substitute (also the fallback where a swap or drop is impossible)
    k = int(rng.integers(len(s)))
    others = [c for c in alphabet if c != s[k]]
    return s[:k] + others[int(rng.integers(len(others)))] + s[k + 1:]


class Addition(Task):
    """Two-digit addition with zero-padded operands: "07+48=" -> "55" (no leading zeros)."""

    name = "add"
    chars = "0123456789+="
    answer_chars = "0123456789"
    space = 10_000
    max_answer = 3
    pattern = re.compile(r"^(\d\d)\+(\d\d)=$")

    what = "an addition"

    def prompt_of(self, index: int) -> str:
        return f"{index // 100:02d}+{index % 100:02d}="

    def answer(self, prompt: str) -> str:
        m = self.parse(prompt)
        return str(int(m.group(1)) + int(m.group(2)))


class Sort(Task):
    """Sort five digits ascending: "31415=" -> "11345"."""

    name = "sort"
    chars = "0123456789="
    answer_chars = "0123456789"
    space = 10 ** 5
    max_answer = 5
    pattern = re.compile(r"^(\d{5})=$")

    def prompt_of(self, index: int) -> str:
        return f"{index:05d}="

    def answer(self, prompt: str) -> str:
        m = self.parse(prompt)
        return "".join(sorted(m.group(1)))


class Reverse(Task):
    """Reverse six letters of a-f: "abccef=" -> "feccba"."""

    name = "reverse"
    chars = "abcdef="
    answer_chars = "abcdef"
    space = 6 ** 6
    max_answer = 6
    pattern = re.compile(r"^([a-f]{6})=$")

    def prompt_of(self, index: int) -> str:
        letters = []
        for _ in range(6):
            index, r = divmod(index, 6)
            letters.append("abcdef"[r])
        return "".join(reversed(letters)) + "="

    def answer(self, prompt: str) -> str:
        m = self.parse(prompt)
        return m.group(1)[::-1]


TASKS: dict[str, Task] = {t.name: t for t in (Addition(), Sort(), Reverse())}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"LLM task {name!r}: expected one of {', '.join(TASKS)}") from None


# ---- variants --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """How preference pairs are made (see the module docstring)."""

    name: str
    flip: float = 0.0          # share of pairs with chosen and rejected swapped
    both_wrong: float = 0.0    # share of pairs with two wrong answers (chosen the better)
    kind: str = "any"          # edits that make wrong answers (EDIT_KINDS)


BOTH_WRONG = 0.3
VARIANTS = {
    "clean": Variant("clean"),
    "mixed-quality": Variant("mixed-quality", both_wrong=BOTH_WRONG),
    "length-controlled": Variant("length-controlled", both_wrong=BOTH_WRONG, kind="same-length"),
    "verbose-wrong": Variant("verbose-wrong", both_wrong=BOTH_WRONG, kind="longer"),
}
_NOISY = re.compile(r"^noisy-(0?\.\d+)$")


def get_variant(name: str) -> Variant:
    """A variant by name: clean, noisy-<rate> (rate in (0, 1), e.g. noisy-0.3), mixed-quality,
    length-controlled, verbose-wrong."""
    if name in VARIANTS:
        return VARIANTS[name]
    m = _NOISY.match(name)
    if m and 0.0 < float(m.group(1)) < 1.0:
        return Variant(name, flip=float(m.group(1)))
    raise ConfigError(f"LLM variant {name!r}: expected clean, noisy-<rate> (e.g. noisy-0.3), "
                      f"{', '.join(v for v in VARIANTS if v != 'clean')}")


def build_pairs(task: Task, variant: Variant, prompts: list[str], rng: np.random.Generator
                ) -> list[dict]:
    """One pair per prompt: {prompt, chosen, rejected, chosen_quality, rejected_quality,
    chosen_correct, flipped}. Exactly round(share n) pairs are flipped / both wrong."""
    n = len(prompts)
    order = rng.permutation(n).tolist()
    n_both = round(variant.both_wrong * n)
    # both-wrong pairs go to the first prompts in ``order`` that can have a strictly worse wrong
    # answer under the variant's edits (a one-character answer cannot with same-length edits:
    # every wrong one scores 0); flips go to the next ones. With every prompt gradeable this is
    # order[:n_both] and the next slice, as before, so no data set made then changes.
    gradeable = [i for i in order if _gradeable(task, prompts[i], variant.kind)]
    if len(gradeable) < n_both:
        raise ConfigError(f"task {task.name}, variant {variant.name}: {n_both} both-wrong pairs "
                          f"wanted, but only {len(gradeable)} of {n} prompts have answers long "
                          "enough to grade two wrong ones apart")
    both = set(gradeable[:n_both])
    rest = [i for i in order if i not in both]
    flipped = set(rest[:round(variant.flip * n)])
    pairs = []
    for i, p in enumerate(prompts):
        if i in both:
            while True:
                chosen = task.wrong(p, rng, 1, variant.kind)
                rejected = task.wrong(p, rng, 2 + int(rng.integers(2)), variant.kind,
                                      avoid={chosen})
                if task.quality(p, rejected) < task.quality(p, chosen):
                    break
        else:
            chosen = task.answer(p)
            rejected = task.wrong(p, rng, 1 + int(rng.integers(3)), variant.kind)
        if i in flipped:
            chosen, rejected = rejected, chosen
        pairs.append({"prompt": p, "chosen": chosen, "rejected": rejected,
                      "chosen_quality": task.quality(p, chosen),
                      "rejected_quality": task.quality(p, rejected),
                      "chosen_correct": task.score(p, chosen), "flipped": i in flipped})
    return pairs


def _gradeable(task: Task, prompt: str, kind: str) -> bool:
    """Whether a wrong answer 1 edit of ``kind`` away and a strictly worse one 2-3 edits away
    exist: always with insertions (each one moves further), and with same-length edits once
    the answer has two characters (two substitutions are then worse than one)."""
    return kind != "same-length" or len(task.answer(prompt)) >= 2


# ---- the original transfer data: rejected answers sampled from the SFT model -----------------


def perturb(answer: str, rng: np.random.Generator, avoid: set[str] = frozenset()) -> str:
    """A wrong answer one digit away from ``answer`` (never in ``avoid``, no leading zero)."""
    for _ in range(100):
        digits = list(answer)
        k = int(rng.integers(len(digits)))
        choices = [d for d in "0123456789" if d != digits[k] and not (k == 0 and d == "0"
                                                                       and len(digits) > 1)]
        digits[k] = choices[int(rng.integers(len(choices)))]
        cand = "".join(digits)
        if cand != answer and cand not in avoid:
            return cand
    raise RuntimeError(f"no perturbation of {answer!r} outside {sorted(avoid)}")


def build_sampled_preferences(task: Task, prompts: list[str], wrong_chosen_frac: float,
                              rng: np.random.Generator,
                              samples: dict[str, list[str]] | None = None) -> list[dict]:
    """Pairs {prompt, chosen, rejected, chosen_correct, rejected_source} of
    ``benchmarks/llm_transfer.py`` (numeric answers).

    Exactly round(wrong_chosen_frac * len(prompts)) pairs get a wrong chosen answer (one digit
    off the answer, different from the rejected one); the rejected answer is the first wrong
    model sample of the prompt in ``samples``, or a perturbation of the answer when there is
    none.
    """
    if not 0.0 <= wrong_chosen_frac < 1.0:
        raise ValueError(f"wrong_chosen_frac must be in [0, 1), got {wrong_chosen_frac}")
    n_wrong = round(wrong_chosen_frac * len(prompts))
    wrong_chosen = set(rng.permutation(len(prompts))[:n_wrong].tolist())
    pairs = []
    for i, p in enumerate(prompts):
        right = task.answer(p)
        sampled = [s for s in (samples or {}).get(p, []) if s and not task.score(p, s)]
        rejected = sampled[0] if sampled else perturb(right, rng)
        chosen = perturb(right, rng, avoid={rejected}) if i in wrong_chosen else right
        pairs.append({"prompt": p, "chosen": chosen, "rejected": rejected,
                      "chosen_correct": i not in wrong_chosen,
                      "rejected_source": "model" if sampled else "perturbed"})
    return pairs
