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

    # benchmark v2: tune every baseline on the tuning draw (successive halving: every config
    # on seed 100, each baseline's best 3 on seeds 101-102), freeze the picks, confirm them and
    # a candidate on fresh draws (the draw is the unit of analysis)
    python benchmarks/baselines.py sweep benchmarks/sweeps/v2.toml --scenarios hopper-clean \
        --budget full --out benchmarks/results/sweep-v2-hopper.jsonl      # draw t, seeds 100-102
    python benchmarks/baselines.py tuned benchmarks/results/sweep-v2-hopper.jsonl
    python benchmarks/baselines.py confirm --tuned benchmarks/results/sweep-v2-hopper.tuned.json \
        --spec benchmarks/results/winners/<name>.json --draws 1-5 --seeds 0-2 \
        --out benchmarks/results/confirm-v2-hopper.jsonl                  # then prints the report
    python benchmarks/baselines.py report benchmarks/results/confirm-v2-hopper.jsonl

``run`` works cell by cell, one (seed, draw, scenario) at a time (``--draws``, default 0: the
benchmark's own dataset; see ``lossforge/bench/draws.py``). Every loss of a cell trains from the
same reference with the same seed and plays the same evaluation episodes (common random
numbers), and a loss's numbers do not depend on which other losses or cells ran with it: each
loss is a job of its own, trained alone and scored alone (a policy evaluated alone equals it
evaluated in a population, and a member trained in this process equals it trained in a worker,
bit for bit: tested). ``--workers`` jobs run at once, one process each, and a worker takes the
next job (the next loss, at whatever learning rate, or the next cell's) the moment it is free
(``cells.run_cells``; before session 17 a cell ran batches of losses of one learning rate, and
a core idled at every odd batch: ``benchmarks/cells_throughput.py`` measures the difference).
Each row is appended to the JSONL file as it lands (flushed and fsynced); on the next start
every (scenario, draw, seed, budget, loss) already in the file is skipped (rows without a draw
are draw 0), so a killed run resumes where it stopped, across sessions, losing at most the
losses in flight, and a new loss can be added to a file that already has a scenario's
baselines. Every line records the exact command, the machine (``lossforge.io.machine``) and
its cost: ``seconds`` of wall time of the job it came in (``batch_rows`` rows: 1 for a loss,
2 for a cell's fixed policies; rows before session 17 came in batches of several losses). A
loss may set its own learning rate: ``dpo:beta=2:lr=1e-3`` (row ``dpo[beta=2,lr=0.001]``).
Seeds go in the outer loop, so a partial run covers every scenario with a few seeds rather than
a few scenarios with all seeds.

Two such jobs usually share the machine (one per core). OpenMP threads that wait passively keep
them from slowing each other down (see the note at ``OMP_WAIT_POLICY`` in cells.py). They may
also share one file: each reads it again before every job and leaves out the rows the other has
written, so the same seeds with the scenarios in opposite orders split the work between the
two. Where they meet, in one cell, the job that finds the cell begun by the other takes its
losses from the far end (before that, both took them in the same order and trained the cell's
remaining rows twice: 6 of one Ant cell's 9 rows). Two jobs can still take the same row at the
same moment; the copies agree, and every reader counts them once.

Every row records two metrics: ``auc``, the mean normalised score over the training
checkpoints, and ``final``, the score of the last parameters (``score`` is the row's own, as
before: AUC for losses, final for the reference and BC-on-chosen). The reference does not train,
so its AUC is its score; BC-on-chosen is scored at checkpoints at the same fractions of its own
training as the budget's (``fitness.bc_checkpoints``). BC-on-chosen rows written before both
metrics were recorded have no AUC: tables show n/a, never a final passed off as an AUC.

``table`` prints and writes (next to the JSONL, as .md and .json) the mean and the 95 %
t-interval over seeds of both metrics for every scenario, draw and loss, with the reference (BC)
and BC-on-chosen; ``field`` shows both, one wide table each.

``sweep`` runs a declared grid (a TOML file: per baseline its knobs and learning rates) on the
tuning draw ``t`` with tuning seeds (100-102), which share no data, reference, episode or seed
with reporting. With a ``[halving]`` section (``keep = 3`` in v2) it is a two-stage successive
halving: stage 1 runs every config on the lowest tuning seed, stage 2 each baseline's ``keep``
best by stage-1 AUC (ties: file order; failed configs never go on) on the other seeds, so v2's
120 configs cost 120 + 8 x 3 x 2 = 168 runs a scenario instead of 360 (the command prints the
saving). It goes scenario by scenario, both stages of one before the next, resumable row by row
across the stage boundary: stage 2 starts only once stage 1 of the scenario is complete. Without
the section every config runs on every seed, as before. ``tuned`` picks each baseline's config
with the highest mean AUC over the tuning seeds among the configs that ran on all of them (a cut
config never wins, whatever rows it has), lists every config cut at stage 1 with its stage-1
AUC, and freezes the picks, the rule, the seeds and the commands in a JSON file, naming the
picks on an edge of their grid (``on_edge``). ``extend`` writes a sweep that moves each such
pick one grid step past its edge (``beyond``, inside the knob's domain), and ``merge`` keeps
the better of each pick and its extension's (mean AUC over the same tuning seeds).
``shortlist`` writes a sweep of each baseline's tuned picks on other scenarios (the MuJoCo test
suite's tuning), and ``suite-reference`` trains tuned picks on a suite search's own units.

Sweep identity: rows record the sha256 of the sweep file's knob section, the bytes before its
``[halving]`` line (for a file without one, the whole file, as before), plus the whole file's
sha256, the halving and the tuning seeds. The knob section decides which configs exist, so
``tuned`` and ``sweep`` refuse rows recorded under another one (declare, then run); a halving
that rows record must equal the file's. Hashing the knob section alone is what let v2 gain its
halving while its first sweep ran: that sweep's rows record the sha256 of the file before the
section, which is the new file's knob section byte for byte, and record no halving; its seed-100
rows are stage-1 rows (the same runs under either declaration), and rows it wrote for configs
halving cuts are ignored by ``tuned``. (Recording both hashes in new rows keeps a later edit of
the halving section's comment harmless and a change of ``keep`` visible.)
``confirm`` runs frozen configs (``--tuned``) and candidates (``--spec``, ``--from-run``) with the
reference and BC-on-chosen on reporting draws (default 1-5) x seeds (default 0-2), resumable and
shareable as ``run`` is; it refuses draw 0 (the search's data), the tuning draw and the tuning
seeds. Its report (``report``: <stem>.confirm.md/.json) gives, per scenario and for AUC and
final, every row's per-draw means, their mean ± 95 % t-CI over draws, and each candidate's
paired differences to each baseline draw by draw, with paired t p-values over draws and Holm's
correction across scenarios x baselines (``lossforge/bench/stats.py``), and every row's paired
difference to the best tuned baseline (the highest mean over the reporting draws, per metric;
uncorrected). Progress lines print the time to go; the report sums the cost.

The LLM test bed (project issue 22) runs under the same protocol: a scenario named
``llm:<task>/<variant>`` (e.g. ``llm:reverse/mixed-quality``; ``lossforge/llm/fitness.py``) is
accepted wherever a MuJoCo scenario name is, and its rows carry the same fields (``fitness_of``
and ``load_bed`` are the one seam). There the score is exact-match accuracy in percent, measured
once at the end of training (``auc`` = ``final``); a draw is one instance of the test bed (its
prompts, SFT base and pairs; the tuning draw's prompts are disjoint from the reporting draws'),
the seed only the training order; the fixed row is ``reference (SFT base)`` (SFT on the chosen
answers is the zoo's ``sft``, a tuned baseline); ``confirm`` defaults to draws 1-8 x seed 0,
eight units of analysis. The declared sweep: ``benchmarks/sweeps/llm-v2.toml``, which tunes
the candidates' learning rate as it tunes the baselines' (its ``[candidates]``), so every row
of a confirmation trains at a rate frozen on the tuning draw.

``compare`` answers the search's must-show for every candidate and scenario: does its 95 % CI
lie above the CI of every baseline in the table (same scenario, budget and seeds), and what is
its paired difference to DPO trained in the same cells.

Where the code is: this file is the command line (``main``) and the v1 tables (``run``,
``table``, ``field``, ``compare``). ``cells.py`` reads result rows and runs cells (``records``,
``Config``, ``configs_from_losses``, ``run_cells``), for every command; ``tuning.py`` holds the
declared sweep (``sweep``, ``tuned``, ``shortlist``, ``extend``, ``merge``,
``suite-reference``, and the sweep and tuned.json files they read); ``confirmation.py`` holds
``confirm`` and ``report``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

# This directory's modules (see "Where the code is" above). cells first: it sets
# OMP_WAIT_POLICY before torch loads and puts this checkout's lossforge first on sys.path.
from cells import (AUC_NOT_MEASURED, FIXED, Config, configs_from_losses, flag_lines, load_bed,
                   load_spec_file, records, row_key, row_metric, row_seconds, run_cells,
                   shortcut_flag)
from confirmation import LLM_DRAWS, LLM_SEEDS, auc_final_groups, confirm, report_cmd
from tuning import (REPORTING_SEEDS, TUNING_SEEDS, extend, merge, shortlist, suite_reference,
                    sweep, tuned)

from lossforge.bench.draws import parse_draws
from lossforge.bench.scenarios import parse_seeds
from lossforge.errors import LossforgeError


def run(args) -> None:
    from lossforge.bench.losses import run_objective

    command = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    extra = [Config(load_spec_file(Path(f))) for f in args.spec] + \
        [Config(run_objective(r)) for r in args.from_run]
    # every scenario and loss is checked before anything trains: a typo in the last scenario
    # fails now, not hours into the run
    scenarios = {name: load_bed(name) for name in args.scenarios.split(",")}
    configs = {name: (configs_from_losses(args.losses, scen) if args.losses else []) + extra
               for name, scen in scenarios.items()}
    run_cells(Path(args.out), scenarios, configs, draws=parse_draws(getattr(args, "draws", "0")),
              seeds=parse_seeds(args.seeds), budget=args.budget, workers=args.workers,
              fixed=not args.no_fixed, command=command, quiet=args.quiet)


def _mean_ci(xs: list) -> tuple[float, float] | None:
    """(mean, 95 % CI half-width) of a cell's values, None if any is n/a."""
    from lossforge.bench.fitness import ci95_halfwidth

    if not xs or any(x is None for x in xs):
        return None
    return sum(xs) / len(xs), ci95_halfwidth(xs)


def _show(mc: tuple[float, float] | None, sep: str = " | ") -> str:
    if mc is None:
        return f"n/a{sep}n/a" if sep == " | " else "n/a"
    mean, ci = mc
    ci_txt = "n/a" if ci != ci else f"±{ci:.1f}"
    return f"{mean:.1f}{sep}{ci_txt}" if sep == " | " else f"{mean:.1f} {ci_txt}"


def table(args) -> None:
    """Mean and 95 % t-interval over seeds of every (budget, scenario, draw, loss), in AUC and
    in final score (rows from before both were recorded show n/a where they lack one)."""
    path = Path(args.jsonl)
    cells: dict[tuple, list[dict]] = defaultdict(list)
    commands = set()
    for r in records(path):
        if None in row_key(r):
            continue
        commands.add(r.get("command", "?"))
        cells[(r["budget"], r["scenario"], str(r.get("draw", 0)), r["loss"])].append(r)
    rows = []
    for (budget, scen, draw, loss), rs in sorted(cells.items()):
        where = scen if draw == "0" else f"{scen} (draw {draw})"
        auc = _mean_ci([row_metric(r, "auc") for r in rs])
        fin = _mean_ci([row_metric(r, "final") for r in rs])
        rows.append({"budget": budget, "scenario": scen, "draw": draw, "loss": loss,
                     "n_seeds": len(rs), "auc": auc and {"mean": auc[0], "ci95": auc[1]},
                     "final": fin and {"mean": fin[0], "ci95": fin[1]},
                     "per_seed": {r["seed"]: {"auc": row_metric(r, "auc"),
                                              "final": row_metric(r, "final")} for r in rs},
                     "seconds": sum(row_seconds(r) for r in rs),
                     "where": where})
    parts: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        parts[(r["budget"], r["where"])].append(r)
    # the LLM bed measures once: where every group's AUC is its final score, final alone
    metrics = (("final",) if auc_final_groups([r for rs in cells.values() for r in rs])
               >= {(r["budget"], r["scenario"]) for r in rows} else ("auc", "final"))
    flags = {}
    for (budget, where), rs in parts.items():
        for m in metrics:
            flag = shortcut_flag({r["loss"]: r[m] and (r[m]["mean"], r[m]["ci95"]) for r in rs})
            flags[f"{where} ({budget}, {'AUC' if m == 'auc' else 'final'})"] = flag
            for r in rs:
                r.setdefault("shortcut_flag", {})[m] = flag
    lines = ["| budget | scenario | loss | seeds | " + " | ".join(
                f"{'AUC' if m == 'auc' else 'final'} (mean) | 95 % CI" for m in metrics) + " |",
             "|---|---|---|---|" + "---|---|" * len(metrics)]
    for r in rows:
        lines.append(f"| {r['budget']} | {r.pop('where')} | {r['loss']} | {r['n_seeds']} | "
                     + " | ".join(_show(r[m] and (r[m]["mean"], r[m]["ci95"])) for m in metrics)
                     + " |")
    legend = (f"{AUC_NOT_MEASURED} (one measurement, at the end of training), so the table "
              "shows final alone." if metrics == ("final",) else
              "AUC: mean score over the training checkpoints (the reference does not train: its "
              "AUC is its score); final: the last parameters.")
    md = ("\n".join(lines) + f"\n\n{legend} n/a: no CI from one seed, or a row from before both "
          "metrics were recorded.\n\n" + flag_lines(flags)[0]
          + "\n\nCommands:\n"
          + "\n".join(f"    {c}" for c in sorted(commands)))
    print(md)
    path.with_suffix(".md").write_text(md + "\n")
    path.with_suffix(".summary.json").write_text(json.dumps(rows, indent=2) + "\n")


SCENARIO_ORDER = ("clean", "noisy-0.1", "noisy-0.2", "noisy-0.3", "noisy-0.4", "mixed-quality",
                  "ambiguous")


def field(args) -> None:
    """Wide tables per environment, one in AUC and one in final score: losses down, scenarios
    across, mean ± 95 % CI (seeds in brackets where fewer than --seeds-wanted), the best mean
    of each column in bold, n/a where rows predate the metric. Draw 0 only."""
    from lossforge.bench.fitness import ci95_halfwidth

    per_seed: dict[tuple[str, str, str], dict[str, dict[int, float | None]]] = defaultdict(
        lambda: defaultdict(dict))
    for path in args.jsonl:
        for metric in ("auc", "final"):
            for (budget, scenario, loss), xs in _summary(Path(path), metric).items():
                if budget == args.budget and "/" not in scenario:   # no held-out copies
                    env, _, scen = scenario.partition("-")
                    for seed, score in xs:   # a cell in two files (a sweep re-using the table's
                        per_seed[(metric, env, scen)][loss].setdefault(seed, score)  # seeds)
    cells = {k: {n: list(v.values()) for n, v in d.items()} for k, d in per_seed.items()}
    out = [f"# State of the field ({args.budget} budget; normalised score, mean ± 95 % CI over "
           f"training seeds; [n] = seeds so far where fewer than {args.seeds_wanted})", "",
           "AUC: mean score over the training checkpoints (the reference does not train: its "
           "AUC is its score); final: the last parameters. n/a: rows from before both metrics "
           "were recorded.", ""]
    for env in sorted({e for _, e, _ in cells}):
        out += [f"## {env.capitalize()}", ""]
        for metric in ("auc", "final"):
            scens = [s for s in SCENARIO_ORDER if (metric, env, s) in cells]
            known = (*FIXED, "dpo", "dpo[beta=0.5]", "dpo[beta=2]", "orpo", "ipo", "robust",
                     "hinge")
            found = {n for s in scens for n in cells[(metric, env, s)]}
            losses = [n for n in known if n in found] + sorted(found - set(known))
            means = {s: {n: sum(v) / len(v) for n, v in cells[(metric, env, s)].items()
                         if None not in v} for s in scens}
            flags = {s: shortcut_flag({n: (m, ci95_halfwidth(cells[(metric, env, s)][n]))
                                       for n, m in means[s].items()}) for s in scens}
            out += [f"### {'AUC' if metric == 'auc' else 'final'}", "",
                    "| loss | " + " | ".join(scens) + " |", "|---|" + "---|" * len(scens)]
            for n in losses:
                row = []
                for s in scens:
                    v = cells[(metric, env, s)].get(n)
                    if not v:
                        row.append("")
                        continue
                    if n not in means[s]:
                        row.append("n/a")
                        continue
                    mean, ci = means[s][n], ci95_halfwidth(v)
                    txt = f"{mean:.1f}" + ("" if ci != ci else f" ± {ci:.1f}")
                    txt = f"**{txt}**" if mean == max(means[s].values()) else txt
                    row.append(txt + (f" [{len(v)}]" if len(v) < args.seeds_wanted else ""))
                out.append(f"| {n} | " + " | ".join(row) + " |")
            out += ["", *flag_lines(flags), ""]
    out += ["Made by: python benchmarks/baselines.py " + " ".join(sys.argv[1:]),
            "Rows, commands and per-seed scores: the JSONL files named there and their .md tables."]
    md = "\n".join(out) + "\n"
    print(md, end="")
    if args.out:
        Path(args.out).write_text(md)


def _summary(path: Path, metric: str = "score", draw: int | str = 0
             ) -> dict[tuple[str, str, str], list[tuple[int, float | None]]]:
    """(budget, scenario, loss) -> [(seed, value)] of a run JSONL's rows on ``draw`` (0, the
    run tables' draw, unless told; torn lines skipped). ``metric``: "score" (each row's own,
    as the tables before AUC and final were both recorded: AUC for losses, final for
    BC-on-chosen), "auc" or "final" (None: n/a)."""
    cells: dict[tuple[str, str, str], list[tuple[int, float | None]]] = defaultdict(list)
    for r in records(path):
        if None in row_key(r) or r.get("draw", 0) != draw:
            continue
        if metric == "score":
            value = r["score"] if r["status"] == "ok" else float("nan")
        else:
            value = row_metric(r, metric)
        cells[(r["budget"], r["scenario"], r["loss"])].append((r["seed"], value))
    return cells


def compare(args) -> None:
    """Every candidate of a winners JSONL against every baseline of the table, per scenario."""
    from lossforge.bench.fitness import ci95_halfwidth

    metric = getattr(args, "metric", "score")

    def known(path: str) -> dict:   # rows that have the metric (older rows may lack it)
        cells = {k: [(sd, v) for sd, v in xs if v is not None]
                 for k, xs in _summary(Path(path), metric).items()}
        return {k: xs for k, xs in cells.items() if xs}

    cand, base = known(args.jsonl), {}
    for path in args.baselines:
        base |= known(path)
    skip = args.skip.split(",")
    candidates = {loss for (_, _, loss) in cand if loss not in skip}
    out, lines = [], ["| scenario | loss | seeds | score | 95 % CI | best baseline (CI) | "
                      "beats every baseline, CIs apart | paired vs DPO (same cells) |",
                      "|---|---|---|---|---|---|---|---|"]
    flags: dict[str, str | None] = {}
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
        flag = shortcut_flag({loss: (mean, ci)} | {n: (m, c) for n, m, c in rivals})
        flags[f"{scen} ({budget}) beside {loss}"] = flag
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
               "beats_every_baseline": beats, "paired_vs_dpo": paired, "shortcut_flag": flag}
        out.append(row)
        best = f"{top[0]} {top[1]:.1f} ± {top[2]:.1f}" if top else "none with these seeds"
        lines.append(f"| {scen} | {loss} | {len(scores)} | {mean:.1f} | ±{ci:.1f} | {best} | "
                     f"{'yes' if beats else 'no'} | {paired} |")
    md = "\n".join(lines + [""] + flag_lines(flags))
    print(md)
    stem = Path(args.jsonl).with_suffix("")
    made_by = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    Path(f"{stem}.compare.md").write_text(md + f"\n\nMade by: {made_by}\n")
    Path(f"{stem}.compare.json").write_text(json.dumps(out, indent=2) + "\n")


def _v1_commands(sub) -> None:
    """run, table, compare, field: the tables of fixed settings (v1)."""
    r = sub.add_parser("run", help="train and score losses x scenarios x seeds into a JSONL file "
                                     "(resumable, shareable by two jobs)",
                       description="Train and score every loss on every (seed, draw, scenario) "
                                   "cell the JSONL file lacks, appending each row as it lands.")
    r.add_argument("--scenarios", required=True, help="comma-separated scenario names or files")
    r.add_argument("--losses", default="dpo,dpo:beta=0.5,dpo:beta=2,orpo,ipo,robust,hinge",
                   help="zoo losses ('' for none), each optionally name:key=value[:k=v]; "
                        "lr=X sets that loss's learning rate")
    r.add_argument("--spec", action="append", default=[],
                   help="a JSON objective spec file (repeatable): e.g. a search winner")
    r.add_argument("--from-run", action="append", default=[], metavar="RUN[:RANK|:NAME]",
                   help="a loss of a search run directory (repeatable)")
    r.add_argument("--no-fixed", action="store_true",
                   help="skip the reference and BC-on-chosen rows (the table has them)")
    r.add_argument("--seeds", default="0-9", help="seeds, e.g. 0-9 or 0-4,7 (default 0-9)")
    r.add_argument("--draws", default="0", help="dataset draws (0: the benchmark's own; see "
                                                "lossforge/bench/draws.py)")
    r.add_argument("--budget", default="full", help="quick, screen or full (default full)")
    r.add_argument("--workers", type=int, default=None,
                   help="losses trained at once (default: CPU count)")
    r.add_argument("--out", required=True, help="the JSONL results file (appended to)")
    r.add_argument("--quiet", action="store_true",
                   help="no progress (else a bar with an ETA on stderr for every long step)")
    t = sub.add_parser("table", help="the markdown table (mean +- 95 %% CI per loss and "
                                     "scenario, AUC and final) of a run's JSONL file",
                       description="Print the table of a run's JSONL file and write it next to "
                                   "the file (.md, .summary.json). To look without writing: "
                                   "python -m lossforge.report --table FILE -o page.html.")
    t.add_argument("jsonl", help="a JSONL file written by run")
    c = sub.add_parser("compare", help="judge candidates (e.g. search winners) against every "
                                       "baseline of a table, paired per seed",
                       description="Paired per-seed comparison of candidates with baselines.")
    c.add_argument("jsonl", help="a run JSONL of candidates (paired differences use its DPO "
                                 "rows, else the baseline table's)")
    c.add_argument("--baselines", required=True, action="append",
                   help="a baseline table's run JSONL (repeatable: e.g. the table and a DPO "
                        "beta sweep)")
    c.add_argument("--skip", default="dpo", help="rows of the candidates file not to judge")
    c.add_argument("--metric", default="score", choices=["score", "auc", "final"],
                   help="score: each row's own (AUC for losses, final for BC-on-chosen, as "
                        "before both were recorded)")
    f = sub.add_parser("field", help="wide per-environment tables over scenarios")
    f.add_argument("jsonl", nargs="+")
    f.add_argument("--budget", default="full")
    f.add_argument("--seeds-wanted", type=int, default=10)
    f.add_argument("--out", help="also write the markdown here")


def _tuning_commands(sub) -> None:
    """sweep, tuned, shortlist, extend, merge, suite-reference (tuning.py)."""
    w = sub.add_parser("sweep", help="a declared sweep of every baseline on the tuning draw")
    w.add_argument("sweep_file", help="e.g. benchmarks/sweeps/v2.toml")
    w.add_argument("--scenarios", required=True)
    w.add_argument("--seeds", default=TUNING_SEEDS, help="tuning seeds (not the reporting "
                                                         f"seeds {REPORTING_SEEDS})")
    w.add_argument("--budget", default="full")
    w.add_argument("--workers", type=int, default=None)
    w.add_argument("--out", required=True)
    u = sub.add_parser("tuned", help="freeze each baseline's best sweep config per scenario")
    u.add_argument("sweep_jsonl")
    u.add_argument("--out", help="default: <sweep jsonl stem>.tuned.json")
    h = sub.add_parser("shortlist", help="a sweep file of each baseline's tuned picks in tuned "
                                         "files (the test suite's tuning)")
    h.add_argument("tuned", nargs="+", help="tuned.json files of one sweep (e.g. the train "
                                            "suite's)")
    h.add_argument("--suite", help="refuse unless the tuned files cover this suite's scenarios")
    h.add_argument("--take", choices=["picks", "stage2", "grid+picks"], default="picks",
                   help="picks (default): each baseline's tuned config per scenario; stage2: "
                        "every config that reached stage 2; grid+picks: every entry's whole "
                        "grid (candidates too) and its picks off it (edge extensions)")
    h.add_argument("--keep", type=int, default=2, help="halving keep of the new sweep "
                                                       "(default 2)")
    h.add_argument("--out", required=True, help="the sweep file to write (TOML)")
    x = sub.add_parser("extend", help="a sweep file moving every pick on an edge of its grid "
                                      "one step past it")
    x.add_argument("tuned", help="a tuned.json of one scenario")
    x.add_argument("--out", required=True, help="the sweep file to write (TOML)")
    m = sub.add_parser("merge", help="the better of each pick and its extension's pick")
    m.add_argument("base", help="the original tuned.json")
    m.add_argument("extension", help="the tuned.json of its extension sweep")
    m.add_argument("--out", required=True)
    g = sub.add_parser("suite-reference", help="tuned baselines on a suite search's own units: "
                                               "the --suite-baselines file of its regret")
    g.add_argument("--suite", default="train", help="a suite name or file (default train)")
    g.add_argument("--tuned", action="append", required=True,
                   help="a tuned.json covering some of the suite's scenarios (repeatable)")
    g.add_argument("--rungs", default="screen,full",
                   help="the search's budgets, comma-separated (default screen,full)")
    g.add_argument("--runs", required=True, help="the JSONL of the baselines' rows (resumable)")
    g.add_argument("--workers", type=int, default=None)
    g.add_argument("--out", required=True, help="the JSON file to write")


def _confirmation_commands(sub) -> None:
    """confirm and report (confirmation.py)."""
    k = sub.add_parser("confirm", help="frozen configs on fresh dataset draws, then the report")
    k.add_argument("--tuned", action="append", default=[],
                   help="a tuned.json (baselines and candidates at their tuned settings); "
                        "repeatable: a later sweep's candidates join the earlier baselines")
    k.add_argument("--spec", action="append", default=[], help="a candidate's JSON spec "
                                                               "(repeatable)")
    k.add_argument("--from-run", action="append", default=[], metavar="RUN[:RANK|:NAME]",
                   help="a candidate from a search run directory (repeatable)")
    k.add_argument("--scenarios", help="default: every scenario of the first --tuned")
    k.add_argument("--draws", default=None,
                   help=f"default 1-5; {LLM_DRAWS} for llm: scenarios")
    k.add_argument("--seeds", default=None,
                   help=f"default {REPORTING_SEEDS}; {LLM_SEEDS} for llm: scenarios (there the "
                        "draw holds the data and the SFT base, the seed only the training "
                        "order; see lossforge/llm/fitness.py)")
    k.add_argument("--budget", help="default: the budget of --tuned")
    k.add_argument("--no-fixed", action="store_true",
                   help="skip the reference and BC-on-chosen rows")
    k.add_argument("--workers", type=int, default=None)
    k.add_argument("--out", required=True)
    e = sub.add_parser("report", help="the confirmation report of a confirm JSONL",
                       description="Per scenario: every row's AUC and final over the dataset "
                       "draws, each candidate's paired differences to every baseline (Holm "
                       "across scenarios x baselines) and every row against the best tuned "
                       "baseline. Prints the Markdown and writes <stem>.confirm.md and "
                       "<stem>.confirm.json beside the JSONL (python -m lossforge.report "
                       "--table JSONL: the same as an HTML page, with training curves).")
    e.add_argument("jsonl", help="a confirm JSONL (baselines.py confirm --out)")


def main() -> None:
    ap = argparse.ArgumentParser(description="Baseline tables, resumable (module docstring: "
                                 "the protocol). The v2 order: sweep -> tuned (-> extend, merge) "
                                 "-> confirm -> report; benchmarks/v2_mujoco.sh runs it.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    _v1_commands(sub)
    _tuning_commands(sub)
    _confirmation_commands(sub)
    args = ap.parse_args()
    try:
        {"run": run, "table": table, "compare": compare, "field": field, "sweep": sweep,
         "tuned": tuned, "shortlist": shortlist, "extend": extend, "merge": merge,
         "suite-reference": suite_reference,
         "confirm": confirm, "report": report_cmd}[args.cmd](args)
    except (LossforgeError, OSError) as exc:  # bad input: one line, not a traceback; exit 2
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
