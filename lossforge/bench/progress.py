"""A rich progress bar that is a silent no-op when disabled (``--quiet``, tests, workers)."""

from __future__ import annotations


class _Silent:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *args, **kwargs):
        return 0

    def update(self, *args, **kwargs):
        pass

    def advance(self, *args, **kwargs):
        pass


def progress_bar(enabled: bool):
    """A context manager with rich.progress.Progress's add_task / update / advance."""
    if not enabled:
        return _Silent()
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), transient=True)
