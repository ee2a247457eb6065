"""The run directory's lock (``io.hold_lock``) and the readers' look at it (``io.lock_holder``):
a reader's look takes a shared lock for an instant, and a search taking the lock in that
instant must wait it out, not report the directory as in use by a process (which may be long
dead: the pid is whatever the file holds)."""

from __future__ import annotations

import fcntl
import os
import threading

import pytest

from lossforge.io import LockHeld, hold_lock, lock_holder, release_lock


def _shared_for(path, seconds: float) -> threading.Thread:
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)     # as lock_holder does
    timer = threading.Timer(seconds, os.close, args=(fd,))
    timer.start()
    return timer


def test_a_readers_instant_look_does_not_refuse_the_search(tmp_path):
    path = tmp_path / ".lock"
    path.write_text("999999\n")           # left by a search killed with -9
    timer = _shared_for(path, 0.03)       # a reader looking, as the search starts
    fd = hold_lock(path)
    timer.join()
    assert path.read_text() == f"{os.getpid()}\n"
    assert lock_holder(path) is not None and lock_holder(path).pid == os.getpid()
    release_lock(path, fd)
    assert not path.exists() and lock_holder(path) is None


def test_a_lock_held_for_longer_is_held(tmp_path):
    path = tmp_path / ".lock"
    fd = hold_lock(path)
    try:
        with pytest.raises(LockHeld) as held:
            hold_lock(path)
        assert held.value.pid == os.getpid()
    finally:
        release_lock(path, fd)
    path.write_text("12345\n")
    assert lock_holder(path) is None      # a file its dead holder left is no lock
