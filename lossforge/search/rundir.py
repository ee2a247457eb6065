"""The run directory: what a search leaves behind, and how to read it back.

    runs/<YYYYmmdd-HHMMSS>-<scenario>-s<seed>/
      config.json          the SearchConfig (and the resolved grammar / scenario files)
      seeds.json           search seed, fitness seeds of every budget rung
      inputs.json          a digest of each file the run reads (grammars, scenario or suite):
                           --resume refuses a run whose inputs changed (search/inputs.py)
      checkpoint.json      the full search state after the last finished generation
      generations.jsonl    one summary line per generation
      hall_of_fame.json    best losses (top-rung score first), with formulas and fitness
      pareto.json          the front of complexity (tree size) vs top-rung score; baselines
                           (both carry "sha256", the hash of the rest of the file as canonical
                           JSON, as checkpoint.json does: an edited or damaged file is refused;
                           and "run", the identity of the run's configuration: one copied in
                           from a run configured otherwise is refused)
      pareto.tex           the front as a LaTeX table; pareto.png, the front as a plot
      losses/<name>.py     one standalone torch file per loss in the hall of fame or front
      losses/former/       the files of losses that have since left both (nothing deleted)
      .lock                while a search runs it: that process's pid; a second search of the
                           same directory is refused (``locked``)

This module writes a run directory. Reading one back needs JSON only and lives below the
search: ``lossforge.runfiles`` (the checksummed result files: ``read_checked``,
``write_checked``, ``read_run``) and ``lossforge.objectives.run.load_run`` (the losses as
callable ``Objective`` objects; also ``lossforge.search.load_run``). A result file whose
checksum does not match its content, or that names another run, is refused
(``CheckpointError`` naming it); one without a checksum (a run directory written before results
were checksummed) is read and listed in ``Run.unchecked``, which the CLIs report.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from lossforge.errors import CheckpointError
from lossforge.io import (LockHeld, append_lines, atomic_write_json, atomic_write_text,
                          claim_new_dir, hold_lock, make_dirs, release_lock)
from lossforge.runfiles import LOCK, RUN, run_dir as existing_run_dir, write_checked
from lossforge.search import gp
from lossforge.search.export import ExportError, loss_module_source, pareto_table


def new_run_dir(root: str | Path, scenario_name: str, seed: int) -> Path:
    """A new directory ``<stamp>-<scenario>-s<seed>`` under ``root`` (made with its parents).
    ``ConfigError`` naming ``root`` and why when it cannot be made there: ``root`` (or a folder
    above it) is a file, or the system refuses."""
    stamp = time.strftime("%Y%m%d-%H%M%S")    # of two started in the same second, one takes -1
    return claim_new_dir(root, f"{stamp}-{scenario_name}-s{seed}")


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock (``.lock``, an advisory ``flock``) for the ``with``
    block: two searches of one directory (two ``--resume``, say) would both append to its
    journal and logs and overwrite each other's checkpoint. ``CheckpointError`` naming the
    holder's pid when another process holds it. The kernel drops a lock whose process died
    (kill -9 too): a leftover file is no lock."""
    path = existing_run_dir(run_dir) / LOCK
    try:
        fd = hold_lock(path)
    except LockHeld as held:
        raise CheckpointError(f"{run_dir}: {held.who} is running this search ({path} is locked); "
                              f"wait for it to end (or stop it), then --resume again") from None
    try:
        yield
    finally:
        release_lock(path, fd)


#: what a new run directory holds before its first evaluation (``write_start``, inputs.py)
START_FILES = ("config.json", "seeds.json", "inputs.json")


def remove_if_unstarted(run_dir: Path) -> bool:
    """Remove a run directory that holds nothing but its start files (a run stopped by its
    input before any evaluation: nothing to resume, and a fixed input file would make a resume
    refuse it as changed); True if removed. Anything else in it, and it stays."""
    try:
        names = {p.name for p in run_dir.iterdir()}
        if not names <= set(START_FILES):
            return False
        for name in names:
            (run_dir / name).unlink()
        run_dir.rmdir()
    except OSError:
        return False
    return True


def write_start(run_dir: Path, ctx, *, config_json: bool = True) -> None:
    """config.json (unless not ``config_json``) and seeds.json, which nothing reads back: a
    resume writes it again (the same bytes, or a damaged or deleted one repaired)."""
    cfg = ctx.config
    if config_json:
        atomic_write_json(run_dir / "config.json", {
            "config": cfg.to_json(), "grammar_file": ctx.grammar.path,
            "scenario_file": ctx.scenario_path, "ladder": list(ctx.ladder), "beta": ctx.beta})
    seeds = {"search_seed": cfg.seed,
             "fitness_seeds": {r: list(ctx.scenario.budget(r).seeds) for r in ctx.ladder},
             "note": "fitness seeds are the scenario budgets' training/evaluation seeds, shared "
                     "by every candidate (common random numbers)"}
    atomic_write_json(run_dir / "seeds.json", seeds)


def append_generation(run_dir: Path, summary: dict) -> None:
    """One line of generations.jsonl: one fsynced write, like every other append-only log."""
    append_lines(run_dir / "generations.jsonl", [json.dumps(summary, allow_nan=False)])


def rewrite_generations(run_dir: Path, history: list[dict], seconds: list[float]) -> None:
    """On resume: the log is exactly the checkpoint's history (drops a half-written tail), each
    line with its generation's wall seconds as first written (the checkpoint keeps them apart,
    in ``timing.generation_s``; a checkpoint from before they were kept has none to give)."""
    if len(seconds) == len(history):
        history = [{**h, "seconds": s} for h, s in zip(history, seconds)]
    atomic_write_text(run_dir / "generations.jsonl",
                      "".join(json.dumps(h, allow_nan=False) + "\n" for h in history))


# ---- results ---------------------------------------------------------------------------------


def _score(rec: dict, rung: str) -> float:
    f = rec.get(rung)
    return f["score"] if f and f["status"] == "ok" and f["score"] is not None else math.nan


def raced_out(fitness: dict | None) -> bool:
    """Dropped by racing at that rung (suite runs): its score is an estimate on part of the
    units, so it never ranks as a rung's best."""
    return bool(fitness and fitness.get("suite", {}).get("raced_out"))


def complete_score(rec: dict, rung: str) -> float:
    """The loss's score at the rung if it was scored on all the rung's units, else NaN."""
    return math.nan if raced_out(rec.get(rung)) else _score(rec, rung)


def loss_parts(spec: dict):
    """The named pieces of a JSON spec's loss (``objectives.mpo.LossParts``; symbolic or
    neural), from which ``loss_text`` and ``loss_line`` write it."""
    from lossforge.objectives.neural import parts_from_spec

    return parts_from_spec(spec)


def loss_line(spec: dict) -> str:
    """The loss itself, ``L = w_pref*(G) + w_sft*(Psi)`` in formula syntax (the first part of
    ``loss_text``): ``L = -logsigmoid(D)``, ORPO's ``L = 1/10*(-logsigmoid(D)) - l``."""
    return loss_parts(spec).loss_line()


def loss_text(spec: dict) -> str:
    """The whole loss in one line: ``loss_line`` (weights and imitation term included) over the
    margin D, then what l and t are."""
    from lossforge.objectives.mpo import T

    p = loss_parts(spec)
    return (f"{p.loss_line()},  D = {p.margin_text()},  l = {p.aggregation} log-prob"
            + (", t = training progress" if T in p.symbols() else ""))


def simplest_text(spec: dict) -> str | None:
    """``loss_line`` with G and Psi each in its simpler exact equivalent (``symbolic/
    simplest.py``: fewer function applications), or None when neither has one (or the loss is
    not a symbolic one)."""
    if spec.get("kind", "symbolic") != "symbolic":
        return None
    from lossforge.objectives.mpo import IMITATION_VARS, LINK_VARS
    from lossforge.symbolic.simplest import simpler

    p = loss_parts(spec)
    link2 = simpler(p.link_text, LINK_VARS)
    psi2 = simpler(p.imitation_text, IMITATION_VARS) if p.imitation_text else None
    if link2 is None and psi2 is None:
        return None
    return dataclasses.replace(p, link_text=link2 or p.link_text,
                               imitation_text=psi2 or p.imitation_text).loss_line()


def row_simplest(row: dict) -> str | None:
    """A result row's ``loss_simplest``: as the row carries it, or worked out for a row written
    before rows carried it."""
    return row["loss_simplest"] if "loss_simplest" in row else simplest_text(row["spec"])


def _row(lid: str, rec: dict, ladder: list[str]) -> dict:
    return {"name": rec["name"], "loss_id": lid, "complexity": rec["complexity"],
            "h": rec["h"], "phi_inv": rec["phi_inv"], "phi_tilde": rec["phi_tilde"],
            "loss": loss_text(rec["spec"]), "loss_simplest": simplest_text(rec["spec"]),
            "spec": rec["spec"], "born": rec["born"],
            "origin": rec["origin"], "tree": rec["tree"],
            "properties": rec.get("properties") or properties_of(rec["spec"]),
            **{r: rec.get(r) for r in ladder}}


def properties_of(spec: dict) -> dict | None:
    """A loss's properties (``objectives/properties.py``) for a row whose state has none (a
    resumed older run, an ES network: its link and imitation term, which is all the properties
    read, are those of ``NeuralSpec.base_spec``); None where they cannot be computed."""
    from lossforge.objectives.neural import KIND, NeuralSpec
    from lossforge.objectives.properties import properties

    try:
        if spec.get("kind", "symbolic") == KIND:
            return properties(NeuralSpec.from_json(spec).base_spec()).to_json()
        return properties(spec).to_json()
    except Exception:  # noqa: BLE001 - a description, not a check: missing is allowed
        return None


def hall_of_fame(state: dict, k: int) -> list[dict]:
    """The ``k`` best losses: those scored on every unit of the top rung first, by that score;
    then those racing dropped there (suite runs: an estimate on part of the units, never the
    best), then the rest, each by the first rung's score."""
    ladder = state["ladder"]
    top, first = ladder[-1], ladder[0]
    items = [(lid, rec) for lid, rec in state["losses"].items()
             if not math.isnan(_score(rec, first))]

    def key(it):
        lid, rec = it
        at_top = _score(rec, top)
        tier = 2 if math.isnan(at_top) else 1 if raced_out(rec[top]) else 0
        return (tier, -(at_top if tier < 2 else 0), -_score(rec, first), rec["complexity"], lid)

    items.sort(key=key)
    return [_row(lid, rec, ladder) for lid, rec in items[:k]]


def pareto(state: dict) -> list[dict]:
    ladder = state["ladder"]
    top = ladder[-1]
    entries = [(lid, complete_score(rec, top), rec["complexity"])
               for lid, rec in state["losses"].items()]
    return [_row(lid, state["losses"][lid], ladder) for lid in gp.pareto_front(entries)]


def write_results(run_dir: Path, state: dict, ctx, *, plot: bool = False) -> dict:
    """hall_of_fame.json, pareto.json, pareto.tex, losses/*.py (and pareto.png with plot)."""
    ladder = state["ladder"]
    hof = hall_of_fame(state, ctx.config.hall_of_fame)
    front = pareto(state)
    baselines = [dict(b) for b in state["baselines"].values()]
    common = {"scenario": ctx.scenario.name, "ladder": ladder, "metric": ctx.config.metric,
              "generation": state["generation"], "baselines": baselines,
              "counters": state["counters"]}   # rejections by reason, duplicates, cache hits
    write_result_files(run_dir, ctx.run, common, hof, front)
    atomic_write_text(run_dir / "pareto.tex", pareto_table(front, baselines, ladder[-1]))
    write_loss_files(run_dir, hof + front, ctx.scenario.name, ladder[-1], ctx.config.metric)
    if plot:
        write_plot(run_dir, state, front, baselines)
    return {"hall_of_fame": hof, "pareto": front, "baselines": baselines}


def write_result_files(run_dir: Path, run: str, common: dict, hof: list[dict],
                       front: list[dict]) -> None:
    """hall_of_fame.json and pareto.json (``common`` fields and the rows), each checksummed
    and naming its run (``runfiles.RUN``), so that one copied into another run directory is
    refused there (``runfiles.read_result``). ``run``: the identity of the run's config.json,
    taken once when the run (re)started (``run._drive``), so a config.json moved or edited
    while it runs changes nothing."""
    common = {**common, RUN: run}
    write_checked(run_dir / "hall_of_fame.json", {**common, "hall_of_fame": hof})
    write_checked(run_dir / "pareto.json", {**common, "pareto": front})


def write_loss_files(run_dir: Path, rows: list[dict], scenario: str, rung: str,
                     metric: str) -> None:
    """losses/<name>.py: one standalone torch module per loss of ``rows``. A loss that cannot
    be written as one gets losses/<name>.not-exported.txt instead: one line saying why, also
    given as a warning the first time (this runs after every generation)."""
    import warnings

    rows = {r["name"]: r for r in rows}
    retire_loss_files(run_dir / "losses", set(rows))
    for row in rows.values():
        note = run_dir / "losses" / f"{row['name']}.not-exported.txt"
        try:
            src = loss_module_source(row, run=run_dir.name, scenario=scenario, rung=rung,
                                     metric=metric)
        except ExportError as e:
            line = f"{row['name']}: no standalone torch file (losses/{row['name']}.py): {e}"
            if not note.is_file() or note.read_text() != line + "\n":
                atomic_write_text(note, line + "\n")
                warnings.warn(line, stacklevel=2)
            continue
        atomic_write_text(run_dir / "losses" / f"{row['name']}.py", src)
        note.unlink(missing_ok=True)  # written by an older lossforge that could not export it
    _drop_returned(run_dir / "losses", set(rows))


FORMER = "former"   # losses/former/: the files of losses that left the hall of fame and front


def retire_loss_files(losses: Path, names: set[str]) -> None:
    """Move the files this search wrote for losses no longer in ``names`` (the hall of fame and
    front) to ``losses/former/``, so that ``losses/`` holds what the results list and nothing
    is lost (a user may train with one). Files the search did not write stay where they are."""
    for path in sorted(losses.glob("*")) if losses.is_dir() else ():
        name = path.name.removesuffix(".not-exported.txt").removesuffix(".py")
        if name in names or name == path.name or not _written_here(path, name):
            continue
        make_dirs(losses / FORMER)
        path.replace(losses / FORMER / path.name)


def _written_here(path: Path, name: str) -> bool:
    """Whether ``path`` is a file the search wrote for the loss ``name`` (its first line, as
    ``export.loss_module_source`` or ``write_loss_files``'s note begins); a file it cannot read
    is not."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(200).decode(errors="replace").split("\n")[0]
    except OSError:   # a directory, a file without read permission: the user's, left alone
        return False
    return (head.startswith(f'"""{name}: ') and "exported by lossforge" in head
            or head.startswith(f"{name}: no standalone torch file"))


def _drop_returned(losses: Path, names: set[str]) -> None:
    """A loss back in the results has its file in losses/ again: the copy of it in former/ goes
    when it holds the same bytes as one now written (one edited there stays)."""
    for name in names:
        for suffix in (".py", ".not-exported.txt"):
            old, new = losses / FORMER / f"{name}{suffix}", losses / f"{name}{suffix}"
            if old.is_file() and new.is_file() and old.read_bytes() == new.read_bytes():
                old.unlink()


def write_plot(run_dir: Path, state: dict, front: list[dict], baselines: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ladder = state["ladder"]
    top, first = ladder[-1], ladder[0]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    pts = [(rec["complexity"], _score(rec, first)) for rec in state["losses"].values()]
    pts = [p for p in pts if not math.isnan(p[1])]
    if pts:
        ax.scatter(*zip(*pts), s=12, c="0.7", label=f"all losses ({first})")
    tops = [(rec["complexity"], _score(rec, top)) for rec in state["losses"].values()]
    tops = [p for p in tops if not math.isnan(p[1])]
    if tops and top != first:
        ax.scatter(*zip(*tops), s=18, c="tab:blue", label=f"promoted ({top})")
    if front:
        xs = [r["complexity"] for r in front]
        ys = [_score(r, top) for r in front]
        ax.step(xs, ys, where="post", c="tab:red", lw=1.5)
        ax.scatter(xs, ys, c="tab:red", s=30, zorder=3, label="Pareto front")
    for b, style in zip(baselines, ("--", ":", "-.", "--")):
        s = _score(b, top)
        if not math.isnan(s):
            ax.axhline(s, ls=style, c="k", lw=1, label=f"{b['spec']['name']} ({top})")
    ax.set_xlabel("complexity (tree size)")
    ax.set_ylabel(f"score ({state['config']['metric']})")
    ax.set_title(f"lossforge search, generation {state['generation']}")
    if ax.get_legend_handles_labels()[0]:   # an empty legend is a matplotlib warning
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    tmp = run_dir / ".pareto.png.tmp.png"
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(run_dir / "pareto.png")

