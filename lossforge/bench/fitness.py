"""Fitness of a list of objectives on a MuJoCo scenario and budget: ``--fitness bench``, the
search's default (a search picks its fitness in ``search/executors.py``, ``resolve_fitness``:
this one, the probe, the LLM test bed or a plug-in; a suite run adds ``search/suite_fitness.py``).

    from lossforge.bench import fitness
    results = fitness.evaluate([objectives.get("dpo"), objectives.get("orpo")], "quick", "screen")
    for r in results:
        print(r.name, r.status, r.score, "+-", r.ci95)

The protocol (``docs/design/benchmark.md``), top to bottom:
1. the scenario's dataset (deterministic from the scenario; cached by content hash);
2. the reference policy: behaviour cloning per the scenario's recipe (cached);
3. every objective trained from the reference with every training seed of the budget (the
   trainer picks batched or per-process training);
4. every checkpoint and final policy evaluated on the same episode seeds (common random
   numbers: the minibatch order and the evaluation episodes depend only on the seeds, never on
   the objective, so differences between candidates are paired);
5. normalised score 100 (R - R_random) / (R_expert - R_random), per seed, then mean and a 95 %
   t-interval over seeds.

Two metrics, for every row: ``auc``, the mean score over the training checkpoints (every
``eval_every`` steps, the last one included), and ``final``, the score of the last parameters.
``fixed_policies`` scores the reference and BC-on-chosen on both: the reference does not train,
so its AUC is its score; BC-on-chosen's checkpoints sit at the same fractions of its own training
as a loss's checkpoints of the budget's.

``draw`` (default 0, today's benchmark) evaluates on another instance of the scenario: its own
dataset, BC reference and evaluation episodes (``lossforge.bench.draws``).

A run whose loss or gradients went non-finite is marked (``status``) and its score is NaN; the
other candidates are unaffected.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np

from lossforge.bench import draws, stats
from lossforge.bench.bc import BCConfig, train_bc
from lossforge.bench.cache import Hasher, cache_root
from lossforge.bench.datasets import build_dataset
from lossforge.bench.draws import EPISODE_SEED_BASE  # noqa: F401  (re-exported)
from lossforge.bench.evaluator import Evaluator, normalized_score, score_runs, zoo_returns
from lossforge.bench.result import METRICS, Fitness  # noqa: F401  (METRICS re-exported)
from lossforge.bench.scenarios import Scenario, load_scenario
from lossforge.bench.teachers import check_pairs_kept
from lossforge.bench.trainer import TrainConfig, TrainingData, prepare, train_population
from lossforge.errors import ConfigError
from lossforge.workers import worker_count

# Evaluation episodes of draw 0 use seeds EPISODE_SEED_BASE, +1, ... for every candidate and
# budget (defined with the other draws' seeds in lossforge.bench.draws).


def ci95_halfwidth(values: Sequence[float]) -> float:
    """Half-width of the 95 % t-interval of the mean (NaN for fewer than 2 values), with the
    exact t quantile at every sample size."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2 or not np.isfinite(x).all():
        return float("nan")
    t = stats.t_quantile(0.975, len(x) - 1)
    return float(t * x.std(ddof=1) / math.sqrt(len(x)))


def _load(scenario: Scenario | str) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


def reference_policy(scenario: Scenario, recipe: str | None = None, progress=False,
                     workers: int | None = 1, draw: draws.Draw = 0, budget: str | None = None):
    """The dataset and the BC reference of a scenario on a draw (both cached on disk; the first
    build rolls the dataset out in ``workers`` processes, 0 or None = every core). ``progress``,
    here and below: False, True (progress on stderr) or the rich Console to show it on.
    ``budget``: the one training will use, whose batch a "skip" teacher's kept pairs must fill
    (refused before BC; ``build_dataset``)."""
    scenario = draws.scenario_for(scenario, draw)
    dataset = build_dataset(scenario, workers=worker_count(workers), quiet=not progress,
                            console=progress if progress is not True else None, budget=budget)
    ref = train_bc(dataset, BCConfig(recipe=recipe or scenario.reference,
                                     steps=scenario.bc_steps, seed=draws.reference_seed(draw)),
                   progress=progress)
    return dataset, ref


#: The last scenario's prepared training data, kept for the next call on the same scenario:
#: baselines.py calls ``evaluate`` once per loss and the search once per chunk, and loading the
#: dataset and reference and computing the reference log-probs costs 1-3.5 s a call. Keyed on
#: the scenario's definition, the draw and the cache directory they come from.
_PREPARED: dict[tuple[Scenario, int, str], TrainingData] = {}


def training_data(scenario: Scenario, progress: bool = False,
                  workers: int | None = 1, draw: draws.Draw = 0,
                  budget: str | None = None) -> TrainingData:
    """The scenario's dataset and reference on a draw, prepared for training (kept for the next
    call). ``budget``: as in ``reference_policy``, checked on a kept one too."""
    key = (scenario, draws.index(draw), str(cache_root()))
    if key not in _PREPARED:
        _PREPARED.clear()
        dataset, ref = reference_policy(scenario, progress=progress, workers=workers, draw=draw,
                                        budget=budget)
        _PREPARED[key] = prepare(dataset, ref.params, progress=progress)
    elif budget is not None:
        check_pairs_kept(draws.scenario_for(scenario, draw), _PREPARED[key].n_pairs,
                         draws.dataset_seed(scenario, draw), budget)
    return _PREPARED[key]


def warm_up(scenario: Scenario | str, workers: int | None = None, progress: bool = True,
            log: Callable[[str], None] | None = None, *, draw: draws.Draw = 0,
            seeds: Sequence[int] | None = None) -> dict[str, str]:
    """Build (or load) the scenario's dataset and BC reference on ``draw`` once, here, before
    work goes to worker processes (a search's, or baselines.py's one loss a worker): otherwise
    every worker builds both at once on its first run (a Hopper dataset takes 7-40 minutes in
    one process) and says nothing while it does. ``log``, if given, prints a line saying so.
    ``seeds`` is accepted for the LLM bed's signature: here nothing depends on the seed.
    Returns their digests (``data_digests``), which the rows of this draw record."""
    if log is not None:
        log("dataset and reference policy (built on a first run, then read from the cache)")
    dataset, ref = reference_policy(_load(scenario), progress=progress, workers=workers,
                                    draw=draw)
    return _digests(dataset, ref)


def data_digests(scenario: Scenario | str, draw: draws.Draw = 0) -> dict[str, str]:
    """What a row of ``draw`` trained on, for the pairing check of the reports (v2-plan.md,
    Session 22): sha256 (16 hex digits) of the draw's dataset arrays and of its BC reference's
    parameters. Rows of one draw pair as if they saw the same data; a rebuild that came out
    otherwise (on another machine, say) shows here. Loads both from the cache (``warm_up``
    first)."""
    return _digests(*reference_policy(_load(scenario), draw=draw))


def _digests(dataset, ref) -> dict[str, str]:
    return {"dataset_sha256": dataset_digest(dataset),
            "reference_sha256": params_digest(ref.params)}


def dataset_digest(dataset) -> str:
    """sha256 (16 hex digits) of everything in a preference dataset that training reads."""
    h = Hasher().json("length control", [dataset.length_control, dataset.absorbing_logp])
    for name in ("obs", "actions", "lengths", "returns", "chosen", "sources"):
        h.array(name, getattr(dataset, name))
    if dataset.label_prob is not None:
        h.array("label_prob", dataset.label_prob)
    return h.hexdigest()[:16]


def params_digest(params) -> str:
    """sha256 (16 hex digits) of a policy's parameters (name, dtype, shape and values)."""
    h = Hasher()
    for name in sorted(params):
        h.array(name, params[name].detach().cpu().numpy())
    return h.hexdigest()[:16]


def reference_score(scenario: Scenario | str, budget: str = "screen", metric: str = "auc"
                    ) -> float:
    """The BC reference policy's normalised score on the budget's evaluation episodes (the
    zero point of a suite run's regret scale; a fixed policy's AUC equals its final score)."""
    scen = _load(scenario)
    _, ref = reference_policy(scen)
    return evaluate_policies({"reference": ref.params}, scen, budget)["reference"].score


def evaluate(objectives: Sequence, scenario: Scenario | str, budget: str = "screen", *,
             seeds: Sequence[int] | None = None, metric: str = "auc",
             workers: int | None = None, progress: bool = False,
             episodes: int | None = None, episode_seed_base: int | None = None,
             draw: draws.Draw = 0, lr: float | None = None) -> list[Fitness]:
    """Train and score ``objectives`` on ``scenario`` at ``budget``; one Fitness each, in order.

    ``seeds`` and ``episodes`` override the budget's training seeds and evaluation episodes,
    ``lr`` its learning rate; ``draw`` picks the instance of the scenario (dataset, reference
    and episodes; see ``lossforge.bench.draws``); ``episode_seed_base`` moves draw 0's
    evaluation episodes (for an independent re-evaluation).
    """
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
    if episode_seed_base is not None and draws.index(draw) != 0:
        raise ConfigError("episode_seed_base moves draw 0's episodes; other draws have their own")
    if not objectives:
        return []
    start = time.perf_counter()
    scen = _load(scenario)
    b = scen.budget(budget)
    seeds = tuple(int(s) for s in (seeds if seeds is not None else b.seeds))
    n_episodes = b.eval_episodes if episodes is None else episodes
    episode_seeds = draws.episode_seeds(draw, n_episodes)   # checks n_episodes before training
    if episode_seed_base is not None:
        episode_seeds = range(episode_seed_base, episode_seed_base + n_episodes)
    data = training_data(scen, progress=progress, workers=workers, draw=draw, budget=budget)
    config = TrainConfig(steps=b.train_steps, batch_pairs=b.batch_size,
                         lr=b.lr if lr is None else lr, eval_every=b.eval_every,
                         workers=workers or 0)
    runs = train_population(list(objectives), data, None, seeds, config,
                            progress=progress)
    evaluator = Evaluator(scen.env_id, episode_seeds)
    try:
        scores = score_runs(runs, evaluator, zoo_returns(scen.env_id), progress=progress)
    finally:
        evaluator.close()
    seconds = time.perf_counter() - start
    out = []
    for i, obj in enumerate(objectives):
        mine = scores[i * len(seeds):(i + 1) * len(seeds)]
        bad = [s.status for s in mine if s.status != "ok"]
        per_seed = tuple(float(s.auc_score if metric == "auc" else s.final_score) for s in mine)
        final = float(np.mean([s.final_score for s in mine]))
        auc = float(np.mean([s.auc_score for s in mine]))
        rnd, exp = zoo_returns(scen.env_id)
        per_ckpt = np.mean([normalized_score(s.returns.mean(axis=1), rnd, exp) for s in mine],
                           axis=0)
        curve = tuple(zip((int(c) for c in mine[0].checkpoint_steps),
                          (float(v) for v in np.atleast_1d(per_ckpt))))
        if bad:
            out.append(Fitness(obj.name, bad[0], float("nan"), float("nan"), per_seed, final, auc,
                               seconds, curve))
        else:
            out.append(Fitness(obj.name, "ok", float(np.mean(per_seed)), ci95_halfwidth(per_seed),
                               per_seed, final, auc, seconds, curve))
    return out


def evaluate_policies(policies: dict, scenario: Scenario | str, budget: str = "screen", *,
                      episodes: int | None = None, draw: draws.Draw = 0,
                      progress=False) -> dict[str, Fitness]:
    """Score fixed policies (e.g. the reference, BC-on-chosen) on the same episodes as
    ``evaluate``; no training, so each has one 'seed' and no CI, and its AUC is its score."""
    start = time.perf_counter()
    scen = _load(scenario)
    b = scen.budget(budget)
    n = b.eval_episodes if episodes is None else episodes
    evaluator = Evaluator(scen.env_id, draws.episode_seeds(draw, n))
    try:
        res = evaluator.evaluate(list(policies.values()), progress=progress)
    finally:
        evaluator.close()
    rnd, exp = zoo_returns(scen.env_id)
    out = {}
    for i, name in enumerate(policies):
        s = float(normalized_score(res.returns[i].mean(), rnd, exp))
        out[name] = Fitness(name, "ok", s, float("nan"), (s,), s, s, time.perf_counter() - start)
    return out


#: The names of the two policies ``fixed_policies`` scores (``result.py`` holds them).
from lossforge.bench.result import BC_ON_CHOSEN, REFERENCE  # noqa: E402


def bc_checkpoints(bc_steps: int, budget) -> tuple[int, ...]:
    """BC-on-chosen's checkpoints: the budget's loss checkpoints (every ``eval_every`` of
    ``train_steps``) at the same fractions of the clone's own ``bc_steps`` (rounded, at least
    1, distinct). The last is the end of training when the budget's last checkpoint is."""
    fractions = [k / budget.train_steps for k in range(budget.eval_every, budget.train_steps + 1,
                                                       budget.eval_every)]
    return tuple(sorted({max(1, round(f * bc_steps)) for f in fractions})) or (bc_steps,)


def fixed_policies(scenario: Scenario | str, budget: str, seed: int, *, draw: draws.Draw = 0,
                   workers: int | None = 1, names=(REFERENCE, BC_ON_CHOSEN), progress=False,
                   episodes: int | None = None) -> dict[str, Fitness]:
    """The reference and BC-on-chosen (trained with ``seed``) of a draw, scored on its episodes
    with both metrics. The reference does not train: its AUC is its score (and its final).
    BC-on-chosen's AUC is its mean score at ``bc_checkpoints``, its final the score of its last
    parameters (``score`` is final, as these rows always had). One population, so each scores
    what it would alone. ``episodes``: the budget's evaluation episodes unless given."""
    start = time.perf_counter()
    scen = _load(scenario)
    dataset, ref = reference_policy(scen, workers=workers, draw=draw, progress=progress)
    policies, steps = {}, bc_checkpoints(scen.bc_steps, scen.budget(budget))
    if REFERENCE in names:
        policies[REFERENCE] = ref.params
    if BC_ON_CHOSEN in names:
        bc = train_bc(dataset, BCConfig(recipe="chosen", seed=seed, steps=scen.bc_steps),
                      keep_at=steps, progress=progress)
        policies |= {f"{BC_ON_CHOSEN}@{k}": p for k, p in zip(steps, bc.checkpoints)}
        if steps[-1] != scen.bc_steps:
            policies[f"{BC_ON_CHOSEN}@{scen.bc_steps}"] = bc.params
    scored = evaluate_policies(policies, scen, budget, draw=draw, progress=progress,
                               episodes=episodes)
    seconds = time.perf_counter() - start
    out = {}
    if REFERENCE in names:
        s = scored[REFERENCE].score
        out[REFERENCE] = Fitness(REFERENCE, "ok", s, float("nan"), (s,), s, s, seconds)
    if BC_ON_CHOSEN in names:
        curve = tuple((k, scored[f"{BC_ON_CHOSEN}@{k}"].score) for k in steps)
        auc = float(np.mean([v for _, v in curve]))
        fin = scored[f"{BC_ON_CHOSEN}@{scen.bc_steps}"].score
        out[BC_ON_CHOSEN] = Fitness(BC_ON_CHOSEN, "ok", fin, float("nan"), (fin,), fin, auc,
                                    seconds, curve)
    return {n: out[n] for n in names}
