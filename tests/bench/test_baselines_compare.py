"""``benchmarks/baselines.py compare``: the must-show verdict (CIs apart from every baseline) and
the paired difference to DPO, against hand-computed t-intervals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
T_975_DF2 = 4.302652729911275   # Student t quantile, 2 degrees of freedom (tables)


def _write(path: Path, rows: list[tuple[str, str, list[float]]]) -> None:
    with open(path, "w") as fh:
        for scen, loss, scores in rows:
            for seed, v in enumerate(scores):
                fh.write(json.dumps({"scenario": scen, "seed": seed, "budget": "full",
                                     "loss": loss, "status": "ok", "score": v,
                                     "command": "test"}) + "\n")
        fh.write('{"torn')   # a killed writer's last line is skipped


def _compare(tmp_path: Path, cand, base, *extra: str) -> list[dict]:
    _write(tmp_path / "c.jsonl", cand)
    _write(tmp_path / "b.jsonl", base)
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "baselines.py"), "compare",
                    str(tmp_path / "c.jsonl"), "--baselines", str(tmp_path / "b.jsonl"), *extra],
                   check=True, capture_output=True, text=True)
    return json.loads((tmp_path / "c.compare.json").read_text())


def test_verdict_needs_the_ci_above_every_baseline(tmp_path):
    half = T_975_DF2 / 3 ** 0.5             # sd 1, n 3
    rows = _compare(tmp_path,
                    cand=[("s", "win", [10, 11, 12]), ("s", "dpo", [4, 6, 5]),
                          ("t", "win", [10, 11, 12])],
                    base=[("s", "dpo", [5, 6, 7]), ("s", "orpo", [4.5, 5.5, 6.5]),
                          ("t", "dpo", [9, 10, 11])])
    by = {(r["scenario"], r["loss"]): r for r in rows}
    assert set(by) == {("s", "win"), ("t", "win")}          # dpo rows are not judged
    s, t = by["s", "win"], by["t", "win"]
    assert abs(s["ci95"] - half) < 1e-3 and abs(s["mean"] - 11) < 1e-12   # t tabled to 3 d.p.
    assert s["beats_every_baseline"]       # 11 - 2.484 = 8.516 > 6 + 2.484 = 8.484
    assert s["strongest_baseline"]["loss"] == "dpo" and s["baselines_compared"] == 2
    assert not t["beats_every_baseline"]   # overlaps 10 +- 2.484
    assert s["paired_vs_dpo"] == "+6.0 ± 2.5"   # differences 6, 5, 7 with this run's DPO


def test_paired_dpo_comes_seed_by_seed_from_the_run_else_the_table(tmp_path):
    """A winner re-scored on more seeds later, without DPO: the table's DPO pairs the new seeds
    (it used to pair only the seeds the winner's file had DPO for)."""
    rows = _compare(tmp_path, cand=[("s", "win", [10, 11, 12, 13]), ("s", "dpo", [4, 6])],
                    base=[("s", "dpo", [0, 0, 9, 10])])
    # differences 10-4, 11-6, 12-9, 13-10 = 6, 5, 3, 3: mean 4.25, sd 1.5, n 4, t(3) 3.182
    assert rows[0]["paired_vs_dpo"] == f"+4.2 ± {3.182 * 1.5 / 2:.1f}"
    rows = _compare(tmp_path, cand=[("s", "win", [10, 11, 12])], base=[("s", "dpo", [4, 6])])
    assert rows[0]["paired_vs_dpo"] == f"+5.5 ± {12.706 * 0.5 ** 0.5 / 2 ** 0.5:.1f} (2 of 3 seeds)"


def test_baselines_with_other_seeds_do_not_count(tmp_path):
    rows = _compare(tmp_path, cand=[("s", "win", [10, 11, 12])],
                    base=[("s", "dpo", [50, 60])])   # seeds 0-1 only
    assert rows[0]["baselines_compared"] == 0 and not rows[0]["beats_every_baseline"]


def test_rows_of_the_candidates_file_can_be_baselines_too(tmp_path):
    """Baselines scored in the candidates' own run (e.g. on a held-out scenario) count, the
    candidate itself does not."""
    cand = [("h", "win", [10, 11, 12]), ("h", "hinge", [9, 10, 11])]
    rows = _compare(tmp_path, cand, [], "--baselines", str(tmp_path / "c.jsonl"),
                    "--skip", "dpo,hinge")
    assert [r["loss"] for r in rows] == ["win"]
    assert rows[0]["strongest_baseline"]["loss"] == "hinge" and rows[0]["baselines_compared"] == 1
    assert not rows[0]["beats_every_baseline"]


def test_another_candidate_is_not_a_baseline(tmp_path):
    """Two searches' winners in one file used in both roles: each is judged against the
    baselines (the --skip rows), never against the other winner."""
    cand = [("h", "win_a", [10, 11, 12]), ("h", "win_b", [20, 21, 22]),
            ("h", "hinge", [5, 6, 7])]
    rows = _compare(tmp_path, cand, [], "--baselines", str(tmp_path / "c.jsonl"),
                    "--skip", "hinge")
    by = {r["loss"]: r for r in rows}
    assert set(by) == {"win_a", "win_b"}
    for r in by.values():
        assert r["strongest_baseline"]["loss"] == "hinge" and r["baselines_compared"] == 1
        assert r["beats_every_baseline"]


def test_paired_difference_uses_the_tables_dpo_when_the_run_has_none(tmp_path):
    rows = _compare(tmp_path, cand=[("s", "win", [10, 11, 12])],
                    base=[("s", "dpo", [7, 9, 8]), ("s", "orpo", [1, 2, 3])])
    assert rows[0]["paired_vs_dpo"] == f"+3.0 ± {T_975_DF2 / 3 ** 0.5:.1f}"  # diffs 3, 2, 4


def test_field_table_counts_a_cell_once_and_marks_short_columns(tmp_path):
    _write(tmp_path / "a.jsonl", [("hopper-clean", "dpo", [1, 2, 3]),
                                  ("hopper-clean", "orpo", [4, 5, 6]),
                                  ("heldout/hopper-clean-d1", "dpo", [99, 99, 99])])
    _write(tmp_path / "b.jsonl", [("hopper-clean", "dpo", [1, 2, 3, 10]),   # seeds 0-2 again
                                  ("ant-ambiguous", "dpo", [7])])
    md = subprocess.run([sys.executable, str(REPO / "benchmarks" / "baselines.py"), "field",
                         str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"),
                         "--seeds-wanted", "4"],
                        check=True, capture_output=True, text=True).stdout
    rows = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines()
            if line.startswith("| ")}
    # Hopper dpo: seeds 0-3 = 1, 2, 3, 10 (the repeats of seeds 0-2 count once), mean 4
    half = 3.1824463052842638 * (((1 - 4) ** 2 + (2 - 4) ** 2 + 1 + 36) / 3) ** 0.5 / 2
    assert f"| dpo | 4.0 ± {half:.1f} |" in md
    assert f"| orpo | **5.0 ± {T_975_DF2 / 3 ** 0.5:.1f}** [3] |" in md   # best, 3 < 4 seeds
    assert "| dpo | **7.0** [1] |" in md          # Ant: one seed, no CI
    # held-out copies are not the field (the page names the input files: drop their tmp
    # path, which can itself hold "99", as in /tmp/pytest-of-root/pytest-99/)
    body = md.replace(str(tmp_path), "")
    assert "99" not in body and "heldout" not in body
    assert md.index("## Ant") < md.index("## Hopper") and "orpo" in rows
