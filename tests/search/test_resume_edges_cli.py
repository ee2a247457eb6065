"""Edges of the search's command line that a reliability walkthrough found: a run directory
this process cannot write, given to --resume; a disk that fills during a run; --executor ray
where Ray cannot be imported; abbreviated flags beside --resume. Each is one line (no
traceback), says what to do, and loses nothing the run directory held."""

from __future__ import annotations

import errno
import os
import re
import sys

import pytest

from lossforge.search import checkpoint
from lossforge.search.__main__ import main
from lossforge.search.journal import FILE as JOURNAL


@pytest.fixture
def run(probe_run_copy):
    return probe_run_copy


def _files(run_dir) -> dict:
    """Every file of a run directory (hidden ones too) and its bytes."""
    return {p.relative_to(run_dir).as_posix(): p.read_bytes()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def _refuse_writes(monkeypatch, run_dir, error: int, access: bool) -> None:
    """Opening a file in ``run_dir`` for writing fails with ``error``, and ``os.access`` says
    the directory can be written when ``access`` (root writes through a chmod and cannot mount
    a read-only file system in a test, so both are simulated)."""
    inside = str(run_dir)
    real_open, real_access = os.open, os.access

    def refuse_open(path, flags, *args, **kwargs):
        if str(path).startswith(inside) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(error, os.strerror(error), str(path))
        return real_open(path, flags, *args, **kwargs)

    def refuse_access(path, mode, *args, **kwargs):
        if str(path).startswith(inside) and mode & os.W_OK:
            return access
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse_open)
    monkeypatch.setattr(os, "access", refuse_access)


def test_a_run_directory_one_may_not_write_on_resume_is_one_line_exit_2_and_untouched(
        run, monkeypatch, capsys):
    """Another user's run directory, say: refused before anything is written (it was an
    OSError traceback from the lock file's creation)."""
    before = _files(run)
    _refuse_writes(monkeypatch, run, errno.EACCES, access=False)
    assert main(["--resume", str(run), "--generations", "2", "--ledger", "off"]) == 2
    assert _one_line(capsys) == (
        f"error: run directory {run}: not writable (no write permission); --resume writes the "
        f"run's checkpoint, journal and results in {run}, so nothing was run or changed: make "
        f"it writable (or resume a copy in a writable place) and --resume again")
    monkeypatch.undo()
    assert _files(run) == before


def test_a_read_only_mount_that_looked_writable_is_one_line(run, monkeypatch, capsys):
    """os.access can say yes where the write still fails (a network file system, say): the
    lock's write is the first, and its OSError is one line, not a traceback."""
    before = _files(run)
    _refuse_writes(monkeypatch, run, errno.EROFS, access=True)
    assert main(["--resume", str(run), "--generations", "2", "--ledger", "off"]) == 1
    assert _one_line(capsys) == (f"error: cannot write {run / '.lock'} (read-only file "
                                 f"system); make it writable and --resume {run} again")
    monkeypatch.undo()
    assert _files(run) == before


def test_a_disk_that_fills_mid_run_is_one_line_and_the_run_resumes(run, monkeypatch, capsys):
    """The disk fills as generation 2's checkpoint is written (its fsync fails, as a full
    ext4 or NFS reports it): one line naming the run to resume, exit 1; the generation-1
    checkpoint, the configuration and every journaled evaluation are still there, no temp file
    is left, and --resume (with room again) finishes the run."""
    before = _files(run)
    full, real_save, real_fsync = [False], checkpoint.save, os.fsync

    def save(run_dir, state):
        full[0] = True
        return real_save(run_dir, state)

    def fsync(fd):
        if full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(checkpoint, "save", save)
    monkeypatch.setattr(os, "fsync", fsync)
    assert main(["--resume", str(run), "--generations", "2", "--ledger", "off",
                 "--quiet"]) == 1
    assert _one_line(capsys) == (
        f"error: the search stopped: cannot write in {run} (no space left on device). Every "
        f"evaluation finished so far is kept in {run}; free some space and continue with "
        f"--resume {run}")
    monkeypatch.undo()
    after = _files(run)
    for name in ("checkpoint.json", "config.json", "seeds.json", "inputs.json"):
        assert after[name] == before[name], name
    assert after[JOURNAL].startswith(before[JOURNAL])
    assert not [name for name in after if name.endswith(".tmp")]
    assert main(["--resume", str(run), "--generations", "2", "--ledger", "off",
                 "--quiet"]) == 0
    assert checkpoint.load(run)["generation"] == 2


def test_executor_ray_without_ray_is_refused_before_a_run_directory_is_made(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)    # "import ray" raises ImportError
    runs = tmp_path / "runs"
    assert main(["--fitness", "probe", "--executor", "ray", "--generations", "1",
                 "--population", "4", "--workers", "1", "--runs-dir", str(runs),
                 "--ledger", "off", "--quiet"]) == 2
    assert _one_line(capsys) == "error: --executor ray needs Ray: pip install 'lossforge[ray]'"
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("argv", [["--resume", "{run}", "--gen", "2"],
                                  ["--res", "{run}", "--generations", "2"],
                                  ["--resume={run}", "--gener=2", "--work", "1"]])
def test_abbreviated_flags_on_resume_are_read_as_for_a_new_run(run, capsys, argv):
    """argparse reads an unambiguous prefix of a flag as the flag (``--gen 3`` starts a new
    run of 3 generations); --resume's check of what may be changed refused the same prefix."""
    argv = [a.replace("{run}", str(run)) for a in argv]
    assert main(argv + ["--ledger", "off", "--quiet"]) == 0, capsys.readouterr().err
    assert checkpoint.load(run)["generation"] == 2


@pytest.mark.parametrize("flag,name", [("--pop", "--population"),
                                       ("--population", "--population"), ("--see", "--seed")])
def test_a_configuration_flag_on_resume_is_refused_by_its_full_name(run, capsys, flag, name):
    before = _files(run)
    with pytest.raises(SystemExit) as exc:
        main(["--resume", str(run), flag, "8", "--ledger", "off"])
    assert exc.value.code == 2
    want = f"error: --resume continues a run as configured; drop {name} (see --help)"
    assert re.fullmatch(re.escape(want), _one_line(capsys))
    assert _files(run) == before


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_a_resume_writes_a_damaged_seeds_json_again(run, damage):
    """seeds.json (the search seed and every rung's fitness seeds) is written at the start and
    read by nobody: a deleted or damaged one stayed so for good. A resume writes it again."""
    import json

    path = run / "seeds.json"
    good = path.read_bytes()
    cfg = json.loads((run / "config.json").read_text())["config"]
    assert json.loads(good)["search_seed"] == cfg["seed"]
    if damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(good[:len(good) // 2])
    assert main(["--resume", str(run), "--ledger", "off", "--quiet"]) == 0
    assert path.read_bytes() == good
