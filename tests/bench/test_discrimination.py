"""``benchmarks/discrimination.py``: spread vs 2 x the largest 95 % CI, by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
T_975_DF1 = 12.706204736174707   # Student t quantile, 1 degree of freedom (tables)


def test_verdicts_against_hand_computed_intervals(tmp_path):
    rows = [("wide", "a", 0, 10.0), ("wide", "a", 1, 11.0), ("wide", "b", 0, 0.0),
            ("wide", "b", 1, 1.0),                 # spread 10, CI 12.706 * 0.7071 / 1.414 = 6.35
            ("far", "a", 0, 100.0), ("far", "a", 1, 100.2), ("far", "b", 0, 0.0),
            ("far", "b", 1, 0.2),                  # spread 100 > 2 x 1.27
            ("one", "a", 0, 50.0), ("one", "b", 0, 0.0)]   # one seed: no interval
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"scenario": s, "loss": l, "seed": k, "budget": "full",
                                        "status": "ok", "score": v, "command": "test"}) + "\n"
                            for s, l, k, v in rows))
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "discrimination.py"), str(path)],
                   check=True, capture_output=True)
    cells = {c["scenario"]: c for c in
             json.loads((tmp_path / "t.discrimination.json").read_text())["cells"]}
    half = T_975_DF1 * 0.5 ** 0.5 / 2 ** 0.5
    assert abs(cells["wide"]["max_ci95"] - half) < 1e-3 and cells["wide"]["spread"] == 10
    assert cells["wide"]["discriminates"] is False     # 10 < 2 x 6.35
    assert cells["far"]["discriminates"] is True
    assert cells["one"]["discriminates"] is None       # undecided, not "does not"
