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
``output_path``, one file per loss and seed list, and the scoring is one line of the
selection ledger. An input file changed since the run started (``inputs.json``) is refused.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from lossforge.errors import ConfigError

#: where the default fresh seeds start: far from the 0-4 every shipped budget uses
FRESH_FROM = 1000


def run_seeds(run: Path, start: dict, hof: dict) -> set[int]:
    """The seeds the run may have trained on: its ``seeds.json`` (the scenario budgets' seeds,
    as the run started) or, without it, its scenario's, and 0 .. n-1 for the most seeds any of
    its records was scored on (a fitness that picks its own seeds when given none, as the probe
    does, numbers them from 0 in every fitness shipped)."""
    from lossforge.runfiles import read_json
    from lossforge.search.context import resolve_scenario

    try:
        used = {int(x) for seeds in read_json(run / "seeds.json")["fitness_seeds"].values()
                for x in seeds}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        _, scenario = resolve_scenario(start["scenario_file"], start["config"]["fitness"])
        used = {int(x) for rung in start["ladder"] for x in scenario.budget(rung).seeds}
    return used | set(range(_most_seeds(hof, start["ladder"])))


def _most_seeds(hof: dict, rungs) -> int:
    """The most seeds any loss or baseline of the hall of fame was scored on at ``rungs``."""
    records = [r.get(rung) for r in [*hof.get("hall_of_fame", []), *hof.get("baselines", [])]
               for rung in rungs]
    return max((len(f.get("per_seed") or []) for f in records if isinstance(f, dict)),
               default=0)


def fresh_seeds(run: Path, start: dict, hof: dict, budget: str,
                seeds: tuple[int, ...] | None) -> tuple[int, ...]:
    """``seeds``, or from ``FRESH_FROM`` on as many as the most any record of the run was scored
    on at ``budget`` (at least 2); ``ConfigError`` when one repeats (a repeated seed is one
    training counted twice) or is one the run may have trained on (``run_seeds``)."""
    if seeds is None:
        seeds = tuple(range(FRESH_FROM, FRESH_FROM + max(_most_seeds(hof, [budget]), 2)))
    twice = sorted({x for x in seeds if seeds.count(x) > 1})
    if twice:
        raise ConfigError(f"--seeds: seed(s) {', '.join(map(str, twice))} given more than once; "
                          "a repeated seed is the same training counted as another pair")
    used = sorted(run_seeds(run, start, hof) & set(seeds))
    if used:
        raise ConfigError(f"--seeds: the search trained on seed(s) {', '.join(map(str, used))}; "
                          "a confirmation needs seeds it never saw")
    if len(seeds) < 2:
        raise ConfigError("--seeds: give at least 2 seeds (one pair gives no interval)")
    return tuple(seeds)


def prepare(run: str | Path, budget: str | None = None, seeds: tuple[int, ...] | None = None,
            rank: int = 0) -> tuple[Path, dict, dict, dict, str, tuple[int, ...]]:
    """(run directory, its config.json, its hall of fame, the row of ``rank``, the budget, the
    fresh seeds) of a confirmation, or ``ConfigError``/``CheckpointError`` saying why it cannot
    run (a suite run, an input file changed since the run started, a budget or rank the run
    lacks, seeds it may have used); nothing trained yet."""
    from lossforge.runfiles import read_json, read_results, run_dir as checked
    from lossforge.search.inputs import changed_since

    run = checked(run)
    start = read_json(run / "config.json")
    if start["config"].get("suite"):
        raise ConfigError(f"{run} is a suite run: its units are (scenario, seed) pairs; "
                          "confirm it per scenario with python benchmarks/baselines.py confirm")
    changed = changed_since(run)
    if changed:
        raise ConfigError(f"{run}: {'; '.join(changed)} changed since the run started: a "
                          "confirmation would score on other data than the search")
    budget = budget or start["ladder"][-1]
    if budget not in start["ladder"]:
        raise ConfigError(f"--budget {budget}: the run's budgets are {', '.join(start['ladder'])}")
    hof, _, _ = read_results(run, start)
    rows = hof.get("hall_of_fame") or []
    if not 0 <= rank < len(rows):
        raise ConfigError(f"--rank {rank}: the hall of fame of {run} has {len(rows)} loss(es)")
    return run, start, hof, rows[rank], budget, fresh_seeds(run, start, hof, budget, seeds)


def confirm(run: str | Path, *, budget: str | None = None, seeds: tuple[int, ...] | None = None,
            rank: int = 0, workers: int | None = None) -> dict:
    """Train hall-of-fame row ``rank`` and the run's baselines on fresh ``seeds`` at ``budget``
    (default the run's top rung) and judge the row against each baseline; the result as
    written to the run directory (module docstring). A fitness that raises stops it
    (``FitnessRaised``, with the fitness's traceback)."""
    return score(prepare(run, budget, seeds, rank), rank, workers)


def score(prepared: tuple, rank: int, workers: int | None) -> dict:
    """``confirm``'s training and verdicts on what ``prepare`` gave."""
    from lossforge.search.executors import LocalExecutor, map_specs
    from lossforge.search.verdict import baseline_label, known_verdict_note, paired_verdict

    run, start, hof, row, budget, seeds = prepared
    conf, bases = start["config"], [b["spec"] for b in hof["baselines"]]
    ex = LocalExecutor(workers)
    try:
        scored = map_specs(ex, conf["fitness"], [row["spec"], *bases], start["scenario_file"],
                           budget, conf["metric"], seeds=list(seeds))
    finally:
        ex.close()
    out = {"run": str(run), "loss": row["name"], "rank": rank, "budget": budget,
           "seeds": list(seeds), "metric": conf["metric"], "fitness": conf["fitness"],
           "scores": {f["name"]: f for f in scored}, "verdicts": {},
           "note": known_verdict_note(row, hof["baselines"])}
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


def earlier(out: dict) -> list[str]:
    """The losses other confirmations of this run scored on the same seeds and budget: picking
    the best of several confirmations is a selection on these seeds again."""
    names = []
    for path in sorted(Path(out["run"]).glob(f"confirm-*-{out['budget']}-seeds-*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (isinstance(doc, dict) and doc.get("seeds") == out["seeds"]
                and doc.get("loss") not in (None, out["loss"])):
            names.append(str(doc["loss"]))
    return names


def output_path(out: dict) -> Path:
    """``RUN/confirm-<loss>-<budget>-seeds-<first>-<last>-<digest of the seed list>.json``: one
    file per loss and seed list, so another rank or seed list never overwrites one."""
    s = out["seeds"]
    tag = hashlib.sha256(json.dumps(s).encode()).hexdigest()[:8]
    return (Path(out["run"])
            / f"confirm-{out['loss']}-{out['budget']}-seeds-{s[0]}-{s[-1]}-{tag}.json")


def lines(out: dict, others: list[str] = ()) -> list[str]:
    """What the command prints: one verdict line per baseline, as the search's own, its note
    where the loss is a zoo member, and the other losses confirmed on these seeds."""
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
    if out.get("note"):
        body.append(f"  Note: {out['note']}.")
    if others:
        body.append(f"  Also confirmed on these seeds: {', '.join(others)}. Keeping the best of "
                    "several confirmations selects on these seeds again: take fresh ones.")
    return head + body


def main(argv: list[str], args) -> int:
    """The ``confirm`` subcommand (``args`` parsed by ``__main__``): checks, a ledger line,
    then score, print and write; a fitness that raises: its traceback and one line, exit 1."""
    from lossforge import ledger
    from lossforge.io import atomic_write_json
    from lossforge.search.fitness_errors import FitnessRaised

    prepared = prepare(args.run, args.budget, args.seeds, args.rank)
    run, start, _, _, budget, seeds = prepared
    ledger.record("probe", command=["python -m lossforge.search", *argv],
                  scenario=start["config"]["scenario"], seeds=list(seeds), budget=budget,
                  purpose=f"confirm hall-of-fame rank {args.rank} of {run} on fresh seeds",
                  path=args.ledger)
    try:
        out = score(prepared, args.rank, args.workers)
    except FitnessRaised as exc:
        print(exc.details, file=sys.stderr)
        print(f"error: the confirmation stopped on {exc.kind}: {exc} (traceback above); nothing "
              "was written",
              file=sys.stderr)
        return 1
    for line in lines(out, earlier(out)):
        print(line)
    path = output_path(out)
    atomic_write_json(path, out)
    print(f"written: {path}")
    return 0
