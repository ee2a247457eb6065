"""benchmarks/record_search.py writes a search's record under the run directory's whole name:
one whose name holds a dot (a plug-in fitness's module, ``...-mymod.fit-s0``) lost the name's
tail (``with_suffix``), so two such runs could write one file. The record's header is of the
read its rows come from."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_run_name_with_a_dot_keeps_its_whole_name(tmp_path):
    from lossforge.search import SearchConfig, run_search

    made = run_search(SearchConfig(scenario="quick", fitness="probe", generations=1,
                                   population=4, workers=1), runs_root=tmp_path / "runs",
                      quiet=True)
    run = shutil.copytree(made, tmp_path / "20260101-000000-quick-mymod.fit-s0")
    out = tmp_path / "records"                    # made by the script
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "record_search.py"),
                        str(run), "--command", "python -m lossforge.search ...",
                        "--out-dir", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "search-20260101-000000-quick-mymod.fit-s0.json",
        "search-20260101-000000-quick-mymod.fit-s0.md"]
    record = json.loads((out / "search-20260101-000000-quick-mymod.fit-s0.json").read_text())
    hof = json.loads((run / "hall_of_fame.json").read_text())
    assert (record["generation"], record["metric"], record["ladder"]) == (
        hof["generation"], hof["metric"], hof["ladder"])
    assert [r["name"] for r in record["hall_of_fame"]] == [r["name"] for r in hof["hall_of_fame"]]
