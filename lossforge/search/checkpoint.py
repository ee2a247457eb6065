"""Checkpoints: the search state as one JSON file with a checksum, written atomically.

    {"format": "lossforge-search-checkpoint", "version": 1, "generation": k,
     "sha256": <hash of the canonical JSON of state>, "state": {...}}

A crash during a write leaves the previous checkpoint (write temp, fsync, rename). A file that
was damaged afterwards (truncated, edited, bit flips) fails to parse or fails its checksum and
is reported by name; it is never half-loaded. JSON only: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from lossforge import runfiles
from lossforge.errors import CheckpointError
from lossforge.io import atomic_write_text, canonical_json

FORMAT = "lossforge-search-checkpoint"
VERSION = 1
NAME = "checkpoint.json"


def state_hash(state: dict) -> str:
    return hashlib.sha256(canonical_json(state).encode()).hexdigest()


def save(run_dir: str | Path, state: dict) -> Path:
    path = Path(run_dir) / NAME
    doc = {"format": FORMAT, "version": VERSION, "generation": state["generation"],
           "sha256": state_hash(state), "state": state}
    atomic_write_text(path, json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n")
    return path


def load(run_dir: str | Path) -> dict:
    """The state of a run directory's checkpoint; ``CheckpointError`` naming the file if it is
    missing, malformed, from another format or version, or fails its checksum."""
    path = runfiles.run_dir(run_dir) / NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no checkpoint (the run stopped before its first "
                              "generation finished; start it again)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _corrupted(path, f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a lossforge search checkpoint")
    if doc.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {doc.get('version')!r}, this "
                              f"lossforge reads version {VERSION}")
    state = doc.get("state")
    if not isinstance(state, dict) or not isinstance(doc.get("sha256"), str):
        raise _corrupted(path, "state or checksum missing")
    try:
        actual = state_hash(state)
    except ValueError as exc:  # nan/inf smuggled in
        raise _corrupted(path, str(exc)) from None
    if actual != doc["sha256"]:
        raise _corrupted(path, f"checksum mismatch: stored {doc['sha256'][:12]}..., content "
                               f"{actual[:12]}...")
    if state.get("generation") != doc.get("generation"):
        raise _corrupted(path, "generation field disagrees")
    return state


def saved_config(run_dir: str | Path, config: dict) -> tuple[dict, dict | None]:
    """What a report of a finished run reads of its checkpoint: (``config``, the run's starting
    configuration, updated with the checkpoint's, and the suite run's frozen baseline table,
    the best baseline of each scenario); (``config``, None) when the checkpoint cannot be read
    (the reports then say they have no table)."""
    try:
        saved = load(run_dir)
    except CheckpointError:
        return dict(config), None
    return {**config, **(saved.get("config") or {})}, saved.get("suite")


def _corrupted(path: Path, why: str) -> CheckpointError:
    """The error for a checkpoint that cannot be trusted, with the way out: without it the run
    replays from generation 1 (``run._resume``), reading every loss it already trained from its
    evaluation journal, so nothing computed is lost."""
    return CheckpointError(f"{path}: corrupted checkpoint ({why}); to recover, move it aside "
                           "and --resume: the run replays from generation 1, reading the losses "
                           "it already trained from evaluations.jsonl")
