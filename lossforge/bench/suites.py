"""Scenario suites: the train suite a search may select on, the test suite it must not.

One TOML file each under ``benchmarks/suites/`` (``$LOSSFORGE_SUITES`` moves the directory)::

    name = "train"                  # must equal the file stem
    role = "train"                  # "train" or "test"
    description = "..."
    [[scenarios]]
    name = "hopper-padded-clean"    # a scenario under benchmarks/scenarios (or a TOML path)
    weight = 1.0                    # > 0: its share in a suite-level score

A TOML path is looked for first relative to the suite file's own folder, then as every command
finds a scenario (``resources.find_scenario``): a suite of one's own works from any directory.

Every key is checked; a scenario must load and be length-controlled (``length_control`` other
than "none"), and may appear once. ``load_suites()`` loads train and test and refuses any
scenario in both. ``python -m lossforge.search`` refuses a test-suite scenario unless given
``--allow-test`` (``refuse_test_scenario``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lossforge.bench.scenarios import load_scenario
from lossforge.errors import ConfigError, LeaksTestSet
from lossforge.resources import data_dir, find_scenario, is_scenario_name

ROLES = ("train", "test")
_TOP = ("name", "role", "description", "scenarios")
_ENTRY = ("name", "weight")


def default_dir() -> Path:
    """``$LOSSFORGE_SUITES`` or the repository's ``benchmarks/suites`` (an installed wheel's
    copy: lossforge/resources.py)."""
    return data_dir("suites", env="LOSSFORGE_SUITES")


@dataclass(frozen=True)
class SuiteEntry:
    scenario: str     # scenario name (as resolved by load_scenario)
    weight: float
    path: str         # the scenario's file (a shipped one, or the user's TOML path)


@dataclass(frozen=True)
class Suite:
    name: str
    role: str
    entries: tuple[SuiteEntry, ...]
    description: str = ""
    source: str = ""

    @property
    def scenarios(self) -> tuple[str, ...]:
        return tuple(e.scenario for e in self.entries)

    def weights(self) -> dict[str, float]:
        """Scenario -> weight, normalised to sum 1."""
        total = sum(e.weight for e in self.entries)
        return {e.scenario: e.weight / total for e in self.entries}


def _fail(where: str, fieldname: str, msg: str) -> ConfigError:
    return ConfigError(f"{where}: field '{fieldname}': {msg}")


def _keys(where: str, table: Any, allowed: tuple[str, ...], prefix: str = "") -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: {prefix or 'top level'}: expected a table")
    for k in table:
        if k not in allowed:
            raise _fail(where, prefix + k, f"unknown key (allowed: {', '.join(allowed)})")
    for k in allowed:
        if k not in table and k != "description":
            raise _fail(where, prefix + k, "missing")


def suite_from_dict(data: Any, where: str = "<suite>",
                    scenarios_dir: str | os.PathLike | None = None,
                    base: str | os.PathLike | None = None) -> Suite:
    """A suite from its parsed TOML; relative scenario paths are found under ``base`` (the
    suite file's folder) first."""
    _keys(where, data, _TOP)
    name, role = data["name"], data["role"]
    if not isinstance(name, str) or not name:
        raise _fail(where, "name", f"expected a non-empty string, got {name!r}")
    if role not in ROLES:
        raise _fail(where, "role", f"{role!r} is not one of {', '.join(ROLES)}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(where, "description", "expected a string")
    raw = data["scenarios"]
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "scenarios", "expected a non-empty array of tables [[scenarios]]")
    entries, seen = [], set()
    for i, item in enumerate(raw):
        f = f"scenarios[{i}]"
        _keys(where, item, _ENTRY, prefix=f + ".")
        weight = item["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise _fail(where, f + ".weight", f"expected a number > 0, got {weight!r}")
        if not isinstance(item["name"], str) or not item["name"]:
            raise _fail(where, f + ".name", f"expected a scenario name, got {item['name']!r}")
        try:
            file = find_scenario(item["name"], base=base, directory=scenarios_dir)
            sc = load_scenario(file)
        except ConfigError as exc:
            raise _fail(where, f + ".name", str(exc)) from None
        if not sc.length_controlled:
            raise _fail(where, f + ".name", f"scenario {sc.name!r} is not length-controlled "
                                            f"(length_control = \"none\"): a loss can read "
                                            f"quality off segment length there")
        if sc.name in seen:
            raise _fail(where, f + ".name", f"scenario {sc.name!r} listed twice")
        seen.add(sc.name)
        entries.append(SuiteEntry(sc.name, float(weight), str(file)))
    return Suite(name=name, role=role, entries=tuple(entries), description=description,
                 source=where)


def load_suite(path_or_name: str | os.PathLike, directory: str | os.PathLike | None = None,
               scenarios_dir: str | os.PathLike | None = None) -> Suite:
    """A suite by file path, or by name from ``directory`` (default ``benchmarks/suites``)."""
    p = Path(path_or_name)
    if p.suffix != ".toml":
        p = (Path(directory) if directory is not None else default_dir()) / f"{p}.toml"
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: suite file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    suite = suite_from_dict(data, where=str(p), scenarios_dir=scenarios_dir, base=p.parent)
    if suite.name != p.stem:
        raise _fail(str(p), "name", f"{suite.name!r} differs from the file name {p.stem!r}")
    return suite


def check_disjoint(train: Suite, test: Suite) -> None:
    """Refuse a scenario that is in both suites (selection on it would leak the test set)."""
    if train.role != "train" or test.role != "test":
        raise ConfigError(f"{train.source} / {test.source}: expected roles train and test, got "
                          f"{train.role} and {test.role}")
    shared = sorted(set(train.scenarios) & set(test.scenarios))
    if shared:
        raise ConfigError(f"{test.source}: scenario(s) {', '.join(shared)} also in the train "
                          f"suite {train.source}")


def load_suites(directory: str | os.PathLike | None = None,
                scenarios_dir: str | os.PathLike | None = None) -> tuple[Suite, Suite]:
    """(train, test), checked disjoint."""
    train = load_suite("train", directory, scenarios_dir)
    test = load_suite("test", directory, scenarios_dir)
    check_disjoint(train, test)
    return train, test


def _held_out(directory: str | os.PathLike | None = None) -> tuple[Path, dict[str, str]]:
    """(the test suite's file, its scenarios' names -> each entry as written); no names without
    that file. Read without loading the scenarios, so a user's own scenario folder
    ($LOSSFORGE_SCENARIOS) need not hold the shipped ones."""
    path = (Path(directory) if directory is not None else default_dir()) / "test.toml"
    if not path.exists():
        return path, {}
    try:
        entries = tomllib.loads(path.read_text())["scenarios"]
        # a TOML path's scenario is its file stem; a name is as written ("noisy-0.15"
        # has no suffix to cut)
        return path, {e["name"] if is_scenario_name(e["name"]) else Path(e["name"]).stem:
                      e["name"] for e in entries}
    except (tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError):
        return path, {e.scenario: e.path for e in load_suite(path).entries}  # says how


def held_out_names(directory: str | os.PathLike | None = None) -> tuple[Path, set[str]]:
    """(the test suite's file, the names of its scenarios); no names without that file."""
    path, held = _held_out(directory)
    return path, set(held)


def segments_of(scenario) -> tuple:
    """What decides a scenario's segments (``datasets._spec_for``), up to their length and
    number: two scenarios that agree here roll out the same segments and differ in their labels
    (teacher, flips), or in the horizon or pair count alone: another horizon cuts the same
    roll-outs (a horizon-12 dataset is the first 12 steps of the horizon-16 one), another pair
    count starts from the same states and keeps every pair whose pair-mix entry stays the same
    (tests/search/test_test_suite_guard.py). No shipped scenario that was not refused before
    matches a test scenario here."""
    return (scenario.env_id,
            tuple((m.level_a, m.level_b, float(m.weight)) for m in scenario.pair_mix),
            scenario.start_policy, tuple(scenario.start_steps), scenario.dataset_seed,
            bool(scenario.step_rewards))


def held_out_segments(names: set[str] | dict[str, str], suite: Path | None = None
                      ) -> dict[tuple, str]:
    """``segments_of`` each of the test suite's scenarios that loads -> its name. ``names``: the
    names (``held_out_names``), or name -> entry as written (``_held_out``), found as a suite
    file's entries are (from the folder of ``suite``, the test suite's file, first), in the
    user's scenario folder, else in the shipped one: a user's folder ($LOSSFORGE_SCENARIOS)
    without the test scenarios let a renamed copy of one through."""
    out = {}
    base = None if suite is None else suite.parent
    for name in sorted(names):
        entry = names[name] if isinstance(names, dict) else name
        for folder in (None, data_dir("scenarios")):   # the user's folder, then the shipped
            try:
                found = find_scenario(entry, base=base, directory=folder)
                out.setdefault(segments_of(load_scenario(found)), name)
                break
            except ConfigError:
                continue
    return out


def _as_found(scenario: str):
    """The scenario a search would load for ``scenario`` (a name or a TOML path, found by the
    rule the search uses: ``resources.find_scenario``), or None when it is no scenario file."""
    try:
        return load_scenario(find_scenario(scenario))
    except ConfigError:
        return None


def _refusal(name: str, segments: tuple, names: set[str], held: dict[tuple, str],
             path: Path) -> str | None:
    """Why selecting on scenario ``name`` with ``segments`` leaks the test set, or None."""
    if name in names:
        return f"scenario {name!r} is in the test suite ({path})"
    if segments in held:
        return (f"scenario {name!r} rolls out the same segments as the test suite's "
                f"{held[segments]!r} ({path}; same environment, dataset seed, pair mix and "
                "start: only its labels, horizon or pair count differ, and another horizon or "
                "pair count cuts the same roll-outs)")
    return None


def refuse_test_scenario(scenario: str, allow: bool = False,
                         directory: str | os.PathLike | None = None) -> None:
    """Raise LeaksTestSet (a ConfigError) if ``scenario`` (a name or TOML path, found as the
    search finds it) is in the test suite, or rolls out the same segments as a scenario of it
    (a renamed copy, or another teacher on a test scenario's draw), and ``allow`` is not set.
    Without a test suite file nothing is refused."""
    if allow:
        return
    sc = _as_found(scenario)
    if sc is None:
        return  # not a scenario at all: the caller reports that in its own words
    path, names = _held_out(directory)
    why = _refusal(sc.name, segments_of(sc), names, held_out_segments(names, path), path)
    if why:
        raise LeaksTestSet(f"{why}: selecting on it leaks the test set; pass --allow-test to "
                          "search on it anyway")


def refuse_test_suite(suite: Suite, allow: bool = False,
                      directory: str | os.PathLike | None = None) -> None:
    """Raise LeaksTestSet (a ConfigError) if ``suite`` is the test suite, or lists a scenario
    of it, and ``allow`` is not set: a suite of one's own is no way round the test set."""
    if allow:
        return
    if suite.role == "test":
        raise LeaksTestSet(f"suite {suite.source} is a test suite: selecting on it leaks the "
                          "test set; pass --allow-test to search on it anyway")
    path, names = _held_out(directory)
    held = held_out_segments(names, path)
    leaked = [why for e in suite.entries
              if (why := _refusal(e.scenario, segments_of(load_scenario(e.path)), names, held,
                                  path))]
    if leaked:
        raise LeaksTestSet(f"suite {suite.source}: {'; '.join(leaked)}: selecting on them leaks "
                          "the test set; pass --allow-test to search on them anyway")
