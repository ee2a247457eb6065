"""``benchmarks/headline.py``: one candidate's line per scenario across confirm reports, with
Holm's correction over every comparison in all the files (hand-computed here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "headline.py")


def _entry(scen, loss, role, mean, ci=1.0):
    m = {"per_draw": {}, "mean": mean, "ci95": ci}
    return {"budget": "full", "scenario": scen, "loss": loss, "role": role, "auc": m, "final": m}


def _comp(scen, cand, base, mean, ci, p):
    return [{"budget": "full", "scenario": scen, "candidate": cand, "baseline": base,
             "metric": m, "mean": mean, "ci95": ci, "p": p, "p_holm": p} for m in ("auc", "final")]


def _report(path: Path, scen: str, ps: tuple[float, float, float], cand_mean: float) -> str:
    c = "lf-x[lr=1e-05]"
    summary = [_entry(scen, "reference (SFT base)", "fixed", 60),
               _entry(scen, "dpo[beta=0.1,lr=1e-05]", "baseline", 80),
               _entry(scen, "orpo[lam=0.5,lr=1e-05]", "baseline", 85),
               _entry(scen, "sft[lr=1e-05]", "baseline", 84),
               _entry(scen, c, "candidate", cand_mean)]
    comps = (_comp(scen, c, "dpo[beta=0.1,lr=1e-05]", cand_mean - 80, 2.0, ps[0])
             + _comp(scen, c, "orpo[lam=0.5,lr=1e-05]", cand_mean - 85, 2.0, ps[1])
             + _comp(scen, c, "sft[lr=1e-05]", cand_mean - 84, 2.0, ps[2]))
    path.write_text(json.dumps({"summary": summary, "comparisons": comps}))
    return str(path)


def _auc_table(*reports: str) -> tuple[str, list[str]]:
    """headline.py's AUC section for candidate lf-x, and its line of each report, in order."""
    proc = subprocess.run([sys.executable, SCRIPT, *reports, "--candidate", "lf-x"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    auc = proc.stdout.split("### lf-x, final")[0]
    scenarios = [json.loads(Path(r).read_text())["summary"][0]["scenario"] for r in reports]
    return auc, [next(x for x in auc.splitlines() if x.startswith(f"| {s} ")) for s in scenarios]


def test_holm_spans_both_files_and_the_verdicts_follow(tmp_path):
    a = _report(tmp_path / "a.confirm.json", "llm:a/m", (0.001, 0.004, 0.03), 88.0)
    b = _report(tmp_path / "b.confirm.json", "llm:b/m", (0.002, 0.02, 0.5), 87.0)
    # Holm by hand over the six p-values of one metric, sorted 0.001 0.002 0.004 0.02 0.03 0.5:
    # 6*0.001 = 0.006, 5*0.002 = 0.01, 4*0.004 = 0.016, 3*0.02 = 0.06, 2*0.03 = 0.06 (kept
    # monotone), 1*0.5 = 0.5
    auc, (line_a, line_b) = _auc_table(a, b)
    assert "+3.0 ± 2.0 (0.016)" in line_a and "+8.0 ± 2.0 (0.006)" in line_a   # ORPO, DPO
    assert "+4.0 ± 2.0 (0.06)" in line_a                                    # sft (shortcut)
    assert "beats ORPO; beats DPO" in line_a and "level with the best shortcut" in line_a
    assert "+2.0 ± 2.0 (0.06)" in line_b and "level with ORPO; beats DPO" in line_b
    # best tuned is ORPO (85) on both; CI of the difference not below zero on both
    assert line_a.count("best-or-tied with the best tuned") == 1
    assert "Beats ORPO and DPO (Holm p < 0.05 over all 6 comparisons of lf-x in auc): " \
           "1 of 2 scenarios" in auc
    assert "Best-or-tied with the best tuned baseline (difference's 95 % CI not below zero): " \
           "2 of 2" in auc


@pytest.mark.parametrize("args,said", [
    (["nope.json", "--candidate", "x"], "nope.json: not a confirm report"),
    (["{a}", "--candidate", "lf-y"], "lf-y: no candidate row of that name")])
def test_bad_input_exits_2_with_one_line(tmp_path, args, said):
    a = _report(tmp_path / "a.confirm.json", "llm:a/m", (0.001, 0.004, 0.03), 88.0)
    proc = subprocess.run([sys.executable, SCRIPT] + [x.format(a=a) for x in args],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and said in proc.stderr


def test_best_or_tied_is_the_strict_reading_and_the_words_say_which_side(tmp_path):
    """Against the best tuned row (ORPO, 85; every difference ± 2.0): +1.0 ± 2.0 spans zero, so
    not shown best-or-tied (not "below": its mean is above); -5.0 ± 2.0 lies below zero."""
    spans = _report(tmp_path / "s.confirm.json", "llm:s/m", (0.001, 0.5, 0.5), 86.0)
    below = _report(tmp_path / "b.confirm.json", "llm:b/m", (0.5, 0.001, 0.5), 80.0)
    auc, (line_s, line_b) = _auc_table(spans, below)
    assert "+1.0 ± 2.0" in line_s and "not shown best-or-tied (CI spans 0)" in line_s
    assert "-5.0 ± 2.0" in line_b and "below the best tuned (CI)" in line_b
    assert "(difference's 95 % CI not below zero): 0 of 2" in auc
