"""`python -m lossforge.bench`'s checks of --out and --episodes: one line, exit code 2, before
any training (and --episodes 0 is refused, not read as "the budget's default")."""

from __future__ import annotations

import re

import pytest

from lossforge.bench import fitness
from lossforge.bench.__main__ import main
from lossforge.errors import ConfigError

QUICK = ["--scenario", "quick", "--budget", "quick", "--losses", "dpo", "--quiet"]


def test_a_file_as_out_is_one_line_and_exit_2(tmp_path, capsys):
    out = tmp_path / "afile"
    out.write_text("")
    assert main([*QUICK, "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: --out {out}: not a directory\n"


def test_an_out_under_a_file_names_the_file(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "run"
    assert main([*QUICK, "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"error: --out {out}: {tmp_path / 'afile'} is not a "
                                       "directory\n")


@pytest.mark.parametrize("episodes", ["0", "-1"])
def test_episodes_below_one_are_refused_before_the_run_directory(tmp_path, capsys, episodes):
    out = tmp_path / "run"
    assert main([*QUICK, "--episodes", episodes, "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"error: {episodes} evaluation episodes: expected "
                                       "1-1000000\n")
    assert not out.exists()


def _no_training(*args, **kwargs):
    raise AssertionError("trained before checking the episodes")


@pytest.mark.parametrize("episodes", [0, -1])
def test_evaluate_refuses_episodes_below_one_before_training(monkeypatch, episodes):
    from lossforge import objectives

    monkeypatch.setattr(fitness, "training_data", _no_training)
    with pytest.raises(ConfigError, match=f"^{re.escape(f'{episodes} evaluation episodes')}"):
        fitness.evaluate([objectives.get("dpo")], "quick", "quick", episodes=episodes)


def test_evaluate_policies_refuses_zero_episodes():
    """0 was read as "the budget's default" (``episodes or b.eval_episodes``)."""
    with pytest.raises(ConfigError, match="^0 evaluation episodes: expected 1-1000000$"):
        fitness.evaluate_policies({}, "quick", "quick", episodes=0)


def test_an_out_holding_a_bench_result_is_refused_and_kept(tmp_path, capsys, monkeypatch):
    """A reused --out was overwritten when the new run ended: its results lost. Refused before
    any training; the old results stay as they were."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text('{"earlier": "results"}\n')
    monkeypatch.setattr(fitness, "training_data", _no_training)
    assert main([*QUICK, "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"error: --out {out}: already holds a bench run's "
                                       "results (results.json); give another directory, or "
                                       "remove that one to run again\n")
    assert (out / "results.json").read_text() == '{"earlier": "results"}\n'


@pytest.mark.parametrize("arg,hint", [
    ("dpo:bta=2", " (did you mean 'beta'?)"),             # a typo of a spec field
    ("length_sft:cc=100", " (did you mean 'c'?)"),        # of a member's own parameter
    ("dpo:colour=1", ""),                                 # nothing close: no guess
])
def test_a_setting_a_loss_does_not_have_names_what_it_has(tmp_path, capsys, arg, hint):
    """`--losses dpo:bta=2` said "parameters: none", never naming beta, the field meant."""
    name, key = arg.split(":")[0], arg.split(":")[1].split("=")[0]
    assert main(["--scenario", "quick", "--losses", arg, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: objective {name!r} has no field or parameter {key!r}{hint}; "
                          "fields: aggregation, beta, description, imitation, link, mirror_map, "
                          "reference, w_pref, w_sft; parameters: ")
    assert "\n" not in err and not (tmp_path / "o").exists()


def test_an_out_another_bench_run_is_scoring_into_is_refused(tmp_path, capsys, monkeypatch):
    """Two runs given one --out at once both passed the results.json check, and the one that
    ended last overwrote the other's results. The second is refused, by the holder's pid,
    before it trains or writes anything; the holder's lock stays."""
    import os

    from lossforge.io import hold_lock, lock_holder, release_lock

    out = tmp_path / "run"
    out.mkdir()
    fd = hold_lock(out / ".lock")        # the first run, scoring (its own open file)
    try:
        monkeypatch.setattr(fitness, "training_data", _no_training)
        assert main([*QUICK, "--out", str(out)]) == 2
        assert capsys.readouterr().err == (
            f"error: --out {out}: process {os.getpid()} is using it ({out / '.lock'} is "
            "locked); give another directory, or wait for it to end\n")
        assert sorted(p.name for p in out.iterdir()) == [".lock"]
        assert lock_holder(out / ".lock").pid == os.getpid()
    finally:
        release_lock(out / ".lock", fd)


def test_the_results_check_is_made_again_under_the_lock(tmp_path, capsys, monkeypatch):
    """A run that ends between this one's first look and its lock has written results.json:
    refused, and those results kept."""
    import lossforge.bench.__main__ as bench_main

    out = tmp_path / "run"

    def make_and_finish(path):           # the other run ends right after the first look
        path.mkdir()
        (path / "results.json").write_text('{"other": "run"}\n')

    monkeypatch.setattr(bench_main, "make_out_dir", make_and_finish)
    monkeypatch.setattr(fitness, "training_data", _no_training)
    assert main([*QUICK, "--out", str(out)]) == 2
    assert "already holds a bench run's results" in capsys.readouterr().err
    assert (out / "results.json").read_text() == '{"other": "run"}\n'
    assert not (out / ".lock").exists()


def test_the_lock_is_released_when_the_run_stops(tmp_path, monkeypatch):
    """A run that stops (Ctrl-C, a bug) leaves no lock file behind, and the next run of the
    same --out takes the lock."""
    from lossforge.io import lock_holder

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    out = tmp_path / "run"
    monkeypatch.setattr(fitness, "evaluate", stop)
    for _ in range(2):
        with pytest.raises(Stop):
            main([*QUICK, "--out", str(out)])
        assert lock_holder(out / ".lock") is None and not (out / ".lock").exists()


def test_a_search_run_directory_as_out_is_refused(probe_run_dir, capsys, monkeypatch):
    """A bench run's lock and results in a search's run directory would read there as that
    search running (its lock is the same file) and mix two tools' files: refused."""
    monkeypatch.setattr(fitness, "training_data", _no_training)
    before = sorted(p.name for p in probe_run_dir.iterdir())
    assert main([*QUICK, "--out", str(probe_run_dir)]) == 2
    assert capsys.readouterr().err == (f"error: --out {probe_run_dir}: a search's run directory "
                                       "(config.json); give a directory of the bench run's "
                                       "own\n")
    assert sorted(p.name for p in probe_run_dir.iterdir()) == before


@pytest.fixture
def probe_run_dir(tmp_path):
    from lossforge.search import SearchConfig, run_search

    cfg = SearchConfig(scenario="quick", fitness="probe", generations=1, population=4,
                       workers=1)
    return run_search(cfg, runs_root=tmp_path, quiet=True)


def test_an_out_whose_lock_cannot_be_made_is_one_line(tmp_path, capsys, monkeypatch):
    """A read-only --out (simulated: this test may run as root) is one line, not a traceback."""
    import errno

    import lossforge.io

    def read_only(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(lossforge.io, "hold_lock", read_only)
    monkeypatch.setattr(fitness, "training_data", _no_training)
    out = tmp_path / "run"
    assert main([*QUICK, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}: cannot lock it (") and err.count("\n") == 1
