"""hall_of_fame.json and pareto.json are read as one generation's: a search writes the hall of
fame, then the front, after each generation, so a reader may find them of two generations,
while the search writes them (read again) or left so by a search stopped between the two
writes (refused, with the resume that writes both again). ``show`` prints its header from the
same read as its rows."""

from __future__ import annotations

import importlib
import json
import shutil

import pytest

from lossforge import runfiles
from lossforge.export.__main__ import main as export_main
from lossforge.search.__main__ import main as search_main

READERS = {"show": lambda a: search_main(["show", *a]), "export": export_main,
           "report": lambda a: importlib.import_module("lossforge.report.__main__").main(a)}


@pytest.fixture(scope="module")
def two_generations(probe_run, tmp_path_factory):
    """The shared one-generation probe run, and the same run resumed to generation 2."""
    later = shutil.copytree(probe_run, tmp_path_factory.mktemp("g2") / probe_run.name)
    assert search_main(["--resume", str(later), "--generations", "2", "--quiet"]) == 0
    return probe_run, later


@pytest.fixture
def mixed(two_generations, tmp_path):
    """Generation 2's run directory with generation 1's pareto.json: stopped between the two
    writes of generation 2 (the same run, so the identity check passes)."""
    g1, g2 = two_generations
    run = shutil.copytree(g2, tmp_path / g2.name)
    shutil.copy(g1 / "pareto.json", run / "pareto.json")
    return run


def _generation(path) -> int:
    return json.loads(path.read_text())["generation"]


@pytest.mark.parametrize("reader", sorted(READERS))
def test_files_of_two_generations_are_refused_with_the_way_back(mixed, capsys, reader):
    assert (_generation(mixed / "hall_of_fame.json"), _generation(mixed / "pareto.json")) == (2, 1)
    assert READERS[reader]([str(mixed)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {mixed}: hall_of_fame.json is of generation 2, pareto.json of "
                   "generation 1: the search stopped between writing them; python -m "
                   f"lossforge.search --resume {mixed} writes the run's own again from its "
                   "checkpoint (copy this one aside first to keep it)\n")


def test_following_the_way_back_writes_both_of_one_generation(two_generations, mixed, capsys):
    assert search_main(["--resume", str(mixed), "--quiet"]) == 0
    for name in runfiles.RESULT_FILES:
        assert (mixed / name).read_bytes() == (two_generations[1] / name).read_bytes()
    assert search_main(["show", str(mixed)]) == 0


@pytest.fixture
def running(mixed):
    """``mixed`` with its lock held, as by the search writing generation 2's front now."""
    from lossforge.io import hold_lock, release_lock

    fd = hold_lock(mixed / runfiles.LOCK)
    yield mixed
    release_lock(mixed / runfiles.LOCK, fd)


def test_a_read_while_the_search_writes_the_front_reads_both_again(two_generations, running,
                                                                  monkeypatch):
    """The search writes generation 2's front while the reader waits: both are then of
    generation 2, nothing refused."""
    writes = []

    def the_search_writes(seconds):
        writes.append(seconds)
        shutil.copy(two_generations[1] / "pareto.json", running / "pareto.json")

    monkeypatch.setattr(runfiles.time, "sleep", the_search_writes)
    files = runfiles.read_run(running)
    assert len(writes) == 1
    assert files.header["generation"] == 2
    front = json.loads((two_generations[1] / "pareto.json").read_text())["pareto"]
    assert [r["name"] for r in files.pareto] == [r["name"] for r in front]


def test_a_search_slow_to_write_the_front_is_not_called_stopped(running):
    """A running search whose front is not written within the wait (a slow disk): refused as
    being written now by that process, not as a stopped run to --resume."""
    import os
    import time

    t0 = time.monotonic()
    with pytest.raises(runfiles.CheckpointError) as info:
        runfiles.read_results(running, wait=0.3)
    assert time.monotonic() - t0 >= 0.3
    assert str(info.value) == (f"{running}: hall_of_fame.json is of generation 2, pareto.json "
                               f"of generation 1: process {os.getpid()} is running the search "
                               "and writing them now; read them again in a moment")


def test_show_prints_its_header_from_the_read_its_rows_come_from(two_generations, tmp_path,
                                                                 monkeypatch, capsys):
    """A search that writes generation 2 right after show read generation 1's rows: the header
    said "generation 2" above generation 1's hall of fame, read a second time for it."""
    import lossforge.search.summary as summary

    g1, g2 = two_generations
    run = shutil.copytree(g1, tmp_path / g1.name)
    read = summary.load_run

    def then_the_search_writes(path):
        r = read(path)
        for name in runfiles.RESULT_FILES:
            shutil.copy(g2 / name, run / name)
        return r

    monkeypatch.setattr(summary, "load_run", then_the_search_writes)
    assert search_main(["show", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"{run.name}: GP search, scenario quick, fitness probe, generation 1," in out
