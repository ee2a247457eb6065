"""``benchmarks/v2_status.py``: the plan's state read from the files its steps write."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_status_reads_rows_markers_and_declared_counts(tmp_path):
    res, sweeps = tmp_path / "results", tmp_path / "sweeps"
    res.mkdir()
    sweeps.mkdir()
    shutil.copy(REPO / "benchmarks/sweeps/v2.toml", sweeps)
    shutil.copy(REPO / "benchmarks/sweeps/v2-shortcuts.toml", sweeps)
    row = {"scenario": "hopper-padded-clean", "draw": "t", "seed": 100, "budget": "full",
           "status": "ok", "score": 1.0, "seconds": 3600.0, "batch_rows": 2}
    # two rows of a batch (before session 17: its wall time over its rows), and two rows of
    # one-loss jobs (their share of the run's wall time, whatever their own seconds): each
    # row's share is 1800 s either way
    job = dict(row, seconds=3000.0, wall_share=1800.0, batch_rows=1)
    (res / "sweep-v2-hopper-padded-clean.jsonl").write_text("".join(
        json.dumps(dict(r, loss=f"dpo[beta={b},lr=0.001]")) + "\n"
        for r, b in ((row, 0.1), (row, 0.5), (job, 2.0), (job, 8.0))))
    (res / "sweep-v2-ext-hopper-padded-noisy-0.1.none").write_text("x")
    (res / "sweep-v2-merged-hopper-padded-mixed-quality.tuned.json").write_text("{}")
    out = subprocess.run([sys.executable, str(REPO / "benchmarks/v2_status.py"), "--results",
                          str(res)], capture_output=True, text=True, check=True).stdout
    line = {ln[2:37].strip(): ln for ln in out.splitlines() if ln.startswith("  hopper")}
    # v2.toml: 120 configs on seed 100, then each baseline's best 3 (24) on two more seeds
    assert "partial" in line["hopper-padded-clean"]
    assert "4/168 rows,  2.0 job-h" in line["hopper-padded-clean"]    # 4 x 1800 s
    assert "done (no pick on an edge)" in line["hopper-padded-noisy-0.1"]
    assert "done (extension merged)" in line["hopper-padded-mixed-quality"]
    assert "not started" in line["hopper-padded-ambiguous"]
    # the trained shortcut: 3 rates on every tuning seed, no halving
    assert "not started" in line["hopper-padded-clean (sft)"]
    assert "0/9 rows" in line["hopper-padded-clean (sft)"]
    assert "search: not started" in out and "job-hours recorded by these rows: 2.0" in out
    # the LLM cells: a confirmation report marks a cell done (mixed quality: the d17 one)
    (res / "confirm-llm-v2-merged-sort-mixed-quality-d17.confirm.json").write_text("{}")
    (res / "confirm-llm-v2-sort-clean.confirm.json").write_text("{}")
    out = subprocess.run([sys.executable, str(REPO / "benchmarks/v2_status.py"), "--results",
                          str(res)], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("LLM cells"))
    llm = {ln.split()[0]: ln for ln in lines[start + 1:] if ln.startswith("  ")}
    assert "reverse not started; sort confirmed; add not started" in llm["mixed-quality"]
    assert "sort confirmed" in llm["clean"] and "sort confirmed" not in llm["noisy-0.2"]
    # the search: its generation from the hall of fame, its evaluations and core time from the
    # journal: two calls of 5400 s and 1800 s, the first of which trained two losses at once
    # (one wall time, shared: counted once), so 2.0 core-h; a torn line is not counted
    from lossforge.search.journal import Journal

    run = tmp_path / "v2-suite-search" / "20261205-101500-suite-train-s0"
    run.mkdir(parents=True)
    (res / "v2-suite-search.path").write_text(str(run.parent) + "\n")
    (run / "config.json").write_text(json.dumps({"config": {
        "generations": 8, "suite": "benchmarks/suites/train.toml"}}))
    # racing's speed-up: 10 losses scored with 100 screen and 50 full unit evaluations, against
    # 10 x 35 full ones (7 scenarios x 5 seeds): 350 x 87 / (100 x 22 + 50 x 87) = 4.65x
    (run / "hall_of_fame.json").write_text(json.dumps({
        "generation": 3, "ladder": ["screen", "full"],
        "counters": {"evaluated": {"screen": 10, "full": 3},
                     "unit_evaluations": {"screen": 100, "full": 50}}}))
    journal = Journal(run)
    journal.add("a", {"status": "ok", "score": 1.0, "seconds": 5400.0})
    journal.add("a2", {"status": "ok", "score": 1.5, "seconds": 5400.0})
    journal.add("b", {"status": "ok", "score": 2.0, "seconds": 1800.0})
    with open(run / "evaluations.jsonl", "a") as fh:
        fh.write('{"key": "c", "fitness": {"seconds": 99')
    out = subprocess.run([sys.executable, str(REPO / "benchmarks/v2_status.py"), "--results",
                          str(res)], capture_output=True, text=True, check=True).stdout
    assert f"search: {run}: generation 3 of 8; 3 unit evaluations, 2.0 core-h" in out
    assert ("racing: 10 losses scored with 100 screen, 50 full unit evaluations; naive: "
            "10 x 35 full: 4.65x by the cost model") in out


def test_a_search_score_says_what_it_rests_on():
    """record_search.py's table cell: a suite score (no CI: an aggregate regret) names the units
    it rests on and whether racing dropped it; a single-scenario score its CI or its one seed."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import record_search

    suite = {"units": 35, "of_units": 35, "raced_out": False}
    assert record_search._fit({"status": "ok", "score": -12.345, "ci95": None,
                               "suite": suite}) == "-12.3 (35/35 units)"
    assert record_search._fit({"status": "ok", "score": -40.0, "ci95": None, "suite": dict(
        suite, units=7, raced_out=True)}) == "-40.0 (7/35 units, raced out)"
    assert record_search._fit({"status": "ok", "score": 3.0, "ci95": None}) == "3.0 (1 seed)"
    assert record_search._fit({"status": "ok", "score": 3.0, "ci95": 0.45}) == "3.0 ±0.5"
    assert record_search._fit({"status": "nan loss", "score": None}) == "failed (nan loss)"
