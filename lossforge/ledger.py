"""The selection ledger: one JSON line for every run that looked at benchmark data to choose
something (a search, a probe, a baseline sweep), so a reported result can say how many looks it
took to find it.

    from lossforge import ledger
    ledger.record("search", command="python -m lossforge.search ...", scenario="hopper-clean",
                  seeds=[0], budget="screen", purpose="first look at the v2 Hopper family")

Each line holds ``time`` (UTC, ISO 8601), ``kind``, ``command``, ``commit`` (the git HEAD of the
code that ran, "+dirty" if tracked files differed from it), ``scenario`` (a name or a list),
``seeds``, ``budget``, ``purpose`` and any extra fields given. Lines are appended in one fsynced
write (``lossforge.io.append_lines``), so concurrent runs never interleave half lines.

Where it goes: ``path`` if given (the CLIs' ``--ledger PATH``), else ``$LOSSFORGE_LEDGER``, else
the repository's ``benchmarks/results/ledger.jsonl`` (an installed wheel's default:
``~/.local/share/lossforge/ledger.jsonl``). ``off`` (or an empty value) turns
recording off: the test suite sets ``LOSSFORGE_LEDGER=off`` (tests/conftest.py) so tests never
write into the repository's ledger.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Sequence

from lossforge.errors import ConfigError
from lossforge.io import append_lines, machine, read_lines
from lossforge.resources import checkout_root

ENV = "LOSSFORGE_LEDGER"
OFF = ("off", "")
REPO_ROOT = checkout_root()


def _default_path() -> Path:
    """The repository's ledger in a checkout; an installed wheel has no repository to write
    into, so its runs go to ``$XDG_DATA_HOME/lossforge/ledger.jsonl`` (~/.local/share/...)."""
    results = REPO_ROOT / "benchmarks" / "results"
    if results.is_dir():
        return results / "ledger.jsonl"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "lossforge" / "ledger.jsonl"


DEFAULT_PATH = _default_path()


def ledger_path(path: str | os.PathLike | None = None) -> Path | None:
    """The ledger file in use, or None when recording is off."""
    value = str(path) if path is not None else os.environ.get(ENV)
    if value is None:
        return DEFAULT_PATH
    if value.strip().lower() in OFF:
        return None
    return Path(value)


def add_option(ap, what: str) -> None:
    """The ``--ledger PATH|off`` option of a command whose runs are listed in the ledger
    (``what``: e.g. "to append this run to"); the value goes to ``record(path=...)``."""
    ap.add_argument("--ledger", metavar="PATH", default=None,
                    help=f"selection ledger {what} (default ${ENV} or {RESULTS_DIR}/"
                         "ledger.jsonl in a checkout; 'off': none)")


#: where the project writes results (rows, run directories, this ledger): data, not code, so a
#: change there does not make a commit "+dirty" (each search's own ledger line would)
RESULTS_DIR = "benchmarks/results"


def code_commit(root: str | os.PathLike | None = None) -> str | None:
    """git HEAD of the lossforge checkout (``root``: another one), "<sha>+dirty" if a tracked
    file outside ``RESULTS_DIR`` changed, or None (no git, not a checkout)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root or REPO_ROOT), *args],
                              capture_output=True, text=True, timeout=10, check=True
                              ).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".",
                         f":(exclude){RESULTS_DIR}"))
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def record(kind: str, *, command: str | Sequence[str], scenario: str | Sequence[str] | None,
           seeds: Sequence[int] | None, budget: str | None, purpose: str = "",
           path: str | os.PathLike | None = None, **extra: Any) -> dict | None:
    """Append one entry; returns it (None when recording is off)."""
    target = ledger_path(path)
    if target is None:
        return None
    entry = {
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "kind": kind,
        "command": command if isinstance(command, str) else " ".join(command),
        "commit": code_commit(),
        "machine": machine(),
        "scenario": scenario if scenario is None or isinstance(scenario, str) else list(scenario),
        "seeds": None if seeds is None else [int(s) for s in seeds],
        "budget": budget,
        "purpose": purpose,
        **extra,
    }
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        append_lines(target, [json.dumps(entry, sort_keys=False)])
    except OSError as exc:
        raise ConfigError(f"ledger {target}: cannot append ({exc}); set --ledger PATH or "
                          f"{ENV}=off") from None
    return entry


def record_script(kind: str, script: str, argv: Sequence[str], **fields: Any) -> dict | None:
    """``record`` for a script of ``benchmarks/`` that trains or scores on benchmark data: its
    command is ``python <script> <argv>``, quoted as a shell would take it."""
    import shlex

    return record(kind, command=shlex.join(["python", script, *argv]), **fields)


def read(path: str | os.PathLike) -> list[dict]:
    """Every complete entry of a ledger file (a torn last line is skipped)."""
    return read_lines(path)[0]
