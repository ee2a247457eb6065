"""SIGTERM (``kill PID``, a scheduler or a container stopping the job) stops a search as Ctrl-C
does: one line on stderr that says so and gives the exact command to resume it, exit code 143
(128 + 15, as Ctrl-C's is 128 + 2), the run directory's lock released and the run resumable.
It used to end the process where it stood, without a word."""

from __future__ import annotations

import os
import shlex
import signal

import pytest

from lossforge.search import checkpoint, probe_fitness
from lossforge.search.__main__ import main
from search_helpers import start_hanging_search


def test_sigterm_is_one_line_with_the_resume_command_and_the_run_resumes(tmp_path, monkeypatch,
                                                                        capsys):
    proc, runs = start_hanging_search(tmp_path, workers=1, generations=3,   # in-process
                                      signal_default=signal.SIGTERM)        # evaluations
    try:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)   # not the two minutes of the sleeping call
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err, err
    (run_dir,) = runs.iterdir()
    assert err.strip().splitlines()[-1] == (
        f"stopped by SIGTERM: what finished is kept in {run_dir} (generations in its "
        f"checkpoint, evaluations in its journal); continue with python -m lossforge.search "
        f"--resume {shlex.quote(str(run_dir))}"), err
    assert not (run_dir / ".lock").exists()      # released as the search unwound
    # the run resumes from that line (the fitness no longer sleeps) and finishes
    monkeypatch.setattr("raising_plugins.hangs_on_some", probe_fitness.evaluate)
    assert main(["--resume", str(run_dir), "--ledger", "off", "--quiet"]) == 0, \
        capsys.readouterr().err
    assert checkpoint.load(run_dir)["generation"] == 3


@pytest.mark.parametrize("disposition", [signal.SIG_DFL, signal.SIG_IGN],
                         ids=["default", "ignored"])
def test_the_command_line_leaves_sigterm_as_it_found_it(tmp_path, disposition):
    """main() in a process of one's own (a test, a notebook): its SIGTERM handler is gone once
    main returns, and an ignored SIGTERM stays ignored."""
    before = signal.signal(signal.SIGTERM, disposition)
    try:
        assert main(["show", str(tmp_path / "none")]) == 2
        assert signal.getsignal(signal.SIGTERM) == disposition
    finally:
        signal.signal(signal.SIGTERM, before)


def test_ctrl_c_in_show_says_nothing_about_resuming(tmp_path, monkeypatch, capsys):
    """show only reads: Ctrl-C there exits 130 without the search's "nothing to resume" line,
    and show leaves SIGTERM as it was (there is no search to stop cleanly)."""
    import lossforge.search.summary as summary

    def interrupted(*args, **kwargs):
        assert signal.getsignal(signal.SIGTERM) == before
        raise KeyboardInterrupt

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(summary, "show", interrupted)
    assert main(["show", str(tmp_path)]) == 130
    assert capsys.readouterr().err == ""
