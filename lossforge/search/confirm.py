"""``python -m lossforge.search confirm RUN``: the best loss against the run's baselines on seeds
the search never trained on.

A search's own verdict (``summary.verdict_lines``) pairs the best loss with each baseline on the
seeds it was scored on, and those are the seeds it was picked on: the best of many losses on
those seeds is ahead of a baseline by luck as well as by merit, so that verdict is optimistic.
A walkthrough measured it: with a plug-in fitness giving every loss the same true score, 11 of
11 searches ended 2.5-3.7 points ahead of every baseline, and 8 of them said BETTER than ORPO.
Here the best loss (or the hall of fame's ``rank``) and every baseline of the run are trained
again, by the run's own fitness, scenario, metric and budget, on fresh seeds in one paired call
(common random numbers), and judged as the search judges (``verdict.paired_verdict``).

Fresh means outside every seed the run may have trained on (``run_seeds``); the default is as
many seeds as the best loss was scored on at the budget (at least 2), from 1000 on. What changes
with the seeds is the fitness's: on the MuJoCo bench the minibatch order only; the dataset, the
reference and the evaluation episodes stay the search's, so luck on those episodes stays in
(``benchmarks/baselines.py confirm`` draws fresh data and episodes: the stronger test). A
suite run is refused: its units are (scenario, seed) pairs, confirmed per scenario by
``baselines.py confirm``. The scores are written to
``RUN/confirm-<budget>-seeds-<first>-<last>.json``, and the scoring is one line of the
selection ledger.
"""

from __future__ import annotations

from pathlib import Path

from lossforge.errors import ConfigError

#: where the default fresh seeds start: far from the 0-4 every shipped budget uses
FRESH_FROM = 1000


def run_seeds(start: dict, hof: dict) -> set[int]:
    """The seeds the run may have trained on: every seed list of its ladder in its scenario
    (``budget(rung).seeds``: what the bench and the LLM fitness train on) and 0 .. n-1 for the
    most seeds any of its records was scored on (a fitness that picks its own seeds when given
    none, as the probe does, numbers them from 0 in every fitness shipped)."""
    from lossforge.search.context import resolve_scenario

    _, scenario = resolve_scenario(start["scenario_file"], start["config"]["fitness"])
    used = {int(s) for rung in start["ladder"] for s in scenario.budget(rung).seeds}
    records = [r.get(rung) for r in [*hof.get("hall_of_fame", []), *hof.get("baselines", [])]
               for rung in start["ladder"]]
    n = max((len(f.get("per_seed") or []) for f in records if isinstance(f, dict)), default=0)
    return used | set(range(n))


def fresh_seeds(start: dict, hof: dict, budget: str,
                seeds: tuple[int, ...] | None) -> tuple[int, ...]:
    """``seeds``, or from ``FRESH_FROM`` on as many as the run's best loss was scored on at
    ``budget`` (at least 2); ``ConfigError`` when any of them is one the run may have trained
    on (``run_seeds``)."""
    if seeds is None:
        rows = [r.get(budget) for r in hof.get("hall_of_fame", [])[:1]]
        n = len((rows[0] or {}).get("per_seed") or []) if rows else 0
        seeds = tuple(range(FRESH_FROM, FRESH_FROM + max(n, 2)))
    used = sorted(run_seeds(start, hof) & set(seeds))
    if used:
        raise ConfigError(f"--seeds: the search trained on seed(s) {', '.join(map(str, used))}; "
                          "a confirmation needs seeds it never saw")
    if len(seeds) < 2:
        raise ConfigError("--seeds: give at least 2 seeds (one pair gives no interval)")
    return tuple(seeds)


def prepare(run: str | Path, budget: str | None = None, seeds: tuple[int, ...] | None = None
            ) -> tuple[Path, dict, dict, str, tuple[int, ...]]:
    """(run directory, its config.json, its hall of fame, the budget, the fresh seeds) of a
    confirmation, or ``ConfigError``/``CheckpointError`` saying why it cannot run; nothing
    trained yet."""
    from lossforge.runfiles import read_json, read_results, run_dir as checked

    run = checked(run)
    start = read_json(run / "config.json")
    if start["config"].get("suite"):
        raise ConfigError(f"{run} is a suite run: its units are (scenario, seed) pairs; "
                          "confirm it per scenario with python benchmarks/baselines.py confirm")
    budget = budget or start["ladder"][-1]
    if budget not in start["ladder"]:
        raise ConfigError(f"--budget {budget}: the run's budgets are {', '.join(start['ladder'])}")
    hof, _, _ = read_results(run, start)
    return run, start, hof, budget, fresh_seeds(start, hof, budget, seeds)


def confirm(run: str | Path, *, budget: str | None = None, seeds: tuple[int, ...] | None = None,
            rank: int = 0, workers: int | None = None) -> dict:
    """Train hall-of-fame row ``rank`` and the run's baselines on fresh ``seeds`` at ``budget``
    (default the run's top rung) and judge the row against each baseline; the result as
    written to the run directory (module docstring)."""
    from lossforge.search.executors import LocalExecutor, map_specs
    from lossforge.search.verdict import baseline_label, paired_verdict

    run, start, hof, budget, seeds = prepare(run, budget, seeds)
    conf = start["config"]
    rows = hof.get("hall_of_fame") or []
    if not 0 <= rank < len(rows):
        raise ConfigError(f"--rank {rank}: the hall of fame of {run} has {len(rows)} loss(es)")
    row, bases = rows[rank], [b["spec"] for b in hof["baselines"]]
    ex = LocalExecutor(workers)
    try:
        scored = map_specs(ex, conf["fitness"], [row["spec"], *bases], start["scenario_file"],
                           budget, conf["metric"], seeds=list(seeds))
    finally:
        ex.close()
    out = {"run": str(run), "loss": row["name"], "rank": rank, "budget": budget,
           "seeds": list(seeds), "metric": conf["metric"], "fitness": conf["fitness"],
           "scores": {f["name"]: f for f in scored}, "verdicts": {}}
    mine = scored[0]
    for spec, theirs in zip(bases, scored[1:]):
        failed = [f for f in (mine, theirs) if f["status"] != "ok"]
        if failed:
            v = {"word": "none", "why": f"{failed[0]['name']} failed: {failed[0]['status']}"}
        else:
            p = paired_verdict(mine["per_seed"], theirs["per_seed"])
            v = {"word": p.word, "diff": p.diff, "halfwidth": p.halfwidth, "n": p.n}
        out["verdicts"][baseline_label(spec)] = v
    return out


def output_path(out: dict) -> Path:
    s = out["seeds"]
    return Path(out["run"]) / f"confirm-{out['budget']}-seeds-{s[0]}-{s[-1]}.json"


def lines(out: dict) -> list[str]:
    """What the command prints: one verdict line per baseline, as the search's own."""
    from lossforge.search.summary import fitness_text
    from lossforge.search.verdict import verdict_text

    s = out["seeds"]
    head = [f"Confirmation of {out['loss']} on fresh seeds {s[0]}-{s[-1]} ({len(s)}) at the "
            f"{out['budget']} budget (the search never trained on them; what else they change "
            f"is the fitness's: on the MuJoCo bench nothing else, the data and evaluation "
            f"episodes stay the search's):",
            f"  {out['loss']}: {fitness_text(out['scores'][out['loss']])}"]
    body = []
    for label, v in out["verdicts"].items():
        if v["word"] == "none":
            body.append(f"  {label}: no verdict ({v['why']})")
        else:
            body.append("  " + verdict_text(label, v["word"], v["diff"], v["halfwidth"],
                                            f"{v['n']} seeds"))
    return head + body


def main(argv: list[str], args) -> int:
    """The ``confirm`` subcommand (``args`` parsed by ``__main__``): checks, a ledger line,
    then score, print and write."""
    from lossforge import ledger
    from lossforge.io import atomic_write_json

    run, start, _, budget, seeds = prepare(args.run, args.budget, args.seeds)
    ledger.record("probe", command=["python -m lossforge.search", *argv],
                  scenario=start["config"]["scenario"], seeds=list(seeds), budget=budget,
                  purpose=f"confirm hall-of-fame rank {args.rank} of {run} on fresh seeds",
                  path=args.ledger)
    out = confirm(run, budget=budget, seeds=seeds, rank=args.rank, workers=args.workers)
    for line in lines(out):
        print(line)
    path = output_path(out)
    atomic_write_json(path, out)
    print(f"written: {path}")
    return 0
