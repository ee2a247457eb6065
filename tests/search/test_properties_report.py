"""Properties printed with each formula (show, the report) and stored in the result files;
run directories written before properties were recorded still read and show."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from rich.console import Console

from lossforge.search import SearchConfig, run_search
from lossforge.objectives.run import load_run
from lossforge.runfiles import read_checked, write_checked
from lossforge.search.summary import show

# the search keeps DPO's link -log sigma(D) (no --link-grammar): G' = -sigma(-D) in (-1, 0),
# -> -1 as D -> -inf, -> 0 with G -> 0 as D -> +inf; reference needed, n unused
DPO_LINE = ("properties: ranking-preserving proved · |dG/dD| <= 1 proved · D->-inf: "
            "G ~ -1*D (linear), G' -> -1: not redescending · D->+inf: G -> 0, G' -> 0 · "
            "reference: needed · length: unused")


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cfg = SearchConfig(scenario="quick", fitness="probe", generations=1, population=4,
                       workers=1, check_time_limit_s=10.0)
    out = io.StringIO()
    run_dir = run_search(cfg, runs_root=root, console=Console(file=out, width=100))
    return run_dir, out.getvalue()


def test_report_and_show_print_properties_under_each_formula(probe_run):
    run_dir, report = probe_run
    hof, _ = read_checked(run_dir / "hall_of_fame.json")
    rows = hof["hall_of_fame"]
    assert rows and all(r["properties"]["ranking"]["status"] == "proved" for r in rows)
    assert all(r["properties"]["gradient_bound"] == 1.0 for r in rows)
    n_front = len(json.loads((run_dir / "pareto.json").read_text())["pareto"])
    assert report.count(DPO_LINE) == n_front            # once per loss of the front
    out = io.StringIO()
    show(run_dir, console=Console(file=out, width=100))
    assert out.getvalue().count(DPO_LINE) == len(rows) + n_front   # hall of fame + front


def test_a_run_from_before_properties_still_shows(probe_run, tmp_path):
    run_dir, _ = probe_run
    old = tmp_path / run_dir.name
    shutil.copytree(run_dir, old)
    for name, key in (("hall_of_fame.json", "hall_of_fame"), ("pareto.json", "pareto")):
        doc, _ = read_checked(old / name)
        for row in doc[key]:
            del row["properties"]
        write_checked(old / name, doc)
    assert load_run(old).hall_of_fame                  # readers do not need the field
    out = io.StringIO()
    show(old, console=Console(file=out, width=100))
    text = out.getvalue()
    assert "Hall of fame" in text and "properties:" not in text
