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

Only the standard library is imported: every layer may use this module.
"""

from __future__ import annotations

import os

import importlib.resources
from pathlib import Path, PurePath

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
