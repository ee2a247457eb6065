"""Small file helpers for every layer: atomic writes, fsynced appends, locks, content hashes,
versions.

Layer 0 (with ``errors`` and ``workers``): it imports nothing of lossforge, so the grammar,
the bench, the search, export and distill all write files the same way."""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from lossforge.errors import ConfigError


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write ``path`` atomically: ``write(f)`` into a temp file in the same directory, fsync,
    then rename over ``path``. A crash leaves either the old file or the new one, never half.
    Raises ``IsADirectoryError`` (naming ``path``) before writing anything if ``path`` is a
    directory."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file normal permissions
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), mode="w")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def os_reason(exc: OSError) -> str:
    """The system's reason for an ``OSError`` as a phrase ("no such file or directory")."""
    return (exc.strerror or str(exc)).lower()


def file_in_the_way(path: str | os.PathLike) -> Path | None:
    """The nearest of ``path`` and the folders above it that exists, when it is not a directory
    (a file where ``path`` or a folder of it would be); None when it is one."""
    path = Path(path)
    above = next(p for p in (path, *path.parents) if p.exists() or p == p.parent)
    return None if above.is_dir() else above


def make_dirs(path: str | os.PathLike) -> str | None:
    """Make the directory ``path`` with its parents (an existing one is fine); None when it
    exists after, else why it cannot be one, as a phrase: it (or a folder above it) is a file
    ("not a directory", "F is not a directory"), or the system refused to create a folder
    ("cannot create it (reason)", "cannot create F (reason)")."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        return None
    except OSError as exc:
        blocked = file_in_the_way(path)
        if blocked is not None:
            return "not a directory" if blocked == path else f"{blocked} is not a directory"
        failed = Path(exc.filename) if exc.filename else path
        return f"cannot create {'it' if failed == path else failed} ({os_reason(exc)})"


def claim_new_dir(root: str | os.PathLike, name: str) -> Path:
    """A new directory ``root/name``, or ``name-1``, ``name-2``, ... when taken (``root`` made
    with its parents): claimed by an atomic ``mkdir``, so two processes that start at once (in
    the same second, where names carry the time) never get the same one, as a test for
    existence followed by a mkdir could. ``ConfigError`` naming ``root`` and why when it
    cannot be a directory (``make_dirs``)."""
    why = make_dirs(root)
    if why is not None:
        raise ConfigError(f"runs directory {root}: {why}")
    base = Path(root) / name
    k = 0
    while True:
        path = base.with_name(f"{base.name}-{k}") if k else base
        try:
            path.mkdir()
            return path
        except FileExistsError:
            k += 1


def append_lines(path: str | os.PathLike, lines: list[str]) -> None:
    """Append whole lines to a log, in one write, fsynced. A kill mid-write leaves a torn last
    line, which readers skip; it is ended here first, so new lines never glue onto it (and
    vanish with it)."""
    with open(path, "ab+") as fh:  # "a": every write lands at the end; "+": the tail is readable
        if fh.seek(0, os.SEEK_END) > 0:
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
        else:
            torn = False
        fh.write((("\n" if torn else "") + "".join(line + "\n" for line in lines)).encode())
        fh.flush()
        os.fsync(fh.fileno())


def read_lines(path: str | os.PathLike) -> tuple[list, int]:
    """The JSON values of an ``append_lines`` log, one per line, and how many lines were not
    one: a torn last line of a killed writer, or damage (bytes that are not UTF-8 included),
    which every reader skips rather than stopping on it."""
    values, bad = [], 0
    for line in Path(path).read_bytes().splitlines():
        try:
            values.append(json.loads(line))
        except ValueError:   # JSONDecodeError, UnicodeDecodeError
            bad += 1
    return values, bad


class LockHeld(OSError):
    """``hold_lock`` found the lock taken; ``pid``: the holder's as it wrote it (None: unknown)."""

    def __init__(self, path: Path, pid: int | None):
        super().__init__(errno.EWOULDBLOCK, "locked by another process", str(path))
        self.pid = pid

    @property
    def who(self) -> str:
        """The holder as a message names it: "process 1234", or "another process"."""
        return f"process {self.pid}" if self.pid is not None else "another process"


def hold_lock(path: str | os.PathLike) -> int | None:
    """Take an advisory exclusive lock (``flock``, non-blocking) on ``path`` (created if need
    be) and write this process's pid into it; returns the descriptor for ``release_lock``.
    ``LockHeld`` (with the holder's pid) when another process holds it. The kernel drops the
    lock when the holder exits in any way (kill -9 too), so a stale file is never a held lock.
    A holder removes the file before releasing it, so a lock taken on a file that was removed
    meanwhile is dropped and taken again on the file now at ``path``. Without ``fcntl`` (not
    POSIX): no lock, None."""
    try:
        import fcntl
    except ImportError:
        return None
    path = Path(path)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            _flock_exclusive(fcntl, fd)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise LockHeld(path, int(text) if text.isdigit() else None) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)          # removed by its last holder after we opened it: again


def _flock_exclusive(fcntl, fd: int, tries: int = 10) -> None:
    """``flock(fd, LOCK_EX | LOCK_NB)``, tried again for a tenth of a second before its
    ``BlockingIOError`` is let through: a reader's ``lock_holder`` holds a shared lock for an
    instant, which must not read as a running search."""
    for k in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if k == tries - 1:
                raise
            time.sleep(0.01)


def release_lock(path: str | os.PathLike, fd: int | None) -> None:
    """Remove the lock file ``hold_lock`` made (if it is still the one it locked), then release
    the lock."""
    if fd is None:
        return
    try:
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            os.unlink(path)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def lock_holder(path: str | os.PathLike) -> LockHeld | None:
    """``LockHeld`` (with the holder's pid) when a process holds the ``hold_lock`` lock on
    ``path``, else None (no file, a file its dead holder left, or no ``fcntl``). It looks by
    taking a shared lock for an instant, which ``hold_lock`` waits out."""
    try:
        import fcntl

        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (ImportError, OSError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None     # closing the descriptor drops the shared lock at once
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return LockHeld(Path(path), int(text) if text.isdigit() else None)
    finally:
        os.close(fd)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the input of every content hash."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


@functools.lru_cache(maxsize=1)
def machine() -> str:
    """Where a result was computed: CPU model, a digest of its instruction-set flags, and the
    versions of the libraries that decide the numerics. A run is bit-reproducible on one machine
    (same seed, same result), but a re-run of recorded rows on another session's machine gave
    other scores (``benchmarks/results/cross-machine-s17.md``): a last-bit difference anywhere
    (a kernel chosen by instruction set, a library's patch release) grows through training into
    a different policy. So every row and ledger entry says where it ran."""
    import platform

    model = flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            model = model or (value if key == "model name" else "")
            flags = flags or (" ".join(sorted(value.split())) if key == "flags" else "")
    except OSError:   # not Linux: the model as platform knows it, flags unknown
        pass
    model = model or platform.processor() or platform.machine()
    digest = hashlib.sha256(flags.encode()).hexdigest()[:8] if flags else "unknown"
    libs = ", ".join(f"{k} {v}" for k, v in versions().items())
    return f"{model} (cpu flags {digest}); {libs}"


def versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour a benchmark artefact depends on."""
    import platform

    out = {"python": platform.python_version()}
    for mod in ("numpy", "torch", "gymnasium", "mujoco", "stable_baselines3", "safetensors"):
        try:
            m = __import__(mod)
            out[mod] = str(getattr(m, "__version__", "?"))
        except Exception:  # noqa: BLE001 - optional at run time (SB3 is not needed to load a zoo)
            pass
    return out
