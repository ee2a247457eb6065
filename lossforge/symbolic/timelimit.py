"""A wall-clock limit for SymPy calls that may run for a very long time.

SymPy has no cancellation, so the limit is a SIGALRM interval timer. Signals work only on the
main thread and one timer cannot nest; where the limit cannot be armed (another thread, or a
limit already running) the block runs unlimited and ``armed`` says so, so a caller can skip
expensive work instead of hanging.

When the alarm lands in a finalizer or a weakref callback (garbage collection inside SymPy's
caches), Python swallows the exception there and prints "Exception ignored in ..." (seen in a
search's log); the block then ran on without a limit. ``sys.unraisablehook`` sees the swallowed
exception: it is dropped silently and the alarm armed again ``RETRY_S`` later, so the block still
stops.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator


class TimeLimitExceeded(Exception):
    """Raised inside the block when its time runs out."""


_active = False
#: seconds until the alarm fires again after a finalizer swallowed it
RETRY_S = 0.01


@contextmanager
def time_limit(seconds: float) -> Iterator[bool]:
    """Run the block with a time limit; yields whether the limit is armed."""
    global _active
    can_arm = (threading.current_thread() is threading.main_thread() and not _active
               and seconds > 0 and hasattr(signal, "setitimer"))
    if not can_arm:
        yield False
        return

    live = [True]   # False once the block is over: a late alarm then raises nothing

    def _raise(signum, frame):
        if live[0]:
            raise TimeLimitExceeded()

    hook = sys.unraisablehook

    def _swallowed(unraisable) -> None:
        if isinstance(unraisable.exc_value, TimeLimitExceeded):
            signal.setitimer(signal.ITIMER_REAL, RETRY_S)   # fire again: the block must stop
        else:
            hook(unraisable)

    previous = signal.signal(signal.SIGALRM, _raise)
    _active = True
    sys.unraisablehook = _swallowed
    try:   # armed inside the try: an alarm that fires at once still restores everything
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield True
    finally:
        live[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.unraisablehook = hook
        _active = False
