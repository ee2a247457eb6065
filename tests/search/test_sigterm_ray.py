"""SIGTERM under the Ray executor says what it says under the local pool (exit 143, the
resume command): ``ray.init`` replaced the search's SIGTERM handler with ``sys.exit(15)``, so
the search stopped without naming its run, and Ray's ``ray.get`` turned the handler's
``Terminated`` into a plain KeyboardInterrupt (read as Ctrl-C). Measured by hand under Ray:
before, exit 1 and no line; after, exit 143 and the line (see the commit)."""

from __future__ import annotations

import signal

import pytest

from lossforge.search import checkpoint, probe_fitness
from lossforge.search.__main__ import main


def test_starting_ray_leaves_the_searchs_sigterm_handler_in_place():
    from lossforge.search import stops
    from lossforge.search.ray_executor import RayExecutor

    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)   # as a plain process starts
    try:
        with stops.sigterm_raises():
            ex = RayExecutor(workers=1)
            try:
                assert stops.is_ours(signal.getsignal(signal.SIGTERM))
            finally:
                ex.close()
            assert stops.is_ours(signal.getsignal(signal.SIGTERM))
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_sigterm_while_ray_starts_stops_the_search_as_its_handler_would():
    """Ray's handler, set as ``ray.init`` begins, turns a SIGTERM into SystemExit(15): it
    comes out as the search's own ``Terminated`` (exit 143 and the resume line), with the
    search's handler back. Other exits pass as they are."""
    import sys

    from lossforge.search import stops
    from lossforge.search.ray_executor import _sigterm_kept

    def ray_init_killed(code):
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))   # Ray 2.60's
        raise SystemExit(code)

    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with stops.sigterm_raises():
            with pytest.raises(stops.Terminated):
                with _sigterm_kept():
                    ray_init_killed(signal.SIGTERM)
            assert stops.is_ours(signal.getsignal(signal.SIGTERM))
            assert signal.SIGTERM in stops._received
            with pytest.raises(SystemExit):
                with _sigterm_kept():
                    ray_init_killed(3)
            assert stops.is_ours(signal.getsignal(signal.SIGTERM))
        assert not stops._received          # emptied as the search's block ends
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_sigterm_of_an_earlier_search_does_not_make_a_later_ctrl_c_read_as_sigterm(
        tmp_path, monkeypatch, capsys):
    """Two searches in one process (a notebook, tests): the second, under a handler of the
    caller's, is stopped by Ctrl-C: exit 130 and the Ctrl-C line."""
    def sigterm_search(fitness, root):
        return main(["--fitness", fitness, "--workers", "1", "--population", "8",
                     "--generations", "2", "--budget", "quick", "--runs-dir", str(root),
                     "--ledger", "off", "--quiet"])

    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        assert sigterm_search("raising_plugins:sigterm_as_a_library_reraises_it",
                              tmp_path / "a") == 128 + signal.SIGTERM
        signal.signal(signal.SIGTERM, lambda signum, frame: None)   # the caller's own
        monkeypatch.setenv("LF_RUNS", str(tmp_path / "b"))
        assert sigterm_search("search_helpers:interrupting_evaluate",
                              tmp_path / "b") == 128 + signal.SIGINT
    finally:
        signal.signal(signal.SIGTERM, before)
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("interrupted: ")


def test_a_sigterm_a_library_reraises_as_keyboardinterrupt_still_reads_as_sigterm(
        tmp_path, monkeypatch, capsys):
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)   # as a plain process starts
    try:
        code = main(["--fitness", "raising_plugins:sigterm_as_a_library_reraises_it",
                     "--workers", "1", "--population", "8", "--generations", "2", "--budget",
                     "quick", "--runs-dir", str(tmp_path), "--ledger", "off", "--quiet"])
    finally:
        signal.signal(signal.SIGTERM, before)
    err = capsys.readouterr().err
    (run_dir,) = tmp_path.iterdir()
    assert code == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1].startswith(
        f"stopped by SIGTERM: what finished is kept in {run_dir} "), err
    monkeypatch.setattr("raising_plugins.sigterm_as_a_library_reraises_it",
                        probe_fitness.evaluate)
    assert main(["--resume", str(run_dir), "--ledger", "off", "--quiet"]) == 0
    assert checkpoint.load(run_dir)["generation"] == 2
