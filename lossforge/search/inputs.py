"""The files a run's results depend on, recorded when it starts and checked when it resumes.

A run's configuration names its grammars, its scenario (or suite and the suite's scenarios) and
any frozen suite baselines by path. If one of those files changes between a run's start and a
``--resume``, the resumed generations would score on other data or search another space, and
the run would mix two experiments without a word. So ``inputs.json`` in the run directory keeps
a digest of each file's parsed content (a comment or layout edit is not a change), and a resume
refuses a run whose inputs changed. Run directories from before this file resume unchecked.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

from lossforge import runfiles
from lossforge.errors import ConfigError

NAME = "inputs.json"


def input_files(config) -> dict[str, Path]:
    """role -> file for every file ``config`` (a GP or ES search configuration) reads."""
    from lossforge.search import suite_fitness
    from lossforge.search.context import resolve_path, resolve_scenario

    files = {}
    for role in ("grammar", "link_grammar", "imitation_grammar", "suite_baselines"):
        text = getattr(config, role, None)
        if text:
            files[role] = resolve_path(text, role.replace("_", " "))
    if getattr(config, "suite", None):
        files["suite"] = suite_fitness.suite_file(config.suite)
        for s in suite_fitness.load(config.suite)[1]:
            files[f"suite scenario {s.name}"] = Path(s.path)
    else:
        path, _ = resolve_scenario(config.scenario, config.fitness)
        if Path(path).is_file():     # not a fitness module's own scenario name
            files["scenario"] = Path(path)
    return files


def digest(path: Path) -> str:
    """sha256 of the file's parsed content (TOML or JSON) as JSON with sorted keys (infinities,
    as grammar intervals have, written as JSON's Infinity)."""
    text = path.read_text()
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)
        return hashlib.sha256(canonical.encode()).hexdigest()
    except (ValueError, TypeError):   # not parseable or not JSON-able: the bytes
        return hashlib.sha256(text.encode()).hexdigest()


def record(run_dir: Path, config) -> None:
    """Write ``inputs.json``: each input file's path and digest."""
    runfiles.write_checked(run_dir / NAME, {role: {"path": str(p), "sha256": digest(p)}
                                            for role, p in input_files(config).items()})


def changed_since(run_dir: Path) -> list[str]:
    """The input files of ``inputs.json``, at the paths it recorded, whose content differs now
    or that are gone ("role path"); empty when it is missing (nothing to check against). For a
    command that scores a finished run again (``confirm``) without its configuration's paths."""
    if not (run_dir / NAME).exists():
        return []
    then, _ = runfiles.read_checked(run_dir / NAME)
    return [f"{role} {entry['path']}" for role, entry in sorted(then.items())
            if not Path(entry["path"]).is_file() or digest(Path(entry["path"])) != entry["sha256"]]


def check(run_dir: Path, config) -> str | None:
    """``ConfigError`` naming every input file whose content differs from the run's start; a
    note when ``inputs.json`` is missing (nothing to check against: a run from before it, or
    the file was deleted, perhaps to get round this check), else None."""
    if not (run_dir / NAME).exists():
        return (f"{run_dir / NAME} is missing: the grammar and scenario files were not checked "
                "against the run's start (a changed file would change the rest of the run)")
    then, _ = runfiles.read_checked(run_dir / NAME)
    now = input_files(config)
    # a role in one and not the other is a changed configuration, which the checkpoint's own
    # checks name; here: the same role, other content
    changed = [f"{role} {now[role]}" for role in sorted(set(then) & set(now))
               if digest(now[role]) != then[role]["sha256"]]
    if changed:
        raise ConfigError(f"{run_dir}: cannot resume: {'; '.join(changed)} changed since the "
                          f"run started, so the rest of the run would score on other data or "
                          f"search another space; restore the file(s) or start a new run")
