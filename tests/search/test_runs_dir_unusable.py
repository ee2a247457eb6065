"""An unusable --runs-dir (a file, a folder under a file, one the system will not create) is one
line naming it and why, exit code 2: never a NotADirectoryError / FileExistsError traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lossforge.errors import ConfigError
from lossforge.search.__main__ import main
from lossforge.search.rundir import new_run_dir


def test_a_file_as_runs_dir_is_one_line_and_exit_2(tmp_path, capsys):
    root = tmp_path / "afile"
    root.write_text("not a directory\n")
    assert main(["--fitness", "probe", "--runs-dir", str(root)]) == 2
    assert capsys.readouterr().err == f"error: runs directory {root}: not a directory\n"
    assert root.read_text() == "not a directory\n"


def test_a_runs_dir_under_a_file_names_the_file(tmp_path):
    (tmp_path / "afile").write_text("")
    root = tmp_path / "afile" / "sub" / "runs"
    want = f"runs directory {root}: {tmp_path / 'afile'} is not a directory"
    with pytest.raises(ConfigError, match=f"^{re.escape(want)}$"):
        new_run_dir(root, "quick", 0)


def test_a_directory_the_system_refuses_gives_its_reason(tmp_path, monkeypatch):
    """As mkdir /proc/x does (no such file or directory), or a folder without write access."""
    root = tmp_path / "runs"

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(root))

    monkeypatch.setattr(Path, "mkdir", refuse)
    want = f"runs directory {root}: cannot create it (permission denied)"
    with pytest.raises(ConfigError, match=f"^{re.escape(want)}$"):
        new_run_dir(root, "quick", 0)


def test_a_usable_runs_dir_is_made_with_its_parents(tmp_path):
    run = new_run_dir(tmp_path / "a" / "b", "quick", 3)
    assert run.is_dir() and run.parent == tmp_path / "a" / "b" and run.name.endswith("-quick-s3")


def test_two_searches_started_in_the_same_second_get_two_directories(tmp_path, monkeypatch):
    """The other search makes the name between this one's look and its mkdir (simulated: every
    look says free): this one takes the next name, not a FileExistsError traceback."""
    monkeypatch.setattr("time.strftime", lambda fmt: "20260101-000000")
    first = new_run_dir(tmp_path, "quick", 0)
    monkeypatch.setattr(Path, "exists", lambda self: False)
    second = new_run_dir(tmp_path, "quick", 0)
    third = new_run_dir(tmp_path, "quick", 0)
    assert [p.name for p in (first, second, third)] == [
        "20260101-000000-quick-s0", "20260101-000000-quick-s0-1", "20260101-000000-quick-s0-2"]


def test_many_searches_at_once_each_get_their_own_directory(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr("time.strftime", lambda fmt: "20260101-000000")
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: new_run_dir(tmp_path, "quick", 0), range(32)))
    assert len(set(made)) == 32 and all(p.is_dir() for p in made)
