"""A wheel (``pip install .``, not editable) carries every file the code reads at run time.

Grammars, scenarios, suites and the policy zoo live outside the package in a checkout and are
mapped in as package data by pyproject.toml (lossforge/resources.py). Three checks against the
real wheel, built once with ``pip wheel --no-deps --no-build-isolation`` (about 2 s):

* every module of the checkout's ``lossforge/`` is in it (the package list is explicit);
* every file of every data folder the resolver knows is in it, at ``lossforge/_data/<kind>/``;
* unpacked in a scratch directory and imported from there, with another working directory, the
  documented names (``grammars/link.toml``, ``--scenario hopper-noisy-0.3``, the zoo, the
  suites) resolve to files inside the unpacked package, never back into this checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from lossforge.resources import KINDS, PACKAGE_DATA, data_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(out), str(REPO)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    [whl] = out.glob("*.whl")
    return whl


def _names(whl: Path) -> set[str]:
    with zipfile.ZipFile(whl) as z:
        return set(z.namelist())


def _files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.rglob("*")
                  if f.is_file() and "__pycache__" not in f.parts and not f.name.startswith("."))


def test_checkout_resolves_to_its_own_folders():
    # run directories record these paths: in a checkout they must stay the repository's
    for kind, prefix in KINDS.items():
        assert data_dir(kind) == REPO.joinpath(*prefix)
        assert _files(data_dir(kind)), kind


def test_wheel_has_every_module(wheel):
    names = _names(wheel)
    missing = [str(f.relative_to(REPO)) for f in _files(REPO / "lossforge")
               if f.suffix == ".py" and str(f.relative_to(REPO)) not in names]
    assert not missing, f"modules missing from the wheel (pyproject packages): {missing}"


def test_wheel_has_every_data_file(wheel):
    names = _names(wheel)
    missing = []
    for kind, prefix in KINDS.items():
        folder = REPO.joinpath(*prefix)
        for f in _files(folder):
            name = "/".join(("lossforge", PACKAGE_DATA, kind, *f.relative_to(folder).parts))
            if name not in names:
                missing.append(str(f.relative_to(REPO)))
    assert not missing, f"data files missing from the wheel (pyproject package-data): {missing}"


def test_unpacked_wheel_resolves_inside_itself(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    probe = textwrap.dedent("""
        import json, lossforge
        from lossforge.bench.suites import load_suites
        from lossforge.bench.zoo import default_root, load_zoo
        from lossforge.search.engine import SearchConfig, resolve_path, resolve_scenario
        print(json.dumps({
            "package": lossforge.__file__,
            "default_grammar": str(resolve_path(SearchConfig().grammar, "grammar")),
            "link": str(resolve_path("grammars/link.toml", "grammar")),
            "scenario_file": str(resolve_path("benchmarks/scenarios/quick.toml", "scenario")),
            "scenario_name": str(resolve_scenario("hopper-noisy-0.3")[0]),
            "default_scenario": str(resolve_scenario(SearchConfig().scenario)[0]),
            "zoo": str(default_root()),
            "zoo_levels": list(load_zoo("Hopper-v5").level_names),
            "suites": [s.name for s in load_suites()],
        }))
    """)
    env = {k: v for k, v in os.environ.items()
           if k not in ("LOSSFORGE_SCENARIOS", "LOSSFORGE_SUITES", "LOSSFORGE_ZOO")}
    env["PYTHONPATH"] = str(site)
    p = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got.pop("zoo_levels")[-1] == "expert"
    assert got.pop("suites") == ["train", "test"]
    root = site.resolve() / "lossforge"
    assert Path(got.pop("package")).parent == root
    for key, path in got.items():
        assert Path(path).is_relative_to(root / PACKAGE_DATA), (key, path)
        assert Path(path).exists(), (key, path)
    assert Path(got["link"]).read_bytes() == (REPO / "grammars" / "link.toml").read_bytes()
