"""`python -m lossforge.distill`'s checks of its options: each bad value is argparse's one-line
usage error (exit code 2) before any work, so the run directory given need not even exist; a
grammar of another part (a link grammar) is refused naming what it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lossforge.distill.__main__ import main


def _usage_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err


@pytest.mark.parametrize("flags, message", [
    (["--budget", "nope"],
     "argument --budget: invalid choice: 'nope' (choose from 'quick', 'screen', 'full')"),
    (["--points", "0"], "--points 0: expected at least 16"),
    (["--points", "15"], "--points 15: expected at least 16"),
    (["--parsimony", "-1"], "--parsimony -1: expected a finite number >= 0"),
    (["--parsimony", "nan"], "--parsimony nan: expected a finite number >= 0"),
    (["--generations", "0"], "--generations 0: expected at least 1"),
    (["--population", "0"], "--population 0: expected at least 1"),
    (["--equations", "hof.csv"], "--equations is for --backend pysr"),
    (["--backend", "deap", "--equations", "hof.csv"], "--equations is for --backend pysr"),
])
def test_bad_options_are_usage_errors_before_any_work(tmp_path, capsys, flags, message):
    run = tmp_path / "no-such-run"      # never read: the options are checked first
    err = _usage_error(capsys, [str(run), *flags])
    assert err == f"error: {message} (see --help)\n"


def _tiny_es_run(tmp_path: Path) -> Path:
    from lossforge.search import run_search
    from lossforge.search.es import ESConfig

    return run_search(ESConfig(fitness="probe", generations=1, population=4, hidden=2,
                               workers=1), runs_root=tmp_path, quiet=True)


def test_a_link_grammar_is_named_as_one(tmp_path, capsys):
    run = _tiny_es_run(tmp_path)
    capsys.readouterr()
    assert main([str(run), "--grammar", "grammars/link.toml", "--no-rescore"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(re.escape(
        "error: --grammar grammars/link.toml: grammar 'link' is a link grammar (variables D, "
        "t); distillation fits a mirror map: give a mirror-map grammar (variable p or l)\n"),
        err)
    assert not (run / "distilled-deap.json").exists()
