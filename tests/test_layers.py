"""The import graph of lossforge is a DAG of layers (issue 20, "one direction of flow").

    base        errors, io, workers, runfiles, ledger: no lossforge import above these
    grammar     the op table, the variables p and l, grammar files and trees
    symbolic    parse, MirrorMap, log domain, checks (and compile, once it moves here)
    objectives  the MPO loss, the zoo, neural maps, a loss's properties, load_run
    bench       the MuJoCo benchmark; the Fitness type every fitness returns
    search      GP / ES search, run directories, the search CLI
    app         export, integrations, distill, llm, report, formula, the package facade

A module may import its own layer and the layers before it, never a later one. Every import
counts, also one inside a function (it is still a dependency, only a late one). A fitness named
by a string (``search/executors.py``: ``"llm": "lossforge.llm.fitness:evaluate"``, or a user's
``module:function``) is a plug-in the search loads by name, not an import, so the LLM test bed
sits in the app layer although the search can run it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lossforge"

LAYERS = ("base", "grammar", "symbolic", "objectives", "bench", "search", "app")

#: Every module of lossforge, by its module or package name, and its layer. A new module or
#: package must be added here (the test says so): its place in the flow is a decision.
LAYER_OF = {
    "lossforge.errors": "base",
    "lossforge.io": "base",
    "lossforge.workers": "base",
    "lossforge.cli": "base",
    "lossforge.runfiles": "base",      # a run directory's JSON: every layer may read one
    "lossforge.ledger": "base",        # an append-only list of looks at scenarios (io only)
    "lossforge.resources": "base",     # where the shipped data files are (stdlib only)
    "lossforge.grammar": "grammar",
    "lossforge.symbolic": "symbolic",
    "lossforge.objectives": "objectives",
    "lossforge.bench": "bench",
    "lossforge.search": "search",
    "lossforge.export": "app",
    "lossforge.integrations": "app",
    "lossforge.distill": "app",
    "lossforge.llm": "app",            # trains through integrations.trl; a plug-in fitness
    "lossforge.report": "app",         # HTML pages of run directories and baseline tables
    "lossforge.formula": "app",        # the formula CLI: mirror map, loss, properties
    "lossforge": "app",                # the package facade (lossforge/__init__.py) only
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str | None:
    """The layer of a module: its own entry, else its package's (longest prefix); the facade
    entry "lossforge" covers only lossforge/__init__.py."""
    best = None
    for key in LAYER_OF:
        if module == key or (key != "lossforge" and module.startswith(key + ".")):
            if best is None or len(key) > len(best):
                best = key
    return LAYER_OF[best] if best else None


def imports(module: str, path: Path, tree: ast.AST) -> list[tuple[str, int]]:
    """(imported lossforge module, line) for every import in ``tree``, wherever it is.
    ``from pkg import name`` imports the module pkg.name when there is one, else pkg."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                out.append((sub if sub in MODULES else source, node.lineno))
    out = list(dict.fromkeys(out))   # one entry per (module, line)
    return [(m, line) for m, line in out if m == "lossforge" or m.startswith("lossforge.")]


def upward_imports(sources=None) -> list[tuple[str, str, str]]:
    """(importer, imported, message) for every import from a layer to a later one, over
    ``sources``: (module, path, text) triples, by default every module of the package."""
    if sources is None:
        sources = [(m, p, p.read_text()) for m, p in MODULES.items()]
    bad = []
    for module, path, text in sources:
        here = layer(module)
        for target, line in imports(module, path, ast.parse(text, str(path))):
            there = layer(target)
            if there is not None and LAYERS.index(there) > LAYERS.index(here):
                bad.append((module, target,
                            f"{path.relative_to(ROOT)}:{line}: {module} (layer {here}) imports "
                            f"{target} (layer {there}), a higher layer"))
    return bad


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if layer(m) is None]
    assert not missing, f"add to LAYER_OF in tests/test_layers.py: {', '.join(missing)}"


def test_no_module_imports_a_higher_layer():
    bad = [msg for _, _, msg in upward_imports()]
    assert not bad, "imports against the flow of layers:\n" + "\n".join(bad)


def test_an_upward_import_inside_a_function_is_caught():
    """The check itself: a late import of the search in a grammar-layer module is reported
    with its file:line and both layers (checked on a source text, not written into the
    package)."""
    path = PACKAGE / "grammar" / "late_import.py"
    source = "import sympy\n\n\ndef f():\n    from lossforge.search.rundir import loss_text\n"
    found = upward_imports([("lossforge.grammar.late_import", path, source)])
    assert [msg for _, _, msg in found] == [
        "lossforge/grammar/late_import.py:5: lossforge.grammar.late_import (layer grammar) "
        "imports lossforge.search.rundir (layer search), a higher layer"]


def test_reading_a_run_directory_does_not_import_the_search(tmp_path):
    """A run directory is read with JSON only: in a fresh interpreter, ``runfiles.read_run``
    loads neither torch, SymPy nor DEAP, and ``objectives.from_run`` (which builds the losses,
    so needs torch) loads neither DEAP nor the search."""
    from lossforge.objectives import get_spec
    from lossforge.runfiles import write_checked

    dpo = get_spec("dpo").to_json()
    row = {"name": "lf-00000000", "spec": dpo}
    (tmp_path / "config.json").write_text(json.dumps({"config": {"fitness": "probe"}}))
    write_checked(tmp_path / "hall_of_fame.json", {"baselines": [], "hall_of_fame": [row]})
    write_checked(tmp_path / "pareto.json", {"baselines": [], "pareto": [row]})
    code = (
        "import sys\n"
        "def loaded(*names):\n"
        "    return sorted({m.split('.')[0] if not m.startswith('lossforge') else m\n"
        "                   for m in sys.modules if m.split('.')[0] in names\n"
        "                   or m.startswith(names)})\n"
        "from lossforge.runfiles import read_run\n"
        f"files = read_run({str(tmp_path)!r})\n"
        "print(files.hall_of_fame[0]['name'], loaded('torch', 'sympy', 'deap'))\n"
        "from lossforge.objectives import from_run\n"
        f"loss = from_run({str(tmp_path)!r}, rank=0)\n"
        "print(loss.spec.name, loaded('deap', 'lossforge.search'))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["lf-00000000 []", f"{dpo['name']} []"]
