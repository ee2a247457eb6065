"""A run directory is searched by one process at a time (its ``.lock``), resumes from any
working directory, and refuses a damaged or edited config.json instead of ignoring it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from lossforge.errors import CheckpointError, ConfigError
from lossforge.search import SearchConfig, checkpoint, run_search
from lossforge.search.__main__ import main as search_main
from search_helpers import run_view

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _one_line_error(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert all(f in err[0] for f in fragments), err
    return err[0]


def _probe(**kw) -> SearchConfig:
    return SearchConfig(**{**dict(scenario="quick", fitness="probe", population=4,
                                  generations=2, workers=1), **kw})


def _generations(run: Path) -> list[int]:
    return [json.loads(x)["generation"] for x in
            (run / "generations.jsonl").read_text().splitlines()]


# ---- B10: one search per run directory -------------------------------------------------------


def test_a_run_being_searched_is_refused_to_a_second_search_until_its_holder_dies(
        tmp_path, monkeypatch, capsys):
    """Two --resume of one run directory at once both ran (generations 1,2,3,4,4,5,...): the
    second is refused in one line naming the run and the first one's pid, touching nothing.
    A holder killed with -9 leaves no lock: the next resume runs and finishes the run."""
    runs, markers = tmp_path / "runs", tmp_path / "markers"
    # population 8: its generation 2 trains (two calls, 3 s each once a checkpoint exists); at
    # 4 it trains nothing, so the holder could finish it before the checks, which then had to
    # kill it within milliseconds (they began failing once a refusal took 0.1 s)
    cfg = _probe(fitness="search_helpers:slow_evaluate", population=8)
    code = ("from lossforge.search import run_search, SearchConfig\n"
            f"run_search(SearchConfig(**{cfg.to_json()!r}), runs_root={str(runs)!r}, "
            "quiet=True)\n")
    env = dict(os.environ, LF_MARKERS=str(markers), LF_SLOW_AFTER_CHECKPOINT=str(runs),
               PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not list(runs.glob("*/checkpoint.json")):
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
            time.sleep(0.05)
        (run,) = runs.iterdir()
        journal = (run / "evaluations.jsonl").read_bytes()
        monkeypatch.setenv("LF_MARKERS", str(markers))
        with pytest.raises(CheckpointError, match=re.escape(
                f"{run}: process {proc.pid} is running this search")):
            run_search(resume=run, quiet=True)
        assert search_main(["--resume", str(run), "--ledger", "off"]) == 2
        _one_line_error(capsys, str(run), f"process {proc.pid} is running this search")
        assert proc.poll() is None, "the first search ended before it was checked"
        assert (run / "evaluations.jsonl").read_bytes().startswith(journal)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert checkpoint.load(run)["generation"] == 1
    assert run_search(resume=run, quiet=True) == run           # the dead holder's lock is free
    assert checkpoint.load(run)["generation"] == 2 and _generations(run) == [1, 2]
    assert not (run / ".lock").exists()                         # released and removed


def test_a_fresh_search_holds_its_lock_and_leaves_none(tmp_path, monkeypatch):
    """The lock is taken by a fresh start too, for the whole run (a resume tried from inside
    the run's own fitness is refused), and released at the end."""
    import fcntl

    from lossforge.search import run as run_module

    seen = []
    real = run_module._generations

    def probing(method, state, ctx, generations, run_dir, *a, **kw):
        with open(run_dir / ".lock", "a+") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                seen.append("free")
            except BlockingIOError:
                other.seek(0)
                seen.append(other.read().strip())
        return real(method, state, ctx, generations, run_dir, *a, **kw)

    monkeypatch.setattr(run_module, "_generations", probing)
    run = run_search(_probe(generations=1), runs_root=tmp_path, quiet=True)
    stopped = run_search(_probe(), runs_root=tmp_path / "b", quiet=True, stop_after=1)
    run_search(resume=stopped, quiet=True)
    assert seen == [str(os.getpid())] * 3
    assert not (run / ".lock").exists() and not (stopped / ".lock").exists()


# ---- B6: --resume from any working directory ---------------------------------------------------


def test_a_resume_from_another_directory_reads_the_files_the_run_started_with(tmp_path,
                                                                            monkeypatch):
    """Relative --scenario and --grammar are the files they named when the run started, not
    whatever the resume's working directory has; the result is the uninterrupted run's, and
    an input file changed since is still refused."""
    start = tmp_path / "start"
    (start / "sc").mkdir(parents=True)
    (start / "gr").mkdir()
    shutil.copy(REPO / "benchmarks/scenarios/quick.toml", start / "sc/quick.toml")
    grammar = start / "gr/mine.toml"
    shutil.copy(REPO / "grammars/mirror_map_dcp.toml", grammar)
    monkeypatch.chdir(start)
    cfg = _probe(scenario="sc/quick.toml", grammar="gr/mine.toml", generations=1)
    run = run_search(cfg, runs_root=tmp_path / "runs", quiet=True)
    straight = run_search(replace(cfg, generations=2), runs_root=tmp_path / "straight",
                          quiet=True)
    elsewhere = tmp_path / "elsewhere"          # where the same relative paths are other files
    (elsewhere / "sc").mkdir(parents=True)
    (elsewhere / "gr").mkdir()
    shutil.copy(REPO / "grammars/mirror_map.toml", elsewhere / "gr/mine.toml")
    (elsewhere / "sc/quick.toml").write_text((start / "sc/quick.toml").read_text().replace(
        "beta = 0.1", "beta = 0.5", 1))
    monkeypatch.chdir(elsewhere)
    text = grammar.read_text()
    grammar.write_text(text.replace("max_depth = 5", "max_depth = 6", 1))
    with pytest.raises(ConfigError, match=re.escape(f"cannot resume: grammar {grammar} "
                                                    "changed")):
        run_search(resume=run, quiet=True, overrides={"generations": 2})
    grammar.write_text(text)
    assert run_search(resume=run, quiet=True, overrides={"generations": 2}) == run
    assert run_view(run) == run_view(straight)


def test_of_the_files_a_relative_path_may_name_the_one_with_the_recorded_content_is_read(
        tmp_path, monkeypatch):
    """A run directory resumed from a clone of the checkout it started in, whose own copy of
    the file changed since: the clone's copy, unchanged, is read."""
    from lossforge.search import context, inputs

    (tmp_path / "a/gr").mkdir(parents=True)
    (tmp_path / "b/gr").mkdir(parents=True)
    started, clone = tmp_path / "a/gr/g.toml", tmp_path / "b/gr/g.toml"
    shutil.copy(REPO / "grammars/mirror_map.toml", started)
    shutil.copy(started, clone)
    then = inputs.digest(started)
    monkeypatch.chdir(tmp_path / "b")
    with context.recorded_paths({("grammar", "gr/g.toml"): (started, then)}):
        assert context.resolve_path("gr/g.toml", "grammar") == started      # as recorded
        started.write_text(started.read_text().replace("max_depth = 5", "max_depth = 6"))
        assert context.resolve_path("gr/g.toml", "grammar") == clone        # the same content
        assert context.resolve_path("gr/g.toml", "link grammar") == clone   # not recorded
    monkeypatch.chdir(tmp_path)
    with context.recorded_paths({("grammar", "gr/g.toml"): (started, then)}):
        assert context.resolve_path("gr/g.toml", "grammar") == started      # changed: refused
    with pytest.raises(ConfigError, match="grammar file 'gr/g.toml' not found"):
        context.resolve_path("gr/g.toml", "grammar")


def test_a_suite_given_relatively_resumes_from_another_directory(tmp_path, monkeypatch):
    start = tmp_path / "start"
    (start / "su").mkdir(parents=True)
    (start / "su/pair.toml").write_text(
        'name = "pair"\nrole = "train"\n'
        '[[scenarios]]\nname = "hopper-padded-clean"\nweight = 1.0\n'
        '[[scenarios]]\nname = "hopper-padded-noisy-0.2"\nweight = 2.0\n')
    monkeypatch.chdir(start)
    run = run_search(_probe(suite="su/pair.toml"), runs_root=tmp_path / "runs", quiet=True,
                     stop_after=1)
    monkeypatch.chdir(tmp_path)
    run_search(resume=run, quiet=True)
    assert checkpoint.load(run)["generation"] == 2


# ---- B11: config.json against the checkpoint ---------------------------------------------------


def test_a_damaged_or_edited_config_json_is_refused_on_resume_then_written_again(tmp_path,
                                                                               capsys):
    """config.json truncated, or edited (a value the resume would ignore in favour of the
    checkpoint): refused in one line saying how to recover, nothing run; moved aside, the
    resume writes it again from the checkpoint and continues."""
    run = run_search(_probe(), runs_root=tmp_path, quiet=True, stop_after=1)
    path = run / "config.json"
    original = path.read_text()
    logs = {n: (run / n).read_bytes() for n in ("generations.jsonl", "evaluations.jsonl")}
    path.write_text(original[:100])
    assert search_main(["--resume", str(run), "--ledger", "off"]) == 2
    _one_line_error(capsys, f"{path}: malformed JSON", "move it aside and --resume again")
    edited = json.loads(original)
    edited["config"]["population"] = 8
    path.write_text(json.dumps(edited))
    assert search_main(["--resume", str(run), "--ledger", "off"]) == 2
    _one_line_error(capsys, f"{path}: population differ", "If config.json was edited or "
                    "copied in, move it aside and --resume again")
    assert checkpoint.load(run)["generation"] == 1
    assert {n: (run / n).read_bytes() for n in logs} == logs         # nothing run or rewritten
    path.rename(run / "config.json.mine")
    assert search_main(["--resume", str(run), "--ledger", "off"]) == 0
    assert "config.json was missing: written again from the checkpoint" in capsys.readouterr().out
    assert json.loads(path.read_text()) == json.loads(original)
    assert checkpoint.load(run)["generation"] == 2
    assert search_main(["show", str(run)]) == 0


def test_a_checkpoint_from_another_run_is_named_as_possibly_the_stranger(tmp_path, capsys):
    """checkpoint.json copied in from another run (another seed): the refusal says that one of
    the two files is not this run's and how to go on from each, instead of telling the user to
    move config.json aside, which continued the other run in this directory. Moving the
    checkpoint aside continues this run, as its config.json and journal say."""
    mine = run_search(_probe(seed=7), runs_root=tmp_path / "a", quiet=True, stop_after=1)
    other = run_search(_probe(seed=8), runs_root=tmp_path / "b", quiet=True, stop_after=1)
    (mine / "checkpoint.json").write_bytes((other / "checkpoint.json").read_bytes())
    assert search_main(["--resume", str(mine), "--ledger", "off"]) == 2
    _one_line_error(capsys, f"{mine / 'config.json'}: seed differ",
                    "checkpoint.json came from another run, move that aside instead")
    (mine / "checkpoint.json").rename(mine / "checkpoint.json.other")
    assert search_main(["--resume", str(mine), "--ledger", "off"]) == 0
    state = checkpoint.load(mine)
    assert state["config"]["seed"] == 7 and state["generation"] == 2


def test_resume_with_more_generations_is_recorded_where_show_and_report_read_it(tmp_path):
    """--resume --generations N: config.json says N as the checkpoint does, once a generation
    is saved (the page said "generation 3 of 2" and reproduced 2 generations); the files it
    recorded at the start stay, and a plain resume after it is not refused."""
    from lossforge.report.page import read_run, reproduce_command

    run = run_search(_probe(), runs_root=tmp_path, quiet=True, stop_after=1)
    before = json.loads((run / "config.json").read_text())
    # stopped before its first new generation: neither file takes the new count (a plain
    # --resume then continues the run as the checkpoint has it, and the page says so)
    run_search(resume=run, quiet=True, overrides={"generations": 5}, stop_after=0)
    assert json.loads((run / "config.json").read_text()) == before
    assert checkpoint.load(run)["config"]["generations"] == 2
    run_search(resume=run, quiet=True, overrides={"generations": 3}, stop_after=1)
    after = json.loads((run / "config.json").read_text())
    assert after["config"]["generations"] == 3
    assert {k: v for k, v in after.items() if k != "config"} == \
        {k: v for k, v in before.items() if k != "config"}
    run_search(resume=run, quiet=True)
    assert checkpoint.load(run)["generation"] == 3
    assert "--generations 3" in reproduce_command(read_run(run)["start"])


@pytest.mark.parametrize("damage", ["truncated", "wrong type", "not a table"])
def test_a_bad_config_json_without_a_checkpoint_is_one_line(tmp_path, capsys, damage):
    """Killed in generation 1: config.json is the run's only record of its configuration; a
    damaged one is named in one line (no traceback), with what can be done."""
    run = run_search(_probe(), runs_root=tmp_path, quiet=True, stop_after=1)
    (run / "checkpoint.json").unlink()
    path = run / "config.json"
    doc = json.loads(path.read_text())
    if damage == "truncated":
        path.write_text(path.read_text()[:100])
    else:
        doc["config"] = {**doc["config"], "population": "many"} if damage == "wrong type" else []
        path.write_text(json.dumps(doc))
    assert search_main(["--resume", str(run), "--ledger", "off"]) == 2
    _one_line_error(capsys, str(path), "only record of its configuration")
