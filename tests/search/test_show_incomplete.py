"""``search show`` of a run that stopped before its last generation says so, and how to go on;
of a finished run it does not."""

from __future__ import annotations

import re

import pytest

from lossforge.search.__main__ import main as search_main


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A real probe run configured for 2 generations and stopped after the first (as a kill
    between generations leaves it: results of generation 1, config.json asking for 2)."""
    from lossforge.search import SearchConfig, run_search

    cfg = SearchConfig(scenario="quick", population=6, generations=2, seed=3, fitness="probe",
                       workers=1, budget="screen")
    return run_search(cfg, runs_root=tmp_path_factory.mktemp("runs"), quiet=True, stop_after=1)


def _show(run, capsys) -> list[str]:
    capsys.readouterr()
    assert search_main(["show", str(run)]) == 0
    return capsys.readouterr().out.splitlines()


def test_show_says_a_run_stopped_early_and_how_to_continue_it(stopped_run, capsys):
    lines = _show(stopped_run, capsys)
    want = (f"generation 1 of 2: the run stopped early; python -m lossforge.search --resume "
            f"{stopped_run} continues it")
    assert lines.count(want) == 1, "\n".join(lines)
    assert lines[-1] == want        # after the verdict, which reads as final otherwise
    # ... and the command it gives finishes the run, whose show then says nothing of the kind
    from lossforge.search import run_search

    run_search(resume=stopped_run, quiet=True)
    capsys.readouterr()
    assert not any("stopped early" in line for line in _show(stopped_run, capsys))
    # extended with --resume --generations 4 and stopped after generation 3: config.json still
    # says 2; the checkpoint holds the 4 the run is heading for
    run_search(resume=stopped_run, quiet=True, overrides={"generations": 4}, stop_after=1)
    assert _show(stopped_run, capsys)[-1] == (
        f"generation 3 of 4: the run stopped early; python -m lossforge.search --resume "
        f"{stopped_run} continues it")


def test_show_of_a_run_in_progress_does_not_call_it_stopped(stopped_run, capsys):
    """While a search runs (it holds the run directory's lock), show said "the run stopped
    early" and gave the --resume command, which the lock would refuse."""
    import os

    from lossforge.io import hold_lock, release_lock

    fd = hold_lock(stopped_run / ".lock")      # as the running search does (rundir.locked)
    try:
        lines = _show(stopped_run, capsys)
    finally:
        release_lock(stopped_run / ".lock", fd)
    assert not any("stopped early" in line for line in lines)
    assert re.fullmatch(rf"generation (\d) of (\d) so far: process {os.getpid()} is running "
                        r"the search; show it again for the later generations", lines[-1])


def test_stopped_early_quotes_the_path_and_is_silent_when_complete():
    from lossforge.search.summary import stopped_early

    start = {"config": {"generations": 8}}
    assert stopped_early("runs/my run", start, 4) == (
        "generation 4 of 8: the run stopped early; python -m lossforge.search --resume "
        "'runs/my run' continues it")
    assert stopped_early("runs/r", start, 8) is None
    assert stopped_early("runs/r", start, 9) is None          # extended with --generations
    assert stopped_early("runs/r", {}, 4) is None             # no config to compare with
