"""A search run directory's result files, read with JSON only.

Layer 0 (with ``errors``, ``io`` and ``workers``): it imports nothing of lossforge above
``errors`` and ``io`` (no SymPy, no DEAP), so every layer can read a run directory, and the
search writes its checksummed results with the same functions it reads them with:

    read_json(path)        a JSON file; ``CheckpointError`` naming it when missing or malformed
    write_checked(path, d) ``d`` as JSON with ``"sha256"``, the hash of ``d`` (canonical JSON)
    read_checked(path)     (the document, whether it carried a checksum); a mismatch is refused
    run_identity(start)    the run a config.json describes, which every result file names
    read_result(dir, name) one result file, checked against its checksum and its run identity
    read_run(path)         config.json, hall_of_fame.json and pareto.json (of one generation) as
                           ``RunFiles``

``lossforge.objectives.run.load_run`` turns the specs of a ``RunFiles`` into callable
objectives; the layout of a run directory is described in ``lossforge/search/rundir.py``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from lossforge.errors import CheckpointError
from lossforge.io import atomic_write_json, canonical_json, lock_holder

CHECKSUM = "sha256"
RESULT_FILES = ("hall_of_fame.json", "pareto.json")   # written after each generation
#: what ``--resume`` may change in a run's configuration (none of it changes a result, but an
#: evaluation timeout that fires); everything else of config.json is the run's identity
RESUMABLE = ("generations", "executor", "workers", "eval_timeout")
RUN = "run"    # the field of a result file that holds its run's identity
LOCK = ".lock"  # held by the search running in a run directory (``search.rundir.locked``)


def run_dir(path: str | Path) -> Path:
    """``path`` as a Path; ``CheckpointError`` when it is not a directory (the one wording every
    command uses for a wrong run path)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a run directory")
    return path


def read_json(path: Path):
    """The JSON content of ``path``; ``CheckpointError`` naming it when missing or malformed."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise _missing(path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: malformed JSON: {exc}") from None


def _missing(path: Path) -> CheckpointError:
    """Why a file of a run directory is not there, and what to do: a result file of a run
    that a search is running now (it holds the lock: its next generation writes the file),
    or whose last generation was checkpointed (a resume writes it again), or that stopped
    before its first generation finished (a resume continues it)."""
    if path.name not in RESULT_FILES or not (path.parent / "config.json").exists():
        return CheckpointError(f"{path}: missing (is this a lossforge search run directory?)")
    resume = f"python -m lossforge.search --resume {path.parent}"
    running = lock_holder(path.parent / LOCK)
    if running is not None:
        return CheckpointError(f"{path.parent}: no results yet: {running.who} is running the "
                               "search, whose next generation writes them")
    if (path.parent / "checkpoint.json").exists():
        return CheckpointError(f"{path.parent}: {path.name} is missing, though a generation "
                               f"was checkpointed; {resume} writes it again from the "
                               "checkpoint")
    return CheckpointError(f"{path.parent}: no results yet (the run stopped before its first "
                           f"generation finished); continue it with {resume}")


def content_hash(doc: dict) -> str:
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def write_checked(path: Path, doc: dict) -> None:
    """``doc`` as JSON with ``"sha256"``: the hash of ``doc`` itself (canonical JSON)."""
    atomic_write_json(path, {**doc, CHECKSUM: content_hash(doc)})


def read_checked(path: Path) -> tuple[dict, bool]:
    """(the document without its checksum, whether it had one). ``CheckpointError`` naming the
    file when it is missing, malformed or its content does not match its checksum."""
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path}: not a lossforge result file (a JSON object)")
    stored = doc.pop(CHECKSUM, None)
    if stored is None:
        return doc, False
    try:
        actual = content_hash(doc)
    except ValueError as exc:  # nan/inf smuggled in
        raise CheckpointError(f"{path}: damaged ({exc})") from None
    if actual != stored:
        raise CheckpointError(f"{path}: checksum mismatch (edited or damaged after the run "
                              f"wrote it: stored {str(stored)[:12]}..., content "
                              f"{actual[:12]}...); nothing read from it")
    return doc, True


@dataclass(frozen=True)
class RunFiles:
    """The result files of a run directory, as JSON."""

    path: Path
    config: dict
    hall_of_fame: list[dict]
    pareto: list[dict]
    baselines: list[dict]
    unchecked: tuple[str, ...] = ()    # result files without a checksum (older run directories)
    #: hall_of_fame.json's other fields (generation, scenario, metric, ladder, method, ...),
    #: from the same read as the rows
    header: dict = field(default_factory=dict)


def read_run(path: str | Path) -> RunFiles:
    """config.json, hall_of_fame.json and pareto.json of a run directory (JSON only).

    A result file whose checksum does not match its content, or that names another run than
    config.json describes, is refused (``CheckpointError`` naming it); one without a checksum
    (written before results were checksummed) is read and listed in ``unchecked``."""
    path = run_dir(path)
    config = read_json(path / "config.json")
    hof, par, unchecked = read_results(path, config)
    return RunFiles(path, config, hof["hall_of_fame"], par["pareto"], hof["baselines"],
                    unchecked, header(hof))


def header(hof: dict) -> dict:
    """hall_of_fame.json's fields but its rows, baselines and identity."""
    return {k: v for k, v in hof.items() if k not in ("hall_of_fame", "baselines", RUN)}


def read_results(path: Path, start: dict | None = None,
                 wait: float = 5.0) -> tuple[dict, dict, tuple[str, ...]]:
    """(hall_of_fame.json, pareto.json, the names of those without a checksum) of a run
    directory, each checked by ``read_result`` (``start``: its config.json, if already read),
    both of one generation. A search writes the hall of fame, then the front, after each
    generation (each fsynced): found of two generations while a search holds the run's lock,
    they are read again, 50 ms apart, for up to ``wait`` seconds; then, or at once when no
    search holds it (stopped between the two writes), ``CheckpointError`` saying which, where
    a mixed read would show one generation's hall of fame beside another's front."""
    start = read_json(path / "config.json") if start is None else start
    deadline = time.monotonic() + wait
    while True:
        (hof, hof_ok), (par, par_ok) = (read_result(path, name, start) for name in RESULT_FILES)
        if hof.get("generation") == par.get("generation"):
            return hof, par, tuple(name for name, ok in zip(RESULT_FILES, (hof_ok, par_ok))
                                   if not ok)
        running = lock_holder(path / LOCK)
        if running is None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    mixed = (f"{path}: hall_of_fame.json is of generation {hof.get('generation')}, pareto.json "
             f"of generation {par.get('generation')}")
    if running is not None:
        raise CheckpointError(f"{mixed}: {running.who} is running the search and writing them "
                              "now; read them again in a moment")
    raise CheckpointError(f"{mixed}: the search stopped between writing them; "
                          f"{_rewrite_hint(path)}")


def run_identity(start: dict) -> str:
    """The run a config.json (``start``) describes: a hash of its method and configuration
    but what ``--resume`` may change (``RESUMABLE``), so a resume that extends a run keeps its
    identity; not of the absolute paths config.json also records (a checkout moved, or a
    config.json written again from the checkpoint in another checkout, is the same run). The
    search writes it into every result file (``RUN``). Two runs with one identity were started
    with the same configuration and so compute the same results, generation by generation:
    a file copied between them is not told apart (it may be of another generation)."""
    if not isinstance(start, dict):
        return "none"
    conf = start.get("config")
    conf = {k: v for k, v in conf.items() if k not in RESUMABLE} if isinstance(conf, dict) \
        else conf
    return content_hash({"method": start.get("method", "gp"), "config": conf})[:16]


def read_result(path: Path, name: str, start: dict | None = None) -> tuple[dict, bool]:
    """``read_checked`` of the result file ``name`` of the run directory ``path``, which must
    also be this run's: one copied in from another run directory carries a valid checksum of
    its own, but names another run than the directory's config.json (``start``, read here
    when not given). A file written before results named their run is not checked for it."""
    try:
        doc, checked = read_checked(path / name)
    except CheckpointError as exc:   # damaged or edited: the way on, where there is one
        if not (path / name).exists():
            raise
        raise CheckpointError(f"{exc}; {_rewrite_hint(path)}") from None
    start = read_json(path / "config.json") if start is None else start
    theirs, ours = doc.get(RUN), run_identity(start)
    if theirs is not None and theirs != ours:
        raise CheckpointError(f"{path / name}: from another run (it names run {theirs}; this "
                              f"directory's config.json describes run {ours}): copied in from "
                              f"another run directory, or config.json was; "
                              f"{_rewrite_hint(path)}")
    return doc, checked


def _rewrite_hint(path: Path) -> str:
    """How to get a run directory's own result files back: a resume writes them again from the
    checkpoint, over what is there (which a user may want to keep aside)."""
    if not (path / "checkpoint.json").exists():
        return "this directory has no checkpoint to write the run's own again from"
    return (f"python -m lossforge.search --resume {path} writes the run's own again from its "
            "checkpoint (copy this one aside first to keep it)")


def unchecked_note(run) -> str | None:
    """One line for the CLIs when a run directory's results carry no checksum (``run``: a
    ``RunFiles`` or a ``lossforge.objectives.run.Run``)."""
    if not run.unchecked:
        return None
    files = run.unchecked
    return (f"note: {' and '.join(files)} in {run.path} {'has' if len(files) == 1 else 'have'} "
            "no checksum, so nothing shows whether they were edited: written before lossforge "
            "checksummed results, or the sha256 field removed; read unchecked")
