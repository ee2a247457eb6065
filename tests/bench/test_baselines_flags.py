"""Every table of ``benchmarks/baselines.py`` that shows a scenario flags it when a shortcut
baseline is best there (issue 18): ``table``, ``field``, ``compare`` and the confirmation
``report``, on constructed rows where BC-on-chosen is best by far in one scenario (CIs apart:
"shortcut best") and last in the other (no flag)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "baselines.py")

#: scenario -> row -> per-seed values (seeds 0, 1): in hopper-mixed-quality BC-on-chosen lies far
#: above every other row (mean 51 against 11 and 21, each spread 1: CIs apart); in hopper-clean
#: far below.
VALUES = {"hopper-mixed-quality": {"bc-on-chosen": (50.0, 52.0), "dpo": (10.0, 12.0),
                                   "cand": (20.0, 22.0)},
          "hopper-clean": {"bc-on-chosen": (10.0, 12.0), "dpo": (50.0, 52.0),
                           "cand": (60.0, 62.0)}}
FLAG = "Shortcut flag (lossforge/bench/audit.py: a shortcut baseline is best, or level with " \
       "the best, CIs overlapping): "


def _rows(**extra) -> list[dict]:
    rows = []
    for scen, by in VALUES.items():
        for loss, vals in by.items():
            for seed, v in enumerate(vals):
                rows.append({"scenario": scen, "seed": seed, "budget": "full", "loss": loss,
                             "status": "ok", "score": v, "auc": v, "final": v,
                             "auc_over": "checkpoints", "command": "t",
                             "role": "candidate" if loss == "cand" else "baseline", **extra})
    return rows


def _cli(*args: str) -> str:
    return subprocess.run([sys.executable, SCRIPT, *args], check=True, capture_output=True,
                          text=True, cwd=REPO).stdout


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_table_field_and_compare_flag_the_scenario_a_shortcut_wins(tmp_path):
    path = _write(tmp_path / "b.jsonl", _rows())
    md = _cli("table", str(path))
    assert FLAG + "hopper-mixed-quality (full, AUC): **shortcut best**; " \
                  "hopper-mixed-quality (full, final): **shortcut best**." in md
    summary = json.loads((tmp_path / "b.summary.json").read_text())
    assert {r["scenario"]: r["shortcut_flag"]["auc"] for r in summary} == {
        "hopper-mixed-quality": "shortcut best", "hopper-clean": None}
    field = _cli("field", str(path), "--seeds-wanted", "2")
    auc_part, final_part = field.split("### final")
    for part in (auc_part, final_part):
        assert FLAG + "mixed-quality: **shortcut best**." in part
    md = _cli("compare", str(path), "--baselines", str(path), "--skip", "dpo,bc-on-chosen")
    assert FLAG + "hopper-clean (full) beside cand: " not in md
    assert FLAG + "hopper-mixed-quality (full) beside cand: **shortcut best**." in md
    rows = json.loads((tmp_path / "b.compare.json").read_text())
    assert {r["scenario"]: r["shortcut_flag"] for r in rows} == {
        "hopper-mixed-quality": "shortcut best", "hopper-clean": None}


def test_the_confirmation_report_flags_the_scenario_a_shortcut_wins(tmp_path):
    rows = [r | {"draw": r["seed"] + 1, "seed": 0} for r in _rows()]   # draws 1, 2
    path = _write(tmp_path / "c.jsonl", rows)
    md = _cli("report", str(path))
    mixed, clean = md.split("## hopper-mixed-quality")[1], md.split("## hopper-clean")[1]
    assert FLAG + "AUC: **shortcut best**; final: **shortcut best**." in mixed.split("##")[0]
    assert FLAG + "none." in clean.split("##")[0]
    report = json.loads((tmp_path / "c.confirm.json").read_text())
    assert report["shortcut_flags"] == {
        "hopper-clean (full)": {"auc": None, "final": None},
        "hopper-mixed-quality (full)": {"auc": "shortcut best", "final": "shortcut best"}}
