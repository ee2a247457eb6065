"""SIGTERM under the Ray executor says what it says under the local pool (exit 143, the
resume command): ``ray.init`` replaced the search's SIGTERM handler with ``sys.exit(15)``, so
the search stopped without naming its run, and Ray's ``ray.get`` turned the handler's
``Terminated`` into a plain KeyboardInterrupt (read as Ctrl-C). Measured by hand under Ray:
before, exit 1 and no line; after, exit 143 and the line (see the commit)."""

from __future__ import annotations

import signal

from lossforge.search import checkpoint, probe_fitness
from lossforge.search.__main__ import main


def test_starting_ray_leaves_the_sigterm_handler_as_it_was():
    from lossforge.search.ray_executor import RayExecutor

    def mine(signum, frame):
        pass

    before = signal.signal(signal.SIGTERM, mine)
    try:
        ex = RayExecutor(workers=1)
        try:
            assert signal.getsignal(signal.SIGTERM) is mine
        finally:
            ex.close()
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)


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
