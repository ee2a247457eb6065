"""The ledger's "commit" says which code produced a look at the data: "<sha>+dirty" when a
tracked file of the code changed since the commit, but not when only results changed (rows,
run directories, the ledger itself under benchmarks/results/): before, every search's own
ledger line made every later entry "+dirty"."""

from __future__ import annotations

import subprocess

import pytest

from lossforge.ledger import RESULTS_DIR, code_commit


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.fail("git is needed by the ledger and by this test")
    _git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / RESULTS_DIR).mkdir(parents=True)
    (tmp_path / RESULTS_DIR / "ledger.jsonl").write_text("{}\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    return tmp_path


def test_a_results_change_keeps_the_commit_clean_and_a_code_change_does_not(repo):
    head = _git(repo, "rev-parse", "HEAD")
    assert code_commit(repo) == head
    with open(repo / RESULTS_DIR / "ledger.jsonl", "a") as f:   # a search's ledger line
        f.write('{"kind": "search"}\n')
    (repo / RESULTS_DIR / "rows.jsonl").write_text("{}\n")       # untracked: never counted
    assert code_commit(repo) == head
    (repo / "code.py").write_text("x = 2\n")
    assert code_commit(repo) == head + "+dirty"


def test_outside_a_checkout_there_is_no_commit(tmp_path):
    assert code_commit(tmp_path) is None
