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
numbers), and a loss's numbers do not depend on which other losses or cells ran with it
(tested: a member trained alone equals the same member trained one per worker, bit for bit,
and a policy evaluated alone equals it evaluated in a population; only at tiny minibatches,
where ``auto`` stacks members, do they differ, by float rounding). So a cell's losses run one
worker-load at a time (``--workers`` losses), and each is appended to the JSONL file as it
lands (flushed and fsynced); on the next start every (scenario, draw, seed, budget, loss)
already in the file is skipped (rows without a draw are draw 0), so a killed run resumes where it stopped, across sessions, losing at most
the losses in flight, and a new loss can be added to a file that already has a scenario's
baselines. Every line records the exact command and its cost: ``seconds`` of wall time of the
batch it came in (``batch_rows`` rows). A loss may set its own learning rate: ``dpo:beta=2:lr=1e-3``
(row ``dpo[beta=2,lr=0.001]``; a batch holds losses of one learning rate). Seeds go in the outer loop, so a partial run
covers every scenario with a few seeds rather than a few scenarios with all seeds.

Two such jobs usually share the machine (one per core). OpenMP threads that wait passively keep
them from slowing each other down (see the note at ``OMP_WAIT_POLICY`` below). They may also
share one file: each reads it again before every batch and leaves out the rows the other has
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
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any

# BC (the reference and BC-on-chosen) trains with two threads. With OpenMP's default wait policy
# a thread waiting for its partner spins on a core that another job needs: 150 Ant BC steps took
# 32-40 s against 14-21 s with passive waiting, three processes on two cores, and the parameters
# were identical bit for bit. It must be set before torch loads; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge.bench.draws import TUNING, dataset_seed, parse_draws  # noqa: E402
from lossforge.bench.scenarios import parse_seeds  # noqa: E402
from lossforge.bench.stats import num_text  # noqa: E402
from lossforge.errors import ConfigError, LossforgeError  # noqa: E402
from lossforge.io import append_lines, atomic_write_json, atomic_write_text  # noqa: E402
from lossforge.workers import worker_count  # noqa: E402


def _key(r: dict) -> tuple:
    """(scenario, draw, seed, budget, loss): what a row is a result of (rows before draws
    existed are draw 0)."""
    return r.get("scenario"), r.get("draw", 0), r.get("seed"), r.get("budget"), r.get("loss")


#: What two rows of the same key must agree on to count as one.
RESULT_FIELDS = ("status", "score", "final", "auc")


def records(path: Path) -> list[dict]:
    """The rows of a run JSONL, one per (scenario, draw, seed, budget, loss); a torn last line
    from a kill is skipped (that cell is redone). Two jobs sharing a file can both write a row
    they took at the same moment: the copies agree (training and evaluation are deterministic)
    and count once. Copies that disagree stop every reader, naming the row: the file mixes
    results of different code or settings, and no table should silently pick one. A line without
    the key fields is not a result row and is passed through as it is."""
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
            raise SystemExit(f"{path}: line {n} repeats {_show_key(key)} with other results "
                             f"(score {r.get('score')} against {first[key].get('score')}); "
                             "remove the stale copy")
    return out


def _show_key(key: tuple) -> str:
    scenario, draw, seed, budget, loss = key
    return repr((scenario, seed, budget, loss) if draw == 0 else key)


#: The two policies every cell scores next to the losses unless --no-fixed (the names
#: fitness.fixed_policies gives them; spelled out so the tables need not import torch).
FIXED = ("reference (BC)", "bc-on-chosen")
#: The LLM test bed's (lossforge.llm.fitness.FIXED): the SFT base every loss starts from. Its
#: imitation of the chosen side is the zoo's ``sft``, tuned like every baseline.
LLM_FIXED = ("reference (SFT base)",)
REFERENCES = (FIXED[0], LLM_FIXED[0])   # the rows that do not train

#: Scenario names of the LLM test bed: llm:<task>/<variant> (lossforge/llm/fitness.py).
LLM_PREFIX = "llm:"


def fitness_of(name: str):
    """The fitness module that scores a scenario name: ``lossforge.llm.fitness`` for
    ``llm:<task>/<variant>``, else ``lossforge.bench.fitness`` (MuJoCo). Both give
    ``evaluate(objectives, scenario, budget, seeds=, workers=, draw=, lr=, progress=)`` and
    ``fixed_policies(scenario, budget, seed, draw=, workers=, names=, progress=)``."""
    if name.startswith(LLM_PREFIX):
        from lossforge.llm import fitness
    else:
        from lossforge.bench import fitness
    return fitness


def load_bed(name: str):
    """The scenario object of a name (checked): with ``fitness_of``, the one seam between this
    protocol and the test bed it runs on."""
    if name.startswith(LLM_PREFIX):
        return fitness_of(name).search_scenario(name[len(LLM_PREFIX):])
    from lossforge.bench.scenarios import load_scenario

    return load_scenario(name)


def fixed_of(name: str) -> tuple[str, ...]:
    """The names of a scenario's fixed rows (the reference; on MuJoCo also BC-on-chosen)."""
    return LLM_FIXED if name.startswith(LLM_PREFIX) else FIXED


def row_keys(path: Path) -> list[tuple]:
    """(scenario, draw, seed, budget, loss) of every row already in the JSONL, in file order."""
    return [_key(r) for r in records(path)] if path.exists() else []


def missing(done: set, scenario: str, seed: int, budget: str, names, draw=0) -> list[str]:
    """The names of a cell that the file does not have yet (a cell is per loss: adding a
    loss to a scenario that already has rows trains that loss, and only that one)."""
    return [n for n in names if (scenario, draw, seed, budget, n) not in done]


def append(path: Path, records: list[dict]) -> None:
    append_lines(path, [json.dumps(r) for r in records])


def cell_name(scenario: str, draw, seed: int) -> str:
    return f"{scenario} seed {seed}" if draw == 0 else f"{scenario} draw {draw} seed {seed}"


@dataclass
class Config:
    """One row name of a cell: an objective, the learning rate it trains with (None: the
    budget's) and what its rows record about it (role, baseline, knobs, sweep)."""
    objective: Any
    lr: float | None = None
    fields: dict = dc_field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.objective.name


def configs_from_losses(text: str, scenario, specs: dict[str, str] | None = None,
                        **fields) -> list[Config]:
    """Configs for a --losses text such as 'dpo,dpo:beta=2:lr=1e-3,orpo:lam=0.5': the parsing
    of ``python -m lossforge.bench --losses``, plus ``lr``, which sets the learning rate of that
    loss alone (the label keeps it: 'dpo[beta=2,lr=0.001]'). ``specs``: names that are not zoo
    losses but candidates' JSON spec files (a sweep's ``[candidates]``), which take ``lr``
    only ('lf-cf853722:lr=1e-05' -> row 'lf-cf853722[lr=1e-05]')."""
    from lossforge.bench.losses import objective_for, parse_losses

    out = []
    for label, name, overrides in parse_losses(text):
        knobs = dict(overrides)
        lr = knobs.pop("lr", None)
        if lr is not None and not 0 < lr <= 1:
            raise ConfigError(f"--losses: {label}: lr must lie in (0, 1], got {lr:g}")
        if specs and name in specs:
            if knobs:
                raise ConfigError(f"{label}: a candidate takes no knob but lr (its formula is "
                                  f"its spec file, {specs[name]})")
            obj = renamed(load_candidate(name, specs[name]), label)
        else:
            obj = objective_for(label, name, knobs, scenario)
        out.append(Config(obj, lr, dict(fields)))
    return out


def renamed(objective, name: str):
    """The same objective under another row name (a candidate at a tuned rate)."""
    from dataclasses import replace

    return type(objective)(replace(objective.spec, name=name))


def repo_path(name: str) -> Path:
    """A file as sweep and tuned files name it (a candidate's spec, a sweep file): relative to
    the repository, or absolute."""
    return Path(name) if Path(name).is_absolute() else ROOT / name


def load_candidate(name: str, spec: str):
    """A sweep's candidate: its spec file (``repo_path``), which must hold the loss called
    ``name``."""
    path = repo_path(spec)
    try:
        obj = load_spec_file(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"candidate {name}: cannot read its spec {spec} ({exc})") from None
    if obj.name != name:
        raise ConfigError(f"candidate {name}: its spec {spec} holds {obj.name!r}, not {name!r}")
    return obj


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


def run_cells(out: Path, scenarios: dict, configs: dict[str, list[Config]], *, draws, seeds,
              budget: str, workers, fixed: bool, command: str, quiet: bool = False) -> None:
    """Train and score every config of every (seed, draw, scenario) cell that ``out`` lacks,
    appending each batch of rows as it lands (the resumable, shareable protocol of the module
    docstring)."""
    from lossforge import ledger

    out.parent.mkdir(parents=True, exist_ok=True)
    started_with = set(row_keys(out))
    ledger.record("baselines", command=command, scenario=list(scenarios), seeds=list(seeds),
                  budget=budget, purpose=f"draws {list(draws)} -> {out}")

    def todo_in(done: set, name: str, draw, seed: int) -> tuple[list[Config], list[str]]:
        """(configs, fixed policies) of one cell that ``done`` does not have yet."""
        absent = set(missing(done, name, seed, budget, [c.name for c in configs[name]], draw))
        still = missing(done, name, seed, budget, fixed_of(name), draw) if fixed else []
        return [c for c in configs[name] if c.name in absent], still

    cells = [(seed, draw, name) for seed in seeds for draw in draws for name in scenarios]
    planned = set()
    for seed, draw, name in cells:
        todo, still = todo_in(started_with, name, draw, seed)
        planned |= {(name, draw, seed, budget, n) for n in [c.name for c in todo] + still}
    progress = Progress(planned)
    print(f"{out}: rows in the file {len(started_with)}, to run {len(progress.pending)}"
          + _eta_from_file(out, len(progress.pending)), flush=True)

    def fresh(name: str, draw, seed: int) -> tuple[list[Config], list[str]]:
        """What the cell still lacks, read from the file again before every batch: another job
        writing to the same file (the same seeds in another order, say) takes its share. If
        another job began this cell after this run started, its losses are taken from the other
        end, so the two jobs meet in the middle instead of training the same rows."""
        keys = row_keys(out)
        done = set(keys)
        elsewhere = progress.written_elsewhere(done)
        if elsewhere:
            print(f"{time.strftime('%H:%M:%S')} another job wrote "
                  + ", ".join(f"{cell_name(s, d, sd)}: {n}" for s, d, sd, _, n in elsewhere)
                  + " " + progress.status(), flush=True)
        todo, still = todo_in(done, name, draw, seed)
        first = next((k for k in keys if k[:4] == (name, draw, seed, budget)), None)
        if first is not None and first not in started_with and first not in progress.written:
            todo = todo[::-1]
        return todo, still

    def record(name, draw, seed, results, t0, by_name: dict[str, dict]) -> None:
        """Append one batch of finished rows (fsynced) and say so."""
        seconds = time.time() - t0
        append(out, [{"scenario": name, "draw": draw,
                      "dataset_seed": dataset_seed(scenarios[name], draw), "seed": seed,
                      "budget": budget,
                      "loss": r.name, "status": r.status, "score": r.per_seed[0],
                      "final": r.final, "auc": r.auc,
                      "auc_over": "untrained" if r.name in REFERENCES else "checkpoints",
                      "curve": getattr(r, "curve", ()),   # (the LLM bed: none)
                      "seconds": seconds, "batch_rows": len(results),
                      "command": command, **by_name.get(r.name, {})} for r in results])
        print(f"{time.strftime('%H:%M:%S')} {cell_name(name, draw, seed)}: "
              + ", ".join(f"{r.name} {r.per_seed[0]:.1f}" for r in results) + " "
              + progress.add([(name, draw, seed, budget, r.name) for r in results]), flush=True)

    step = max(1, worker_count(workers))
    for seed, draw, name in cells:
        scen, fitness = scenarios[name], fitness_of(name)
        fixed_todo = fresh(name, draw, seed)[1]
        if fixed_todo:
            t0 = time.time()
            rows = fitness.fixed_policies(scen, budget, seed, draw=draw, workers=workers,
                                          names=fixed_todo, progress=not quiet)
            record(name, draw, seed, list(rows.values()), t0,
                   {n: {"role": "fixed"} for n in fixed_of(name)})
        # One worker-load of losses at a time (of one learning rate), each appended as it
        # lands: a kill loses at most that, not the whole cell. Each loss trains and plays its
        # episodes exactly as it would beside the others (see the module docstring).
        while todo := fresh(name, draw, seed)[0]:
            batch = [c for c in todo if c.lr == todo[0].lr][:step]
            t0 = time.time()
            rows = fitness.evaluate([c.objective for c in batch], scen, budget, seeds=[seed],
                                    workers=workers, draw=draw, lr=batch[0].lr,
                                    progress=not quiet)
            lr = scen.budget(budget).lr if batch[0].lr is None else batch[0].lr
            record(name, draw, seed, rows, t0, {c.name: {**c.fields, "lr": lr} for c in batch})


def _eta_from_file(path: Path, rows: int) -> str:
    """', about X h at Y s a row' from the wall time of the rows already in the file that
    recorded their batch size (rows of this code), or '' if there are none."""
    if not rows or not path.exists():
        return ""
    costs = [r["seconds"] / r["batch_rows"] for r in records(path) if "batch_rows" in r]
    if not costs:
        return ""
    each = sum(costs) / len(costs)
    return f" (about {each * rows / 3600:.1f} h at {each:.0f} s a row, as so far in the file)"


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
        theirs = sorted(self.pending & in_file, key=str)
        self.pending -= in_file
        return theirs

    def status(self) -> str:
        done = len(self.written)
        total = done + len(self.pending)
        if not done:
            return f"[0/{total}]"
        left = (time.time() - self.start) / done * len(self.pending)
        return f"[{done}/{total}, about {left / 3600:.1f} h to go]"


def row_metric(r: dict, metric: str) -> float | None:
    """A row's AUC or final score; NaN if its run failed; None ("n/a") where the row predates
    the metric: BC-on-chosen rows before both metrics were recorded hold its final score only.
    A loss row without "auc" holds its AUC as "score" (this script's metric), and the
    reference's AUC is its score (it does not train)."""
    if r.get("status") != "ok":
        return float("nan")
    if metric == "final":
        return r.get("final", r.get("score") if r.get("loss") in REFERENCES else None)
    if r.get("loss") == FIXED[1] and "auc_over" not in r:
        return None
    return r.get("auc", r.get("score"))


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


def shortcut_flag(scores: dict[str, tuple[float, float] | None]) -> str | None:
    """``audit.shortcut_flag`` of one scenario's rows (name -> (mean, 95 % CI half-width);
    None, a value the rows lack, is left out): "shortcut best", "shortcut level with best" or
    None. Every table that shows a scenario says so when a shortcut baseline (length_sft, sft,
    zero_pref, the reference, BC-on-chosen) is best there (issue 18)."""
    from lossforge.bench.audit import shortcut_flag as flag

    return flag({name: v for name, v in scores.items() if v is not None})


def _flag_lines(flags: dict[str, str | None]) -> list[str]:
    """Markdown lines naming every flagged table part ("none" if none is)."""
    flagged = [f"{where}: **{flag}**" for where, flag in flags.items() if flag]
    return ["Shortcut flag (lossforge/bench/audit.py: a shortcut baseline is best, or level with "
            "the best, CIs overlapping): " + ("; ".join(flagged) if flagged else "none") + "."]


def table(args) -> None:
    """Mean and 95 % t-interval over seeds of every (budget, scenario, draw, loss), in AUC and
    in final score (rows from before both were recorded show n/a where they lack one)."""
    path = Path(args.jsonl)
    cells: dict[tuple, list[dict]] = defaultdict(list)
    commands = set()
    for r in records(path):
        if None in _key(r):
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
                     "seconds": sum(r.get("seconds", 0) / r.get("batch_rows", 1) for r in rs),
                     "where": where})
    parts: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        parts[(r["budget"], r["where"])].append(r)
    flags = {}
    for (budget, where), rs in parts.items():
        for m in ("auc", "final"):
            flag = shortcut_flag({r["loss"]: r[m] and (r[m]["mean"], r[m]["ci95"]) for r in rs})
            flags[f"{where} ({budget}, {'AUC' if m == 'auc' else 'final'})"] = flag
            for r in rs:
                r.setdefault("shortcut_flag", {})[m] = flag
    lines = ["| budget | scenario | loss | seeds | AUC (mean) | 95 % CI | final (mean) | 95 % CI |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['budget']} | {r.pop('where')} | {r['loss']} | {r['n_seeds']} | "
                     + _show(r["auc"] and (r["auc"]["mean"], r["auc"]["ci95"])) + " | "
                     + _show(r["final"] and (r["final"]["mean"], r["final"]["ci95"])) + " |")
    md = ("\n".join(lines) + "\n\nAUC: mean score over the training checkpoints (the reference "
          "does not train: its AUC is its score); final: the last parameters. n/a: no CI from one "
          "seed, or a row from before both metrics were recorded.\n\n" + _flag_lines(flags)[0]
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
            out += ["", *_flag_lines(flags), ""]
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


def _summary(path: Path, metric: str = "score"
             ) -> dict[tuple[str, str, str], list[tuple[int, float | None]]]:
    """(budget, scenario, loss) -> [(seed, value)] of a run JSONL's draw-0 rows (torn lines
    skipped). ``metric``: "score" (each row's own, as the tables before AUC and final were
    both recorded: AUC for losses, final for BC-on-chosen), "auc" or "final" (None: n/a)."""
    cells: dict[tuple[str, str, str], list[tuple[int, float | None]]] = defaultdict(list)
    for r in records(path):
        if None in _key(r) or r.get("draw", 0) != 0:
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
    md = "\n".join(lines + [""] + _flag_lines(flags))
    print(md)
    stem = Path(args.jsonl).with_suffix("")
    made_by = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    Path(f"{stem}.compare.md").write_text(md + f"\n\nMade by: {made_by}\n")
    Path(f"{stem}.compare.json").write_text(json.dumps(out, indent=2) + "\n")


# --------------------------------------------------------------------------------------------
# Tuned baselines: a declared sweep on the tuning draw, then frozen picks
# --------------------------------------------------------------------------------------------
#: Training seeds of the tuning sweep and of confirmation (disjoint; ``confirm`` checks).
TUNING_SEEDS, REPORTING_SEEDS = "100-102", "0-2"
#: confirm's defaults on the LLM test bed: 8 draws (the unit of analysis: each its own prompts,
#: SFT base and pairs) x one training seed (there the seed is only the minibatch order).
LLM_DRAWS, LLM_SEEDS = "1-8", "0"
SELECTION = ("auc", "highest mean AUC over the tuning seeds on the tuning draw among the configs "
                    "that ran on every tuning seed (with halving: each baseline's `keep` best by "
                    "AUC on the lowest tuning seed); ties, at both stages: the first in the sweep "
                    "file's order; failed (non-finite) configs never win")

#: The line that opens a sweep file's halving section, which must be the file's last table.
_HALVING_HEADER = re.compile(rb"^[ \t]*\[[ \t]*halving[ \t]*\][ \t]*(#[^\n]*)?\r?$", re.M)


@dataclass(frozen=True)
class SweepFile:
    """A declared sweep file.

    ``grid``: baseline -> its configs as --losses items, in grid order. ``keep``: how many
    configs of each baseline go on to stage 2 (None: no halving, every config on every seed).
    ``listed``: the baselines given as whole configs (a list has no grid edges).
    ``sha256``: the sha256 of the knob section (the bytes before the ``[halving]`` line; the
    whole file if it has none), followed by the bytes of its candidates' spec files, the
    sweep's identity that every row records. ``file_sha256``: the whole file's. ``specs``:
    candidate name -> its spec file (``[candidates]``; their grid is their learning rates)."""
    grid: dict[str, list[str]]
    keep: int | None
    sha256: str
    file_sha256: str
    specs: dict[str, str] = dc_field(default_factory=dict)
    #: baselines given as a list of whole configs (``configs = [...]``), not a product grid
    listed: frozenset = frozenset()

    @property
    def halving(self) -> dict | None:
        """What rows record of the halving section."""
        return None if self.keep is None else {"keep": self.keep}


def load_sweep(path: Path) -> dict[str, list[str]]:
    """The grid of a declared sweep (``read_sweep(path).grid``)."""
    return read_sweep(path).grid


def read_sweep(path: Path) -> SweepFile:
    """A declared sweep (TOML). Layout::

        lr = [1e-4, 3e-4, 1e-3]        # the learning rates of every baseline
        [baselines.dpo]                 # a zoo loss name
        beta = [0.1, 0.5, 2.0]          # each knob a non-empty list; the grid is their product
        lr = [3e-4]                     # optional: this baseline's own learning rates
        [baselines.ipo]                 # or a list of whole configs instead of a grid
        configs = [{beta = 1.0, lr = 3e-4}, {beta = 10.0, lr = 1e-4}]   # (lr: else the budget's)
        [candidates.lf-cf853722]        # optional: a discovered loss, tuned like a baseline
        spec = "benchmarks/results/winners/lf-cf853722.json"   # holds the loss of that name
        lr = [1e-5]                     # optional (else the top-level rates): its only knob
        [halving]                       # optional, and then the file's last table
        keep = 3                        # configs per baseline that go on to stage 2

    The grid is each baseline's knob lists' product, in file order ('dpo:beta=2.0:lr=0.001'),
    or its ``configs`` list as written (``shortlist`` writes such files; the top-level ``lr``
    applies to product grids only).
    The knob section (everything before the ``[halving]`` line) is hashed on its own: a sweep
    begun before the file declared its halving keeps its identity when the section is added
    (the module docstring says why). Candidates are tuned exactly as baselines are (their
    learning rate only: the formula is fixed), so a confirmation compares like with like."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the sweep file ({exc})") from None
    data = _toml(raw, where)
    unknown = set(data) - {"description", "lr", "baselines", "candidates", "halving"}
    if unknown:
        raise ConfigError(f"{where}: field '{sorted(unknown)[0]}': unknown key (allowed: "
                          "description, lr, baselines, candidates, halving)")
    knob_bytes, keep = raw, None
    if "halving" in data:
        header = _HALVING_HEADER.search(raw)
        knob_bytes = raw[:header.start()] if header else raw
        rest = {k: v for k, v in data.items() if k != "halving"}
        if header is None or _toml(knob_bytes, where) != rest:
            raise ConfigError(f"{where}: field 'halving': must be the file's last table, opened "
                              "by a '[halving]' line (the bytes before it are the sweep's knob "
                              "section, whose sha256 every row records)")
        keep = _halving_keep(data["halving"], where)

    def grid(values, name: str) -> list[float]:
        if (not isinstance(values, list) or not values
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise ConfigError(f"{where}: field '{name}': expected a non-empty list of numbers, "
                              f"got {values!r}")
        if len(set(values)) != len(values):
            raise ConfigError(f"{where}: field '{name}': repeated value in {values}")
        return [float(v) for v in values]

    lrs = grid(data["lr"], "lr") if "lr" in data else None   # None: the budget's
    baselines = data.get("baselines", {})
    if not isinstance(baselines, dict) or not (baselines or data.get("candidates")):
        raise ConfigError(f"{where}: field 'baselines': expected tables such as [baselines.dpo] "
                          "(a sweep of candidates alone: [candidates.<name>] tables)")
    out = {}
    for name, knobs in baselines.items():
        if not isinstance(knobs, dict):
            raise ConfigError(f"{where}: field 'baselines.{name}': expected a table of knobs")
        if "configs" in knobs:
            out[name] = _listed_configs(name, knobs, where)
            continue
        axes = [(k, grid(v, f"baselines.{name}.{k}")) for k, v in knobs.items() if k != "lr"]
        lr = grid(knobs["lr"], f"baselines.{name}.lr") if "lr" in knobs else lrs
        if lr is not None:
            axes.append(("lr", lr))
        items = [name]
        for k, values in axes:
            items = [f"{it}:{k}={v!r}" for it in items for v in values]
        out[name] = items
    specs, spec_bytes = _sweep_candidates(data.get("candidates", {}), lrs, where)
    clash = sorted(set(specs) & set(out))
    if clash:
        raise ConfigError(f"{where}: field 'candidates.{clash[0]}': also a baseline")
    for name in specs:
        lr = data["candidates"][name].get("lr", lrs)
        out[name] = [f"{name}:lr={v!r}" for v in grid(lr, f"candidates.{name}.lr")]
    return SweepFile(out, keep, hashlib.sha256(knob_bytes + spec_bytes).hexdigest(),
                     hashlib.sha256(raw).hexdigest(), specs,
                     frozenset(n for n, k in baselines.items() if "configs" in k))


def configs_toml(name: str, configs: list[dict[str, float]]) -> list[str]:
    """``[baselines.<name>] configs = [...]`` as sweep-file lines (``_listed_configs`` reads
    them back)."""
    return [f"[baselines.{name}]", "configs = ["] + [
        "  {" + ", ".join(f"{k} = {float(v)!r}" for k, v in c.items()) + "}," for c in configs
    ] + ["]"]


def _listed_configs(name: str, knobs: dict, where: str) -> list[str]:
    """``[baselines.<name>] configs = [{k = v, ...}, ...]``: its configs as --losses items, in
    list order, each a table of numbers, none twice, nothing else in the table."""
    at = f"{where}: field 'baselines.{name}"
    if set(knobs) != {"configs"}:
        raise ConfigError(f"{at}': a baseline lists whole configs or knob lists, not both "
                          f"(found {', '.join(sorted(set(knobs) - {'configs'}))} beside configs)")
    listed = knobs["configs"]
    if not isinstance(listed, list) or not listed:
        raise ConfigError(f"{at}.configs': expected a non-empty list of tables such as "
                          "{beta = 2.0, lr = 3e-4}")
    items = []
    for i, config in enumerate(listed):
        if not isinstance(config, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in config.values()):
            raise ConfigError(f"{at}.configs[{i}]': expected a table of knob = number, "
                              f"got {config!r}")
        items.append(name + "".join(f":{k}={float(v)!r}" for k, v in config.items()))
    twice = sorted({it for it in items if items.count(it) > 1})
    if twice:
        raise ConfigError(f"{at}.configs': {twice[0]} is listed twice")
    return items


def _sweep_candidates(table, lrs, where: str) -> tuple[dict[str, str], bytes]:
    """A sweep file's ``[candidates.<name>]`` tables: (name -> spec file, the spec files'
    bytes in file order), every spec loaded and checked to hold the loss of that name."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: field 'candidates': expected tables such as "
                          "[candidates.lf-cf853722]")
    specs, spec_bytes = {}, b""
    for name, fields in table.items():
        at = f"{where}: field 'candidates.{name}"
        if not isinstance(fields, dict) or not isinstance(fields.get("spec"), str):
            raise ConfigError(f"{at}.spec': expected the path of the candidate's JSON spec")
        unknown = set(fields) - {"spec", "lr"}
        if unknown:
            raise ConfigError(f"{at}.{sorted(unknown)[0]}': unknown key (allowed: spec, lr; a "
                              "candidate's formula is fixed, its learning rate is its knob)")
        if "lr" not in fields and lrs is None:
            raise ConfigError(f"{at}.lr': no learning rates (set lr here or at the top)")
        try:
            load_candidate(name, fields["spec"])
        except LossforgeError as exc:
            raise ConfigError(f"{at}.spec': {exc}") from None
        specs[name] = fields["spec"]
        spec_bytes += repo_path(fields["spec"]).read_bytes()
    return specs, spec_bytes


def _toml(raw: bytes, where: str) -> dict:
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None


def _halving_keep(table, where: str) -> int:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: field 'halving': expected a table with keep = N")
    unknown = set(table) - {"keep"}
    if unknown:
        raise ConfigError(f"{where}: field 'halving.{sorted(unknown)[0]}': unknown key "
                          "(allowed: keep)")
    keep = table.get("keep")
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ConfigError(f"{where}: field 'halving.keep': expected a whole number >= 1 (configs "
                          f"per baseline that go on to stage 2), got {keep!r}")
    return keep


def stage_seeds(seeds) -> tuple[int, list[int]]:
    """(stage-1 seed, stage-2 seeds): the lowest tuning seed, then the others in order."""
    first = min(seeds)
    return first, sorted(set(seeds) - {first})


def stage_one(labels: list[str], auc: dict[str, float | None], keep: int | None) -> list[str]:
    """The configs of one baseline that go on to stage 2: the ``keep`` with the highest stage-1
    AUC, best first, ties in file order (``labels``' order); a config that failed (non-finite
    AUC) never goes on. ``keep`` None (no halving): every config, in file order."""
    if keep is None:
        return list(labels)
    finite = [lb for lb in labels if auc[lb] is not None and math.isfinite(auc[lb])]
    return sorted(finite, key=lambda lb: -auc[lb])[:keep]   # sorted is stable: file order


def _sweep_cells(rows: list[dict]) -> dict[tuple, dict]:
    """(scenario, loss, seed) -> the sweep row of that run."""
    return {(r["scenario"], r["loss"], r["seed"]): r for r in rows}


def _stage_one_of(scen: str, grid_labels: dict[str, list[str]], cells: dict, first: int,
                  keep: int | None) -> tuple[dict, dict, list]:
    """One scenario's stage 1 from its rows: (baseline -> stage-1 AUC by label, baseline ->
    labels kept for stage 2, [(scenario, label, seed)] of stage-1 rows missing). A baseline
    with a stage-1 row missing has no kept labels: stage 2 waits for the whole of stage 1."""
    scores, kept, absent = {}, {}, []
    for baseline, labels in grid_labels.items():
        rows = {lb: cells.get((scen, lb, first)) for lb in labels}
        gone = [(scen, lb, first) for lb, r in rows.items() if r is None]
        absent += gone
        scores[baseline] = {lb: row_metric(r, "auc") for lb, r in rows.items() if r is not None}
        kept[baseline] = [] if gone else stage_one(labels, scores[baseline], keep)
    return scores, kept, absent


def _check_sweep_rows(rows: list[dict], decl: SweepFile, where: str) -> None:
    """Refuse rows recorded under another knob section, or under another halving section
    (rows that record none, as rows written before halving existed, fit any: stage-1 rows are
    the same runs either way, and tuning reads only the stage-2 rows its halving keeps)."""
    other = sorted({r["sweep"]["sha256"] for r in rows} - {decl.sha256})
    if other:
        raise ConfigError(f"{where}: has rows of a sweep whose knob section had sha256 "
                          f"{other[0]}, not {decl.sha256}: the sweep file's baselines or "
                          "learning rates changed since they ran")
    halvings = {json.dumps(r["sweep"]["halving"], sort_keys=True) for r in rows
                if r["sweep"].get("halving") is not None}
    if halvings - {json.dumps(decl.halving, sort_keys=True)}:
        raise ConfigError(f"{where}: field 'halving' changed since the sweep ran (rows record "
                          f"{', '.join(sorted(halvings))}, the file says "
                          f"{json.dumps(decl.halving)})")


def _shown(path: Path) -> str:
    """A file as the repository names it, else where it is."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path.resolve())


def sweep(args) -> None:
    """A declared sweep on the tuning draw, scenario by scenario, resumable: stage 1 runs every
    config on the lowest tuning seed; stage 2, once stage 1 of the scenario is complete, runs
    each baseline's ``keep`` best configs by stage-1 AUC on the other tuning seeds (without a
    halving section: every config)."""
    path, out = Path(args.sweep_file), Path(args.out)
    decl = read_sweep(path)
    seeds = parse_seeds(args.seeds)
    overlap = set(seeds) & set(parse_seeds(REPORTING_SEEDS))
    if overlap:
        raise ConfigError(f"--seeds {args.seeds}: seeds {sorted(overlap)} are reporting seeds "
                          f"({REPORTING_SEEDS}); tune on others (default {TUNING_SEEDS})")
    first, rest = stage_seeds(seeds)
    earlier = [r for r in records(out) if r.get("role") == "sweep"] if out.exists() else []
    _check_sweep_rows(earlier, decl, str(out))   # before anything trains
    budgets = sorted({r["budget"] for r in earlier} - {args.budget})
    if budgets:
        raise ConfigError(f"{out}: has sweep rows at budget {budgets[0]}; tune one budget per "
                          f"file (--budget {args.budget})")
    tag = {"role": "sweep", "sweep": {"file": _shown(path), "sha256": decl.sha256,
                                      "file_sha256": decl.file_sha256,
                                      "halving": decl.halving, "seeds": sorted(set(seeds))}}
    scenarios = {name: load_bed(name) for name in args.scenarios.split(",")}
    configs = {}
    for name, scen in scenarios.items():
        configs[name] = []
        for baseline, items in decl.grid.items():
            for c in configs_from_losses(",".join(items), scen, decl.specs, **tag,
                                         baseline=baseline):
                c.fields["config"] = _knobs(c.name)
                configs[name].append(c)
    n = sum(len(items) for items in decl.grid.values())   # configs a scenario
    kept_n = n if decl.keep is None else sum(min(decl.keep, len(v)) for v in decl.grid.values())
    full, halved = n * (1 + len(rest)), n + kept_n * len(rest)
    print(f"sweep {path}: {n} configs on seed {first}, then "
          + (f"each baseline's best {decl.keep} ({kept_n} configs)" if decl.keep else "all")
          + f" on seeds {rest or 'none'}, on the tuning draw ({len(configs)} scenarios, budget "
          f"{args.budget}): {halved} runs a scenario"
          + (f" instead of {full}: halving saves {full - halved} ({(full - halved) / full:.0%})"
             if decl.keep else ""), flush=True)
    command = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    grid_labels = {b: [_label(it) for it in items] for b, items in decl.grid.items()}
    for name, scen in scenarios.items():   # both stages of a scenario before the next
        common = dict(draws=(TUNING,), budget=args.budget, workers=args.workers, fixed=False,
                      command=command)
        run_cells(out, {name: scen}, {name: configs[name]}, seeds=[first], **common)
        cells = _sweep_cells([r for r in records(out) if r.get("role") == "sweep"
                              and r.get("draw") == TUNING and r.get("budget") == args.budget])
        _, kept, absent = _stage_one_of(name, grid_labels, cells, first, decl.keep)
        if absent:   # run_cells returns only when the file has every row it set out to write
            raise LossforgeError(f"{out}: stage 1 of {name} lacks {len(absent)} rows after "
                                 "running it")
        stage2 = {lb for labels in kept.values() for lb in labels}
        if decl.keep is not None:
            print(f"{name}: stage 1 done; stage 2 on seeds {rest}: "
                  + "; ".join(f"{b} {', '.join(lbs) or 'none (all failed)'}"
                              for b, lbs in kept.items()), flush=True)
        if rest and stage2:
            run_cells(out, {name: scen}, {name: [c for c in configs[name] if c.name in stage2]},
                      seeds=rest, **common)


def _knobs(label: str) -> dict[str, float]:
    """'dpo[beta=2,lr=0.001]' -> {'beta': 2.0, 'lr': 0.001} (the label parse_losses makes)."""
    inside = label.partition("[")[2].rstrip("]")
    return {k: float(v) for k, _, v in (kv.partition("=") for kv in inside.split(",") if kv)}


def tuned(args) -> None:
    """Each baseline's best config per scenario from a finished sweep, frozen in a JSON file,
    with the configs halving cut at stage 1 and their stage-1 AUC."""
    path = Path(args.sweep_jsonl)
    rows = [r for r in records(path) if r.get("role") == "sweep"] if path.exists() else []
    if not rows:
        raise ConfigError(f"{path}: no sweep rows (made by 'baselines.py sweep')")
    sweeps = {(r["sweep"]["file"], r["sweep"]["sha256"]) for r in rows}
    budgets = {r["budget"] for r in rows}
    if len(sweeps) > 1 or len(budgets) > 1:
        raise ConfigError(f"{path}: rows of {len(sweeps)} sweep files and {len(budgets)} budgets; "
                          "tune one sweep at one budget per file")
    (sweep_file, sha), budget = sweeps.pop(), budgets.pop()
    decl = declared_sweep(sweep_file, sha)
    _check_sweep_rows(rows, decl, str(path))
    # the tuning seeds: rows of this code record them; older rows only their own
    seeds = sorted({r["seed"] for r in rows}
                   | {s for r in rows for s in r["sweep"].get("seeds", ())})
    first, rest = stage_seeds(seeds)
    if decl.keep is not None and not rest:
        raise ConfigError(f"{path}: the sweep is not finished: its rows hold seed {first} only, "
                          "and the file declares halving: stage 2 has not run; run the same "
                          "sweep command again")
    cells = _sweep_cells(rows)
    grid_labels = {b: [_label(it) for it in items] for b, items in decl.grid.items()}
    item_of = {_label(it): it for items in decl.grid.values() for it in items}
    scenarios = sorted({r["scenario"] for r in rows})
    absent, picks, unpicked = [], {}, []
    for scen in scenarios:
        picks[scen] = {}
        stage1, kept, absent1 = _stage_one_of(scen, grid_labels, cells, first, decl.keep)
        absent += absent1
        for baseline, labels in grid_labels.items():
            tried = []
            for label in labels:   # file order: max below keeps the first of ties
                if label not in kept[baseline]:
                    continue
                rs = [cells.get((scen, label, sd)) for sd in seeds]
                absent += [(scen, label, sd) for sd, r in zip(seeds, rs) if r is None]
                if None in rs:
                    continue
                auc = [row_metric(r, "auc") for r in rs]
                fin = [row_metric(r, "final") for r in rs]
                tried.append({"item": item_of[label], "loss": label, "config": _knobs(label),
                              "auc": sum(auc) / len(auc), "final": sum(fin) / len(fin),
                              "stage1_auc": stage1[baseline][label]})
            cut = [{"loss": lb, "stage1_auc": stage1[baseline][lb]} for lb in labels
                   if lb in stage1[baseline] and lb not in kept[baseline]]
            finite = [t for t in tried if t["auc"] == t["auc"]]
            if finite:
                best = max(finite, key=lambda t: t["auc"])   # max keeps the first of ties
                picks[scen][baseline] = {**best, "n_seeds": len(seeds), "tried": tried,
                                         "cut_at_stage1": cut,
                                         "on_edge": [] if baseline in decl.listed else
                                         on_edge(best["config"], [_knobs(lb) for lb in labels])}
                if baseline in decl.specs:   # a candidate, tuned as the baselines are
                    picks[scen][baseline]["spec"] = decl.specs[baseline]
            else:   # (if runs are missing, the refusal below comes first)
                unpicked.append(f"{scen}: {baseline}")
    if absent:
        raise ConfigError(f"{path}: the sweep is not finished: {len(absent)} runs missing "
                          f"(e.g. {absent[0][0]} {absent[0][1]} seed {absent[0][2]}); run "
                          "the same sweep command again")
    out = Path(args.out) if args.out else path.with_suffix(".tuned.json")
    frozen = {"selection": SELECTION[1], "metric": SELECTION[0], "budget": budget,
              "draw": TUNING, "seeds": seeds, "halving": decl.halving, "stage1_seed": first,
              "sweep_file": sweep_file, "sweep_sha256": sha,
              "sweep_file_sha256": decl.file_sha256, "sweep_jsonl": str(path),
              "sweep_commands": sorted({r.get("command", "?") for r in rows}),
              "command": "python benchmarks/baselines.py " + " ".join(sys.argv[1:]),
              "scenarios": picks, "failed_everywhere": unpicked}
    atomic_write_json(out, frozen)
    if unpicked:
        print("no config ran without failing, so no tuned setting (left out): "
              + "; ".join(unpicked))
    for scen, by in picks.items():
        print(f"{scen}: " + ", ".join(f"{b} -> {v['loss']} (AUC {v['auc']:.1f}, final "
                                      f"{v['final']:.1f})" for b, v in by.items()))
        edges = [f"{b} ({', '.join(v['on_edge'])})" for b, v in by.items() if v["on_edge"]]
        if edges:
            print(f"  picks on an edge of their grid (the optimum may lie beyond it): "
                  + "; ".join(edges))
        if decl.keep is not None:
            for b, v in by.items():
                print(f"  {b}: cut at stage 1 (AUC on seed {first}): "
                      + (", ".join(f"{c['loss']} {c['stage1_auc']:.1f}" for c in
                                   v["cut_at_stage1"]) or "none"))
    print(f"wrote {out}")


def shortlist(args) -> None:
    """A sweep file of each baseline's shortlist: its tuned pick on any scenario of the given
    tuned files (``--take stage2``: every config that reached stage 2, its ``tried``), in the
    source sweep's grid order, deduplicated. Benchmark v2 tunes the test suite on the train
    suite's shortlist (``benchmarks/results/v2-plan.md`` declares the rule): per-scenario
    tuning, at about half the runs of the full grid. Candidates are left out (they get their
    own sweep file)."""
    if args.keep < 1:
        raise ConfigError(f"--keep {args.keep}: expected a whole number >= 1")
    frozen, sources = [], set()
    for f in args.tuned:
        one = _tuned_file(f, ("budget", "scenarios", "sweep_file", "sweep_sha256"))
        sources.add((one["sweep_file"], one["sweep_sha256"], one["budget"]))
        frozen.append((f, one["scenarios"]))
    if len(sources) != 1:
        raise ConfigError("shortlist: the tuned files come from "
                          f"{len(sources)} sweeps or budgets: " + "; ".join(
                              f"{a} (sha256 {b[:12]}, budget {c})" for a, b, c in sorted(sources))
                          + "; shortlist one sweep at a time")
    sweep_file, sha, budget = sources.pop()
    decl = declared_sweep(sweep_file, sha)
    covered = sorted({scen for _, scenarios in frozen for scen in scenarios})
    if args.suite:
        from lossforge.bench.suites import load_suite

        want = load_suite(args.suite).scenarios
        gap = sorted(set(want) - set(covered))
        if gap:
            raise ConfigError(f"shortlist: {args.suite} has scenarios no tuned file covers: "
                              f"{', '.join(gap)} (finish their sweeps first)")
    chosen = defaultdict(set)
    for _, scenarios in frozen:
        for picks in scenarios.values():
            for baseline, pick in picks.items():
                if "spec" not in pick:
                    chosen[baseline].update([pick["item"]] if args.take == "picks"
                                            else [t["item"] for t in pick["tried"]])
    lines = [f"# Benchmark v2 shortlist sweep, written by (do not edit: rows record the sha256 "
             "of the knob section):",
             "#   python benchmarks/baselines.py " + " ".join(sys.argv[1:]),
             "# Each baseline's " + ("tuned pick" if args.take == "picks" else
                                     "configs that reached stage 2")
             + f" in {sweep_file} (sha256 {sha[:12]}, budget {budget})",
             f"# on any of these scenarios ({len(covered)}): {', '.join(covered)}.",
             "# The rule and why: benchmarks/results/v2-plan.md.",
             f'description = "shortlist ({args.take}) of {sweep_file} from {len(covered)} '
             'scenario(s)"',
             ""]
    n = 0
    for baseline, items in decl.grid.items():
        mine = [it for it in items if it in chosen.get(baseline, ())]
        if not mine:
            continue
        n += len(mine)
        lines += configs_toml(baseline, [_knobs(_label(it)) for it in mine])
    lines += ["[halving]", f"keep = {args.keep}", ""]
    out = Path(args.out)
    atomic_write_text(out, "\n".join(lines))
    check = read_sweep(out)   # what was written reads back as a valid sweep file
    kept = sum(min(args.keep, len(v)) for v in check.grid.values())
    print(f"wrote {out}: {n} configs of {len(check.grid)} baselines (full grid: "
          f"{sum(len(v) for b, v in decl.grid.items() if b not in decl.specs)}); a scenario "
          f"costs {n} + {kept} x (tuning seeds - 1) runs")


def suite_reference(args) -> None:
    """The regret reference of a suite search from tuned baselines (issue 19: regret to the best
    *tuned* baseline of each scenario). Every baseline of the tuned files, at its tuned config,
    trains on the search's own units: draw 0 of each suite scenario, each rung's seeds (rows
    in ``--runs``, resumable). Per rung and scenario the file holds the best baseline by mean
    score, its score on every seed (so the search's regret stays paired per seed) and the
    reference's score: ``python -m lossforge.search --suite ... --suite-baselines FILE``."""
    from lossforge.search import suite_fitness as sf

    frozen = read_tuned(list(args.tuned))
    suite_name, members = sf.load(args.suite)
    gap = [m.name for m in members if m.name not in frozen["scenarios"]]
    if gap:
        raise ConfigError(f"suite-reference: no tuned configs for {', '.join(gap)} (finish "
                          "their sweeps and run tuned first)")
    rungs = [r for r in args.rungs.split(",") if r]
    runs, out = Path(args.runs), Path(args.out)
    command = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    result = {"suite": suite_name, "metric": "auc", "draw": 0, "tuned": list(args.tuned),
              "runs": _shown(runs), "command": command}
    for rung in rungs:
        for m in members:
            scen = load_bed(m.name)
            cs = [c for b, pick in frozen["scenarios"][m.name].items() if "spec" not in pick
                  for c in configs_from_losses(pick["item"], scen, role="suite-reference",
                                               baseline=b, config=pick["config"])]
            run_cells(runs, {m.name: scen}, {m.name: cs}, draws=(0,),
                      seeds=scen.budget(rung).seeds, budget=rung, workers=args.workers,
                      fixed=False, command=command)
        units = sf.units_of(members, rung)
        rows = [r for r in records(runs) if r.get("role") == "suite-reference"
                and r["budget"] == rung and r["draw"] == 0]
        scores, label = defaultdict(dict), {}
        for r in rows:
            if r["loss"] == frozen["scenarios"][r["scenario"]][r["baseline"]]["loss"]:
                scores[r["baseline"]][sf.Unit(r["scenario"], r["seed"])] = r["score"]
                label[r["scenario"], r["baseline"]] = r["loss"]
        refs = {m.name: sf.reference_score("bench", m.path, rung, "auc") for m in members}
        table = sf.baseline_table(dict(scores), units, refs)
        result[rung] = {s: {"best": t["best_score"], "reference": t["reference"],
                            "baseline": label[s, t["best"]], "per_seed": t["per_seed"]}
                        for s, t in table.items()}
        for s, t in result[rung].items():
            print(f"{rung} {s}: best tuned {t['baseline']} {t['best']:.1f}, reference "
                  f"{t['reference']:.1f}", flush=True)
    atomic_write_json(out, result)
    print(f"wrote {out}")


def on_edge(config: dict[str, float], grid: list[dict[str, float]]) -> list[str]:
    """The knobs of ``config`` at the smallest or largest value ``grid`` tries for them
    ('lr max', 'beta min'); knobs the grid holds at one value are not edges."""
    out = []
    for k, v in config.items():
        values = {g[k] for g in grid if k in g}
        if len(values) > 1 and v in (min(values), max(values)):
            out.append(f"{k} {'min' if v == min(values) else 'max'}")
    return out


#: Knob values a zoo loss accepts, where not every positive number does (open intervals): rDPO's
#: and cDPO's eps divide by or weigh 1 - 2 eps; a learning rate above 1 is not one.
KNOB_DOMAIN = {"eps": (0.0, 0.5), "lr": (0.0, 1.0)}


def beyond(values: list[float], side: str, knob: str) -> float | None:
    """One grid step past the ``side`` ("min" or "max") end of ``values``: the grid's own ratio
    between its last two values there, 2 significant digits; halfway to the knob's bound when
    that step leaves ``KNOB_DOMAIN``; None when no step stays inside it."""
    lo, hi = KNOB_DOMAIN.get(knob, (0.0, math.inf))
    v = sorted(set(values))
    if len(v) < 2 or v[0] <= 0:
        return None
    new = v[-1] * v[-1] / v[-2] if side == "max" else v[0] * v[0] / v[1]
    if not lo < new < hi:
        new = (v[-1] + hi) / 2 if side == "max" else (v[0] + lo) / 2
    new = float(f"{new:.2g}")
    return new if lo < new < hi and new not in v else None


def extend(args) -> None:
    """A sweep file that extends every pick on an edge of its grid one step past that edge
    (``beyond``): the pick's config with each non-empty subset of its edge knobs moved. No
    halving: every new config runs on every tuning seed, so ``merge`` can compare its mean
    with the pick's. One scenario per tuned file (edges differ between scenarios)."""
    one = _tuned_file(args.tuned, ("budget", "scenarios", "sweep_file", "sweep_sha256"))
    if len(one["scenarios"]) != 1:
        raise ConfigError(f"{args.tuned}: {len(one['scenarios'])} scenarios; extend one "
                          "scenario's picks at a time (their edges differ)")
    (scen, picks), = one["scenarios"].items()
    decl = declared_sweep(one["sweep_file"], one["sweep_sha256"])
    base_lines, cand_lines, n, skipped = [], [], 0, []
    for name, pick in picks.items():
        grid = [_knobs(_label(it)) for it in decl.grid[name]]
        moved = {}
        edges = pick["on_edge"] if "on_edge" in pick else (   # (tuned files before on_edge)
            [] if name in decl.listed else on_edge(pick["config"], grid))
        for edge in edges:
            knob, side = edge.split()
            new = beyond([g[knob] for g in grid if knob in g], side, knob)
            if new is None:
                skipped.append(f"{name} {knob} ({side}: no step inside the knob's domain)")
            else:
                moved[knob] = new
        if not moved:
            continue
        keys = sorted(moved)
        subsets = [[k for i, k in enumerate(keys) if mask >> i & 1]
                   for mask in range(1, 2 ** len(keys))]
        configs = [{**pick["config"], **{k: moved[k] for k in sub}} for sub in subsets]
        n += len(configs)
        if name in decl.specs:   # a candidate: its only knob is lr
            cand_lines += [f"[candidates.{name}]", f'spec = "{decl.specs[name]}"',
                           f"lr = [{', '.join(repr(c['lr']) for c in configs)}]"]
        else:
            base_lines += configs_toml(name, configs)
    if skipped:
        print("not extended: " + "; ".join(skipped))
    if not n:
        print(f"{args.tuned}: no pick can move past an edge of its grid; nothing to extend")
        return
    out = Path(args.out)
    atomic_write_text(out, "\n".join([
        "# Extension of a tuning sweep past the edges of its grid, written by (do not edit):",
        "#   python benchmarks/baselines.py " + " ".join(sys.argv[1:]),
        f"# Picks of {args.tuned} ({scen}) on an edge of {one['sweep_file']}: each moved one",
        "# grid step past that edge (benchmarks/baselines.py beyond). Every config on every",
        "# tuning seed; then: tuned, and merge with the original picks.",
        f'description = "extension of {one["sweep_file"]} past the edges of {scen}\'s picks"',
        "", *base_lines, *cand_lines, ""]))
    read_sweep(out)   # reads back as a valid sweep file
    print(f"wrote {out}: {n} configs (run it with the sweep's tuning seeds and budget on "
          f"{scen}, then tuned, then merge)")


def merge(args) -> None:
    """Tuned picks of a sweep and of its extension (``extend``), merged: per scenario and
    baseline the higher mean AUC over the same tuning seeds (ties: the original pick)."""
    base = _tuned_file(args.base)
    ext = _tuned_file(args.extension)
    for key in ("budget", "seeds", "draw"):
        if base.get(key) != ext.get(key):
            raise ConfigError(f"{args.extension}: {key} {ext.get(key)!r}, {args.base} has "
                              f"{base.get(key)!r}: merge picks of one tuning protocol")
    unknown = sorted(set(ext["scenarios"]) - set(base["scenarios"]))
    if unknown:
        raise ConfigError(f"{args.extension}: scenario {unknown[0]} is not in {args.base}")
    merged = json.loads(json.dumps(base))
    changed = []
    for scen, picks in ext["scenarios"].items():
        for name, pick in picks.items():
            old = merged["scenarios"][scen].get(name)
            if old is None:
                raise ConfigError(f"{args.extension}: {scen}: {name} has no pick in {args.base}")
            if pick["auc"] > old["auc"]:
                merged["scenarios"][scen][name] = {**pick, "extended_from": old["loss"]}
                changed.append(f"{scen}: {name} {old['loss']} ({old['auc']:.1f}) -> "
                               f"{pick['loss']} ({pick['auc']:.1f})")
    merged["merged_from"] = [args.base, args.extension]
    merged["command"] = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    atomic_write_json(Path(args.out), merged)
    print("\n".join(changed) if changed else "no extended config beat its original pick")
    print(f"wrote {args.out}")


def declared_sweep(sweep_file: str, sha: str) -> SweepFile:
    """The sweep file that rows or a tuned file name, refused if it is missing or its knob
    section no longer has the sha256 they recorded (declare, then run)."""
    path = repo_path(sweep_file)
    decl = read_sweep(path) if path.exists() else None
    if decl is None or decl.sha256 != sha:
        raise ConfigError(f"{sweep_file}: missing or changed since the sweep ran (sha256 {sha} "
                          "of its knob section)")
    return decl


def _label(item: str) -> str:
    from lossforge.bench.losses import parse_losses

    return parse_losses(item)[0][0]


# --------------------------------------------------------------------------------------------
# Confirmation on fresh dataset draws
# --------------------------------------------------------------------------------------------
def _tuned_file(f: str, keys: tuple[str, ...] = ("budget", "seeds", "scenarios")) -> dict:
    """One tuned.json with ``keys``, or a one-line refusal naming it."""
    try:
        one = json.loads(Path(f).read_text())
        for key in keys:
            one[key]   # noqa: B018 - present, or the refusal below
        return one
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{f}: not a tuned file made by 'baselines.py tuned' "
                          f"({type(exc).__name__}: {exc})") from None


def read_tuned(paths: list[str]) -> dict | None:
    """The frozen picks of one or more tuned.json files, merged per scenario (a later sweep's
    candidates join the baselines of an earlier one: the same budget and tuning seeds, no
    name twice). None without files. ``by_file``: each file's scenarios."""
    if not paths:
        return None
    merged: dict = {"scenarios": defaultdict(dict), "by_file": {}}
    for f in paths:
        one = _tuned_file(f)
        budget, seeds, scenarios = one["budget"], one["seeds"], one["scenarios"]
        for key, value in (("budget", budget), ("seeds", sorted(seeds))):
            if merged.setdefault(key, value) != value:
                raise ConfigError(f"{f}: tuned at {key} {value}, {paths[0]} at "
                                  f"{merged[key]}: confirm one protocol at a time")
        merged["by_file"][f] = set(scenarios)
        for scen, picks in scenarios.items():
            twice = sorted(set(picks) & set(merged["scenarios"][scen]))
            if twice:
                raise ConfigError(f"{f}: {scen}: {twice[0]} is tuned in an earlier --tuned "
                                  "file too")
            merged["scenarios"][scen].update(picks)
    merged["scenarios"] = dict(merged["scenarios"])
    return merged


def confirm(args) -> None:
    """Frozen configs (tuned baselines, candidates) on reporting draws x seeds, then the
    report (see ``report``). Resumable and shareable like ``run``."""
    from lossforge.bench.losses import run_objective

    tuned_files = list(args.tuned)
    frozen = read_tuned(tuned_files)
    candidates = [load_spec_file(Path(f)) for f in args.spec] + \
        [run_objective(r) for r in args.from_run]
    if frozen is None and not candidates:
        raise ConfigError("confirm: nothing to run (give --tuned and/or --spec/--from-run)")
    names = args.scenarios.split(",") if args.scenarios else \
        sorted(frozen["by_file"][tuned_files[0]]) if frozen else []
    llm = any(n.startswith(LLM_PREFIX) for n in names)
    draws = parse_draws(args.draws or (LLM_DRAWS if llm else "1-5"))
    if 0 in draws or TUNING in draws:
        raise ConfigError(f"--draws {args.draws}: draw 0 is the data searches chose their "
                          "winners on and draw t tuned the baselines; confirm on draws 1, 2, ...")
    seeds = parse_seeds(args.seeds or (LLM_SEEDS if llm else REPORTING_SEEDS))
    budget = args.budget or (frozen and frozen["budget"]) or "full"
    if not names:
        raise ConfigError("confirm: --scenarios is needed without --tuned")
    if frozen is not None:
        if set(seeds) & set(frozen["seeds"]):
            raise ConfigError(f"--seeds {args.seeds}: overlaps the tuning seeds "
                              f"{frozen['seeds']} of {', '.join(tuned_files)}")
        if budget != frozen["budget"]:
            raise ConfigError(f"--budget {budget}: {', '.join(tuned_files)} was tuned at budget "
                              f"{frozen['budget']}")
        for f in tuned_files:
            untuned = [n for n in names if n not in frozen["by_file"][f]]
            if untuned:
                raise ConfigError(f"{f}: no tuned configs for {', '.join(untuned)}")
    want = len(parse_draws(LLM_DRAWS)) if llm else 5
    if len(draws) < want:
        print(f"note: {len(draws)} draws; a confirmation wants {want} or more", flush=True)
    scenarios = {n: load_bed(n) for n in names}
    configs = {}
    for name, scen in scenarios.items():
        cs = []
        for baseline, pick in (frozen["scenarios"][name] if frozen else {}).items():
            if "spec" in pick:   # a candidate the sweep tuned (its rate) as it tuned baselines
                cs += configs_from_losses(pick["item"], scen, {baseline: pick["spec"]},
                                          role="candidate", candidate=baseline,
                                          config=pick["config"])
            else:
                cs += configs_from_losses(pick["item"], scen, role="baseline",
                                          baseline=baseline, config=pick["config"])
        cs += [Config(obj, None, {"role": "candidate"}) for obj in candidates]
        if candidates and name.startswith(LLM_PREFIX):
            print(f"note: {name}: --spec/--from-run candidates pick their rate on dev prompts "
                  "per draw while tuned rows keep a frozen one; list them under [candidates] "
                  "of the sweep file to compare like with like", flush=True)
        dup = {c.name for c in cs if [d.name for d in cs].count(c.name) > 1}
        if dup or set(c.name for c in cs) & set(fixed_of(name)):
            raise ConfigError(f"confirm: two rows would be called "
                              f"{sorted(dup or fixed_of(name))[0]!r}")
        configs[name] = cs
    run_cells(Path(args.out), scenarios, configs, draws=draws, seeds=seeds, budget=budget,
              workers=args.workers, fixed=not args.no_fixed,
              command="python benchmarks/baselines.py " + " ".join(sys.argv[1:]))
    report(Path(args.out))


def report(path: Path) -> dict:
    """Per scenario, from a confirm JSONL: every row's per-draw means over seeds (the draw is
    the unit of analysis), their mean ± 95 % t-CI over draws, and every candidate's paired
    difference to every baseline (draw by draw, on the seeds both have) with a paired t-test
    over draws and Holm's correction across scenarios x baselines, separately for each
    candidate and metric; and every row against the best tuned baseline (``versus_best``:
    the baseline with the highest mean over these draws, per metric and scenario; paired the
    same way, uncorrected: issue 22's "paired difference to the best tuned baseline" for
    every loss). AUC and final both. Writes <jsonl stem>.confirm.{md,json}."""
    from lossforge.bench import stats
    from lossforge.bench.fitness import ci95_halfwidth

    rows = [r for r in records(path) if None not in _key(r) and r.get("draw", 0) not in (0, TUNING)]
    if not rows:
        raise ConfigError(f"{path}: no rows on reporting draws")
    # (budget, scenario) -> name -> draw -> seed -> row
    cells: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    role = {}
    for r in rows:
        cells[(r["budget"], r["scenario"])][r["loss"]][r["draw"]][r["seed"]] = r
        role[r["loss"]] = r.get("role", "baseline")
    metrics = ("auc", "final")

    def draw_mean(by_seed: dict, metric: str, seeds=None) -> float:
        xs = [row_metric(by_seed[s], metric) for s in (seeds or sorted(by_seed))]
        return float("nan") if any(x is None for x in xs) else sum(xs) / len(xs)

    summary, comparisons, versus_best = [], [], []
    for (budget, scen), by_name in sorted(cells.items()):
        all_draws = sorted({d for v in by_name.values() for d in v})
        for name, by_draw in by_name.items():
            entry = {"budget": budget, "scenario": scen, "loss": name, "role": role[name],
                     "seeds_per_draw": {str(d): len(by_draw[d]) for d in by_draw}}
            for m in metrics:
                per = {str(d): draw_mean(by_draw[d], m) for d in sorted(by_draw)}
                vals = list(per.values())
                entry[m] = {"per_draw": per, "mean": sum(vals) / len(vals),
                            "ci95": ci95_halfwidth(vals)}
            summary.append(entry)
        def paired(a: str, b: str, m: str) -> dict:
            """Row a minus row b, draw by draw on the seeds both have, with a paired t-test."""
            common = [d for d in all_draws if d in by_name[a] and d in by_name[b]
                      and set(by_name[a][d]) & set(by_name[b][d])]
            x, y = [], []
            for d in common:
                shared = sorted(set(by_name[a][d]) & set(by_name[b][d]))
                x.append(draw_mean(by_name[a][d], m, shared))
                y.append(draw_mean(by_name[b][d], m, shared))
            return {"draws": [str(d) for d in common],
                    "per_draw_diff": [u - v for u, v in zip(x, y)],
                    **stats.paired_t(x, y).to_json()}

        cands = [n for n in by_name if role[n] == "candidate"]
        bases = [n for n in by_name if role[n] != "candidate"]
        for c in cands:
            for b in bases:
                for m in metrics:
                    comparisons.append({"budget": budget, "scenario": scen, "candidate": c,
                                        "baseline": b, "metric": m, **paired(c, b, m)})
        mine = {e["loss"]: e for e in summary if (e["budget"], e["scenario"]) == (budget, scen)}
        tuned_rows = [n for n in by_name if role[n] == "baseline"]
        for m in metrics if tuned_rows else ():
            best = max(tuned_rows, key=lambda n: mine[n][m]["mean"])   # first of ties
            versus_best += [{"budget": budget, "scenario": scen, "metric": m, "best": best,
                             "loss": n, "role": role[n], **paired(n, best, m)}
                            for n in by_name if n != best]
    # Holm across scenarios x baselines, per candidate, metric and budget
    families: dict = defaultdict(list)
    for comp in comparisons:
        families[(comp["budget"], comp["candidate"], comp["metric"])].append(comp)
    for fam in families.values():
        for comp, adj in zip(fam, stats.holm([c["p"] for c in fam])):
            comp["p_holm"], comp["family_size"] = adj, sum(c["p"] == c["p"] for c in fam)
    flags = {f"{scen} ({budget})": {m: shortcut_flag({
        e["loss"]: (e[m]["mean"], e[m]["ci95"]) for e in summary
        if (e["budget"], e["scenario"]) == (budget, scen)}) for m in metrics}
        for budget, scen in sorted({(e["budget"], e["scenario"]) for e in summary})}
    cost = sum(r.get("seconds", 0) / r.get("batch_rows", 1) for r in rows)
    md = _report_md(summary, comparisons, versus_best, cost, len(rows),
                    sorted({r.get("command", "?") for r in rows}), flags)
    print(md)
    stem = path.with_suffix("")
    Path(f"{stem}.confirm.md").write_text(md + "\n")
    result = {"summary": summary, "comparisons": comparisons, "versus_best": versus_best,
              "shortcut_flags": flags, "row_seconds": cost, "rows": len(rows)}
    atomic_write_json(Path(f"{stem}.confirm.json"), result)
    return result


def _report_md(summary, comparisons, versus_best, cost: float, n_rows: int, commands,
               flags) -> str:
    from lossforge.bench import stats

    out = ["# Confirmation on fresh dataset draws", "",
           "Unit of analysis: the dataset draw (each value a draw's mean over its training "
           "seeds). ± is the 95 % t-interval over draws. AUC: mean score over the training "
           "checkpoints (the reference does not train: its AUC is its score); final: the last "
           "parameters. Paired differences: candidate minus baseline, draw by draw on the seeds "
           "both have; p: paired t-test over draws (two-sided); p (Holm): adjusted across "
           "scenarios x baselines, per candidate and metric.", ""]
    for (budget, scen) in sorted({(e["budget"], e["scenario"]) for e in summary}):
        entries = [e for e in summary if (e["budget"], e["scenario"]) == (budget, scen)]
        draws = sorted({d for e in entries for d in e["auc"]["per_draw"]}, key=int)
        out += [f"## {scen} ({budget} budget)", "",
                "| row | role | metric | " + " | ".join(f"draw {d}" for d in draws)
                + " | mean ± 95 % CI | seeds per draw |",
                "|---|---|---|" + "---|" * len(draws) + "---|---|"]
        for e in entries:
            for m in ("auc", "final"):
                per = e[m]["per_draw"]
                out.append(f"| {e['loss']} | {e['role']} | {m} | "
                           + " | ".join(num_text(per.get(d, float('nan'))) for d in draws)
                           + f" | {num_text(e[m]['mean'])} ± {num_text(e[m]['ci95'])} | "
                           + ",".join(str(e["seeds_per_draw"].get(d, 0)) for d in draws) + " |")
        out += ["", *_flag_lines({m.replace("auc", "AUC"): f for m, f in
                                  flags[f"{scen} ({budget})"].items()})]
        comps = [c for c in comparisons if (c["budget"], c["scenario"]) == (budget, scen)]
        if comps:
            out += ["", "| candidate | baseline | metric | draws | difference ± 95 % CI | p | "
                        "p (Holm) | per draw |", "|---|---|---|---|---|---|---|---|"]
            for c in comps:
                out.append(f"| {c['candidate']} | {c['baseline']} | {c['metric']} | {c['n']} | "
                           f"{stats.comparison_cells(c)} |")
        vs = [c for c in versus_best if (c["budget"], c["scenario"]) == (budget, scen)]
        if vs:
            best = {c["metric"]: c["best"] for c in vs}
            out += ["", "Every row against the best tuned baseline (the highest mean over these "
                        "draws, per metric: " + "; ".join(f"{m.replace('auc', 'AUC')} "
                                                          f"{b}" for m, b in best.items())
                    + "; picked on the reporting draws, which favours it). Not corrected for "
                      "multiple comparisons.", "",
                    "| row | role | metric | draws | difference ± 95 % CI | p | per draw |",
                    "|---|---|---|---|---|---|---|"]
            for c in vs:
                out.append(f"| {c['loss']} | {c['role']} | {c['metric']} | {c['n']} | "
                           f"{stats.comparison_cells(c, holm=False)} |")
        out.append("")
    out += [f"Cost: {n_rows} rows, {cost / 3600:.2f} h of wall time in all (each row's share "
            "of its batch).", "", "Commands:"] + [f"    {c}" for c in commands]
    return "\n".join(out)


def report_cmd(args) -> None:
    report(Path(args.jsonl))


def main() -> None:
    ap = argparse.ArgumentParser(description="baseline tables, resumable")
    sub = ap.add_subparsers(dest="cmd", required=True)
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
                                   "the file (.md, .summary.json).")
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
    h.add_argument("--take", choices=["picks", "stage2"], default="picks",
                   help="picks (default): each baseline's tuned config per scenario; stage2: "
                        "every config that reached stage 2")
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
    e = sub.add_parser("report", help="the confirmation report of a confirm JSONL")
    e.add_argument("jsonl")
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
