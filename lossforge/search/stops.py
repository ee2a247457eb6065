"""How a search that stops before its end says so (``python -m lossforge.search``): Ctrl-C,
SIGTERM, a disk that cannot take the run's next write, or a bug. Each names the run directory
to ``--resume`` when one was made; only a bug prints a traceback.

    with sigterm_raises():        # SIGTERM unwinds the search as Ctrl-C does
        try:
            ...
        except (KeyboardInterrupt, Exception) as exc:
            return stopped(exc, resume=args.resume)    # the message; the exit code

Exit codes: 130 for Ctrl-C and 143 for SIGTERM (128 + the signal's number, as a shell reports
a process the signal ended), 1 for anything else that stopped a run.
"""

from __future__ import annotations

import errno
import shlex
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from lossforge.io import os_reason

#: the errno of an ``OSError`` that says the disk cannot take a write (full, over quota, mounted
#: read-only): the machine's state, not a bug, so one line without a traceback
STORAGE_ERRORS = frozenset({errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)})


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``, a scheduler or a container stopping the job) as an exception
    (``sigterm_raises``). A KeyboardInterrupt, so it unwinds a search as Ctrl-C does: no
    ``except Exception`` of a fitness swallows it, the pool's workers are stopped, a write in
    progress leaves the old file, the run directory's lock is released, and the command line
    names the run to ``--resume``."""


#: SIGTERM once ``sigterm_raises``' handler ran (emptied as its block ends): a library may
#: catch its ``Terminated`` and raise a plain KeyboardInterrupt in its place (Ray's
#: ``ray.get`` does), which ``stopped`` then still reads as SIGTERM
_received: set[int] = set()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """For the ``with`` block: SIGTERM raises ``Terminated`` in the main thread. By default
    it ends the process where it stands, without a word: no line naming the run to resume,
    and its ``.lock`` file left behind. A second SIGTERM while the first unwinds ends the
    process at once, as before. Left alone, as Python leaves SIGINT, when SIGTERM is ignored
    or has a handler of the caller's, and outside the main thread (the only one that can set
    a handler)."""
    _received.clear()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL):
        yield
        return
    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _received.clear()


def _terminate(signum, frame):
    """``sigterm_raises``' handler."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    terminated()


def terminated() -> None:
    """Raise ``Terminated``, recording that SIGTERM came (for ``stopped``)."""
    _received.add(signal.SIGTERM)
    raise Terminated


def is_ours(handler) -> bool:
    """Whether ``handler`` is ``sigterm_raises``' (a library that replaces it can put it back
    and hand a SIGTERM it caught on to it: ``ray_executor``)."""
    return handler is _terminate


def stopped(exc: BaseException, resume: str | None = None) -> int:
    """The exit code of a search stopped by ``exc``, after its message on stderr: Ctrl-C (130)
    or SIGTERM (143) with the run directory to resume; a disk that refused a write (1: one
    line, ``STORAGE_ERRORS``); any other exception (1: a bug in a fitness of one's own, say:
    its traceback, then what is kept and how to go on). ``exc.run_dir``, set by the run's
    driver, is the run directory; ``resume`` is the one ``--resume`` gave, if any."""
    run_dir = getattr(exc, "run_dir", None)
    if isinstance(exc, KeyboardInterrupt):   # a resume stopped before its run began: the same
        return _interrupted(exc, run_dir or (resume if _is_dir(resume) else None))
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRORS:
        return _cannot_write(exc, run_dir, resume)
    if run_dir is None:     # not from inside a run: a plain bug, its plain traceback
        raise exc
    details = getattr(exc, "details", None)   # fitness_errors.FitnessRaised: the fitness's own
    if details:                               # traceback, maybe from a worker process
        print(f"{exc.why}. Its traceback:\n{details.rstrip()}", file=sys.stderr)
    else:
        traceback.print_exc()
    print(f"error: the search stopped on {getattr(exc, 'kind', type(exc).__name__)}: {exc} "
          f"(traceback above). "
          f"Every evaluation finished so far is kept in {run_dir}; fix the cause and "
          f"continue with --resume {run_dir}", file=sys.stderr)
    return 1


def _is_dir(path: str | None) -> bool:
    return path is not None and Path(path).is_dir()


def _interrupted(exc: KeyboardInterrupt, run_dir) -> int:
    """Ctrl-C's line (exit 130), or SIGTERM's (exit 143), which gives the whole command to go
    on with: a job stopped by a scheduler is resumed by a script more often than by hand."""
    if not (isinstance(exc, Terminated) or signal.SIGTERM in _received):
        print(f"interrupted: what finished is kept in {run_dir} (generations in its checkpoint, "
              f"evaluations in its journal); continue with --resume {run_dir}" if run_dir else
              "interrupted before the run directory was made: nothing to resume",
              file=sys.stderr)
        return 128 + signal.SIGINT
    print(f"stopped by SIGTERM: what finished is kept in {run_dir} (generations in its "
          f"checkpoint, evaluations in its journal); continue with python -m lossforge.search "
          f"--resume {shlex.quote(str(run_dir))}" if run_dir else
          "stopped by SIGTERM before the run directory was made: nothing to resume",
          file=sys.stderr)
    return 128 + signal.SIGTERM


def _cannot_write(exc: OSError, run_dir, resume: str | None) -> int:
    """One line for a write the disk refused (exit 1). Every file of a run directory is written
    whole or not at all (``lossforge.io``: the old checkpoint stays; a torn log line is
    skipped), so the run resumes from what it had, once there is room."""
    what = exc.filename or (f"in {run_dir}" if run_dir else "the run directory")
    fix = "make it writable" if exc.errno == errno.EROFS else "free some space"
    if run_dir is not None:
        print(f"error: the search stopped: cannot write {what} ({os_reason(exc)}). Every "
              f"evaluation finished so far is kept in {run_dir}; {fix} and continue with "
              f"--resume {run_dir}", file=sys.stderr)
    else:
        then = f"--resume {resume} again" if resume else "start the search again"
        print(f"error: cannot write {what} ({os_reason(exc)}); {fix} and {then}",
              file=sys.stderr)
    return 1
