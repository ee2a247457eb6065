"""``benchmarks/field_v2.py``: which scenarios discriminate once the baselines are tuned, from
confirm reports, with Holm over each scenario's baselines worked out by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "field_v2.py")


def _entry(scen, loss, role, mean):
    m = {"per_draw": {"1": mean, "2": mean}, "mean": mean, "ci95": 1.0}
    return {"budget": "full", "scenario": scen, "loss": loss, "role": role, "auc": m, "final": m,
            "missing": ""}


def _vs(scen, best, loss, mean, p, role="baseline"):
    return [{"budget": "full", "scenario": scen, "metric": m, "best": best, "loss": loss,
             "role": role, "mean": mean, "ci95": 1.0, "p": p} for m in ("auc", "final")]


def _report(tmp_path, drop=None):
    summary, versus = [], []
    # a: best dpo 30; ipo -1 (p 0.02), orpo -5 (p 0.001). Holm over two: orpo 2 x 0.001 =
    #    0.002, ipo max(0.002, 0.02) = 0.02: both below the best -> discriminates
    # b: best orpo 50; dpo -1 (p 0.04), ipo -2 (p 0.03). Holm: ipo 2 x 0.03 = 0.06, dpo
    #    max(0.06, 0.04) = 0.06: neither below -> does not discriminate
    for scen, rows in (("s-a", [("dpo[beta=2]", 30, None), ("ipo[beta=1]", 29, 0.02),
                                ("orpo[lam=1]", 25, 0.001)]),
                       ("s-b", [("orpo[lam=1]", 50, None), ("dpo[beta=2]", 49, 0.04),
                                ("ipo[beta=1]", 48, 0.03)])):
        best = rows[0][0]
        for loss, mean, p in rows:
            summary.append(_entry(scen, loss, "baseline", mean))
            if p is not None and (scen, loss) != drop:
                versus += _vs(scen, best, loss, mean - rows[0][1], p)
        summary += [_entry(scen, "reference (BC)", "fixed", 10),
                    _entry(scen, "lf-x[lr=0.001]", "candidate", 99)]
        versus += _vs(scen, best, "lf-x[lr=0.001]", 60, 1e-9, role="candidate")
    path = tmp_path / "c.confirm.json"
    path.write_text(json.dumps({"summary": summary, "comparisons": [], "versus_best": versus,
                                "shortcut_flags": {}}))
    return str(path)


def test_discriminates_when_a_tuned_baseline_is_below_the_best_after_holm(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, _report(tmp_path)], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    auc = proc.stdout.split("## final")[0]
    line_a = next(x for x in auc.splitlines() if x.startswith("| s-a "))
    line_b = next(x for x in auc.splitlines() if x.startswith("| s-b "))
    assert "ipo[beta=1] 29.0 ± 1.0 (-1.0, 0.02)" in line_a
    assert "orpo[lam=1] 25.0 ± 1.0 (-5.0, 0.002)" in line_a
    assert "| dpo[beta=2] | yes |" in line_a                      # top group: the best alone
    assert "(-2.0, 0.06)" in line_b and "(-1.0, 0.06)" in line_b
    assert "| orpo[lam=1], dpo[beta=2], ipo[beta=1] | **no**" in line_b
    # a candidate far above the field takes no part in the test, and is listed aside
    assert "lf-x[lr=0.001] 99.0 ± 1.0" in line_a and "lf-x" not in line_a.split("|")[2]
    assert ("Discriminates (auc: a tuned baseline below the best, Holm p < 0.05 over that "
            "scenario's baselines): 1 of 2 scenarios. The count itself is not corrected") in auc


def test_a_suite_scenario_without_rows_or_an_unfinished_baseline_is_refused(tmp_path):
    """With --suite, "k of n" must be the suite's n: a suite scenario absent from the reports
    is refused (it used to count k of the scenarios present). An unfinished row of the field
    (the report marks what it lacks) is refused too; a candidate's is not the field's."""
    report = _report(tmp_path)            # scenarios s-a and s-b: none of the train suite's
    proc = subprocess.run([sys.executable, SCRIPT, report, "--suite",
                           "benchmarks/suites/train.toml"], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "the reports have no rows of hopper-padded-" in proc.stderr
    assert "; the field's table of a suite needs every scenario" in proc.stderr
    data = json.loads(Path(report).read_text())
    data["summary"][-1]["missing"] = "draw 2: no run"          # s-b's candidate: not the field
    Path(report).write_text(json.dumps(data))
    assert subprocess.run([sys.executable, SCRIPT, report], capture_output=True,
                          cwd=REPO).returncode == 0
    data["summary"][-2]["missing"] = "draw 2: no run"          # s-b's reference
    Path(report).write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, SCRIPT, report], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 2 and "s-b: reference (BC): draw 2: no run" in proc.stderr


def test_a_report_without_a_baselines_comparison_is_refused_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, _report(tmp_path, drop=("s-b", "ipo[beta=1]"))],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "s-b (full), auc: the report has no paired comparison of ipo[beta=1]" in proc.stderr


@pytest.mark.parametrize("per_draw", [
    {"1": float("nan"), "2": float("nan")},               # failed on every draw
    {"1": 99.0, "2": float("nan"), "3": float("nan")}])   # finite on one draw of three, at 99
def test_a_baseline_that_failed_on_most_draws_is_named_and_left_out(tmp_path, per_draw):
    """Listed first, with a NaN mean, it must neither become the best nor break the sort; one
    finite draw at 99 outranks every row by its mean but may not be the best
    (stats.eligible_best): the field's best is confirm's (dpo, 30)."""
    path = Path(_report(tmp_path))
    data = json.loads(path.read_text())
    failed = _entry("s-a", "simpo[beta=2]", "baseline", float("nan"))
    for m in ("auc", "final"):
        failed[m] = {"per_draw": per_draw, "mean": float("nan"), "ci95": float("nan")}
    data["summary"].insert(0, failed)
    path.write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, SCRIPT, str(path)], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    line_a = next(x for x in proc.stdout.split("## final")[0].splitlines()
                  if x.startswith("| s-a "))
    assert line_a.split("|")[2].strip().startswith("dpo[beta=2] 30.0")      # still the best
    assert "simpo[beta=2]: failed on most draws (left out)" in line_a
    assert "| dpo[beta=2] | yes |" in line_a


@pytest.mark.parametrize("role", ["test", "train"])
def test_the_test_suites_field_carries_the_departure_label(tmp_path, role):
    """v2-plan.md, Session 22: "Reports that use the test suite's rows carry this label" (the
    shortcut's and the candidates' test rates); a train-role suite's table does not."""
    report = Path(_report(tmp_path))
    names = {"s-a": "hopper-padded-noisy-0.15", "s-b": "hopper-padded-noisy-0.35"}
    text = report.read_text()
    for old, new in names.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    report.write_text(text)
    suite = tmp_path / "two.toml"
    suite.write_text(f'name = "two"\nrole = "{role}"\n' + "".join(
        f'[[scenarios]]\nname = "{n}"\nweight = 1.0\n' for n in names.values()))
    proc = subprocess.run([sys.executable, SCRIPT, str(report), "--suite", str(suite)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert ("**A departure from the plan**" in proc.stdout) == (role == "test")
