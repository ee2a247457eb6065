"""The search refuses test-suite scenarios without --allow-test, and every search that starts
appends one line to the selection ledger (never the repository's during tests)."""

from __future__ import annotations

import os

import mujoco
import pytest
import torch

from lossforge import ledger
from lossforge.search.__main__ import main

REPO_LEDGER = ledger.DEFAULT_PATH


def _repo_ledger_state():
    return REPO_LEDGER.read_bytes() if REPO_LEDGER.exists() else None


def test_tests_never_write_the_repo_ledger():
    assert os.environ["LOSSFORGE_LEDGER"] == "off"  # tests/conftest.py
    assert ledger.ledger_path() is None
    before = _repo_ledger_state()
    assert ledger.record("search", command="x", scenario="quick", seeds=[0], budget="quick") \
        is None
    assert _repo_ledger_state() == before


def test_search_refuses_a_test_scenario(tmp_path, capsys):
    before = _repo_ledger_state()
    code = main(["--scenario", "halfcheetah-clean", "--fitness", "probe", "--runs-dir",
                 str(tmp_path), "--ledger", str(tmp_path / "l.jsonl"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "test suite" in err and "--allow-test" in err and "halfcheetah-clean" in err
    assert not (tmp_path / "l.jsonl").exists() and not list(tmp_path.glob("*-s0"))
    assert _repo_ledger_state() == before


def test_allowed_search_appends_one_ledger_line(tmp_path, capsys):
    path = tmp_path / "ledger.jsonl"
    before = _repo_ledger_state()
    argv = ["--scenario", "halfcheetah-clean", "--allow-test", "--fitness", "probe",
            "--generations", "1", "--population", "4", "--workers", "1", "--runs-dir",
            str(tmp_path / "runs"), "--quiet", "--ledger", str(path), "--purpose", "guard test"]
    assert main(argv) == 0
    (entry,) = ledger.read(path)
    assert entry["kind"] == "search" and entry["scenario"] == "halfcheetah-clean"
    assert entry["seeds"] == [0] and entry["purpose"] == "guard test"
    assert entry["command"] == "python -m lossforge.search " + " ".join(argv)
    assert entry["budget"] and entry["time"].endswith("+00:00")
    assert entry["commit"] is None or len(entry["commit"].split("+")[0]) == 40
    # where it ran: this CPU's model (read here from /proc/cpuinfo) and the numerics' libraries
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "")
    assert entry["machine"].startswith(cpu + " (cpu flags ")
    assert f"torch {torch.__version__}" in entry["machine"]
    assert f"mujoco {mujoco.__version__}" in entry["machine"]
    assert _repo_ledger_state() == before


def test_ledger_env_setting_and_append(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "l.jsonl"
    monkeypatch.setenv("LOSSFORGE_LEDGER", str(path))
    assert ledger.ledger_path() == path
    for i in range(3):
        ledger.record("sweep", command=f"c{i}", scenario=["a", "b"], seeds=(1, 2),
                      budget="full", purpose="p", extra_field=i)
    rows = ledger.read(path)
    assert [r["command"] for r in rows] == ["c0", "c1", "c2"]
    assert rows[2]["scenario"] == ["a", "b"] and rows[2]["extra_field"] == 2
    with open(path, "a") as fh:      # a torn last line (killed writer) is skipped, and the next
        fh.write('{"kind": "sea')    # append starts on a fresh line
    ledger.record("search", command="c3", scenario=None, seeds=None, budget=None)
    assert [r["command"] for r in ledger.read(path)] == ["c0", "c1", "c2", "c3"]
    monkeypatch.setenv("LOSSFORGE_LEDGER", "off")
    assert ledger.ledger_path() is None
    assert ledger.ledger_path(str(path)) == path   # --ledger PATH wins over the environment
