"""Where lossforge's shipped data lives: grammars, benchmark scenarios, suites and the policy zoo.

In a source checkout they are the repository's own folders::

    grammars/                 kind "grammars"
    benchmarks/scenarios/     kind "scenarios"
    benchmarks/suites/        kind "suites"
    benchmarks/zoo/           kind "zoo"

A wheel (``pip install .``, not editable) carries the same files as package data under
``lossforge/_data/<kind>/``: pyproject.toml maps each folder in with ``package-dir`` (the files
stay where they are in the checkout) and ``tests/test_package_data.py`` checks that every file
resolved here is declared. ``data_dir`` gives the folder in use, the checkout's when there is
one (so paths written into run directories are unchanged), else the installed package's,
found with ``importlib.resources``. ``data_candidates`` maps a documented relative path such as
``grammars/link.toml`` or ``benchmarks/scenarios/quick.toml`` onto both, so the same command
line works from a checkout and from an installed wheel in any working directory.

``find_scenario`` is the one rule by which ``python -m lossforge.bench``, ``python -m
lossforge.search``, its test-set guard and suite files find a scenario:

    a name (no ``.toml``: ``hopper-noisy-0.2``)   ``<scenarios folder>/<name>.toml``, the folder
                                                  in use (``$LOSSFORGE_SCENARIOS``, else the
                                                  checkout's or the package data's)
    an absolute ``.toml`` path                    that file
    a relative ``.toml`` path                     the first that exists of: under ``base`` (a
                                                  suite file's own folder), under the working
                                                  directory, then ``data_candidates``

``find_file`` is the same rule for any other file (grammars, suites). A miss is one line naming
every place looked.

Only the standard library and lossforge.errors are imported: every layer may use this module.
"""

from __future__ import annotations

import os

import importlib.resources
from pathlib import Path, PurePath

from lossforge.errors import ConfigError

#: kind -> its folder in the source checkout, relative to the repository root
KINDS: dict[str, tuple[str, ...]] = {
    "grammars": ("grammars",),
    "scenarios": ("benchmarks", "scenarios"),
    "suites": ("benchmarks", "suites"),
    "zoo": ("benchmarks", "zoo"),
}
#: where a wheel keeps the kinds, inside the lossforge package
PACKAGE_DATA = "_data"


def checkout_root() -> Path:
    """The folder that holds the ``lossforge`` package: the repository root in a checkout,
    ``site-packages`` in an installed wheel."""
    return Path(__file__).resolve().parents[1]


def packaged_dir(kind: str) -> Path:
    """``lossforge/_data/<kind>`` of the imported package (exists in an installed wheel only)."""
    return Path(str(importlib.resources.files("lossforge").joinpath(PACKAGE_DATA, kind)))


def data_dir(kind: str, env: str | None = None) -> Path:
    """The folder of ``kind`` ("grammars", "scenarios", "suites", "zoo") in use: the folder
    the environment variable ``env`` names when it is set, else the checkout's if this code
    runs from one, else the installed package data."""
    if env and os.environ.get(env):
        return Path(os.environ[env])
    checkout = checkout_root().joinpath(*KINDS[kind])
    if checkout.is_dir():
        return checkout
    return packaged_dir(kind)


def data_candidates(text: str | PurePath) -> list[Path]:
    """Where a relative path named by a user or a default may live besides the working
    directory: under the checkout root, and, when it starts with a kind's checkout folder
    (``grammars/``, ``benchmarks/scenarios/``, ...), under that kind's folder in use."""
    p = PurePath(text)
    if p.is_absolute():
        return []
    out = [checkout_root() / p]
    for kind, prefix in KINDS.items():
        if p.parts[:len(prefix)] == prefix and len(p.parts) > len(prefix):
            out.append(data_dir(kind).joinpath(*p.parts[len(prefix):]))
    return out


def file_candidates(text: str | PurePath, base: str | os.PathLike | None = None) -> list[Path]:
    """Where ``text`` may name a file, in order, as absolute paths without repeats: itself if
    absolute; else under ``base`` (when given), under the working directory, then
    ``data_candidates``."""
    p = Path(text)
    if p.is_absolute():
        return [p]
    heads = ([Path(base).absolute()] if base is not None else []) + [Path.cwd()]
    out: list[Path] = []
    for cand in [h / p for h in heads] + data_candidates(p):
        if os.path.normpath(cand) not in map(os.path.normpath, out):
            out.append(cand)
    return out


def _first_file(candidates: list[Path]) -> Path | None:
    return next((c.resolve() for c in candidates if c.is_file()), None)


def _no_file(what: str, text: str | PurePath, candidates: list[Path]) -> ConfigError:
    return ConfigError(f"{what} file {str(text)!r} not found (looked for "
                       f"{', '.join(map(str, candidates))})")


def find_file(text: str | PurePath, what: str, base: str | os.PathLike | None = None) -> Path:
    """The file ``text`` names (``file_candidates``), resolved; else ConfigError, one line
    naming where it looked."""
    cands = file_candidates(text, base)
    found = _first_file(cands)
    if found is None:
        raise _no_file(what, text, cands)
    return found


def scenarios_dir(directory: str | os.PathLike | None = None) -> Path:
    """``directory``, else ``$LOSSFORGE_SCENARIOS``, else the scenarios folder in use."""
    return Path(directory) if directory is not None else data_dir("scenarios",
                                                                  env="LOSSFORGE_SCENARIOS")


def is_scenario_name(text: str | PurePath) -> bool:
    """A scenario name, not a file: no ``.toml`` (``hopper-noisy-0.3``'s ``.3`` is none)."""
    return PurePath(text).suffix != ".toml"


def scenario_candidates(text: str | PurePath, base: str | os.PathLike | None = None,
                        directory: str | os.PathLike | None = None,
                        env: str | None = None) -> list[Path]:
    """Where ``text`` may name a scenario, in order (the rule in this module's docstring): a
    name's file in ``scenarios_dir(directory)`` (with ``env``, e.g. Hopper-v5, then the file of
    the short name ``noisy-0.3`` prefixed, ``hopper-noisy-0.3``), else ``file_candidates``."""
    if not is_scenario_name(text):
        return file_candidates(text, base)
    names = [str(text)] + ([f"{env.split('-v')[0].lower()}-{text}"] if env else [])
    return [scenarios_dir(directory) / f"{n}.toml" for n in names]


def find_scenario(text: str | PurePath, base: str | os.PathLike | None = None,
                  directory: str | os.PathLike | None = None, env: str | None = None) -> Path:
    """The first of ``scenario_candidates`` that is a file, resolved; else ConfigError, one
    line naming where it looked."""
    cands = scenario_candidates(text, base, directory, env)
    found = _first_file(cands)
    if found is not None:
        return found
    folder = scenarios_dir(directory)
    if not is_scenario_name(text):
        stem = PurePath(text).stem     # "quick.toml" for "quick": say so
        hint = (f"; the scenario {stem!r} of {folder} is named without .toml"
                if len(PurePath(text).parts) == 1 and (folder / f"{stem}.toml").is_file()
                else "")
        raise ConfigError(f"{_no_file('scenario', text, cands)}{hint}")
    have = sorted(f.stem for f in folder.glob("*.toml")) if folder.is_dir() else []
    raise ConfigError(f"no scenario {str(text)!r}" + (f" for {env}" if env else "")
                      + f" (looked for the scenario file{'s' if env else ''} "
                      + f"{', '.join(map(str, cands))}; available: {', '.join(have) or 'none'})")
