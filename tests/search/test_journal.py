"""The evaluation journal: a run killed mid-generation keeps every evaluation it finished.

Reference: a log of every (budget, objective) the fitness function actually trained, written
by the stand-in fitness itself (tests/search/search_helpers.py), across the killed process and
the resumed one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lossforge.search import checkpoint, engine, run_search
from lossforge.search.engine import SearchConfig, deterministic_view
from lossforge.search.journal import FILE, Journal
from search_helpers import AfterCheckpoint, kill_9_when

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
    # the resumed run's first evaluation must not glue onto the torn line and vanish with it
    again.add("c", {"score": 3.0})
    third = Journal(tmp_path)
    assert third["c"] == {"score": 3.0} and third["b"] == {"score": 2.0} and third.ignored == 2


def test_a_line_that_is_not_utf8_is_one_ignored_line(tmp_path):
    """Bytes that are not UTF-8 (a disk or an editor's damage) spoil their line only: it is
    ignored and runs again, as a torn line is; they used to stop --resume with a traceback."""
    j = Journal(tmp_path)
    j.add("a", {"score": 1.0})
    with open(tmp_path / FILE, "ab") as fh:
        fh.write(b"\x80garbage\n")
    j2 = Journal(tmp_path)
    j2.add("b", {"score": 2.0})
    again = Journal(tmp_path)
    assert again["a"] == {"score": 1.0} and again["b"] == {"score": 2.0}
    assert again.ignored == 1


def test_calls_groups_the_results_of_one_worker_call(tmp_path):
    """A call stamps its wall seconds on each result it returns: 3 losses on one unit in one
    call (12.5 s) and 1 loss in another (40 s) are two calls, 52.5 s in all, not 77.5."""
    j = Journal(tmp_path)
    for k in "abc":
        j.add(k, {"score": 1.0, "seconds": 12.5})
    j.add("d", {"score": 2.0, "seconds": 40.0})
    calls = Journal(tmp_path).calls()
    assert {s: len(rows) for s, rows in calls.items()} == {12.5: 3, 40.0: 1}
    assert sum(calls) == 52.5


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
    if generation == 1:   # rounds journaled, no checkpoint yet
        ready = lambda d: len(Journal(d)) >= 3  # noqa: E731
    else:                 # generation 2 has journaled a round
        ready = AfterCheckpoint(lambda d: len(Journal(d)))
    run_dir = kill_9_when(code, env, tmp_path, runs, ready)
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


def test_a_resume_says_how_many_journal_lines_it_ignored(tmp_path, capsys):
    """A journal line that fails its check is ignored (that evaluation runs again) and the
    resume says so in one line naming the file, instead of retraining without a word; the run
    still ends as an uninterrupted one."""
    from lossforge.search.__main__ import main

    base = ["--fitness", "probe", "--workers", "1", "--population", "4", "--budget", "quick",
            "--quiet", "--ledger", "off"]
    assert main([*base, "--generations", "1", "--runs-dir", str(tmp_path / "a")]) == 0
    (run_dir,) = (tmp_path / "a").iterdir()
    lines = (run_dir / FILE).read_text().splitlines()
    assert len(lines) >= 2
    (run_dir / FILE).write_text("\n".join([lines[0].replace('"score"', '"scorx"'), *lines[1:],
                                           lines[-1][:30]]) + "\n")
    capsys.readouterr()
    assert main(["--resume", str(run_dir), "--generations", "2", "--quiet",
                 "--ledger", "off"]) == 0
    out = capsys.readouterr().out
    assert (f"{run_dir / FILE}: 2 line(s) failed their check (torn by a kill, or edited) and are "
            "ignored: those evaluations run again") in " ".join(out.split()), out
    assert main([*base, "--generations", "2", "--runs-dir", str(tmp_path / "b")]) == 0
    (straight,) = (tmp_path / "b").iterdir()
    from search_helpers import run_view

    views = [run_view(run_dir), run_view(straight)]
    assert views[0] == views[1]
