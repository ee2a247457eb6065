"""The CLI: --help explains itself; bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import pytest

from lossforge.search.__main__ import main


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--scenario", "--grammar", "--budget", "--generations", "--population",
                 "--seed", "--executor", "--resume", "--quiet", "show runs/"):
        assert flag in out


def test_help_gives_each_methods_own_default_sizes(capsys):
    """ES runs 6 generations of 8 by default (ESConfig), GP 8 of 16 (SearchConfig): the help
    said 'default 8' generations for both."""
    import re

    from lossforge.search import SearchConfig
    from lossforge.search.es import ESConfig

    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    gp, es = SearchConfig(), ESConfig()
    assert re.search(rf"--generations GENERATIONS default {gp.generations} "
                     rf"\(es: {es.generations}\)", out), out
    assert f"default {gp.population} (es: CMA-ES lambda, default {es.population})" in out


@pytest.mark.parametrize("argv,fragment", [
    (["--generations", "0"], "--generations must be >= 1"),
    (["--population", "2"], "--population must be >= 4"),
    (["--population", "0"], "--population must be >= 4, got 0"),   # was: ran with 16
    (["--method", "es", "--population", "2"], "--population must be >= 3 for CMA-ES"),
    (["--grammar", "grammars/link.toml"], "is it a link grammar? give it as --link-grammar"),
    (["--link-grammar", "grammars/imitation.toml"], "a link grammar needs variables among"),
    (["--scenario", "no-such-scenario"], "scenario file"),
    (["--grammar", "missing.toml"], "grammar file 'missing.toml' not found"),
    (["--budget", "huge"], "invalid choice"),
    (["--generations", "many"], "invalid int value"),
    (["show", "/nonexistent/run"], "not a run directory"),
    (["--resume", "/nonexistent/run"], "not a run directory"),
    (["--resume", "/tmp", "--seed", "4"], "drop --seed"),
    (["--require", "ranking-preserving,monotone"],
     "unknown property monotone; valid: ranking-preserving, bounded-gradient, redescending, "
     "reference-free, length-free"),
    (["--method", "es", "--require", "redescending"], "--require: not used by --method es"),
    (["--resume", "/tmp", "--require", "redescending"], "drop --require"),
    (["--no-race", "--race-delta", "0.2"], "--no-race, --race-delta: only with --suite"),
    (["--suite-objective", "worst"], "--suite-objective: only with --suite"),
    (["--suite", "train", "--scenario", "hopper-padded-clean"],
     "--suite replaces --scenario: give one of them"),
    (["--suite", "train", "--scenario", "quick"],     # the default, given: still refused
     "--suite replaces --scenario: give one of them"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    try:
        code = main(argv)
    except SystemExit as exc:   # argparse errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err


def test_a_run_directory_given_without_show_or_resume_says_which_to_use(tmp_path, capsys):
    run = tmp_path / "20261206-000000-quick-s0"
    run.mkdir()
    (run / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as exc:
        main([str(run)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {run} is a run directory: 'show {run}' prints its results, "
                   f"'--resume {run}' continues it (see --help)")


def test_ctrl_c_names_the_run_directory_to_resume_and_the_resume_finishes(tmp_path, capsys,
                                                                           monkeypatch):
    """Ctrl-C in generation 2 (its first training after the checkpoint): exit 130, and the line
    names this run's directory (a user has no other way to learn it); --resume from that line
    finishes the run from its checkpoint."""
    from lossforge.search import checkpoint

    runs = tmp_path / "runs"
    monkeypatch.setenv("LF_RUNS", str(runs))
    code = main(["--fitness", "search_helpers:interrupting_evaluate", "--generations", "3",
                 "--population", "8", "--workers", "1", "--runs-dir", str(runs),
                 "--ledger", "off"])
    assert code == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    prefix = "interrupted: what finished is kept in "
    assert err.startswith(prefix)
    run_dir = err[len(prefix):].split(" (generations in its checkpoint, evaluations in its "
                                      "journal); continue with --resume ")[0]
    assert err.endswith(f"; continue with --resume {run_dir}")
    assert [str(p) for p in runs.iterdir()] == [run_dir]
    assert checkpoint.load(run_dir)["generation"] == 1
    monkeypatch.setattr("search_helpers.interrupting_evaluate",
                        __import__("search_helpers").recording_evaluate)
    monkeypatch.setenv("LF_TRAIN_LOG", str(tmp_path / "trained.jsonl"))
    assert main(["--resume", run_dir, "--ledger", "off"]) == 0
    assert checkpoint.load(run_dir)["generation"] == 3
