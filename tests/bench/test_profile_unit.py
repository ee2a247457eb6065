"""``benchmarks/profile_unit.py``: one unit under cProfile, split into nested parts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("profile_unit",
                                                  REPO / "benchmarks" / "profile_unit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_parts_nest_and_every_named_function_is_found(tmp_path):
    """On the quick scenario and budget: each part found (a renamed function would read 0 s),
    the sub-parts within their part, the parts within the profiled call."""
    out = tmp_path / "p.json"
    assert _script().main(["--scenario", "quick", "--budget", "quick", "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    p = got["parts_s"]
    assert all(v > 0 for v in p.values()), p
    training, evaluation = p["training"], p["evaluation"]
    assert (p["training/forward (segment log-probs)"]
            + p["training/backward (autograd.grad)"] <= training)
    assert (p["evaluation/environment steps (MuJoCo env)"]
            + p["evaluation/making the environments"] <= evaluation)
    assert got["command"] == ("python benchmarks/profile_unit.py --scenario quick --budget quick "
                              f"--out {out}")
    assert training + evaluation <= got["profiled_s"]


def test_cumulative_sums_one_function_of_one_file_and_nothing_else():
    stats = type("S", (), {"stats": {
        ("/v/torch/autograd/__init__.py", 10, "grad"): (1, 1, 0.1, 2.0, {}),
        ("/v/torch/autograd/__init__.py", 90, "grad"): (1, 1, 0.1, 0.5, {}),
        ("/v/other/__init__.py", 10, "grad"): (1, 1, 0.1, 7.0, {}),
        ("/v/torch/autograd/__init__.py", 20, "backward"): (1, 1, 0.1, 3.0, {})}})()
    assert _script().cumulative(stats, "torch/autograd/__init__.py", "grad") == 2.5
    assert _script().cumulative(stats, "torch/autograd/__init__.py", "nothing") == 0
