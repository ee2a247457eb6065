"""The evaluation journal: a run killed mid-generation keeps every evaluation it finished.

Reference: a log of every (budget, objective) the fitness function actually trained, written
by the stand-in fitness itself (tests/search/search_helpers.py), across the killed process and
the resumed one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lossforge.search import checkpoint, engine, run_search
from lossforge.search.engine import SearchConfig, deterministic_view
from lossforge.search.journal import FILE, Journal

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _cfg() -> SearchConfig:
    return SearchConfig(scenario="quick", grammar="grammars/mirror_map_dcp.toml", population=12,
                        generations=2, seed=3, workers=1,
                        fitness="search_helpers:slow_recording_evaluate")


def _trained(log: Path) -> list[str]:
    return [json.dumps(json.loads(line), sort_keys=True) for line in log.read_text().splitlines()]


def test_journal_ignores_torn_and_corrupted_lines(tmp_path):
    j = Journal(tmp_path)
    j.add("a", {"score": 1.0})
    j.add("b", {"score": 2.0})
    lines = (tmp_path / FILE).read_text().splitlines()
    tampered = lines[0].replace("1.0", "9.0")
    (tmp_path / FILE).write_text(tampered + "\n" + lines[1] + "\n" + lines[1][:20])
    again = Journal(tmp_path)
    assert "a" not in again and again["b"] == {"score": 2.0} and again.ignored == 2


@pytest.mark.parametrize("generation", [1, 2])
def test_kill_9_mid_generation_loses_no_finished_evaluation(tmp_path, monkeypatch, generation):
    """SIGKILL after generation 1 (before any checkpoint exists) or 2 journaled a round; the
    resumed run trains only what had not finished (every objective and budget exactly once over
    both processes) and ends exactly like an uninterrupted run."""
    log = tmp_path / "trained.jsonl"
    runs = tmp_path / "runs"
    env = dict(os.environ, LF_TRAIN_LOG=str(log),
               PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
    code = ("import lossforge.search.engine as engine\n"
            "engine.ROUND_PER_WORKER = 1\n"          # journal after every evaluation
            "from lossforge.search import run_search, SearchConfig\n"
            f"run_search(SearchConfig(**{_cfg().to_json()!r}), runs_root={str(runs)!r}, "
            "quiet=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run_dir, at_ckpt = None, None
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            dirs = list(runs.glob("*")) if runs.exists() else []
            if generation == 1 and dirs and len(Journal(dirs[0])) >= 3:
                run_dir = dirs[0]                # rounds journaled, no checkpoint yet
                os.kill(proc.pid, signal.SIGKILL)
                break
            if generation == 2 and dirs and (dirs[0] / "checkpoint.json").exists():
                run_dir = dirs[0]
                n = len(Journal(run_dir))
                if at_ckpt is None:
                    at_ckpt = n
                elif n > at_ckpt:            # generation 2 has journaled a round: kill now
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            time.sleep(0.02)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    if generation == 1:
        assert not (run_dir / "checkpoint.json").exists()
    else:
        assert checkpoint.load(run_dir)["generation"] == 1
    before = _trained(log)
    monkeypatch.setenv("LF_TRAIN_LOG", str(log))
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setattr(engine, "ROUND_PER_WORKER", 1)
    run_search(resume=run_dir, quiet=True)
    trained = _trained(log)
    assert len(trained) > len(before)                  # the resumed run did train the rest
    assert len(trained) == len(set(trained)), "an evaluation was trained twice"

    log2 = tmp_path / "uninterrupted.jsonl"
    monkeypatch.setenv("LF_TRAIN_LOG", str(log2))
    ref = run_search(_cfg(), runs_root=tmp_path / "ref", quiet=True)
    assert sorted(trained) == sorted(_trained(log2))   # same work in total, no more
    assert (deterministic_view(checkpoint.load(run_dir))
            == deterministic_view(checkpoint.load(ref)))
