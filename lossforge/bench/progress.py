"""One progress display for every long step (dataset rollouts, behaviour cloning, reference
log-probs, training, evaluation, zoo screening): a silent no-op when disabled (``--quiet``,
tests, workers), else a bar with elapsed time and an ETA.

    with progress_bar(enabled) as bar:                # enabled: bool, or the run's rich Console
        task = bar.add_task("rolling out 800 pairs", total=800)
        for ...:
            bar.advance(task)

Where it goes: to the Console passed as ``enabled`` (a search passes its own), else to stderr,
never to stdout (stdout is for results: ``export ... > loss.py``). On a terminal it is rich's
live bar; in a file or a pipe (a background run's log), where a live bar cannot redraw, it is a
plain timestamped line at most every ``every`` seconds and one when the step ends:

    09:41:07 rolling out 800 pairs: 120/800 (15 %), 0:00:41 elapsed, ETA 0:03:52

The display only observes the loop; it changes no number.
"""

from __future__ import annotations

import time
from typing import Callable


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


def stamped(text: str) -> str:
    """A log line: the wall-clock time, then ``text`` (every timestamped line lossforge prints:
    progress here, a search's generations, the zoo's training)."""
    return f"{time.strftime('%H:%M:%S')} {text}"


def _hms(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class _Task:
    def __init__(self, description: str, total: float | None, start: float):
        self.description, self.total, self.start = description, total, start
        self.completed, self.last_line = 0.0, start


class _Lines:
    """rich.progress.Progress's add_task / update / advance, printed as lines (for logs)."""

    def __init__(self, console, get_time: Callable[[], float], every: float):
        self.console, self.get_time, self.every = console, get_time, every
        self.tasks: list[_Task] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            for task in self.tasks:
                if task.last_line != -1:
                    self._line(task, done=True)
        return False

    def add_task(self, description: str, total: float | None = None, **kwargs) -> int:
        self.tasks.append(_Task(description, total, self.get_time()))
        return len(self.tasks) - 1

    def update(self, task_id: int, *, completed: float | None = None,
               advance: float | None = None, **kwargs) -> None:
        task = self.tasks[task_id]
        if completed is not None:
            task.completed = completed
        if advance is not None:
            task.completed += advance
        now = self.get_time()
        if task.total is not None and task.completed >= task.total:
            self._line(task, done=True)
        elif now - task.last_line >= self.every:
            self._line(task)

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def _line(self, task: _Task, done: bool = False) -> None:
        if task.last_line == -1:      # already said it finished
            return
        now = self.get_time()
        elapsed = now - task.start
        text = stamped(f"{task.description}: {task.completed:g}")
        if task.total:
            text += f"/{task.total:g} ({100 * task.completed / task.total:.0f} %)"
        text += f", {_hms(elapsed)} elapsed"
        if done:
            text += ", done"
        elif task.total and task.completed > 0:
            left = elapsed / task.completed * (task.total - task.completed)
            text += f", ETA {_hms(left)}"
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)
        task.last_line = -1 if done else now


def progress_bar(enabled, *, get_time: Callable[[], float] | None = None, every: float = 10.0):
    """A context manager with rich.progress.Progress's add_task / update / advance.

    ``enabled``: False (silent), True (to stderr) or a rich Console to print on. ``get_time``
    replaces the clock (tests); ``every``: seconds between lines when the console is not a
    terminal."""
    if enabled is False or enabled is None:
        return _Silent()
    from rich.console import Console

    console = enabled if isinstance(enabled, Console) else Console(stderr=True)
    clock = get_time or time.monotonic
    if not console.is_terminal:
        return _Lines(console, clock, every)
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, get_time=clock, transient=True)
