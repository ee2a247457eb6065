"""``benchmarks/baselines.py run`` resumes per loss: a loss already in the file is never trained
again, and a loss added to a file that has a scenario's other rows is trained (a check on
(scenario, seed, budget) alone once skipped it silently)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(out: Path, losses: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "baselines.py"), "run",
                           "--scenarios", "quick", "--losses", losses, "--no-fixed", "--seeds",
                           "0", "--budget", "quick", "--workers", "1", "--quiet",
                           "--out", str(out)],
                          check=True, capture_output=True, text=True, cwd=REPO)


def test_a_loss_added_later_is_trained_and_done_losses_are_not(tmp_path):
    out = tmp_path / "b.jsonl"
    _run(out, "dpo")
    first = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["loss"] for r in first] == ["dpo"]
    proc = _run(out, "dpo,orpo,ipo")
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["loss"] for r in rows] == ["dpo", "orpo", "ipo"]  # dpo not appended twice
    # every row records what it trained on: draw 0's dataset and reference, as this process
    # finds them in the same cache (v2-plan.md, Session 22: the reports' pairing check)
    from lossforge.bench import fitness

    want = fitness.data_digests("quick", draw=0)
    assert all(len(v) == 16 for v in want.values())
    assert [{k: r[k] for k in want} for r in rows] == [want] * 3
    # with one worker each loss is appended (and reported) on its own as it lands, so a kill
    # loses at most the loss in flight
    head, *lines = proc.stdout.splitlines()
    # with a time to go from the cost of the row already in the file
    assert "rows in the file 1, to run 2 (about " in head and " s a row, as so far" in head
    assert len(lines) == 2 and "orpo" in lines[0] and "ipo" in lines[1]
    assert "[1/2, about" in lines[0] and "[2/2, about 0.0 h to go]" in lines[1]
    assert "dpo" not in proc.stdout
    # nothing left to do: nothing trained
    assert _run(out, "dpo,orpo,ipo").stdout.strip().endswith("rows in the file 3, to run 0")
    assert len(out.read_text().splitlines()) == 3


def test_missing_is_per_loss():
    missing = _benchmark("cells").missing
    done = {("s", 0, 0, "full", "dpo"), ("s", 0, 1, "full", "orpo")}   # (scenario, draw, ...)
    assert missing(done, "s", 0, "full", ["dpo", "orpo"]) == ["orpo"]
    assert missing(done, "s", 1, "full", ["dpo", "orpo"]) == ["dpo"]
    assert missing(done, "s", 0, "screen", ["dpo"]) == ["dpo"]


def test_bad_scenario_or_loss_fails_before_anything_trains(tmp_path):
    """A typo in the last scenario or loss of a long run is reported at once, in one line, and
    nothing is trained or written (it used to surface as a traceback after the earlier cells)."""
    out = tmp_path / "b.jsonl"
    for scenarios, losses, bad in (("quick,quick-typo", "dpo", "quick-typo"),
                                   ("quick", "dpo,dpoo", "dpoo")):
        proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "baselines.py"), "run",
                               "--scenarios", scenarios, "--losses", losses, "--seeds", "0",
                               "--budget", "quick", "--workers", "1", "--out", str(out)],
                              capture_output=True, text=True, cwd=REPO)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.startswith("error: ") and bad in proc.stderr
        assert "Traceback" not in proc.stderr
        assert not out.exists()


def _benchmark(name: str):
    """benchmarks/<name>.py (baselines, cells), imported as the scripts there import each
    other."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module(name)


def test_a_row_another_job_writes_meanwhile_is_not_trained_again(tmp_path, monkeypatch, capsys):
    """Two jobs may share one file (the same seeds in two orders, to use two cores): each reads
    the file again before every batch and leaves out what the other has written."""
    import argparse

    from lossforge.bench import fitness

    baselines = _benchmark("baselines")
    other = tmp_path / "other.jsonl"
    _run(other, "orpo")                       # the other job's row, made for real
    theirs = other.read_text()
    out = tmp_path / "shared.jsonl"
    trained, real = [], fitness.evaluate

    def evaluate_while_the_other_job_writes(objs, *a, **kw):
        trained.append([o.name for o in objs])
        rows = real(objs, *a, **kw)
        if trained == [["dpo"]]:              # meanwhile, the other job lands its orpo row
            with open(out, "a") as fh:
                fh.write(theirs)
        return rows

    monkeypatch.setattr(fitness, "evaluate", evaluate_while_the_other_job_writes)
    monkeypatch.setattr(sys, "argv", ["baselines.py", "run"])
    baselines.run(argparse.Namespace(
        scenarios="quick", losses="dpo,orpo,ipo", spec=[], from_run=[], no_fixed=True,
        seeds="0", budget="quick", workers=1, out=str(out), quiet=True))
    assert trained == [["dpo"], ["ipo"]]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["loss"] for r in rows] == ["orpo", "dpo", "ipo"]
    assert rows[0] == json.loads(theirs)
    said = capsys.readouterr().out.splitlines()
    assert said[0].endswith("rows in the file 0, to run 3")
    assert "dpo" in said[1] and "[1/3, about" in said[1]
    assert "another job wrote quick seed 0: orpo [1/2, about" in said[2]
    assert "ipo" in said[3] and "[2/2, about 0.0 h to go]" in said[3]


def test_a_repeated_row_counts_once_and_disagreeing_copies_stop_the_reader(tmp_path):
    """Two jobs that took the same row at the same moment both write it: the table counts it
    once (mean of the two seeds, not three rows). Copies with other results are an error."""
    cells = _benchmark("cells")
    row = {"scenario": "s", "seed": 0, "budget": "full", "loss": "dpo", "status": "ok",
           "score": 1.0, "final": 0.5, "auc": 1.0, "command": "a", "seconds": 10}
    path = tmp_path / "t.jsonl"
    lines = [row, dict(row, seconds=12, command="b"), dict(row, seed=1, score=3.0, auc=3.0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert [(r["seed"], r["command"]) for r in cells.records(path)] == [(0, "a"), (1, "a")]
    md = subprocess.run([sys.executable, str(REPO / "benchmarks" / "baselines.py"), "table",
                         str(path)], check=True, capture_output=True, text=True).stdout
    assert "| full | s | dpo | 2 | 2.0 | ±12.7 |" in md     # t(0.975, 1) * sd 1.414 / sqrt 2
    with open(path, "a") as fh:
        fh.write(json.dumps(dict(row, score=1.5)) + "\n")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "baselines.py"), "table",
                           str(path)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "line 4 repeats ('s', 0, 'full', 'dpo') with other results (score 1.5 against 1.0)" \
        in proc.stderr
    # two copies of a row whose scores are NaN are the same row (NaN != NaN)
    nan = dict(row, seed=2, status="nonfinite", score=float("nan"), auc=float("nan"))
    path.write_text("".join(json.dumps(r) + "\n" for r in [*lines, nan, dict(nan, seconds=3)]))
    assert [r["seed"] for r in cells.records(path)] == [0, 1, 2]


def test_a_cell_another_job_began_is_taken_from_the_far_end(tmp_path, monkeypatch):
    """Where two jobs sharing a file meet in one cell, the one that finds the cell begun by the
    other takes its losses from the far end, so they do not train the same rows twice."""
    import argparse

    from lossforge.bench import fitness

    baselines = _benchmark("baselines")
    other = tmp_path / "other.jsonl"
    _run(other, "dpo")                        # the other job's first row of the cell
    theirs = other.read_text()
    out = tmp_path / "shared.jsonl"
    trained, real_fixed, real = [], fitness.evaluate_policies, fitness.evaluate

    def fixed_while_the_other_job_begins_the_cell(*a, **kw):
        rows = real_fixed(*a, **kw)
        with open(out, "a") as fh:            # it lands before this job's fixed rows
            fh.write(theirs)
        return rows

    def evaluate(objs, *a, **kw):
        trained.append([o.name for o in objs])
        return real(objs, *a, **kw)

    monkeypatch.setattr(fitness, "evaluate_policies", fixed_while_the_other_job_begins_the_cell)
    monkeypatch.setattr(fitness, "evaluate", evaluate)
    monkeypatch.setattr(sys, "argv", ["baselines.py", "run"])
    baselines.run(argparse.Namespace(
        scenarios="quick", losses="dpo,orpo,ipo", spec=[], from_run=[], no_fixed=False,
        seeds="0", budget="quick", workers=1, out=str(out), quiet=True))
    assert trained == [["ipo"], ["orpo"]]     # from the far end; dpo is the other job's
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["loss"] for r in rows] == ["dpo", "reference (BC)", "bc-on-chosen", "ipo", "orpo"]


def test_two_workers_write_the_rows_one_worker_writes(tmp_path):
    """With two workers each job (one loss, or a cell's fixed policies) runs in its own process
    and the next starts as soon as one ends, learning rates mixed: every row must equal the row
    of the same loss run here, one after another (the tables pair rows across files and jobs)."""
    rows = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.jsonl"
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "baselines.py"), "run",
                        "--scenarios", "quick", "--losses", "dpo,orpo:lr=1e-3,ipo",
                        "--seeds", "0,1", "--budget", "quick", "--workers", str(workers),
                        "--quiet", "--out", str(out)],
                       check=True, capture_output=True, text=True, cwd=REPO)
        rows[workers] = {(r["seed"], r["loss"]): r
                         for r in map(json.loads, out.read_text().splitlines())}
    one, two = rows[1], rows[2]
    assert len(one) == 10 and set(one) == set(two)      # 2 seeds x (3 losses + 2 fixed)
    for key, r in one.items():
        for field in ("status", "score", "final", "auc", "curve", "lr", "role"):
            assert r.get(field) == two[key].get(field), (key, field)
    # a loss is a job of its own (dpo and ipo share a rate, and once shared a batch): its row's
    # cost is its own
    assert {r["batch_rows"] for k, r in two.items() if k[1] in ("dpo", "ipo")} == {1}
    assert two[(0, "orpo[lr=0.001]")]["lr"] == 1e-3 and two[(0, "dpo")]["lr"] == 3e-4


def test_the_wall_time_is_shared_among_the_jobs_in_flight(monkeypatch):
    """Two jobs handed out together, run one after the other in this process: while the first
    runs both are in flight and split its time; then the second has the time to itself. The
    shares add up to the wall time the two took (the cost columns read them: row_seconds).
    The clock is a stand-in that each job moves on by 0.2 s, so the shares are exact."""
    import time
    import types

    cells = _benchmark("cells")
    clock, ran = [100.0], []

    def run(job):
        clock[0] += 0.2
        ran.append(job.seed)
        return [], 0.2

    monkeypatch.setattr(cells.Job, "run", run)
    monkeypatch.setattr(cells, "time", types.SimpleNamespace(time=time.time,
                                                             monotonic=lambda: clock[0]))
    jobs = [cells.Job("s", None, 0, seed, "quick", False, fixed=("f",)) for seed in (0, 1)]
    runner = cells.JobRunner(1)
    for job in jobs:
        runner.submit(job)
    first, second = runner.next_done(), runner.next_done()
    assert ran == [0, 1] and not runner.busy
    share0, share1 = first[3], second[3]
    assert share0 + share1 == pytest.approx(0.4, abs=1e-12)             # the wall time
    assert share0 == pytest.approx(0.1, abs=1e-12) and share1 == pytest.approx(0.3, abs=1e-12)
    assert cells.row_seconds({"seconds": 0.2, "wall_share": share0, "batch_rows": 2}) == \
        share0 / 2


def test_a_job_that_fails_in_a_worker_keeps_the_other_jobs_rows(tmp_path):
    """A job that raises (here a learning rate TrainConfig refuses) stops the run, but only
    after the job beside it has landed in the file: nothing computed is lost."""
    import pytest

    from lossforge.bench.scenarios import load_scenario
    from lossforge.errors import ConfigError

    cells = _benchmark("cells")
    scen = load_scenario("quick")
    (good,) = cells.configs_from_losses("dpo", scen)
    (bad,) = cells.configs_from_losses("ipo", scen)
    bad = cells.Config(bad.objective, -1.0)
    out = tmp_path / "rows.jsonl"
    with pytest.raises(ConfigError, match="lr must be > 0"):
        cells.run_cells(out, {"quick": scen}, {"quick": [bad, good]}, draws=(0,), seeds=[0],
                        budget="quick", workers=2, fixed=False, command="test", quiet=True)
    assert [json.loads(x)["loss"] for x in out.read_text().splitlines()] == ["dpo"]


def test_every_row_records_its_own_draws_data_fixed_rows_too(tmp_path):
    """v2-plan.md, Session 22, item 7: on two draws, the loss's and the fixed rows (reference,
    BC-on-chosen) each carry the digests of their own draw's dataset and reference, as this
    process finds them, and the two draws' differ."""
    from lossforge.bench import fitness

    out = tmp_path / "d.jsonl"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "baselines.py"), "run",
                    "--scenarios", "quick", "--losses", "dpo", "--seeds", "0", "--draws", "0,1",
                    "--budget", "quick", "--workers", "1", "--quiet", "--out", str(out)],
                   check=True, capture_output=True, text=True, cwd=REPO)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    want = {d: fitness.data_digests("quick", draw=d) for d in (0, 1)}
    assert sorted((r["draw"], r["loss"]) for r in rows) == [
        (d, n) for d in (0, 1) for n in sorted(["dpo", "reference (BC)", "bc-on-chosen"])]
    for r in rows:
        assert {k: r[k] for k in want[0]} == want[r["draw"]], (r["draw"], r["loss"])
    assert all(want[0][k] != want[1][k] for k in want[0])


def test_a_drain_file_stops_the_run_at_a_cell_boundary_and_the_rerun_finishes(tmp_path,
                                                                                monkeypatch):
    """$LOSSFORGE_DRAIN: once its file exists, the cell begun (seed 0's) is finished, the next
    (seed 1's) is not begun, and the run exits with status 3; the same command afterwards
    trains only seed 1's cell. So a session's end leaves no cell half done for another
    machine, whose rebuilt dataset would make the cell's pairs unclean."""
    import argparse

    from lossforge.bench import fitness

    baselines = _benchmark("baselines")
    drain = tmp_path / "drain"
    monkeypatch.setenv("LOSSFORGE_DRAIN", str(drain))
    trained, real = [], fitness.evaluate

    def evaluate_then_ask_to_drain(objs, *a, **kw):
        trained.append((kw.get("seeds"), [o.name for o in objs]))
        drain.touch()                         # the session is ending, from the first loss on
        return real(objs, *a, **kw)

    monkeypatch.setattr(fitness, "evaluate", evaluate_then_ask_to_drain)
    monkeypatch.setattr(sys, "argv", ["baselines.py", "run"])
    out = tmp_path / "rows.jsonl"
    args = argparse.Namespace(scenarios="quick", losses="dpo,orpo", spec=[], from_run=[],
                              no_fixed=True, seeds="0,1", budget="quick", workers=1,
                              out=str(out), quiet=True)
    with pytest.raises(SystemExit) as stop:
        baselines.run(args)
    assert stop.value.code == 3
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted((r["seed"], r["loss"]) for r in rows) == [(0, "dpo"), (0, "orpo")]
    assert trained == [([0], ["dpo"]), ([0], ["orpo"])]
    drain.unlink()
    trained.clear()
    monkeypatch.setattr(fitness, "evaluate", real)
    baselines.run(args)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted((r["seed"], r["loss"]) for r in rows) == [(0, "dpo"), (0, "orpo"),
                                                            (1, "dpo"), (1, "orpo")]


def test_a_drain_counts_as_begun_only_cells_with_this_runs_rows(tmp_path, monkeypatch):
    """A loss added to a file whose cells all hold other rows (the ablation's arms beside
    confirm-train's rows): the drain must still stop after the cell this run began, not take
    every cell for begun because some row is there."""
    import argparse

    from lossforge.bench import fitness

    baselines = _benchmark("baselines")
    out = tmp_path / "rows.jsonl"
    args = argparse.Namespace(scenarios="quick", losses="dpo", spec=[], from_run=[],
                              no_fixed=True, seeds="0,1", budget="quick", workers=1,
                              out=str(out), quiet=True)
    baselines.run(args)                               # dpo on both seeds: every cell has a row
    drain = tmp_path / "drain"
    monkeypatch.setenv("LOSSFORGE_DRAIN", str(drain))
    real = fitness.evaluate

    def evaluate_then_ask_to_drain(objs, *a, **kw):
        drain.touch()
        return real(objs, *a, **kw)

    monkeypatch.setattr(fitness, "evaluate", evaluate_then_ask_to_drain)
    monkeypatch.setattr(sys, "argv", ["baselines.py", "run"])
    with pytest.raises(SystemExit) as stop:
        baselines.run(argparse.Namespace(**{**vars(args), "losses": "dpo,orpo"}))
    assert stop.value.code == 3
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted((r["seed"], r["loss"]) for r in rows) == [(0, "dpo"), (0, "orpo"), (1, "dpo")]
