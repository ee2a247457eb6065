"""The state of the field on the MuJoCo benchmark: baselines x scenarios x seeds, resumable.

    python benchmarks/baselines.py run --scenarios hopper-clean,hopper-noisy-0.3 \
        --losses dpo,dpo:beta=2,orpo,ipo,robust,hinge --seeds 0-9 --budget full \
        --out benchmarks/results/baselines-hopper.jsonl
    python benchmarks/baselines.py table benchmarks/results/baselines-hopper.jsonl

    # a search's winners, scored the same way (with DPO again in every cell, for paired
    # differences), then compared with every baseline of the table
    python benchmarks/baselines.py run --scenarios hopper-noisy-0.3 --losses dpo --no-fixed \
        --spec benchmarks/results/winners/<name>.json --from-run runs/<run>:0 --seeds 0-9 \
        --budget full --out benchmarks/results/winners-hopper-full.jsonl
    python benchmarks/baselines.py compare benchmarks/results/winners-hopper-full.jsonl \
        --baselines benchmarks/results/baselines-hopper-full.jsonl \
        --baselines benchmarks/results/dpo-sweep-hopper-full.jsonl \
        --baselines benchmarks/results/winners-hopper-full.jsonl --skip dpo,hinge,robust
    # (the last --baselines: baselines scored next to the winner, e.g. on a held-out scenario;
    #  --skip: the rows of the candidates file that are baselines, not candidates)

``run`` works cell by cell, one (seed, scenario) at a time. Every loss of a cell trains from the
same reference with the same seed and plays the same evaluation episodes (common random
numbers), and a loss's numbers do not depend on which other losses or cells ran with it
(tested: a member trained alone equals the same member trained one per worker, bit for bit,
and a policy evaluated alone equals it evaluated in a population; only at tiny minibatches,
where ``auto`` stacks members, do they differ, by float rounding). So a cell's losses run one
worker-load at a time (``--workers`` losses), and each is appended to the JSONL file as it
lands (flushed and fsynced); on the next start every (scenario, seed, budget, loss) already in
the file is skipped, so a killed run resumes where it stopped, across sessions, losing at most
the losses in flight, and a new loss can be added to a file that already has a scenario's
baselines. Every line records the exact command. Seeds go in the outer loop, so a partial run
covers every scenario with a few seeds rather than a few scenarios with all seeds.

Two such jobs usually share the machine (one per core). OpenMP threads that wait passively keep
them from slowing each other down (see the note at ``OMP_WAIT_POLICY`` below). They may also
share one file: each reads it again before every batch and leaves out the rows the other has
written, so the same seeds with the scenarios in opposite orders split the work between the
two. Where they meet, in one cell, the job that finds the cell begun by the other takes its
losses from the far end (before that, both took them in the same order and trained the cell's
remaining rows twice: 6 of one Ant cell's 9 rows). Two jobs can still take the same row at the
same moment; the copies agree, and every reader counts them once.

``table`` prints and writes (next to the JSONL, as .md and .json) mean normalised score and the
95 % t-interval over seeds for every scenario and loss, plus the reference (BC) and BC-on-chosen.

``compare`` answers the search's must-show for every candidate and scenario: does its 95 % CI
lie above the CI of every baseline in the table (same scenario, budget and seeds), and what is
its paired difference to DPO trained in the same cells.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

# BC (the reference and BC-on-chosen) trains with two threads. With OpenMP's default wait policy
# a thread waiting for its partner spins on a core that another job needs: 150 Ant BC steps took
# 32-40 s against 14-21 s with passive waiting, three processes on two cores, and the parameters
# were identical bit for bit. It must be set before torch loads; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge.bench._io import append_lines  # noqa: E402
from lossforge.bench.scenarios import parse_seeds  # noqa: E402
from lossforge.errors import LossforgeError  # noqa: E402
from lossforge.workers import worker_count  # noqa: E402


def _key(r: dict) -> tuple:
    return r.get("scenario"), r.get("seed"), r.get("budget"), r.get("loss")


#: What two rows of the same (scenario, seed, budget, loss) must agree on to count as one.
RESULT_FIELDS = ("status", "score", "final", "auc")


def records(path: Path) -> list[dict]:
    """The rows of a run JSONL, one per (scenario, seed, budget, loss); a torn last line from a
    kill is skipped (that cell is redone). Two jobs sharing a file can both write a row they
    took at the same moment: the copies agree (training and evaluation are deterministic) and
    count once. Copies that disagree stop every reader, naming the row: the file mixes results
    of different code or settings, and no table should silently pick one. A line without the
    four key fields is not a result row and is passed through as it is."""
    out: list[dict] = []
    first: dict[tuple, dict] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        key = _key(r)
        if None in key:
            out.append(r)
        elif key not in first:
            first[key] = r
            out.append(r)
        elif any(first[key].get(f) != r.get(f) for f in RESULT_FIELDS):
            raise SystemExit(f"{path}: line {n} repeats {key} with other results "
                             f"(score {r.get('score')} against {first[key].get('score')}); "
                             "remove the stale copy")
    return out


#: The two policies every cell scores next to the losses unless --no-fixed.
FIXED = ("reference (BC)", "bc-on-chosen")


def row_keys(path: Path) -> list[tuple[str, int, str, str]]:
    """(scenario, seed, budget, loss) of every row already in the JSONL file, in file order."""
    return [_key(r) for r in records(path)] if path.exists() else []


def missing(done: set, scenario: str, seed: int, budget: str, names) -> list[str]:
    """The names of a cell that the file does not have yet (a cell is per loss: adding a
    loss to a scenario that already has rows trains that loss, and only that one)."""
    return [n for n in names if (scenario, seed, budget, n) not in done]


def append(path: Path, records: list[dict]) -> None:
    append_lines(path, [json.dumps(r) for r in records])


def run(args) -> None:

    from lossforge.bench import fitness
    from lossforge.bench.__main__ import build_objectives, run_objective
    from lossforge.bench.bc import BCConfig, train_bc
    from lossforge.bench.scenarios import load_scenario

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    started_with = set(row_keys(out))
    command = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    show = not args.quiet   # progress of each step (dataset, BC, training, evaluation) on stderr
    extra = [load_spec_file(Path(f)) for f in args.spec] + [run_objective(r) for r in args.from_run]
    # every scenario and loss is checked before anything trains: a typo in the last scenario
    # fails now, not hours into the run
    scenarios = {name: load_scenario(name) for name in args.scenarios.split(",")}
    losses = {name: (build_objectives(args.losses, scen) if args.losses else []) + extra
              for name, scen in scenarios.items()}
    seeds = parse_seeds(args.seeds)

    def todo_in(done: set, name: str, seed: int) -> tuple[list, list[str]]:
        """(losses, fixed policies) of one cell that ``done`` does not have yet."""
        absent = set(missing(done, name, seed, args.budget, [o.name for o in losses[name]]))
        fixed = [] if args.no_fixed else missing(done, name, seed, args.budget, FIXED)
        return [o for o in losses[name] if o.name in absent], fixed

    todo = {(seed, name): todo_in(started_with, name, seed) for seed in seeds
            for name in scenarios}
    progress = Progress({(name, seed, args.budget, n) for (seed, name), (objs, fixed)
                         in todo.items() for n in [o.name for o in objs] + fixed})
    print(f"{out}: rows in the file {len(started_with)}, to run {len(progress.pending)}",
          flush=True)

    def fresh(name: str, seed: int) -> tuple[list, list[str]]:
        """What the cell still lacks, read from the file again before every batch: another job
        writing to the same file (the same seeds in another order, say) takes its share. If
        another job began this cell after this run started, its losses are taken from the other
        end, so the two jobs meet in the middle instead of training the same rows."""
        keys = row_keys(out)
        done = set(keys)
        elsewhere = progress.written_elsewhere(done)
        if elsewhere:
            print(f"{time.strftime('%H:%M:%S')} another job wrote "
                  + ", ".join(f"{s} seed {sd}: {n}" for s, sd, _, n in elsewhere) + " "
                  + progress.status(), flush=True)
        objs, fixed = todo_in(done, name, seed)
        first = next((k for k in keys if k[:3] == (name, seed, args.budget)), None)
        if first is not None and first not in started_with and first not in progress.written:
            objs = objs[::-1]
        return objs, fixed

    for seed in seeds:
        for name, scen in scenarios.items():
            fixed_todo = fresh(name, seed)[1]
            if fixed_todo:
                t0 = time.time()
                dataset, ref = fitness.reference_policy(scen, workers=args.workers,
                                                        progress=show)
                bc_chosen = train_bc(dataset, BCConfig(recipe="chosen", seed=seed,
                                                       steps=scen.bc_steps), progress=show).params
                fixed = fitness.evaluate_policies({"reference (BC)": ref.params,
                                                   "bc-on-chosen": bc_chosen}, scen, args.budget,
                                                  progress=show)
                _record(out, name, seed, args.budget, [fixed[n] for n in fixed_todo], t0, command,
                        progress)
            # One worker-load of losses at a time, each appended as it lands: a kill loses at
            # most that, not the whole cell. Each loss trains and plays its episodes exactly as
            # it would beside the others (see the module docstring), so its numbers are the same.
            step = max(1, worker_count(args.workers))
            while objs := fresh(name, seed)[0]:
                t0 = time.time()
                rows = fitness.evaluate(objs[:step], scen, args.budget, seeds=[seed],
                                        workers=args.workers, progress=show)
                _record(out, name, seed, args.budget, rows, t0, command, progress)


class Progress:
    """Rows written out of those this run set out to write, and a naive time to go (mean seconds
    per row so far; BC-on-chosen rows take longer than a loss, so it is rough). Rows that
    another job sharing the file writes meanwhile leave the plan."""

    def __init__(self, planned: set[tuple]):
        self.pending, self.written, self.start = set(planned), set(), time.time()

    def add(self, keys: list[tuple]) -> str:
        self.pending -= set(keys)
        self.written |= set(keys)
        return self.status()

    def written_elsewhere(self, in_file: set[tuple]) -> list[tuple]:
        """Planned rows now in the file that this run did not write (sorted)."""
        theirs = sorted(self.pending & in_file)
        self.pending -= in_file
        return theirs

    def status(self) -> str:
        done = len(self.written)
        total = done + len(self.pending)
        if not done:
            return f"[0/{total}]"
        left = (time.time() - self.start) / done * len(self.pending)
        return f"[{done}/{total}, about {left / 3600:.1f} h to go]"


def _record(out: Path, scenario: str, seed: int, budget: str, rows, t0: float,
            command: str, progress: Progress) -> None:
    """Append one batch of finished rows (fsynced) and say so."""
    append(out, [{"scenario": scenario, "seed": seed, "budget": budget,
                  "loss": r.name, "status": r.status, "score": r.per_seed[0],
                  "final": r.final, "auc": r.auc, "curve": r.curve,
                  "seconds": time.time() - t0, "command": command} for r in rows])
    print(f"{time.strftime('%H:%M:%S')} {scenario} seed {seed}: "
          + ", ".join(f"{r.name} {r.per_seed[0]:.1f}" for r in rows) + " "
          + progress.add([(scenario, seed, budget, r.name) for r in rows]), flush=True)


def table(args) -> None:
    from lossforge.bench.fitness import ci95_halfwidth

    path = Path(args.jsonl)
    cells: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    commands = set()
    for r in records(path):
        commands.add(r["command"])
        metric = r["score"] if r["status"] == "ok" else float("nan")
        cells[(r["budget"], r["scenario"], r["loss"])].append(metric)
    rows = []
    for (budget, scen, loss), xs in sorted(cells.items()):
        mean = sum(xs) / len(xs)
        rows.append({"budget": budget, "scenario": scen, "loss": loss, "n_seeds": len(xs),
                     "mean": mean, "ci95": ci95_halfwidth(xs), "per_seed": xs})
    lines = ["| budget | scenario | loss | seeds | score (mean) | 95 % CI |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ci = "n/a" if r["ci95"] != r["ci95"] else f"±{r['ci95']:.1f}"
        lines.append(f"| {r['budget']} | {r['scenario']} | {r['loss']} | {r['n_seeds']} | "
                     f"{r['mean']:.1f} | {ci} |")
    md = "\n".join(lines) + "\n\nCommands:\n" + "\n".join(f"    {c}" for c in sorted(commands))
    print(md)
    path.with_suffix(".md").write_text(md + "\n")
    path.with_suffix(".summary.json").write_text(json.dumps(rows, indent=2) + "\n")


SCENARIO_ORDER = ("clean", "noisy-0.1", "noisy-0.2", "noisy-0.3", "noisy-0.4", "mixed-quality",
                  "ambiguous")


def field(args) -> None:
    """One wide table per environment: losses down, scenarios across, mean ± 95 % CI (seeds
    in brackets where fewer than --seeds-wanted), the best mean of each column in bold."""
    from lossforge.bench.fitness import ci95_halfwidth

    per_seed: dict[tuple[str, str], dict[str, dict[int, float]]] = defaultdict(
        lambda: defaultdict(dict))
    for path in args.jsonl:
        for (budget, scenario, loss), xs in _summary(Path(path)).items():
            if budget == args.budget and "/" not in scenario:   # no held-out copies
                env, _, scen = scenario.partition("-")
                for seed, score in xs:   # a cell in two files (a sweep re-using the table's
                    per_seed[(env, scen)][loss].setdefault(seed, score)   # seeds) counts once
    cells = {k: {n: list(v.values()) for n, v in d.items()} for k, d in per_seed.items()}
    out = [f"# State of the field ({args.budget} budget; normalised score, mean ± 95 % CI over "
           f"training seeds; [n] = seeds so far where fewer than {args.seeds_wanted})", ""]
    for env in sorted({e for e, _ in cells}):
        scens = [s for s in SCENARIO_ORDER if (env, s) in cells]
        known = ("reference (BC)", *FIXED[1:], "dpo", "dpo[beta=0.5]", "dpo[beta=2]", "orpo",
                 "ipo", "robust", "hinge")
        found = {n for s in scens for n in cells[(env, s)]}
        losses = [n for n in known if n in found] + sorted(found - set(known))
        means = {s: {n: sum(v) / len(v) for n, v in cells[(env, s)].items()} for s in scens}
        out += [f"## {env.capitalize()}", "", "| loss | " + " | ".join(scens) + " |",
                "|---|" + "---|" * len(scens)]
        for n in losses:
            row = []
            for s in scens:
                v = cells[(env, s)].get(n)
                if not v:
                    row.append("")
                    continue
                mean, ci = means[s][n], ci95_halfwidth(v)
                txt = f"{mean:.1f}" + ("" if ci != ci else f" ± {ci:.1f}")
                txt = f"**{txt}**" if mean == max(means[s].values()) else txt
                row.append(txt + (f" [{len(v)}]" if len(v) < args.seeds_wanted else ""))
            out.append(f"| {n} | " + " | ".join(row) + " |")
        out.append("")
    out += ["Made by: python benchmarks/baselines.py " + " ".join(sys.argv[1:]),
            "Rows, commands and per-seed scores: the JSONL files named there and their .md tables."]
    md = "\n".join(out) + "\n"
    print(md, end="")
    if args.out:
        Path(args.out).write_text(md)


def load_spec_file(path: Path):
    """An objective from a JSON file: a spec, or {"spec": ...} as the search and distillation
    write them (MPO or neural). JSON only: nothing is executed or unpickled."""
    from lossforge.objectives import from_spec

    data = json.loads(path.read_text())
    return from_spec(data.get("spec", data))


def _summary(path: Path) -> dict[tuple[str, str, str], list[tuple[int, float]]]:
    """(budget, scenario, loss) -> [(seed, score)] of a run JSONL (torn lines skipped)."""
    cells: dict[tuple[str, str, str], list[tuple[int, float]]] = defaultdict(list)
    for r in records(path):
        score = r["score"] if r["status"] == "ok" else float("nan")
        cells[(r["budget"], r["scenario"], r["loss"])].append((r["seed"], score))
    return cells


def compare(args) -> None:
    """Every candidate of a winners JSONL against every baseline of the table, per scenario."""
    from lossforge.bench.fitness import ci95_halfwidth

    cand, base = _summary(Path(args.jsonl)), {}
    for path in args.baselines:
        base |= _summary(Path(path))
    skip = args.skip.split(",")
    candidates = {loss for (_, _, loss) in cand if loss not in skip}
    out, lines = [], ["| scenario | loss | seeds | score | 95 % CI | best baseline (CI) | "
                      "beats every baseline, CIs apart | paired vs DPO (same cells) |",
                      "|---|---|---|---|---|---|---|---|"]
    for (budget, scen, loss), xs in sorted(cand.items()):
        if loss in skip:
            continue
        seeds = {s for s, _ in xs}
        scores = [v for _, v in sorted(xs)]
        mean, ci = sum(scores) / len(scores), ci95_halfwidth(scores)
        rivals = []
        for (b2, s2, name), ys in base.items():
            # a file may be in both roles: its candidates (another search's winner, say) are
            # never a baseline, its --skip rows are
            if b2 == budget and s2 == scen and name not in candidates:
                vals = [v for s, v in ys if s in seeds]
                if len(vals) == len(seeds):  # the same seeds, or the row does not count
                    rivals.append((name, sum(vals) / len(vals), ci95_halfwidth(vals)))
        top = max(rivals, key=lambda r: r[1] + r[2], default=None)   # highest upper bound
        beats = top is not None and mean - ci > top[1] + top[2]
        # DPO of the candidates' own run, seed by seed, else of the baseline table: training
        # and evaluation are deterministic (DPO re-scored in a later run matched the table bit
        # for bit in all 50 Hopper cells checked), so the table's DPO is the same-cell partner
        dpo = {**dict(base.get((budget, scen, "dpo"), [])),
               **dict(cand.get((budget, scen, "dpo"), []))}
        diffs = [v - dpo[s] for s, v in xs if s in dpo]
        paired = (f"{sum(diffs) / len(diffs):+.1f} ± {ci95_halfwidth(diffs):.1f}"
                  + (f" ({len(diffs)} of {len(xs)} seeds)" if len(diffs) < len(xs) else "")
                  if len(diffs) > 1 and loss != "dpo" else "")
        row = {"budget": budget, "scenario": scen, "loss": loss, "n_seeds": len(scores),
               "mean": mean, "ci95": ci, "baselines_compared": len(rivals),
               "strongest_baseline": top and {"loss": top[0], "mean": top[1], "ci95": top[2]},
               "beats_every_baseline": beats, "paired_vs_dpo": paired}
        out.append(row)
        best = f"{top[0]} {top[1]:.1f} ± {top[2]:.1f}" if top else "none with these seeds"
        lines.append(f"| {scen} | {loss} | {len(scores)} | {mean:.1f} | ±{ci:.1f} | {best} | "
                     f"{'yes' if beats else 'no'} | {paired} |")
    md = "\n".join(lines)
    print(md)
    stem = Path(args.jsonl).with_suffix("")
    made_by = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    Path(f"{stem}.compare.md").write_text(md + f"\n\nMade by: {made_by}\n")
    Path(f"{stem}.compare.json").write_text(json.dumps(out, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description="baseline tables, resumable")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--scenarios", required=True)
    r.add_argument("--losses", default="dpo,dpo:beta=0.5,dpo:beta=2,orpo,ipo,robust,hinge",
                   help="zoo losses ('' for none)")
    r.add_argument("--spec", action="append", default=[],
                   help="a JSON objective spec file (repeatable): e.g. a search winner")
    r.add_argument("--from-run", action="append", default=[], metavar="RUN[:RANK|:NAME]",
                   help="a loss of a search run directory (repeatable)")
    r.add_argument("--no-fixed", action="store_true",
                   help="skip the reference and BC-on-chosen rows (the table has them)")
    r.add_argument("--seeds", default="0-9")
    r.add_argument("--budget", default="full")
    r.add_argument("--workers", type=int, default=None)
    r.add_argument("--out", required=True)
    r.add_argument("--quiet", action="store_true",
                   help="no progress (else a bar with an ETA on stderr for every long step)")
    t = sub.add_parser("table")
    t.add_argument("jsonl")
    c = sub.add_parser("compare")
    c.add_argument("jsonl", help="a run JSONL of candidates (paired differences use its DPO "
                                 "rows, else the baseline table's)")
    c.add_argument("--baselines", required=True, action="append",
                   help="a baseline table's run JSONL (repeatable: e.g. the table and a DPO "
                        "beta sweep)")
    c.add_argument("--skip", default="dpo", help="rows of the candidates file not to judge")
    f = sub.add_parser("field", help="wide per-environment tables over scenarios")
    f.add_argument("jsonl", nargs="+")
    f.add_argument("--budget", default="full")
    f.add_argument("--seeds-wanted", type=int, default=10)
    f.add_argument("--out", help="also write the markdown here")
    args = ap.parse_args()
    try:
        {"run": run, "table": table, "compare": compare, "field": field}[args.cmd](args)
    except (LossforgeError, OSError) as exc:  # bad input: one line, not a traceback
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
