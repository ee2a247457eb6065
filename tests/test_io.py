"""``append_lines``: the append-only logs (baseline tables, the search's evaluation journal)
keep every line written after a kill tore the previous one."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from lossforge.io import append_lines

REPO = Path(__file__).resolve().parents[1]


def test_lines_after_a_torn_line_survive(tmp_path):
    log = tmp_path / "rows.jsonl"
    append_lines(log, ['{"a": 1}'])                       # a new file
    with open(log, "a") as fh:
        fh.write('{"b": ')                                # a writer killed mid-line
    append_lines(log, ['{"c": 3}', '{"d": 4}'])
    assert log.read_text() == '{"a": 1}\n{"b": \n{"c": 3}\n{"d": 4}\n'
    append_lines(log, ['{"e": 5}'])                       # a clean tail gets no blank line
    assert log.read_text().endswith('{"d": 4}\n{"e": 5}\n')
    # the baseline tables' reader skips exactly the torn line
    sys.path.insert(0, str(REPO / "benchmarks"))
    from cells import records
    assert records(log) == [json.loads(x) for x in ('{"a": 1}', '{"c": 3}', '{"d": 4}',
                                                    '{"e": 5}')]


def test_generation_log_appends_are_fsynced_and_never_glue_onto_a_torn_line(tmp_path,
                                                                             monkeypatch):
    """rundir.append_generation goes through append_lines: one fsynced write per generation,
    and a line torn by a kill is ended first (the old plain ``open("a")`` did neither)."""
    import os

    from lossforge.search import rundir

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    log = tmp_path / "generations.jsonl"
    log.write_text('{"generation": 0}\n{"generation": 1, "be')      # killed mid-line
    rundir.append_generation(tmp_path, {"generation": 2, "best": 0.5})
    assert len(synced) == 1
    assert log.read_text().split("\n") == ['{"generation": 0}', '{"generation": 1, "be',
                                           '{"generation": 2, "best": 0.5}', ""]


def test_atomic_write_to_a_directory_names_it_and_writes_nothing(tmp_path, monkeypatch):
    """``-o /tmp``: the error names the directory (not a temp file renamed onto it), and no
    temp file is ever made beside it."""
    import pytest

    from lossforge.io import atomic_write_text

    target = tmp_path / "out"
    (target / "inner").mkdir(parents=True)
    made: list = []
    real_mkstemp = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp",
                        lambda *a, **k: (made.append(k.get("dir")), real_mkstemp(*a, **k))[1])
    with pytest.raises(IsADirectoryError) as info:
        atomic_write_text(target, "text")
    assert info.value.filename == str(target) and info.value.filename2 is None
    assert made == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in target.iterdir()] == ["inner"]
