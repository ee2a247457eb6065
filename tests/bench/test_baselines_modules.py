"""``benchmarks/baselines.py`` is split into modules (cells, tuning, confirmation; baselines.py
the command line): each must be loaded once however the command starts. Run as a script,
baselines.py is ``__main__``; were any module it imports to ``import baselines``, Python would
load the file a second time as ``baselines``, with a second copy of every class and global
(an isinstance check across the copies fails, a monkeypatch hits one copy only)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULES = ("cells", "tuning", "confirmation")


def test_run_as_a_script_nothing_loads_baselines_a_second_time(tmp_path):
    rows = tmp_path / "t.jsonl"
    rows.write_text(json.dumps({"scenario": "s", "seed": 0, "budget": "full", "loss": "dpo",
                                "status": "ok", "score": 1.0, "final": 0.5, "auc": 1.0}) + "\n")
    # the script as `python benchmarks/baselines.py table FILE` runs it, then the module objects
    # loaded from benchmarks/ (multiprocessing may alias __main__ as __mp_main__: same object)
    here = str(REPO / "benchmarks")
    probe = ("import json, os, runpy, sys\n"
             f"sys.argv = ['baselines.py', 'table', {str(rows)!r}]\n"
             f"sys.path.insert(0, {here!r})\n"
             f"runpy.run_path({here + '/baselines.py'!r}, run_name='__main__')\n"
             f"mine = {{id(m): m for m in list(sys.modules.values())\n"
             f"        if os.path.dirname(getattr(m, '__file__', None) or '') == {here!r}}}\n"
             "print(json.dumps([sorted(os.path.basename(m.__file__) for m in mine.values()),\n"
             "                  'baselines' in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout
    files, imported_as_baselines = json.loads(out.splitlines()[-1])
    assert files == ["baselines.py", *sorted(f"{m}.py" for m in MODULES)], files
    assert not imported_as_baselines   # baselines.py ran once, as __main__ only


def test_imported_the_modules_share_one_copy_of_each_name():
    sys.path.insert(0, str(REPO / "benchmarks"))
    baselines, cells, tuning, confirmation = (importlib.import_module(n)
                                              for n in ("baselines", *MODULES))
    assert baselines.Config is cells.Config and confirmation.Config is cells.Config
    assert tuning.run_cells is cells.run_cells and confirmation.run_cells is cells.run_cells
    assert confirmation.read_tuned is tuning.read_tuned
    assert baselines.confirm is confirmation.confirm and baselines.tuned is tuning.tuned


def test_reading_results_does_not_import_torch(tmp_path):
    """``baselines.py tuned`` of a baselines' sweep reads rows and trains nothing: it must not
    pay torch's import (1-2 s a call; a restarted v2_mujoco.sh replays some 50 such calls). A
    candidates' sweep does import it, to build the candidates' losses. The picks it writes are
    those committed for the same rows."""
    sweep = REPO / "benchmarks" / "results" / "sweep-v2-test-hopper-padded-noisy-0.15.jsonl"
    rows = tmp_path / sweep.name
    rows.write_bytes(sweep.read_bytes())
    here = str(REPO / "benchmarks")
    probe = ("import json, runpy, sys\n"
             f"sys.argv = ['baselines.py', 'tuned', {str(rows)!r}]\n"
             f"sys.path.insert(0, {here!r})\n"
             f"runpy.run_path({here + '/baselines.py'!r}, run_name='__main__')\n"
             "print(json.dumps('torch' in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=REPO, env={**os.environ, "LOSSFORGE_LEDGER": "off"})
    assert json.loads(out.stdout.splitlines()[-1]) is False
    mine = json.loads(rows.with_suffix(".tuned.json").read_text())
    committed = json.loads(sweep.with_suffix(".tuned.json").read_text())
    assert mine["scenarios"] == committed["scenarios"] and mine["scenarios"]
