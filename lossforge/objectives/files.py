"""A loss saved as JSON, read back: ``from_file(path)``.

Three kinds of file hold a loss: what ``python -m lossforge.export --format json`` writes
(``{"formula", "latex", "spec"}``, symbolic or an ES network), what ``python -m
lossforge.distill`` writes (its distilled formula under ``distilled.spec``), and a bare spec.
Only the spec is read, as JSON (nothing is executed), each field type-checked; an export's
"formula" and "latex" texts are compared with what its spec gives, so a file edited by hand or
cut short (a field missing is read at its default) is not taken silently. ``python -m
lossforge.export FILE.json`` reads files with the same function.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from lossforge.errors import ConfigError, LossforgeError
from lossforge.objectives.mpo import SPEC_JSON_TYPES, MPOSpec, Objective, spec_json_problems
from lossforge.objectives.neural import (NEURAL_JSON_TYPES, NeuralObjective, NeuralSpec,
                                         is_neural, saved_spec_place)


def from_file(path, *, check: bool = True) -> Objective:
    """The loss a JSON file holds (see the module docstring), as a callable objective. A
    ``UserWarning`` when an export's "formula"/"latex" texts do not match its spec.
    ``ConfigError`` naming the file for one that is not such a file, with one line per field
    of the wrong JSON type."""
    spec, notes = spec_from_file(Path(path))
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return (NeuralObjective(spec, check=check) if isinstance(spec, NeuralSpec)
            else Objective(spec, check=check))


def spec_from_file(path: Path) -> tuple[MPOSpec | NeuralSpec, list[str]]:
    """(the spec of the JSON file ``path``, warnings about it) for ``from_file``."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        hint = (": a .py file from --format torch is for training without lossforge; a JSON "
                "file (--format json) is read back" if path.suffix == ".py" else "")
        raise ConfigError(f"{path}: not a readable JSON file: {exc}{hint}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    if not data:
        raise ConfigError(f"{path}: expected a JSON object holding a loss (an export, a "
                          "distill output or a spec), got {}")
    # a distill output's spec is its distilled formula's (its description names the network
    # it came from and the fit's error)
    where = saved_spec_place(data) or ""
    if where == "distilled.spec":
        spec = data["distilled"].get("spec")
    else:
        spec = data["spec"] if where == "spec" else data
    problems = spec_json_problems(spec, NEURAL_JSON_TYPES if is_neural(spec)
                                  else SPEC_JSON_TYPES, where)
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
    try:
        spec = NeuralSpec.from_json(spec) if is_neural(spec) else MPOSpec.from_json(spec)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    notes = _texts_differ(path, data, spec) if where == "spec" else []
    return spec, notes


def _texts_differ(path: Path, data: dict, spec) -> list[str]:
    """One line if an export's "formula"/"latex" texts are not what its spec gives."""
    keys = [k for k in ("formula", "latex") if k in data]
    if not keys:
        return []
    try:
        given = (NeuralObjective(spec, check=False) if isinstance(spec, NeuralSpec)
                 else Objective(spec, check=False)).to_json()
    except LossforgeError:  # a spec that does not build: building it says why
        return []
    differ = [k for k in keys if data[k] != given.get(k)]
    if not differ:
        return []
    fields = " and ".join(f'"{k}"' for k in differ)
    verb = "text does" if len(differ) == 1 else "texts do"
    return [f'{path}: its {fields} {verb} not match its "spec" (edited by hand, or written by '
            'another lossforge version? a field missing from the spec is read at its default); '
            'only "spec" is read']
