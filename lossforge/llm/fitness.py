"""The LLM test bed as a search fitness: ``python -m lossforge.search --fitness llm``.

    from lossforge.llm import fitness
    fitness.evaluate([objectives.get("dpo"), objectives.get("orpo")], "sort/mixed-quality",
                     "quick")

A scenario is ``<task>/<variant>`` (``lossforge.llm.tasks``: tasks add, sort, reverse;
variants clean, noisy-<rate>, mixed-quality, length-controlled, verbose-wrong); its name in run
directories and journals is ``llm-<task>-<variant>``. For every objective and every seed of
the budget:

1. the seed's SFT base: a ~0.5M-parameter Llama (random init from the seed) fitted to the
   correct answers of the seed's SFT prompts by a plain loop (``SFT_STEPS`` per task: partly
   competent, so preference data can move it either way); cached under
   ``$LOSSFORGE_CACHE/llm_bed/`` (``warm_up`` builds the bases once, before the workers start);
2. the seed's preference pairs: the first ``n_pref`` prompts of its preference split, made by
   the variant's program (same seed, same pairs: every objective sees the same data in the
   same order);
3. the objective trains a copy of the base through TRL (``LossforgeDPOTrainer``; the base is
   the reference) at each learning rate of the budget; the rate whose model decodes the most
   *dev* prompts right is kept (ties: the smaller rate), the same choice for every objective:
   DPO-type losses and ORPO want rates an order of magnitude apart;
4. the kept model's exact-match accuracy of greedy decoding on the seed's *eval* prompts
   (never trained on, never used to pick the rate), in percent.

``lr=`` trains every objective at that one rate (no dev selection), as
``lossforge.bench.fitness.evaluate`` takes it; ``draw=`` picks the instance of the test bed
(below). ``fixed_policies`` scores the row the benchmark protocol adds to every cell
(``benchmarks/baselines.py``): ``reference (SFT base)``, the draw's SFT base untouched (the
reference every loss starts from). The shortcut a preference loss must beat, the SFT base
trained further on the chosen answers only, is the zoo's ``sft`` loss, which the protocol tunes
(its rate) as it tunes every baseline. (Until 4 Dec 2026 a fixed ``sft-on-chosen`` row picked
its rate on dev prompts per draw while the tuned baselines kept a frozen rate; that asymmetry
is gone. Older result files still hold such rows.)

Seed and draw. On draw 0 (today's test bed, what ``--fitness llm`` searches on) the seed picks
everything: the prompt split, the SFT base, the pairs and the preference training's order.
Other draws follow ``lossforge.bench.draws``: the *draw* is one instance of the test bed (its
prompt split, SFT base and pairs: the MuJoCo draw's dataset and BC reference), and the *seed*
only the preference training's own randomness (minibatch order), as on MuJoCo. The draw is the
unit of analysis: ``baselines.py confirm`` on an ``llm:`` scenario runs draws 1-8 x seed 0 by
default (8 independent instances). With ``d = draws.dataset_seed(scenario, draw)``
(``dataset_seed`` is 0 here):

| draw | prompts (eval, pref, dev, SFT) | SFT base init and batches | pairs' generator | training |
|---|---|---|---|---|
| 0 | the whole prompt space, shuffled by the seed s | s | PCG64(s + 30000) | s |
| "t" | the tuning half, shuffled by d = 999000 | 999000 | PCG64(d + 30000) | s |
| 1, 2, ... | the reporting half, shuffled by d = 1000 k | 1000 k | PCG64(d + 30000) | s |

The halves: a fixed permutation of the task's prompt space (PCG64(``POOL_SEED``)), its first
half for tuning and its second for reporting, so no prompt of the tuning draw (eval, dev, pairs
or SFT) is a prompt of a reporting draw, and the draws' SFT bases are different models (their
cache key holds the half). Reporting draws share the reporting half (each its own shuffle of
it), and every draw shares prompts with draw 0, which uses the whole space: the prompt space is
the task, as the environment is on MuJoCo.

Score: mean accuracy (percent) over seeds, with a 95 % t-interval; ``final`` and ``auc`` are
both that accuracy (one measurement at the end of training, so ``metric`` changes nothing).
A run whose logged loss or weights went non-finite, or whose training raised, is marked in
``status`` with a NaN score. Seconds per candidate on this project's 2-core machine (1 torch
thread per worker): see ``benchmarks/results/llm_search.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from lossforge.bench import draws
from lossforge.bench.result import Fitness
from lossforge.errors import ConfigError
from lossforge.llm import model as M
from lossforge.llm.tasks import Task, Variant, build_pairs, get_task, get_variant

BETA = 0.1                      # DPO's beta in the test bed (as benchmarks/llm_transfer.py)
N_EVAL, N_DEV, N_PREF = 500, 200, 1000
MODEL = M.ModelConfig(max_positions=32)
SFT_STEPS = {"add": 300, "sort": 40, "reverse": 110}
PREF_SEED_OFFSET = 30_000       # the pairs' generator: numpy PCG64(seed + offset)
POOL_SEED = 77_000              # the permutation that halves a prompt space (tuning, reporting)
#: The row ``fixed_policies`` scores (``benchmarks/cells.py`` spells it out as LLM_FIXED).
from lossforge.bench.result import LLM_REFERENCE as REFERENCE  # noqa: E402
FIXED = (REFERENCE,)


@dataclass(frozen=True)
class Budget:
    seeds: tuple[int, ...]
    n_pref: int                 # preference pairs (the first n of the seed's split)
    epochs: int
    lrs: tuple[float, ...]      # learning rates tried; the best on dev prompts is kept
    batch: int = 32

    @property
    def lr(self) -> None:
        """No single rate: each run keeps the best of ``lrs`` on dev prompts (None, as the
        benchmark protocol reads a budget's rate)."""
        return None


BUDGETS = {
    "quick": Budget(seeds=(0,), n_pref=512, epochs=1, lrs=(1e-5, 3e-5)),
    "screen": Budget(seeds=(0,), n_pref=1000, epochs=2, lrs=(3e-6, 1e-5, 3e-5, 1e-4)),
    "full": Budget(seeds=(0, 1, 2), n_pref=1000, epochs=2, lrs=(3e-6, 1e-5, 3e-5, 1e-4)),
}


@dataclass(frozen=True)
class LLMScenario:
    """What the search engine reads of a scenario: ``name``, ``beta``, ``budget(rung).seeds``."""

    task: str
    variant: str

    @property
    def name(self) -> str:
        return f"llm-{self.task}-{self.variant}"

    @property
    def text(self) -> str:
        return f"{self.task}/{self.variant}"

    @property
    def beta(self) -> float:
        return BETA

    @property
    def response_steps(self) -> float:
        """Tokens a response's summed log-prob covers (its answer and the end token, on
        average): the scale of the search's gradient checks (search/candidates.py), which
        otherwise assume MuJoCo segments of ~100 steps and reject losses that train here."""
        return _response_steps(self.task)

    @property
    def dataset_seed(self) -> int:
        """The base of the draws' data seeds (``lossforge.bench.draws.dataset_seed``)."""
        return 0

    @property
    def horizon(self) -> int:
        """The longest sequence; only ``length_sft``'s default ``c`` reads it."""
        return MODEL.max_positions

    def budget(self, rung: str) -> Budget:
        try:
            return BUDGETS[rung]
        except KeyError:
            raise ConfigError(f"budget {rung!r}: expected one of {', '.join(BUDGETS)}") from None


@lru_cache(maxsize=None)
def _response_steps(task_name: str) -> float:
    task = get_task(task_name)
    answers = [task.answer(p) for p in splits(task, 0)["eval"][:50]]
    return sum(len(a) for a in answers) / len(answers) + 1.0


def search_scenario(text: str) -> LLMScenario:
    """``<task>/<variant>`` (e.g. ``sort/mixed-quality``) -> the scenario (checked)."""
    if isinstance(text, LLMScenario):
        return text
    task, sep, variant = str(text).partition("/")
    if not sep:
        raise ConfigError(f"LLM scenario {text!r}: expected <task>/<variant>, e.g. "
                          "sort/mixed-quality")
    get_task(task)
    get_variant(variant)
    return LLMScenario(task, variant)


# ---- per-seed material -----------------------------------------------------------------------


def sft_config(task: Task) -> M.SFTConfig:
    return M.SFTConfig(steps=SFT_STEPS[task.name])


def data_seed(seed: int, draw: draws.Draw = 0) -> int:
    """The seed of a draw's prompts, SFT base and pairs: the training seed on draw 0 (today's
    test bed), else the draw's own (the module docstring's table)."""
    return seed if draws.index(draw) == 0 else draws.dataset_seed(LLMScenario("", ""), draw)


def pool(draw: draws.Draw) -> str | None:
    """The half of the prompt space a draw takes its prompts from (None: all, on draw 0)."""
    if draws.index(draw) == 0:
        return None
    return "tuning" if draws.parse_draw(draw) == draws.TUNING else "reporting"


@lru_cache(maxsize=16)
def _half(task: Task, which: str) -> tuple[int, ...]:
    """The prompt indices of one half of the task's space (a fixed permutation, split in two)."""
    order = np.random.default_rng(POOL_SEED).permutation(task.space)
    cut = task.space // 2
    return tuple(int(i) for i in (order[:cut] if which == "tuning" else order[cut:]))


def sft_path(task: Task, seed: int, draw: draws.Draw = 0) -> Path:
    import transformers

    fields = {"v": 1, "task": task.name, "seed": data_seed(seed, draw), "model": asdict(MODEL),
              "sft": asdict(sft_config(task)), "splits": [N_EVAL, N_PREF, N_DEV],
              "torch": torch.__version__, "transformers": transformers.__version__}
    if pool(draw) is not None:   # draw 0's key (every earlier cache entry) stays as it was
        fields.update(pool=pool(draw), pool_seed=POOL_SEED)
    key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    return M.cache_dir("llm_bed") / f"{task.name}-s{data_seed(seed, draw)}-{key}"


def splits(task: Task, seed: int, draw: draws.Draw = 0) -> dict[str, list[str]]:
    """The draw's eval / pref / dev / SFT prompts (draw 0: ``task.splits(seed)``, as ever)."""
    if pool(draw) is None:
        return task.splits(seed, N_EVAL, N_PREF, N_DEV)
    half = _half(task, pool(draw))
    if N_EVAL + N_PREF + N_DEV >= len(half):
        raise ConfigError(f"task {task.name}: {N_EVAL + N_PREF + N_DEV} held-out prompts leave "
                          f"none of the {len(half)} of its {pool(draw)} half for SFT")
    order = np.random.default_rng(data_seed(seed, draw)).permutation(len(half))
    shuffled = [task.prompt_of(half[int(i)]) for i in order]
    a, b, c = N_EVAL, N_EVAL + N_PREF, N_EVAL + N_PREF + N_DEV
    return {"eval": shuffled[:a], "pref": shuffled[a:b], "dev": shuffled[b:c],
            "sft": shuffled[c:]}


def sft_base(task: Task, seed: int, log: Callable[[str], None] = lambda m: None,
             draw: draws.Draw = 0) -> tuple[Path, bool]:
    """The draw's SFT base directory (draw 0: the seed's; trained and cached on first use)."""
    tokenizer = tokenizer_of(task.name)
    d = data_seed(seed, draw)

    def build():
        return M.train_sft(MODEL, sft_config(task), tokenizer, splits(task, seed, draw)["sft"],
                           task.answer, d, log)

    meta = {"task": task.name, "seed": d, "model": asdict(MODEL), "sft": asdict(sft_config(task))}
    if pool(draw) is not None:
        meta["pool"] = pool(draw)
    return M.cached_model(sft_path(task, seed, draw), build, tokenizer, meta)


@lru_cache(maxsize=None)
def tokenizer_of(task_name: str):
    return M.build_tokenizer(get_task(task_name).chars)


def pairs_of(task: Task, variant: Variant, seed: int, n_pref: int, draw: draws.Draw = 0
             ) -> list[dict]:
    prompts = splits(task, seed, draw)["pref"][:n_pref]
    return build_pairs(task, variant, prompts,
                       np.random.default_rng(data_seed(seed, draw) + PREF_SEED_OFFSET))


def warm_up(scenario, workers: int | None = None, progress: bool = True,
            log: Callable[[str], None] | None = None, *, draw: draws.Draw = 0,
            seeds: Sequence[int] | None = None) -> None:
    """Build (or load) the SFT base of each seed on ``draw`` here, once, before worker
    processes would each build the same one at the same time. ``seeds``: default every seed
    any budget uses (a search's); baselines.py passes the seed of the cell it starts."""
    scen = search_scenario(scenario)
    task = get_task(scen.task)
    seeds = sorted({s for b in BUDGETS.values() for s in b.seeds} if seeds is None else seeds)
    M.quiet_libraries()
    if log is not None:
        log(f"SFT bases of task {task.name}, seeds {seeds} (trained on a first run, "
            f"{SFT_STEPS[task.name]} steps each, then read from the cache)")
    for seed in seeds:
        sft_base(task, seed, log=log if (log is not None and progress) else (lambda m: None),
                 draw=draw)


# ---- evaluation ------------------------------------------------------------------------------


def _finite(model) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def score_one(objective, task: Task, variant: Variant, budget: Budget, seed: int,
              lr: float | None = None, draw: draws.Draw = 0) -> tuple[str, float, float]:
    """(status, eval accuracy, kept lr) of one objective on one seed of a draw; ``lr``: that
    rate alone (no dev prompts decoded), else the best of the budget's on dev prompts."""
    tokenizer = tokenizer_of(task.name)
    base, _ = sft_base(task, seed, draw=draw)
    data = splits(task, seed, draw)
    pairs = pairs_of(task, variant, seed, budget.n_pref, draw)
    po = M.POConfig(epochs=budget.epochs, batch=budget.batch)
    if lr is not None:
        budget = replace(budget, lrs=(lr,))
    best = None
    for lr in budget.lrs:
        try:
            model, logged = M.train_preference(po, base, tokenizer, objective, pairs, seed, lr)
        except Exception as exc:  # a loss that breaks training fails only itself
            return f"training failed at lr {lr:g}: {type(exc).__name__}", float("nan"), lr
        if not _finite(model) or not math.isfinite(logged.get("loss", 0.0)):
            return f"nonfinite at lr {lr:g}", float("nan"), lr
        if len(budget.lrs) == 1:   # nothing to choose between
            best = (None, lr, model)
            break
        dev = M.accuracy(model, tokenizer, data["dev"], task.score, task.max_new)
        if best is None or dev > best[0]:
            best = (dev, lr, model)
    _, lr, model = best
    return "ok", 100.0 * M.accuracy(model, tokenizer, data["eval"], task.score, task.max_new), lr


def evaluate(objectives: Sequence, scenario, budget: str = "screen", *,
             seeds: Sequence[int] | None = None, metric: str = "auc",
             workers: int | None = None, progress: bool = False, draw: draws.Draw = 0,
             lr: float | None = None) -> list[Fitness]:
    """Score ``objectives`` on the LLM scenario at ``budget`` (the module docstring); one
    Fitness each, in order. ``lr``: train at that rate only (default: the best of the budget's
    on dev prompts); ``draw``: the instance of the test bed (default 0, the search's).
    ``workers`` and ``progress`` are unused (the executor parallelises across chunks)."""
    from lossforge.bench.fitness import ci95_halfwidth
    from lossforge.bench.result import METRICS

    if metric not in METRICS:
        raise ConfigError(f"metric must be {' or '.join(METRICS)}, got {metric!r}")
    scen = search_scenario(scenario)
    task, variant = get_task(scen.task), get_variant(scen.variant)
    b = scen.budget(budget)
    seeds = tuple(int(s) for s in (seeds if seeds is not None else b.seeds))
    M.quiet_libraries()
    out = []
    for obj in objectives:
        t0 = time.perf_counter()
        per_seed, status = [], "ok"
        for seed in seeds:
            st, acc, _ = score_one(obj, task, variant, b, seed, lr, draw)
            if st != "ok":
                status = st
                break
            per_seed.append(acc)
        seconds = time.perf_counter() - t0
        if status != "ok":
            nan = float("nan")
            out.append(Fitness(obj.name, status, nan, nan, tuple(per_seed), nan, nan, seconds))
            continue
        mean = float(np.mean(per_seed))
        out.append(Fitness(obj.name, "ok", mean, ci95_halfwidth(per_seed), tuple(per_seed),
                           mean, mean, seconds))
    return out


def fixed_policies(scenario, budget: str, seed: int, *, draw: draws.Draw = 0,
                   workers: int | None = None, names: Sequence[str] = FIXED,
                   progress: bool = False) -> dict[str, Fitness]:
    """The reference (the draw's SFT base, untouched) of one seed of a draw, by name, as
    ``lossforge.bench.fitness.fixed_policies`` gives the MuJoCo ones."""
    unknown = set(names) - set(FIXED)
    if unknown:
        raise ConfigError(f"fixed policy {sorted(unknown)[0]!r}: expected one of {FIXED}")
    scen = search_scenario(scenario)
    task = get_task(scen.task)
    M.quiet_libraries()
    if REFERENCE not in names:
        return {}
    t0 = time.perf_counter()
    base, _ = sft_base(task, seed, draw=draw)
    acc = 100.0 * M.accuracy(M.load_base(base), tokenizer_of(task.name),
                             splits(task, seed, draw)["eval"], task.score, task.max_new)
    return {REFERENCE: Fitness(REFERENCE, "ok", acc, float("nan"), (acc,), acc, acc,
                               time.perf_counter() - t0)}
