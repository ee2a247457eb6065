"""--eval-timeout: an evaluation that has no result after SECONDS is stopped (its worker
killed, the pool rebuilt) and its loss recorded as failed (``error: TimeoutError: ...``), and
the search goes on. The reference for "nothing else changed" is the run where the same losses
raise instead of hanging (test_plugin_errors.py holds that run to the probe fitness): the two
runs decide the same, apart from the words of the failures. The plug-ins that hang are in
raising_plugins.py (they sleep two minutes, far past the timeouts here)."""

from __future__ import annotations

import time

import pytest

from lossforge.objectives.zoo import scenario_spec
from lossforge.search import SearchConfig, run_search
from lossforge.search.__main__ import main
from lossforge.search.checkpoint import load
from lossforge.search.engine import deterministic_view
from lossforge.search.executors import LocalExecutor, evaluate_chunk, make_executor
from lossforge.search.fitness_errors import ERRORS_LOG
from raising_plugins import cannot_score
from search_helpers import run_view
from test_plugin_errors import QUICK, _statuses

TIMEOUT = 2.0   # seconds per evaluation: the probe takes milliseconds, the hang two minutes
STOPPED = f"error: TimeoutError: no result within {TIMEOUT:g} s (--eval-timeout)"


def _failures_as_one(view):
    """The view with every failure's status, whatever its words, as "error"."""
    if isinstance(view, dict):
        return {k: _failures_as_one(v) for k, v in view.items()}
    if isinstance(view, list):
        return [_failures_as_one(v) for v in view]
    return "error" if isinstance(view, str) and view.startswith("error: ") else view


def test_a_loss_that_hangs_is_stopped_failed_and_the_run_decides_as_if_it_raised(tmp_path):
    cfg = dict(scenario="quick", population=8, generations=2, budget="quick", seed=0)
    t0 = time.monotonic()
    hung = run_search(SearchConfig(**cfg, fitness="raising_plugins:hangs_on_some", workers=2,
                                   eval_timeout=TIMEOUT), runs_root=tmp_path / "h", quiet=True)
    assert time.monotonic() - t0 < 110     # it did not wait for a hang to end (120 s each)
    raised = run_search(SearchConfig(**cfg, fitness="raising_plugins:raises_on_some",
                                     workers=1), runs_root=tmp_path / "r", quiet=True)
    statuses = _statuses(hung)
    stopped = {n for n, s in statuses.items() if s != "ok"}
    assert stopped and len(stopped) < len(statuses)          # both kinds, or it says nothing
    assert stopped == {n for n in statuses if cannot_score(n)}
    assert {statuses[n] for n in stopped} == {STOPPED}
    views = [_failures_as_one(run_view(hung)), _failures_as_one(run_view(raised))]
    for v in views:
        for k in ("fitness", "workers", "eval_timeout"):
            v["state"]["config"].pop(k)
        for name in ("hall_of_fame.json", "pareto.json"):   # they name runs configured apart
            v[name].pop("run")
    assert views[0] == views[1]
    log = (hung / ERRORS_LOG).read_text()
    assert all(f" {n}, quick budget, quick: TimeoutError at the {TIMEOUT:g} s deadline" in log
               for n in stopped), log
    assert load(hung)["config"]["eval_timeout"] == TIMEOUT


def test_one_worker_with_a_timeout_runs_in_a_worker_it_can_stop():
    """``--workers 1`` evaluates in the search's own process, where a hang cannot be stopped;
    with a timeout it gets one worker process. A call with a loss that hangs is run again one
    loss at a time: the others get what they get alone."""
    names = [f"lf-{i:08x}" for i in range(64)]
    bad = next(n for n in names if cannot_score(n))
    good = next(n for n in names if not cannot_score(n))
    dpo = scenario_spec("dpo", 0.1, None).to_json()
    jobs = [[dict(dpo, name=good), QUICK, None], [dict(dpo, name=bad), QUICK, None]]
    ex = LocalExecutor(1, timeout=TIMEOUT)
    try:
        (got,) = ex.map_chunks("raising_plugins:hangs_on_some", [jobs], "quick", "auc")
    finally:
        ex.close()
    alone = evaluate_chunk("probe", [jobs[0]], "quick", "auc")
    assert deterministic_view(got[0]) == deterministic_view(alone[0])
    assert got[1]["status"] == STOPPED and got[1]["score"] is None and got[1]["name"] == bad
    assert got[1]["error"]["type"] == "TimeoutError"


def test_a_baseline_that_hangs_stops_the_run_with_the_way_on(tmp_path, capsys):
    """A baseline must be scored; one that times out stops the run as one that raises does:
    exit 1, the reason, and --resume."""
    argv = ["--fitness", "raising_plugins:hangs_on_dpo", "--workers", "2", "--population", "8",
            "--generations", "1", "--budget", "quick", "--quiet", "--runs-dir", str(tmp_path),
            "--eval-timeout", str(TIMEOUT)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    (run_dir,) = tmp_path.iterdir()
    assert ("a baseline had no result within --eval-timeout: give it more time (--eval-timeout "
            "may be set on --resume)") in "\n".join(err)
    assert err[-1].startswith("error: the search stopped on TimeoutError: no result within ")
    assert err[-1].endswith(f"continue with --resume {run_dir}")


@pytest.mark.parametrize("argv, fragment", [
    (["--eval-timeout", "-5"], "--eval-timeout must be a positive number of seconds, got -5.0"),
    (["--eval-timeout", "5", "--executor", "ray"],
     "--eval-timeout needs the local executor (--executor local)"),
])
def test_a_bad_timeout_is_one_line_and_exit_2(tmp_path, capsys, argv, fragment):
    assert main(["--fitness", "probe", "--runs-dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {fragment}"], err
    assert not any(tmp_path.iterdir())


def test_the_executor_refuses_what_the_config_refuses():
    with pytest.raises(Exception, match="positive number of seconds"):
        make_executor("local", 1, -1.0)
    with pytest.raises(Exception, match="needs the local executor"):
        make_executor("ray", 1, 5.0)


def test_a_resume_may_set_or_change_the_timeout(tmp_path, capsys):
    """Like --workers, --eval-timeout may be given on --resume (a stopped loss is evaluated
    again there); the checkpoint keeps the new value."""
    base = ["--fitness", "probe", "--workers", "1", "--population", "4", "--budget", "quick",
            "--quiet", "--runs-dir", str(tmp_path), "--ledger", "off"]
    assert main([*base, "--generations", "1"]) == 0
    (run_dir,) = tmp_path.iterdir()
    assert load(run_dir)["config"]["eval_timeout"] is None
    assert main(["--resume", str(run_dir), "--generations", "2", "--eval-timeout", "30",
                 "--quiet", "--ledger", "off"]) == 0
    assert load(run_dir)["config"]["eval_timeout"] == 30.0 and load(run_dir)["generation"] == 2
    # 0 removes it (a timeout also bars --executor ray: this is how a run gets back to Ray)
    assert main(["--resume", str(run_dir), "--generations", "3", "--eval-timeout", "0",
                 "--quiet", "--ledger", "off"]) == 0
    assert load(run_dir)["config"]["eval_timeout"] is None and load(run_dir)["generation"] == 3


def _job(name: str) -> list:
    return [dict(scenario_spec("dpo", 0.1, None).to_json(), name=name), QUICK, None]


def test_every_worker_has_started_before_a_deadline_runs():
    """A new pool's start-up (spawning Python, importing torch: seconds) is not an evaluation's
    time: once the pool is ready, every worker takes a call at once, so four 1 s calls run on
    four workers side by side. Before, one worker could answer every readiness probe while the
    others were still importing, and the calls then ran one after the other on the first."""
    from raising_plugins import pid_after

    ex = LocalExecutor(4, timeout=TIMEOUT)
    try:
        pool = ex._ready_pool()
        pids = [f.result() for f in [pool.submit(pid_after, 1.0) for _ in range(4)]]
    finally:
        ex.close()
    assert len(set(pids)) == 4, pids


def test_a_late_call_that_ends_frees_its_worker_without_killing_the_pool():
    """A call past its deadline that ends while another is still within its own is failed (its
    late result unused) but costs no kill and rebuild of the pool; the other keeps its result."""
    ex = LocalExecutor(2, timeout=TIMEOUT)
    try:
        pool = ex._ready_pool()
        late, other = ex.map_chunks("raising_plugins:sleeps",
                                    [[_job("sleep-2.5-late")],   # deadline 2 s
                                     [_job("sleep-3.5-a"), _job("lf-b"), _job("lf-c")]],   # 6 s
                                    "quick", "auc")
        assert ex._pool is pool                       # never killed and rebuilt
    finally:
        ex.close()
    assert late[0]["status"] == STOPPED
    assert [f["status"] for f in other] == ["ok"] * 3


def test_a_timeout_stops_what_the_fitness_started_too(tmp_path, monkeypatch):
    """The kill reaches the hung worker's whole session: a process its fitness started (here
    `sleep 300`) does not outlive the timeout."""
    import os

    pid_file = tmp_path / "child"
    monkeypatch.setenv("LF_CHILD_PID", str(pid_file))
    ex = LocalExecutor(1, timeout=TIMEOUT)
    try:
        (got,) = ex.map_chunks("raising_plugins:hangs_with_a_child", [[_job("lf-x")]], "quick",
                               "auc")
    finally:
        ex.close()
    assert got[0]["status"] == STOPPED
    child = int(pid_file.read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the fitness's process {child} outlived the timeout")
