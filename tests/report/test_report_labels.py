"""The report's labels: a confirmation page on the test suite's rows carries the departure label
its Markdown carries, and says which comparator 'vs best' is and where the headline's bar
(best tuned or reference) takes the reference instead; ``--help`` names every results file
``--table`` reads; a confirmation report given as ``--table`` is one line saying what to pass;
a check of h that was proved false reads "does not hold (proved)"."""

from __future__ import annotations

import json
import math
import re
import sys
from html import unescape as html_text
from pathlib import Path

import pytest

from lossforge.report import table_report
from lossforge.report.__main__ import build_parser, main

REPO = Path(__file__).resolve().parents[1].parent
TEST_SCENARIO = "halfcheetah-clean"             # in benchmarks/suites/test.toml
#: Student t 0.975 quantile, 2 degrees of freedom
T2 = 4.302652729911275


def _benchmark(name: str):
    """benchmarks/<name>.py as baselines.py imports it (the page's reader puts it on the path)."""
    from lossforge.report.table import _baselines_module

    _baselines_module()
    __import__(name)
    return sys.modules[name]


def _row(scenario, loss, role, draw, seed, auc, **extra):
    return {"scenario": scenario, "draw": draw, "seed": seed, "budget": "full", "loss": loss,
            "role": role, "status": "ok", "score": auc, "auc": auc, "final": auc + 1,
            "auc_over": "untrained" if role == "fixed" else "checkpoints",
            "curve": [] if role == "fixed" else [[200, auc - 1], [400, auc + 1]],
            "seconds": 1.0, "command": "python benchmarks/baselines.py confirm x", **extra}


#: per row, its AUC on draws 1-3 (seeds 0 and 1 score the same): the untrained reference above
#: both tuned baselines, the candidate between
AUCS = {("lf-x[lr=0.001]", "candidate"): (30.0, 33.0, 31.0),
        ("dpo[beta=0.1,lr=0.001]", "baseline"): (20.0, 22.0, 21.0),
        ("orpo[lam=0.5,lr=0.001]", "baseline"): (25.0, 24.0, 26.0),
        ("reference (BC)", "fixed"): (32.0, 32.5, 34.0)}


def _write(path: Path, scenario: str, aucs=AUCS) -> Path:
    rows = [_row(scenario, loss, role, d, sd, xs[d - 1],
                 **({"candidate": "lf-x"} if role == "candidate" else {}))
            for (loss, role), xs in aucs.items() for d in (1, 2, 3) for sd in (0, 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _squash(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_a_test_suite_confirmation_page_carries_the_departure_label(tmp_path):
    """v2-plan.md, Session 22: "Reports that use the test suite's rows carry this label": the
    page carries the Markdown report's very text (its bold as <b>), before the first scenario."""
    confirmation = _benchmark("confirmation")
    headline = _benchmark("headline")
    html = table_report(_write(tmp_path / "t.jsonl", TEST_SCENARIO))
    [label] = re.findall(r'<p class="warn" id="departure">(.*?)</p>', html)
    md = confirmation.departure_text({TEST_SCENARIO})
    assert md.startswith(headline.DEPARTURE)
    assert label.startswith("<b>A departure from the plan</b>, declared before")
    assert html_text(_squash(label)) == md.replace("**", "")
    assert label.endswith(f"Test-suite scenarios in this report: {TEST_SCENARIO}.")
    assert html.index('id="departure"') < html.index(f"<h2>{TEST_SCENARIO}")
    other = table_report(_write(tmp_path / "o.jsonl", "hopper-clean"))
    assert "departure" not in other


def test_the_page_says_where_the_headlines_bar_takes_the_reference(tmp_path):
    """'vs best' is the best tuned baseline (as baselines.py report's table); where the
    untrained reference scores above every tuned baseline, the headline's bar compares with it:
    a note gives each candidate's paired difference to it, worked out here by hand."""
    html = table_report(_write(tmp_path / "c.jsonl", "hopper-clean"))
    legend = _squash(html[:html.index("<h2>")])
    assert "of the tuned rows only: the untrained reference is not a comparator here" in legend
    assert "best tuned baseline or the reference, whichever scores higher" in legend
    notes = dict(re.findall(r'<p class="warn" data-metric="(\w+)">(.*?)</p>', html))
    assert set(notes) == {"auc", "final"}       # final: every row's AUC + 1, the same order
    diffs = [c - r for c, r in zip(AUCS[("lf-x[lr=0.001]", "candidate")],
                                   AUCS[("reference (BC)", "fixed")])]
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    auc = _squash(notes["auc"])
    assert auc.startswith("AUC: the untrained reference (BC) scores above every tuned baseline")
    assert "not with orpo[lam=0.5,lr=0.001]" in auc
    assert auc.endswith(f"lf-x[lr=0.001] {mean:+.1f} ± {T2 * sd / math.sqrt(3):.1f}.")
    # the reference below the best tuned baseline: no note, 'vs best' is the bar's comparator
    low = dict(AUCS)
    low[("reference (BC)", "fixed")] = (10.0, 11.0, 12.0)
    assert 'data-metric="' not in table_report(_write(tmp_path / "l.jsonl", "hopper-clean", low))


def test_help_names_every_results_file_table_reads():
    text = re.sub(r"\s+", " ", build_parser().format_help())
    for what in ("baselines-*.jsonl of 'run'", "sweep-*.jsonl of 'sweep'",
                 "confirm-*.jsonl of 'confirm'"):
        assert what in text, what
    assert "baselines-*.jsonl file (from benchmarks/baselines.py run)" not in text


def test_a_confirmation_report_given_as_table_is_one_line_naming_the_rows(tmp_path, capsys):
    confirmation = _benchmark("confirmation")
    rows = _write(tmp_path / "confirm-x.jsonl", "hopper-clean")
    confirmation.report(rows)                  # writes confirm-x.confirm.{md,json}
    capsys.readouterr()
    report = tmp_path / "confirm-x.confirm.json"
    assert main(["--table", str(report), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "object has no attribute" not in err
    assert err.startswith(f"error: {report}: a confirmation report")
    assert err.rstrip().endswith(f"pass the rows: --table {rows}")
    assert not (tmp_path / "x.html").exists()
    doc = tmp_path / "doc.json"                     # any other JSON document: what it is not
    doc.write_text(json.dumps({"train": {"a": 1}}, indent=2))
    assert main(["--table", str(doc), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(rf"error: {re.escape(str(doc))}: one JSON document, not a "
                        r"baselines\.py results file \(.*\)\n", err)


def test_table_without_output_writes_beside_its_input_and_prints_the_path(tmp_path, capsys):
    """Documented (README, --help, .gitignore's benchmarks/results/*.html): beside the input."""
    rows = _write(tmp_path / "confirm-y.jsonl", "hopper-clean")
    assert main(["--table", str(rows)]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'confirm-y.html'}\n"
    assert (tmp_path / "confirm-y.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("h, says", [("exp(p)", "does not hold (proved)"),
                                     ("p*log(p)", "holds (proved)")])
def test_a_check_proved_false_reads_does_not_hold_proved(h, says):
    """exp(p): h'(0+) = 1, proved not Legendre; p log p: h'(0+) = -oo, proved Legendre."""
    from lossforge.objectives import get_spec
    from lossforge.report.page import _formulas

    spec = get_spec("dpo").to_json() | {"mirror_map": h}
    props = _formulas({"spec": spec})[1]
    assert props["legendre (h)"] == says
    assert props["convex (h)"] == "holds (proved)"
