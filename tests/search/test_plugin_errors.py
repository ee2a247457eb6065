"""B5: a fitness plug-in that raises on one candidate records that candidate as failed, with
the exception named in its status and the traceback in the run's fitness_errors.log, and the
search goes on; a fitness that is broken (it raises on a baseline, or on a whole call and then
on a baseline) still stops the run with one line and --resume, and the resumed run ends as the
uninterrupted one. The plug-ins are in raising_plugins.py."""

from __future__ import annotations

import json
from pathlib import Path

from lossforge.objectives.zoo import scenario_spec
from lossforge.search import SearchConfig, run_search
from lossforge.search.__main__ import main
from lossforge.search.checkpoint import load
from lossforge.search.engine import deterministic_view
from lossforge.search.executors import evaluate_chunk
from lossforge.search.fitness_errors import ERRORS_LOG
from raising_plugins import cannot_score
from search_helpers import run_view

REPO = Path(__file__).resolve().parents[2]
QUICK = str(REPO / "benchmarks/scenarios/quick.toml")


def _argv(fitness: str, runs: Path, *more: str) -> list[str]:
    return ["--fitness", f"raising_plugins:{fitness}", "--workers", "1", "--population", "8",
            "--generations", "2", "--budget", "quick", "--quiet", "--runs-dir", str(runs),
            *more]


def _statuses(run_dir: Path, rung: str = "quick") -> dict[str, str]:
    """Loss name -> its status at ``rung``, for every loss the run evaluated there."""
    return {rec["name"]: rec[rung]["status"] for rec in load(run_dir)["losses"].values()
            if rung in rec}


def _journaled(run_dir: Path) -> list[dict]:
    return [json.loads(line)["fitness"]
            for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]


def test_a_call_that_raises_gives_each_of_its_losses_what_it_gets_alone():
    """One fitness call scores several losses (the bench trains them as one population); when
    it raises, each loss is scored alone: the loss it cannot score gets an "error: ..." status
    with the exception's last frame and traceback, the others the result they get alone."""
    names = [f"lf-{i:08x}" for i in range(64)]
    bad = next(n for n in names if cannot_score(n))
    good = next(n for n in names if not cannot_score(n))
    dpo, orpo = (scenario_spec(n, 0.1, None).to_json() for n in ("dpo", "orpo"))
    jobs = [[dict(orpo, name=good), QUICK, None], [dict(dpo, name=bad), QUICK, None],
            [dpo, QUICK, None]]
    got = evaluate_chunk("raising_plugins:raises_on_some", jobs, "quick", "auc")
    alone = [evaluate_chunk("probe", [job], "quick", "auc")[0] for job in jobs]
    assert deterministic_view([got[0], got[2]]) == deterministic_view([alone[0], alone[2]])
    assert got[0]["status"] == got[2]["status"] == "ok"
    error = got[1].pop("error")
    assert got[1]["status"] == f"error: ValueError: cannot score {bad}"
    assert got[1]["score"] is None and got[1]["per_seed"] == [] and got[1]["name"] == bad
    assert error["at"].startswith("raising_plugins.py:")
    assert error["traceback"].rstrip().endswith(f"ValueError: cannot score {bad}")
    assert "raise ValueError" in error["traceback"]


def test_a_candidate_the_fitness_raises_on_is_a_recorded_failure_and_the_search_goes_on(
        tmp_path, capsys):
    """The run ends (exit 0) with every generation; each loss the fitness raised on is failed
    with the exception in its status (state, journal, counters), its traceback is in
    fitness_errors.log only, and the console has at most one line per failing loss."""
    assert main(_argv("raises_on_some", tmp_path, "--generations", "3")) == 0
    err = capsys.readouterr().err.strip().splitlines()
    (run_dir,) = tmp_path.iterdir()
    state = load(run_dir)
    assert state["generation"] == 3
    statuses = _statuses(run_dir)
    failed = {n: s for n, s in statuses.items() if s != "ok"}
    assert failed and len(failed) < len(statuses)       # both kinds, or the test says nothing
    assert failed == {n: f"error: ValueError: cannot score {n}" for n in failed}
    assert set(failed) == {n for n in statuses if cannot_score(n)}
    assert state["counters"]["failed_training"] == len(failed)
    assert {b["quick"]["status"] for b in state["baselines"].values()} == {"ok"}
    journaled = _journaled(run_dir)
    assert {f["name"]: f["status"] for f in journaled if f["status"] != "ok"} == failed
    assert not any("error" in f for f in journaled)     # the journal keeps the status only
    log = (run_dir / ERRORS_LOG).read_text()
    for name in failed:
        assert f" {name}, quick budget, quick: ValueError at raising_plugins.py:" in log
    assert log.count("Traceback (most recent call last):") == len(failed)
    assert "Traceback (most recent call last):" not in err
    assert 1 <= len(err) <= len(failed), err
    assert all(line.startswith("fitness raised on ") and f"tracebacks in {run_dir / ERRORS_LOG}"
               in line for line in err), err
    # the run's report (show, as the end of a run without --quiet) counts them and names the log
    assert main(["show", str(run_dir)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (f"failed {len(failed)} (no finite score; the exceptions a fitness raised in this "
            f"run are in {run_dir / ERRORS_LOG})") in out, out


def test_a_fitness_that_raises_on_every_candidate_but_scores_the_baselines_is_not_stopped(
        tmp_path, capsys):
    """Rounds that raise throughout stop the run only if the fitness raises on a baseline too:
    one that scores DPO is working, and its failures are the candidates' (a search region it
    cannot score), so every generation runs and each candidate is recorded as failed."""
    assert main(_argv("raises_on_candidates", tmp_path)) == 0
    (run_dir,) = tmp_path.iterdir()
    assert load(run_dir)["generation"] == 2
    statuses = _statuses(run_dir)
    assert statuses and set(statuses.values()) == {
        "error: FloatingPointError: overflow in my metric"}
    assert {b["quick"]["status"] for b in load(run_dir)["baselines"].values()} == {"ok"}
    assert "dpo" not in (run_dir / ERRORS_LOG).read_text()   # its checks scored it


def test_a_fitness_that_breaks_mid_run_stops_and_the_fixed_resume_ends_as_a_straight_run(
        tmp_path, capsys, monkeypatch):
    """A fitness that raises on every call from generation 2 on stops there (exit 1, its
    traceback, one line with --resume; generation 1 kept). The failures its broken round
    journaled are asked again on resume, so once fixed the run ends exactly as one that never
    broke, failures of its own candidates included."""
    flag = tmp_path / "broken"
    flag.touch()
    monkeypatch.setenv("LF_BROKEN", str(flag))
    monkeypatch.setenv("LF_RUNS", str(tmp_path / "b"))
    argv = ["--generations", "3", "--budget", "screen"]
    assert main(_argv("broken_while", tmp_path / "b", *argv)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    (run_dir,) = (tmp_path / "b").iterdir()
    assert "Traceback (most recent call last):" in err
    assert err[-1] == (f"error: the search stopped on RuntimeError: my fitness's data server is "
                       f"down (traceback above). Every evaluation finished so far is kept in "
                       f"{run_dir}; fix the cause and continue with --resume {run_dir}")
    assert load(run_dir)["generation"] == 1
    assert any(f["status"] == "error: RuntimeError: my fitness's data server is down"
               for f in _journaled(run_dir))
    flag.unlink()
    assert main(["--resume", str(run_dir), "--quiet", "--ledger", "off"]) == 0
    monkeypatch.setenv("LF_RUNS", str(tmp_path / "a"))
    assert main(_argv("broken_while", tmp_path / "a", *argv)) == 0
    (straight,) = (tmp_path / "a").iterdir()
    assert any(s != "ok" for s in _statuses(straight).values())
    assert run_view(run_dir) == run_view(straight)


def test_a_pool_records_the_same_failures_as_one_process(tmp_path, capsys):
    """Exceptions raised in pool workers come back as the same failed results (and the run as
    the same run) as in one process, with the worker's traceback in the log."""
    cfg = dict(scenario="quick", fitness="raising_plugins:raises_on_some", population=8,
               generations=2, budget="quick", seed=0)
    one = run_search(SearchConfig(**cfg, workers=1), runs_root=tmp_path / "one", quiet=True)
    pool = run_search(SearchConfig(**cfg, workers=2), runs_root=tmp_path / "pool", quiet=True)
    views = [run_view(one), run_view(pool)]
    for v in views:
        v["state"]["config"].pop("workers")
    assert views[0] == views[1]
    failed = [n for n, s in _statuses(pool).items() if s != "ok"]
    assert failed
    log = (pool / ERRORS_LOG).read_text()
    assert log.count("Traceback (most recent call last):") == len(failed)
    assert "raise ValueError(f\"cannot score {bad[0]}\")" in log


def test_a_fitness_that_raises_on_a_baseline_stops_whatever_the_worker_count(tmp_path,
                                                                             capsys):
    """Whether a run stops is decided on whole calls (a function of the seed), not on the
    rounds a worker count cuts them into: a fitness that raises on DPO (and on some candidates)
    stopped with one worker and ran on with two, DPO failed, before the rule was per call."""
    for workers in ("1", "2"):
        runs = tmp_path / f"w{workers}"
        argv = _argv("raises_on_dpo_and_some", runs) + ["--workers", workers]
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert "the fitness raised on a baseline, a loss any fitness must score" in "\n".join(err)
        assert err[-1].startswith("error: the search stopped on ValueError: cannot score dpo ")
        (run_dir,) = runs.iterdir()
        assert "cannot score dpo" in (run_dir / ERRORS_LOG).read_text()


def test_one_off_scoring_stops_on_an_exception_instead_of_writing_it_down():
    """map_specs (distill's and es_vs_gp's re-scores, not a search) stops on an exception the
    fitness raised, with the fitness's own traceback, as before B5; scored losses come back."""
    import pytest

    from lossforge.search.executors import FitnessRaised, LocalExecutor, map_specs

    dpo = scenario_spec("dpo", 0.1, None).to_json()
    ex = LocalExecutor(1)
    try:
        (ok,) = map_specs(ex, "raising_plugins:raises_on_some", [dpo], QUICK, "quick", "auc")
        assert ok["status"] == "ok" and "error" not in ok
        with pytest.raises(FitnessRaised, match="cannot score dpo") as info:
            map_specs(ex, "raising_plugins:raises_on_dpo_and_some", [dpo], QUICK, "quick", "auc")
        assert info.value.kind == "ValueError" and "Traceback" in info.value.details
    finally:
        ex.close()
