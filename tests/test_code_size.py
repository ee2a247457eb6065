"""Size limits of the package's code (project issue 20): a newcomer reads one job at a time.

* No function or method over ``MAX_FUNCTION_LINES`` lines (``def`` line to last line, the
  docstring included): split it into named steps.
* No module over ``MAX_MODULE_LINES`` lines unless its docstring states why, in a paragraph that
  starts with ``Size:`` (e.g. "Size: one table of 40 closed forms; splitting it would scatter
  them"). The reason is for the reader; this test only checks that one was given.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lossforge"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500
SIZE_MARKER = "Size:"


def _modules() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50, PACKAGE   # the walk found the package
    return files


def _long_functions(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES:
                out.append(f"{path.relative_to(root)}:{node.lineno} {node.name} "
                           f"({n} lines)")
    return out


def _states_size_reason(path: Path) -> bool:
    doc = ast.get_docstring(ast.parse(path.read_text(), str(path))) or ""
    return any(line.strip().startswith(SIZE_MARKER) for line in doc.splitlines())


def test_no_function_over_the_limit():
    long = [f for path in _modules() for f in _long_functions(path)]
    assert not long, (f"functions over {MAX_FUNCTION_LINES} lines (split them into named "
                      f"steps): {long}")


def test_no_long_module_without_a_stated_reason():
    long = [f"{p.relative_to(PACKAGE.parent)} ({n} lines)" for p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
            and not _states_size_reason(p)]
    assert not long, (f"modules over {MAX_MODULE_LINES} lines whose docstring gives no "
                      f"'{SIZE_MARKER}' reason: {long}")


def test_the_checks_see_what_they_claim(tmp_path):
    # the rules on hand-made modules: a function of 81 lines is over, one of 80 is not (methods
    # too); the marker counts only at the start of a docstring line
    body = "\n".join(f"    x{i} = {i}" for i in range(78))
    (tmp_path / "long.py").write_text(f"def f():\n{body}\n    y = 1\n    return y\n")
    (tmp_path / "ok.py").write_text(f"def f():\n{body}\n    return 0\n")
    (tmp_path / "meth.py").write_text("class C:\n" + "\n".join(
        "    " + line for line in f"def m(self):\n{body}\n    y = 1\n    return y".splitlines()))
    assert _long_functions(tmp_path / "long.py", tmp_path) == ["long.py:1 f (81 lines)"]
    assert _long_functions(tmp_path / "ok.py", tmp_path) == []
    assert _long_functions(tmp_path / "meth.py", tmp_path) == ["meth.py:2 m (81 lines)"]
    (tmp_path / "why.py").write_text('"""A module.\n\nSize: one table.\n"""\n')
    (tmp_path / "no.py").write_text('"""A module whose Size: is mid-line."""\n')
    assert _states_size_reason(tmp_path / "why.py")
    assert not _states_size_reason(tmp_path / "no.py")
