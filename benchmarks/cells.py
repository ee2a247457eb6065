"""The cells of the benchmark protocol, shared by every command of ``benchmarks/baselines.py``:
reading a results JSONL (``records``, one row per (scenario, draw, seed, budget, loss)), the
configs a cell trains (``Config``, ``configs_from_losses``, candidates' spec files) and
``run_cells``, which trains and scores every (seed, draw, scenario) cell a file lacks, resumable
and shareable by two jobs (the protocol is described in baselines.py's module docstring), plus
the row metrics and the shortcut flag every table shows.

It imports nothing from the other modules of this directory: ``tuning.py`` (the declared sweep)
and ``confirmation.py`` (fresh draws) build on it, and ``baselines.py`` (the command line and
the v1 tables) on all three, so each module is loaded once however the command starts.
"""

from __future__ import annotations

import json
import os
import sys
import time
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

from lossforge.bench.draws import dataset_seed  # noqa: E402
from lossforge.bench.result import BC_ON_CHOSEN, LLM_REFERENCE, REFERENCE  # noqa: E402
from lossforge.errors import ConfigError  # noqa: E402
from lossforge.io import append_lines, machine  # noqa: E402
from lossforge.workers import worker_count  # noqa: E402


def row_key(r: dict) -> tuple:
    """(scenario, draw, seed, budget, loss): what a row is a result of (rows before draws
    existed are draw 0)."""
    return r.get("scenario"), r.get("draw", 0), r.get("seed"), r.get("budget"), r.get("loss")


def row_seconds(r: dict) -> float:
    """A row's share of the wall time of the run that wrote it: its job's ``wall_share``
    (``JobRunner``) over the rows that job wrote (``batch_rows``). Rows before session 17 have
    no share: their ``seconds`` is the wall time of a batch whose losses ran at once, shared by
    its ``batch_rows`` rows."""
    return r.get("wall_share", r.get("seconds", 0)) / r.get("batch_rows", 1)


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
        key = row_key(r)
        if None in key:
            out.append(r)
        elif key not in first:
            first[key] = r
            out.append(r)
        elif any(not _same(first[key].get(f), r.get(f)) for f in RESULT_FIELDS):
            raise SystemExit(f"{path}: line {n} repeats {_show_key(key)} with other results "
                             f"(score {r.get('score')} against {first[key].get('score')}); "
                             "remove the stale copy")
    return out


def _same(a, b) -> bool:
    """Equal result fields, a NaN equal to a NaN (``!=`` calls two copies of a row whose score
    is NaN different)."""
    return a == b or (a != a and b != b)


def _show_key(key: tuple) -> str:
    scenario, draw, seed, budget, loss = key
    return repr((scenario, seed, budget, loss) if draw == 0 else key)


#: The two policies every cell scores next to the losses unless --no-fixed (the names
#: fitness.fixed_policies gives them, from the torch-free bench/result.py).
FIXED = (REFERENCE, BC_ON_CHOSEN)
#: The LLM test bed's (lossforge.llm.fitness.FIXED): the SFT base every loss starts from. Its
#: imitation of the chosen side is the zoo's ``sft``, tuned like every baseline.
LLM_FIXED = (LLM_REFERENCE,)
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
    return [row_key(r) for r in records(path)] if path.exists() else []


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


def load_spec_file(path: Path):
    """An objective from a JSON file: a spec, or {"spec": ...} as a search's hall of fame
    writes them (MPO or neural). Not distill's output ({"distilled": {"spec": ...}}): export
    reads that. JSON only: nothing is executed or unpickled."""
    from lossforge.objectives import from_spec

    data = json.loads(path.read_text())
    return from_spec(data.get("spec", data))


#: A file whose existence asks every run_cells to stop at a cell boundary (the variable names
#: it): the cells begun are finished, no new one is begun, then the run exits (status 3). A
#: session that must end soon touches it, so that no (draw, seed) cell is left half done for a
#: later session to finish on another machine, whose rebuilt dataset would make that cell's
#: pairs unclean (confirmation.py's data_split_draws).
DRAIN_VAR = "LOSSFORGE_DRAIN"
DRAINED_EXIT = 3


def drain_requested() -> Path | None:
    """The drain file if ``$LOSSFORGE_DRAIN`` names one that exists, else None."""
    path = os.environ.get(DRAIN_VAR)
    return Path(path) if path and Path(path).exists() else None


def run_cells(out: Path, scenarios: dict, configs: dict[str, list[Config]], *, draws, seeds,
              budget: str, workers, fixed: bool, command: str, quiet: bool = False) -> None:
    """Train and score every config of every (seed, draw, scenario) cell that ``out`` lacks,
    appending each row as it lands (the resumable, shareable protocol of baselines.py's module
    docstring).

    The work is cut into jobs: one loss (trained and scored alone, at its own learning rate),
    or one cell's fixed policies. ``workers`` jobs run at once, each in its own process, and a
    worker takes the next job the moment it finishes one, whatever the cell or the learning
    rate; with one worker they run here, one after another. A loss's numbers do not depend on
    what ran beside it (baselines.py's module docstring), so the rows are the same either way.
    The file is read again before every job is handed out: rows another job wrote meanwhile
    are not trained again."""
    from lossforge import ledger

    out.parent.mkdir(parents=True, exist_ok=True)
    started_with = set(row_keys(out))

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
    if progress.pending:  # a re-run with nothing left to train looks at no data: no entry
        ledger.record("baselines", command=command, scenario=list(scenarios), seeds=list(seeds),
                      budget=budget, purpose=f"draws {list(draws)} -> {out}")

    def jobs_left() -> list[Job]:
        """Every job the file still lacks, in order: cell by cell, a cell's fixed policies
        before its losses. Read from the file again each time: another job writing to the same
        file (the same seeds in another order, say) takes its share. If another job began a
        cell after this run started, its losses are taken from the other end, so the two jobs
        meet in the middle instead of training the same rows."""
        keys = row_keys(out)
        done = set(keys)
        elsewhere = progress.written_elsewhere(done)
        if elsewhere:
            print(f"{time.strftime('%H:%M:%S')} another job wrote "
                  + ", ".join(f"{cell_name(s, d, sd)}: {n}" for s, d, sd, _, n in elsewhere)
                  + " " + progress.status(), flush=True)
        jobs = []
        for seed, draw, name in cells:
            todo, still = todo_in(done, name, draw, seed)
            first = next((k for k in keys if k[:4] == (name, draw, seed, budget)), None)
            if first is not None and first not in started_with and first not in progress.written:
                todo = todo[::-1]
            cell = dict(name=name, scenario=scenarios[name], draw=draw, seed=seed, budget=budget,
                        progress=not quiet)
            jobs += [Job(**cell, fixed=tuple(still))] if still else []
            jobs += [Job(**cell, config=c) for c in todo]
        return jobs

    def record(job: Job, rows: list, seconds: float, wall_share: float) -> None:
        """Append one job's rows (fsynced) and say so."""
        name, draw, seed = job.name, job.draw, job.seed
        if job.fixed:
            by_name = {n: {"role": "fixed"} for n in fixed_of(name)}
        else:
            lr = job.scenario.budget(budget).lr if job.config.lr is None else job.config.lr
            by_name = {job.config.name: {**job.config.fields, "lr": lr}}
        names = [r.name for r in rows]
        if sorted(names) != sorted(job.fixed or [job.config.name]):
            # a row under another name would never fill the job's place: it would run forever
            raise ConfigError(f"{cell_name(name, draw, seed)}: a job for "
                              f"{list(job.fixed) or job.config.name} returned rows {names}")
        append(out, [{"scenario": name, "draw": draw,
                      "dataset_seed": dataset_seed(job.scenario, draw), "seed": seed,
                      "budget": budget,
                      "loss": r.name, "status": r.status, "score": r.per_seed[0],
                      "final": r.final, "auc": r.auc,
                      "auc_over": auc_over(name, r.name),
                      "curve": getattr(r, "curve", ()),   # (the LLM bed: none)
                      "seconds": seconds, "wall_share": wall_share, "batch_rows": len(rows),
                      "machine": machine(), **digests.get((name, draw), {}),
                      "command": command, **by_name.get(r.name, {})}
                     for r in rows])
        print(f"{time.strftime('%H:%M:%S')} {cell_name(name, draw, seed)}: "
              + ", ".join(f"{r.name} {r.per_seed[0]:.1f}" for r in rows) + " "
              + progress.add([(name, draw, seed, budget, r.name) for r in rows]), flush=True)

    warm = set()
    # (scenario, draw) -> what its rows trained on (fitness.data_digests; the MuJoCo bed only)
    digests: dict[tuple, dict[str, str]] = {}
    with JobRunner(max(1, worker_count(workers))) as runner:
        while True:
            drain = drain_requested()
            # begun: a cell holding a row this run planned (not merely any row: a loss added to
            # a file whose cells are full), or a job in flight
            begun = ({k[:3] for k in row_keys(out) if k in planned}
                     | {k[:3] for k in runner.busy}) if drain else set()
            for job in jobs_left():
                if runner.full:
                    break
                if job.key in runner.busy or (drain and job.key[:3] not in begun):
                    continue
                charge = 0.0
                if job.warm_key not in warm:
                    # the dataset and reference (the LLM bed: the SFT base) are built here,
                    # once, not by every worker at the same time; the time is the cell's cost
                    runner.split_wall_time()
                    # (the MuJoCo bed returns the digests of what this draw's rows train on)
                    digest = fitness_of(job.name).warm_up(
                        job.scenario, workers=runner.workers, progress=not quiet,
                        draw=job.draw, seeds=[job.seed])
                    if isinstance(digest, dict):
                        digests[(job.name, job.draw)] = digest
                    charge = runner.split_wall_time(also=1)
                    warm.add(job.warm_key)
                runner.submit(job, charge)
            if not runner.busy:
                break
            try:
                done = runner.next_done()
            except BaseException:
                # the other jobs in flight land (and are kept) before the error surfaces
                for finished in runner.drain():
                    record(*finished)
                raise
            record(*done)
    # the last pass's answer: the file removed just now must not turn jobs left on purpose into
    # a normal return
    left = jobs_left() if drain else []
    if left:
        print(f"{time.strftime('%H:%M:%S')} stopped at a cell boundary: {drain} "
              f"(${DRAIN_VAR}) exists; {len(left)} jobs left for the same command, run again "
              "once that file is gone", flush=True)
        raise SystemExit(DRAINED_EXIT)


@dataclass(frozen=True)
class Job:
    """One unit of run_cells' work: one loss (``config``) of a cell, or its fixed policies
    (``fixed``: their names). ``key`` names the job, not a row: (scenario, draw, seed, loss
    name or "(fixed)"), the budget being one per run."""
    name: str
    scenario: Any
    draw: Any
    seed: int
    budget: str
    progress: bool
    config: Config | None = None
    fixed: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        return (self.name, self.draw, self.seed, self.config.name if self.config else "(fixed)")

    @property
    def warm_key(self) -> tuple:
        return (self.name, self.draw, self.seed)

    def run(self) -> tuple[list, float]:
        """(rows, seconds): the job's results and its wall time, in whichever process runs it."""
        fitness = fitness_of(self.name)
        t0 = time.time()
        if self.fixed:
            rows = list(fitness.fixed_policies(self.scenario, self.budget, self.seed,
                                               draw=self.draw, workers=1, names=self.fixed,
                                               progress=self.progress).values())
        else:
            rows = fitness.evaluate([self.config.objective], self.scenario, self.budget,
                                    seeds=[self.seed], workers=1, draw=self.draw,
                                    lr=self.config.lr, progress=self.progress)
        return rows, time.time() - t0


def _run_job(job: Job) -> tuple[list, float]:
    """A worker's task (quiet: with two workers their progress bars would interleave; the
    parent prints a line per row)."""
    from dataclasses import replace

    return replace(job, progress=False).run()


def _job_worker_init() -> None:
    from lossforge.workers import exit_with_parent

    exit_with_parent()


class JobRunner:
    """Runs Jobs: in ``workers`` spawned processes (``workers`` > 1), or in this process, where
    ``submit`` only queues a job and ``next_done`` runs it.

    ``busy``: the keys of the jobs handed out and not yet collected. ``next_done``: the
    earliest-submitted finished job, as (job, rows, seconds, wall_share). ``seconds`` is the
    job's own wall time. ``wall_share`` is its part of this run's wall time: each stretch of
    time is split equally among the jobs in flight then (and the parent's warm-ups:
    ``split_wall_time``), so the shares of a run add up to its wall time, however many jobs
    ran at once (``row_seconds``)."""

    def __init__(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self._pool = None
        if workers > 1:
            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(
                "spawn"), initializer=_job_worker_init)
        self._pending: dict[tuple, tuple[Job, Any]] = {}
        self._share: dict[tuple, float] = {}
        self._last = time.monotonic()

    @property
    def busy(self) -> set[tuple]:
        return set(self._pending)

    @property
    def full(self) -> bool:
        return len(self._pending) >= self.workers

    def split_wall_time(self, also: int = 0) -> float:
        """Share the wall time since the last call among the jobs in flight and ``also``
        other tasks of this process; returns one task's part."""
        now = time.monotonic()
        n = len(self._pending) + also
        part = (now - self._last) / n if n else 0.0
        self._last = now
        for key in self._pending:
            self._share[key] += part
        return part

    def submit(self, job: Job, charge: float = 0.0) -> None:
        """Hand out ``job``; ``charge``: seconds of this process's own work it owes (its cell's
        warm-up)."""
        self.split_wall_time()
        fut = self._pool.submit(_run_job, job) if self._pool else None
        self._pending[job.key] = (job, fut)
        self._share[job.key] = charge

    def _collect(self, key: tuple) -> tuple[Job, list, float, float]:
        job, fut = self._pending[key]
        rows, seconds = fut.result() if fut is not None else job.run()
        self.split_wall_time()
        del self._pending[key]
        return job, rows, seconds, self._share.pop(key)

    def next_done(self) -> tuple[Job, list, float, float]:
        if self._pool is None:
            return self._collect(next(iter(self._pending)))
        from concurrent.futures import FIRST_COMPLETED, wait

        wait([f for _, f in self._pending.values()], return_when=FIRST_COMPLETED)
        return self._collect(next(k for k, (_, f) in self._pending.items() if f.done()))

    def drain(self):
        """After a failure: every other job still in flight that finishes without an error, as
        ``next_done`` gives it (a queued job of this process's own is dropped, not run)."""
        for key in list(self._pending):
            job, fut = self._pending[key]
            if fut is None:
                del self._pending[key]
                continue
            try:
                yield self._collect(key)
            except BaseException:  # noqa: BLE001 - that job's own failure: drop it, go on
                self._pending.pop(key, None)

    def __enter__(self) -> "JobRunner":
        return self

    def __exit__(self, *exc) -> bool:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        return False


def _eta_from_file(path: Path, rows: int) -> str:
    """', about X h at Y s a row' from the wall time of the rows already in the file that
    recorded their batch size (rows of this code), or '' if there are none."""
    if not rows or not path.exists():
        return ""
    costs = [row_seconds(r) for r in records(path) if "batch_rows" in r]
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


def auc_over(scenario: str, loss: str) -> str:
    """What a row's "auc" is the mean score over, as its "auc_over" records it: "untrained"
    (a reference: its score), "final-only" (the LLM bed scores once, at the end of training:
    its "auc" is its final score and its curve is empty) or "checkpoints" (MuJoCo's curve).
    LLM rows written before "final-only" existed say "checkpoints" (``auc_is_final`` still
    tells them)."""
    if loss in REFERENCES:
        return "untrained"
    return "final-only" if scenario.startswith(LLM_PREFIX) else "checkpoints"


#: What a report says instead of the AUC where ``auc_is_final``.
AUC_NOT_MEASURED = "AUC: not measured on this bed; the score is final accuracy"


def auc_is_final(rows: list[dict]) -> bool:
    """Whether the "auc" of these rows is only their final score (no curve was measured): every
    row that ran says "auc_over": "final-only", or has auc == final and an empty curve (the LLM
    rows written before "final-only" existed, which say "checkpoints"; a row without a "curve"
    field predates curves and says nothing). False when no row ran (a report then shows both
    metrics, as ever)."""
    ran = [r for r in rows if r.get("status") == "ok"]
    return bool(ran) and all(
        r.get("auc_over") == "final-only"
        or (r.get("auc") is not None and r.get("auc") == r.get("final")
            and r.get("curve", None) == [])
        for r in ran)


def shortcut_flag(scores: dict[str, tuple[float, float] | None]) -> str | None:
    """``audit.shortcut_flag`` of one scenario's rows (name -> (mean, 95 % CI half-width);
    None, a value the rows lack, is left out): "shortcut best", "shortcut level with best" or
    None. Every table that shows a scenario says so when a shortcut baseline (length_sft, sft,
    zero_pref, the reference, BC-on-chosen) is best there (issue 18)."""
    from lossforge.bench.audit import shortcut_flag as flag

    return flag({name: v for name, v in scores.items() if v is not None})


def flag_lines(flags: dict[str, str | None]) -> list[str]:
    """Markdown lines naming every flagged table part ("none" if none is)."""
    flagged = [f"{where}: **{flag}**" for where, flag in flags.items() if flag]
    return ["Shortcut flag (lossforge/bench/audit.py: a shortcut baseline is best, or level with "
            "the best, CIs overlapping): " + ("; ".join(flagged) if flagged else "none") + "."]

