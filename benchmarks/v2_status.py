"""Where the declared MuJoCo v2 plan stands (benchmarks/results/v2-plan.md), read from the files
its steps write; nothing runs.

    python benchmarks/v2_status.py [--results benchmarks/results]

One line per step of ``benchmarks/v2_mujoco.sh`` (sweep per train scenario, shortlist, audit,
reference, search, candidates, confirmations, ablations, test tuning, headline), then the LLM
cells (``benchmarks/llm_v2.sh``): done, partial
(with rows so far and, for sweeps, the rows the sweep file declares) or not started, and the
job-hours the rows so far recorded (their ``seconds`` per row: a job's wall time, above its
core-hours when more jobs than cores shared the machine). The next step to run is the first
line that is not done.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from cells import records, row_seconds  # noqa: E402
from tuning import read_sweep, stage_seeds, TUNING_SEEDS  # noqa: E402

from lossforge.bench.scenarios import parse_seeds  # noqa: E402
from lossforge.bench.suites import load_suite  # noqa: E402


def declared_rows(sweep_file: Path) -> int | None:
    """Runs a scenario of a sweep file costs on the tuning seeds (halving included)."""
    if not sweep_file.exists():
        return None
    decl = read_sweep(sweep_file)
    n = sum(len(v) for v in decl.grid.values())
    rest = len(stage_seeds(parse_seeds(TUNING_SEEDS))[1])
    kept = n if decl.keep is None else sum(min(decl.keep, len(v)) for v in decl.grid.values())
    return n + kept * rest


def rows_of(path: Path) -> tuple[int, float]:
    """(result rows, job-hours they recorded) of a rows file; (0, 0) if it is absent."""
    if not path.exists():
        return 0, 0.0
    rs = [r for r in records(path) if "loss" in r and "scenario" in r]
    return len(rs), sum(row_seconds(r) for r in rs) / 3600


def tuning_line(res: Path, sweeps: Path, label: str, name: str, ext: str, merged: str,
                sweep_file: Path) -> tuple[str, float]:
    n, h = rows_of(res / f"sweep-{name}.jsonl")
    en, eh = rows_of(res / f"sweep-{ext}.jsonl")
    h += eh
    want = declared_rows(sweep_file)
    if (res / f"sweep-{merged}.tuned.json").exists():
        state = "done (extension merged)"
    elif (res / f"sweep-{ext}.none").exists():
        state = "done (no pick on an edge)"
    elif (sweeps / f"{ext}.toml").exists():
        state = f"extension running: {en} of {declared_rows(sweeps / f'{ext}.toml')} rows"
    elif n and want and n >= want:
        state = "swept; extension not decided yet"
    else:
        state = "partial" if n else "not started"
    return f"  {label:34s} {state:34s} {n:4d}/{want or '?'} rows, {h:4.1f} job-h", h


def racing_line(hof: dict, suite: str) -> str | None:
    """Racing's speed-up on the search so far (issue 19: >= 4x the naive suite evaluation):
    the unit evaluations its hall of fame counts at each rung, against every loss it scored
    evaluated on every unit of the top rung, priced by search_throughput.py's cost model.
    None before a generation has been recorded."""
    from search_throughput import model_ratio   # its cost model: seconds of a unit a rung

    from lossforge.search import suite_fitness as sf

    ladder, counters = hof.get("ladder"), hof.get("counters", {})
    units = counters.get("unit_evaluations", {})
    if not ladder or not units:
        return None
    top = ladder[-1]
    n_top = len(sf.units_of(sf.load(suite)[1], top))
    scored = counters.get("evaluated", {}).get(ladder[0], 0)
    ratio = model_ratio(scored, n_top, top, units)
    ratio = f"{ratio:.2f}x" if ratio else "n/a"
    return (f"racing: {scored} losses scored with "
            + ", ".join(f"{n} {r}" for r, n in units.items())
            + f" unit evaluations; naive: {scored} x {n_top} {top}: {ratio} by the cost model")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    res = Path(args.results)
    sweeps = res.parent / "sweeps"
    train = load_suite("train").scenarios
    lines, total = [], 0.0

    def add(text: str, hours: float = 0.0) -> None:
        nonlocal total
        lines.append(text)
        total += hours

    add("sweep (train suite tuning, baselines; then the trained shortcut, v2-shortcuts.toml):")
    for s in train:
        add(*tuning_line(res, sweeps, s, f"v2-{s}", f"v2-ext-{s}", f"v2-merged-{s}",
                         sweeps / "v2.toml"))
    for s in train:
        add(*tuning_line(res, sweeps, f"{s} (sft)", f"v2-short-{s}", f"v2-short-ext-{s}",
                         f"v2-short-merged-{s}", sweeps / "v2-shortcuts.toml"))
    add(f"shortlist: {'declared' if (sweeps / 'v2-test.toml').exists() else 'not yet'}")
    audits = [f for f in ("audit-v2-train.md", "audit-v2-test.md") if (res / f).exists()]
    add(f"audit: {', '.join(audits) or 'not started'}")
    n, h = rows_of(res / "suite-reference-train.jsonl")
    ref = "done" if (res / "suite-reference-train.json").exists() else \
        f"partial ({n} rows)" if n else "not started"
    add(f"reference: {ref}, {h:.1f} job-h", h)
    marker = res / "v2-suite-search.path"
    if marker.exists():
        # relative to the results (an older marker: absolute; Path's / keeps that as it is)
        runs = sorted((res / marker.read_text().strip()).glob("*-suite-train-s0"))
        gen = "?"
        if runs and (runs[-1] / "hall_of_fame.json").exists():
            hof = json.loads((runs[-1] / "hall_of_fame.json").read_text())
            cfg = json.loads((runs[-1] / "config.json").read_text())
            gen = f"{hof.get('generation')} of {cfg.get('config', {}).get('generations')}"
        done = ""
        if runs and (runs[-1] / "evaluations.jsonl").exists():
            # every (loss, scenario, seed) evaluation, journaled as it lands; each worker call
            # counts once (Journal.calls; a worker's wall time is its core time on a machine
            # with a core per worker)
            from lossforge.search.journal import Journal

            journal = Journal(runs[-1])
            secs = sum(journal.calls())
            done = f"; {len(journal)} unit evaluations, {secs / 3600:.1f} core-h"
        add(f"search: {runs[-1] if runs else 'started'}: generation {gen}{done}")
        line = racing_line(hof, cfg["config"]["suite"]) if gen != "?" else None
        if line:
            add("  " + line)
    else:
        add("search: not started")
    cand = sweeps / "v2-candidates.toml"
    if cand.exists():
        names = list(tomllib.loads(cand.read_text())["candidates"])
        add(f"candidates: winner {names[0]}; others {', '.join(names[1:])}")
        for s in train:
            add(*tuning_line(res, sweeps, s, f"v2-cand-{s}", f"v2-cand-ext-{s}",
                             f"v2-cand-merged-{s}", cand))
    else:
        add("candidates: not yet (the search names the winner)")
    # in the order `v2_mujoco.sh all` runs them (v2-plan.md, Session 19: the test suite first)
    test = load_suite("test").scenarios   # the shortlist's, the shortcut's, the candidates'
    test_rows = {s: [rows_of(res / f"sweep-v2-{p}-{s}.jsonl") for p in ("test", "short", "cand")]
                 for s in test}
    begun = [s for s, r in test_rows.items() if any(n for n, _ in r)]
    rates = [f for f in ("v2-test-shortcuts.toml", "v2-test-candidates.toml")
             if (sweeps / f).exists()]
    add(f"test-tune: {len(begun)} of {len(test)} scenario(s) begun, "
        f"{sum(n for r in test_rows.values() for n, _ in r)} rows; the shortcut's and the "
        f"candidates' rates (Session 22): {', '.join(rates) or 'not yet declared'}",
        sum(h for r in test_rows.values() for _, h in r))
    for what, f in (("test-confirm", "confirm-v2-test.jsonl"),
                    ("confirm-train (and ablate)", "confirm-v2-train.jsonl")):
        n, h = rows_of(res / f)
        add(f"{what}: {n} rows, {h:.1f} job-h", h)
    heads = sorted(p.name for p in res.glob("headline-v2-*.md"))
    add(f"headline: {', '.join(heads) or 'not yet'}")
    add("LLM cells (benchmarks/llm_v2.sh; mixed quality: merged picks, draws 17-24):")
    want = declared_rows(sweeps / "llm-v2.toml")
    for v in ("mixed-quality", "clean", "noisy-0.2", "length-controlled", "verbose-wrong"):
        cells = []
        for t in ("reverse", "sort", "add"):
            n, h = rows_of(res / f"sweep-llm-v2-{t}-{v}.jsonl")
            total += h
            confirm = res / (f"confirm-llm-v2-merged-{t}-{v}-d17.confirm.json"
                             if v == "mixed-quality" else f"confirm-llm-v2-{t}-{v}.confirm.json")
            cells.append(f"{t} " + ("confirmed" if confirm.exists() else
                                    f"sweep {n}/{want}" if n else "not started"))
        add(f"  {v:20s} " + "; ".join(cells))
    print("\n".join(lines))
    print(f"job-hours recorded by these rows: {total:.1f}")
    print("(job-h: the wall time of the job that wrote the rows, each row's share. The plan and "
          "its step names: benchmarks/results/v2-plan.md; `bash benchmarks/v2_mujoco.sh all` "
          "runs every step not done, in the plan's order, and resumes a step from its rows.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
