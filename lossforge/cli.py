"""What every ``python -m lossforge.X`` command line shares."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Iterable, NoReturn

from rich.console import Console

#: The exit code of a command whose reader closed its stdout pipe (``... | head``): what a
#: shell reports for a process ended by SIGPIPE (128 + 13), distinct from lossforge's own
#: codes (1: a check failed, 2: bad input).
BROKEN_PIPE_EXIT = 141


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit code 2.

    argparse's own error prints the whole usage block first; with a dozen flags that buries the
    one line that says what was wrong. ``--help`` still prints everything.
    """

    def error(self, message):
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def run_main(main: Callable[[], int | None]) -> NoReturn:
    """Exit with ``main()``'s code, the ``if __name__ == "__main__"`` line of every command.

    When the reader of stdout goes away early (``python -m lossforge.formula ... | head -2``),
    exit quietly with ``BROKEN_PIPE_EXIT`` instead of a BrokenPipeError traceback: Python's
    recipe (the ``signal`` module's "Note on SIGPIPE"). stdout is flushed inside the ``try``,
    since a failing flush at interpreter exit would print a warning of its own.
    """
    try:
        try:
            code = main()
        except SystemExit as exc:   # argparse's --help and usage errors exit from inside main
            code = exc.code
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # the flush at exit then writes nowhere
        sys.exit(BROKEN_PIPE_EXIT)
    sys.exit(code)


class PipeConsole(Console):
    """rich's Console for a command's output: when the reader of stdout goes away, rich's own
    handler exits with 1 (lossforge's "a check failed"); this one raises BrokenPipeError for
    ``run_main``, which exits with ``BROKEN_PIPE_EXIT`` as every other output path does."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def attach_values(argv: list[str], options: Iterable[str]) -> list[str]:
    """``--formula -sqrt(-l)`` -> ``--formula=-sqrt(-l)`` for each of ``options``, so that
    argparse does not read a value that starts with "-" (a formula) as an option. Arguments
    after ``--`` are left alone."""
    options = set(options)
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--":
            return out + argv[i:]
        if argv[i] in options and i + 1 < len(argv):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def positive_float(text: str) -> float:
    """An argparse ``type`` for a number > 0 (a time limit, a duration)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value
