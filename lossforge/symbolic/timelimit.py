"""A wall-clock limit for SymPy calls that may run for a very long time.

SymPy has no cancellation, so the limit is a SIGALRM interval timer. Signals work only on the
main thread and one timer cannot nest; where the limit cannot be armed (another thread, or a
limit already running) the block runs unlimited and ``armed`` says so, so a caller can skip
expensive work instead of hanging.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class TimeLimitExceeded(Exception):
    """Raised inside the block when its time runs out."""


_active = False


@contextmanager
def time_limit(seconds: float) -> Iterator[bool]:
    """Run the block with a time limit; yields whether the limit is armed."""
    global _active
    can_arm = (threading.current_thread() is threading.main_thread() and not _active
               and seconds > 0 and hasattr(signal, "setitimer"))
    if not can_arm:
        yield False
        return

    def _raise(signum, frame):
        raise TimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, _raise)
    _active = True
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _active = False
