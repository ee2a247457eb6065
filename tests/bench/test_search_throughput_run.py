"""``benchmarks/search_throughput.py --run``: a real suite search's racing cost, measured from
its journal, against the naive suite evaluation priced at the run's own top-rung unit cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lossforge.search.journal import Journal

REPO = Path(__file__).resolve().parents[2]
SEARCH_THROUGHPUT = REPO / "benchmarks" / "search_throughput.py"


def _curve(steps: int) -> list[list[float]]:
    return [[steps // 2, 1.0], [steps, 2.0]]


def _run(tmp_path: Path) -> Path:
    """A train-suite run (screen: 300 steps, full: 1000; 7 scenarios x 5 full seeds = 35
    units) with three screen losses and two at full."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"config": {
        "suite": "benchmarks/suites/train.toml", "generations": 1,
        "suite_baselines": "benchmarks/results/suite-reference-train.json"}}))
    (run / "hall_of_fame.json").write_text(json.dumps({
        "generation": 1, "ladder": ["screen", "full"],
        "counters": {"evaluated": {"screen": 3, "full": 2},
                     "unit_evaluations": {"screen": 3, "full": 2}}}))
    j = Journal(run)
    # one stacked screen call of two losses (100 s), one of one loss (60 s), one stacked full
    # call of two losses (400 s), and a failed training with no curve (30 s)
    j.add("a", {"status": "ok", "seconds": 100.0, "curve": _curve(300)})
    j.add("b", {"status": "ok", "seconds": 100.0, "curve": _curve(300)})
    j.add("c", {"status": "ok", "seconds": 60.0, "curve": _curve(300)})
    j.add("d", {"status": "ok", "seconds": 400.0, "curve": _curve(1000)})
    j.add("e", {"status": "ok", "seconds": 400.0, "curve": _curve(1000)})
    j.add("f", {"status": "nan loss", "seconds": 30.0})
    return run


def test_racing_cost_is_measured_per_call_and_naive_at_the_runs_unit_cost(tmp_path):
    run, out = _run(tmp_path), tmp_path / "out.json"
    proc = subprocess.run([sys.executable, str(SEARCH_THROUGHPUT), "--run", str(run),
                           "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    # by hand: racing pays every call once, 100 + 60 + 400 + 30 = 590 s; a full unit cost
    # 400 / 2 = 200 s, so naive is 3 losses x 35 units x 200 s = 21,000 s: 35.59x
    assert res["unit_evaluations"] == {"screen": 3, "full": 2}
    assert res["seconds_per_unit"] == {"screen": pytest.approx(160 / 3, abs=0.01), "full": 200.0}
    assert res["seconds_unattributed"] == 30.0
    assert res["racing_core_hours"] == round(590 / 3600, 2)
    assert res["naive_core_hours"] == round(21000 / 3600, 2)
    assert res["ratio_measured"] == round(21000 / 590, 2)
    # the cost model (22 s a screen unit, 87 s a full one): 3 x 35 x 87 / (3 x 22 + 2 x 87)
    assert res["ratio_model"] == round(3 * 35 * 87 / (3 * 22 + 2 * 87), 2)
    assert "35.59x measured" in proc.stdout
    # the ladder alone: 3 losses x 14 screen units (7 scenarios x 2 seeds) x 160/3 s, and the
    # 2 that started full x 35 units x 200 s: 2,240 + 14,000 = 16,240 s
    assert res["ladder_only_core_hours"] == round(16240 / 3600, 2)
    assert res["ratio_ladder_only_vs_naive"] == round(21000 / 16240, 2)
    assert res["ratio_racing_vs_ladder_only"] == round(16240 / 590, 2)


def _refusal(run: Path, tmp_path: Path) -> str:
    proc = subprocess.run([sys.executable, str(SEARCH_THROUGHPUT), "--run", str(run),
                           "--out", str(tmp_path / "out.json")], capture_output=True, text=True)
    assert proc.returncode != 0 and not (tmp_path / "out.json").exists()
    return proc.stderr


def test_a_run_that_scored_its_baselines_in_its_own_calls_is_refused(tmp_path):
    run = _run(tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    del cfg["config"]["suite_baselines"]
    (run / "config.json").write_text(json.dumps(cfg))
    assert "its baselines were scored in the run" in _refusal(run, tmp_path)


def test_a_journal_without_curves_is_refused_by_what_it_lacks(tmp_path):
    run = _run(tmp_path)
    (run / "evaluations.jsonl").unlink()
    j = Journal(run)
    j.add("a", {"status": "ok", "seconds": 7.0})   # the LLM fitness journals no curve
    assert "no journaled evaluation has a training curve" in _refusal(run, tmp_path)


def test_a_run_without_a_top_rung_evaluation_is_refused(tmp_path):
    run = _run(tmp_path)
    lines = (run / "evaluations.jsonl").read_text().splitlines()
    (run / "evaluations.jsonl").write_text("\n".join(lines[:3]) + "\n")   # screen rows only
    assert "no evaluation at the top rung 'full' yet" in _refusal(run, tmp_path)
