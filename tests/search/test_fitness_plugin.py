"""``--fitness module:function``: a user's own fitness. A plug-in that cannot be imported, is
missing, is not callable, or returns the wrong shape at its first call is rejected with one
line on stderr and exit code 2; one that keeps the interface runs exactly as the built-in it
wraps."""

from __future__ import annotations

import pytest

from lossforge.search.__main__ import main
from lossforge.search.checkpoint import load
from lossforge.search.engine import deterministic_view


def run_cli(argv, capsys) -> tuple[int, list[str]]:
    try:
        code = main(argv)
    except SystemExit as exc:   # argparse errors
        code = exc.code
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("ref,fragment", [
    ("no_such_module_lf:evaluate", "cannot import no_such_module_lf"),
    ("plugin_helpers:missing", "plugin_helpers has no missing"),
    ("plugin_helpers:NOT_A_FUNCTION", "plugin_helpers.NOT_A_FUNCTION is not callable"),
    ("plugin_helpers", "expected bench, probe, llm or module:function"),
    ("plugin_helpers:too_few", "returned 1 results for 2 objectives"),  # the baselines
    ("plugin_helpers:not_a_list", "returned a float for"),
    # the dicts have name, status and score as keys: the message said they lacked them
    ("plugin_helpers:plain_dicts", "returned dicts; each result must have the fields as "
                                   "attributes (name, status, score, ci95, per_seed"),
    ("plugin_helpers:text_scores", "returned non-numeric score"),
])
def test_bad_plugin_is_one_line_and_exit_2(tmp_path, capsys, ref, fragment):
    code, err = run_cli(["--fitness", ref, "--workers", "1", "--population", "4",
                         "--generations", "1", "--budget", "quick", "--quiet",
                         "--runs-dir", str(tmp_path)], capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err


@pytest.mark.parametrize("argv,fragment", [
    (["--llm-task", "sort"], "--llm-task: only with --fitness llm"),
    (["--fitness", "llm", "--llm-task", "mul"], "LLM task 'mul'"),
    (["--fitness", "llm", "--llm-variant", "noisy-2"], "LLM variant 'noisy-2'"),
    (["--fitness", "llm", "--scenario", "hopper-noisy-0.3"], "not --scenario"),
])
def test_bad_llm_flags_are_one_line_and_exit_2(tmp_path, capsys, argv, fragment):
    code, err = run_cli(argv + ["--runs-dir", str(tmp_path), "--quiet"], capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err
    assert not any(tmp_path.iterdir())   # rejected before a run directory exists


def test_plugin_that_keeps_the_interface_runs_as_the_builtin(tmp_path, capsys):
    """The probe fitness named by module:function gives the run --fitness probe gives."""
    states = []
    for ref in ("probe", "lossforge.search.probe_fitness:evaluate"):
        root = tmp_path / ref.replace(":", "_")
        code, _ = run_cli(["--fitness", ref, "--workers", "1", "--population", "6",
                           "--generations", "2", "--budget", "screen", "--quiet",
                           "--runs-dir", str(root)], capsys)
        assert code == 0
        (run_dir,) = root.iterdir()
        assert run_dir.name.endswith("-quick-probe-s0" if ref == "probe"
                                     else "-quick-probe_fitness.evaluate-s0"), run_dir.name
        state = deterministic_view(load(run_dir))
        state["config"].pop("fitness")
        states.append(state)
    assert states[0] == states[1]
    assert states[0]["losses"] and states[0]["baselines"]["dpo"]["screen"]["status"] == "ok"


def test_an_ok_status_with_a_nan_score_is_recorded_as_a_nonfinite_failure(tmp_path, capsys):
    """A fitness that says "ok" but returns NaN has broken its interface: the loss is recorded
    as failed with status nonfinite (not as "failed (ok)"), counted, and the run goes on."""
    argv = ["--fitness", "plugin_helpers:nan_but_ok", "--workers", "1", "--population", "4",
            "--generations", "1", "--budget", "quick", "--runs-dir", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    (run_dir,) = tmp_path.iterdir()
    state = load(run_dir)
    statuses = [loss["quick"]["status"] for loss in state["losses"].values() if "quick" in loss]
    assert statuses and set(statuses) == {"nonfinite"}
    assert {b["quick"]["status"] for b in state["baselines"].values()} == {"ok"}
    assert state["counters"]["failed_training"] == len(statuses)
    assert f"of these, failed {len(statuses)} (no finite score)" in out
    assert "failed (ok)" not in out


def test_a_nan_cost_is_stored_as_null_and_the_run_resumes(tmp_path, capsys):
    """A NaN ``seconds`` (the cost) is stored as null, as every other non-finite field: it
    used to reach the checkpoint, whose JSON refuses NaN, and, being in the journal already,
    stopped every --resume too, even with the fitness fixed."""
    argv = ["--fitness", "plugin_helpers:nan_seconds", "--workers", "1", "--population", "4",
            "--generations", "1", "--budget", "quick", "--quiet", "--runs-dir", str(tmp_path)]
    assert main(argv) == 0
    (run_dir,) = tmp_path.iterdir()
    state = load(run_dir)
    assert state["generation"] == 1
    assert {b["quick"]["seconds"] for b in state["baselines"].values()} == {None}
    assert main(["--resume", str(run_dir), "--generations", "2", "--quiet"]) == 0
    assert load(run_dir)["generation"] == 2


def test_a_fitness_that_raises_gets_its_traceback_and_the_way_on(tmp_path, capsys,
                                                                  monkeypatch):
    """A bug in one's own fitness: its traceback (for the bug), then one line naming the run
    directory to --resume, exit 1; the generation already checkpointed is kept."""
    monkeypatch.setenv("LF_RUNS", str(tmp_path))
    argv = ["--fitness", "plugin_helpers:raises_after_checkpoint", "--workers", "1",
            "--population", "8", "--generations", "3", "--budget", "screen", "--quiet",
            "--runs-dir", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    (run_dir,) = tmp_path.iterdir()
    assert "Traceback (most recent call last):" in err
    assert err[-1] == (f"error: the search stopped on ValueError: boom from my fitness "
                       f"(traceback above). Every evaluation finished so far is kept in "
                       f"{run_dir}; fix the cause and continue with --resume {run_dir}")
    assert load(run_dir)["generation"] == 1


def test_a_plugin_error_inside_a_run_names_the_run_directory(tmp_path, capsys):
    """The one-line error of a fitness that breaks its interface once the run has begun also
    says where the run is kept and that --resume continues it; when it broke before any
    evaluation, that the new run directory, which held only its start files, was removed (a
    resume after fixing an input file would refuse it as changed)."""
    code, err = run_cli(["--fitness", "plugin_helpers:too_few", "--workers", "1",
                         "--population", "4", "--generations", "1", "--budget", "quick",
                         "--quiet", "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and len(err) == 1 and list(tmp_path.iterdir()) == []
    removed = err[0].split("(nothing was evaluated, so the new run directory ")[1]
    assert removed.endswith(" was removed: run the search again once fixed)")
    # not taken for a MuJoCo run, and named by module and function: a plug-in's function is
    # mostly called "evaluate", as the interface's own examples are
    assert removed.split()[0].endswith("-quick-plugin_helpers.too_few-s0")
    # a run that evaluated something is kept, with the way on
    (tmp_path / "x").mkdir()
    from lossforge.search.rundir import START_FILES, remove_if_unstarted
    for name in (*START_FILES, "evaluations.jsonl"):
        (tmp_path / "x" / name).write_text("{}")
    assert not remove_if_unstarted(tmp_path / "x") and len(list((tmp_path / "x").iterdir())) == 4


def test_a_search_scenario_hook_that_raises_is_one_line_and_exit_2(tmp_path, capsys,
                                                                   monkeypatch):
    """A fitness's own ``search_scenario`` reads --scenario; when it refuses one by raising
    (a ValueError, say), the user gets that message in one line, not a traceback."""
    (tmp_path / "taskfit_lf.py").write_text(
        "from lossforge.search import probe_fitness\n"
        "def evaluate(*args, **kw):\n"
        "    return probe_fitness.evaluate(*args, **kw)\n"
        "def search_scenario(text):\n"
        "    raise ValueError(f'no task called {text}')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, err = run_cli(["--fitness", "taskfit_lf:evaluate", "--scenario", "bogus",
                         "--workers", "1", "--population", "4", "--generations", "1",
                         "--quiet", "--runs-dir", str(tmp_path / "runs")], capsys)
    assert code == 2 and len(err) == 1, err
    assert err[0] == ("error: --scenario 'bogus': the search_scenario of --fitness "
                      "taskfit_lf:evaluate raised ValueError: no task called bogus")
