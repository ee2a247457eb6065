"""``baselines.py extend`` and ``merge``: a pick on an edge of its grid (its optimum may lie
beyond) is moved one grid step past that edge, the new configs are tuned on the same seeds, and
the better of the two picks is kept. Expected values are worked out by hand below."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from lossforge.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

SPEC = {"name": "lf-test", "mirror_map": "p*log(p)", "beta": 0.1, "reference": True,
        "link": "-logsigmoid(D)", "aggregation": "mean", "params": {}, "description": ""}


def _tuning():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import tuning

    return tuning


@pytest.mark.parametrize("values, side, knob, want", [
    ([0.03, 0.1, 0.3], "min", "beta", 0.009),         # 0.03 * 0.03 / 0.1
    ([0.1, 0.3, 1.0], "max", "beta", 3.3),            # 1 * 1 / 0.3, 2 significant digits
    ([1e-4, 3e-4], "max", "lr", 9e-4),
    ([0.05, 0.1, 0.2, 0.4], "max", "eps", 0.45),      # 0.8 leaves (0, 0.5): halfway to 0.5
    ([0.01, 0.05], "min", "eps", 0.002),
    ([0.3, 0.6], "max", "lr", 0.8),                   # 1.2 > 1: halfway to 1
    ([0.0, 1.0], "min", "lam", None),                 # nothing below 0 on a geometric grid
    ([2.0], "max", "beta", None),                     # one value: no step
])
def test_one_step_past_an_edge_stays_in_the_knobs_domain(values, side, knob, want):
    assert _tuning().beyond(values, side, knob) == want


def _tuned(tmp_path: Path, sweep: Path, picks: dict, name: str = "t.json", **over) -> Path:
    tuning = _tuning()
    f = tmp_path / name
    f.write_text(json.dumps({"budget": "full", "seeds": [100, 101, 102], "draw": "t",
                             "sweep_file": str(sweep),
                             "sweep_sha256": tuning.read_sweep(sweep).sha256,
                             "scenarios": {"quick": picks}, **over}))
    return f


def _pick(item: str, auc: float) -> dict:
    tuning = _tuning()
    label = tuning._label(item)
    return {"item": item, "loss": label, "config": tuning._knobs(label), "auc": auc}


def test_extend_moves_each_edge_and_each_pair_of_edges(tmp_path):
    tuning = _tuning()
    (tmp_path / "cand.json").write_text(json.dumps({"spec": SPEC}))
    sweep = tmp_path / "s.toml"
    sweep.write_text('lr = [0.0001, 0.001]\n[baselines.dpo]\nbeta = [0.1, 1.0]\n'
                     '[baselines.orpo]\nlam = [0.1, 0.5, 2.5]\n'
                     f'[candidates.lf-test]\nspec = "{tmp_path / "cand.json"}"\n'
                     'lr = [0.001, 0.01]\n')
    picks = {"dpo": _pick("dpo:beta=1.0:lr=0.0001", 5.0),      # beta max, lr min: 3 configs
             "orpo": _pick("orpo:lam=0.5:lr=0.001", 6.0),      # lr max only: 1 config
             "lf-test": _pick("lf-test:lr=0.001", 7.0)}        # lr min: 1 config
    out = tmp_path / "ext.toml"
    tuning.extend(argparse.Namespace(tuned=str(_tuned(tmp_path, sweep, picks)), out=str(out)))
    decl = tuning.read_sweep(out)
    # beta 1 -> 10 (ratio 10), lr 1e-4 -> 1e-5 (ratio 10); orpo lr 1e-3 -> 1e-2; the
    # candidate's lr 1e-3 -> 1e-4
    assert decl.grid == {
        "dpo": ["dpo:beta=10.0:lr=0.0001", "dpo:beta=1.0:lr=1e-05", "dpo:beta=10.0:lr=1e-05"],
        "orpo": ["orpo:lam=0.5:lr=0.01"],
        "lf-test": ["lf-test:lr=0.0001"]}
    assert decl.keep is None and decl.specs == {"lf-test": str(tmp_path / "cand.json")}
    # a pick inside its grid (lam 0.5 of 0.1-2.5, lr 1e-3 of 1e-4-1e-2): no file written
    inner = tmp_path / "inner.toml"
    inner.write_text('lr = [0.0001, 0.001, 0.01]\n[baselines.orpo]\nlam = [0.1, 0.5, 2.5]\n')
    quiet = tmp_path / "none.toml"
    tuning.extend(argparse.Namespace(tuned=str(_tuned(tmp_path, inner, {
        "orpo": _pick("orpo:lam=0.5:lr=0.001", 1.0)}, "u.json")), out=str(quiet)))
    assert not quiet.exists()


def test_merge_keeps_the_better_pick_and_refuses_another_protocol(tmp_path):
    tuning = _tuning()
    sweep = tmp_path / "s.toml"
    sweep.write_text('lr = [0.0001, 0.001]\n[baselines.dpo]\nbeta = [0.1, 1.0]\n'
                     '[baselines.orpo]\nlam = [0.1, 0.5]\n')
    base = _tuned(tmp_path, sweep, {"dpo": _pick("dpo:beta=1.0:lr=0.0001", 5.0),
                                    "orpo": _pick("orpo:lam=0.5:lr=0.001", 6.0)}, "base.json")
    ext = _tuned(tmp_path, sweep, {"dpo": _pick("dpo:beta=10.0:lr=0.0001", 5.5),
                                   "orpo": _pick("orpo:lam=0.5:lr=0.01", 6.0)}, "ext.json")
    out = tmp_path / "merged.json"
    tuning.merge(argparse.Namespace(base=str(base), extension=str(ext), out=str(out)))
    got = json.loads(out.read_text())["scenarios"]["quick"]
    assert got["dpo"]["loss"] == "dpo[beta=10,lr=0.0001]"               # 5.5 > 5.0
    assert got["dpo"]["extended_from"] == "dpo[beta=1,lr=0.0001]"
    assert got["orpo"]["loss"] == "orpo[lam=0.5,lr=0.001]"               # a tie keeps the original
    other = _tuned(tmp_path, sweep, {"dpo": _pick("dpo:beta=10.0:lr=0.0001", 9.0)}, "o.json",
                   seeds=[100])
    with pytest.raises(ConfigError, match="seeds"):
        tuning.merge(argparse.Namespace(base=str(base), extension=str(other), out=str(out)))
