"""``benchmarks/headroom.py`` end to end on the quick scenario (q10 vs q50 pairs): the subsets
it clones are the ones its flags name, and its per-level statistics are the dataset's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from lossforge.bench.fitness import reference_policy
from lossforge.bench.scenarios import load_scenario
from lossforge.bench.zoo import load_zoo

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "headroom.py")


def test_headroom_on_quick(tmp_path):
    out = tmp_path / "h.json"
    subprocess.run([sys.executable, SCRIPT, "quick", "--good", "q10,q50", "--seeds", "0",
                    "--budget", "quick", "--out", str(out)],
                   check=True, capture_output=True, text=True, timeout=600)
    report = json.loads(out.read_text())
    dataset, _ = reference_policy(load_scenario("quick"))
    n = len(dataset)
    rows = {r["policy"]: r for r in report["ceilings"]}
    # every quick pair has both sides in {q10, q50}: the "good" subset is the whole dataset, so
    # BC on its chosen side is the same policy (same data, same seed) as BC on chosen
    assert rows["BC on chosen"]["pairs"] == rows["BC on chosen, good"]["pairs"] == n
    assert rows["BC on chosen, good"]["per_seed"] == rows["BC on chosen"]["per_seed"]
    assert all(np.isfinite(r["mean"]) for r in rows.values())
    # one segment per pair from each level, with the dataset's mean lengths and returns
    by_level = {lv["level"]: lv for lv in report["levels"]}
    assert sorted(by_level) == ["q10", "q50"]
    names = load_zoo("Hopper-v5").level_names
    for name, lv in by_level.items():
        assert lv["segments"] == n
        src = dataset.sources == names.index(name)
        assert lv["length"] == np.mean(dataset.lengths[src])
        assert lv["return"] == np.mean(dataset.returns[src])


def test_headroom_rejects_unknown_levels():
    r = subprocess.run([sys.executable, SCRIPT, "quick", "--good", "q50,nope"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "unknown levels ['nope']" in r.stderr
