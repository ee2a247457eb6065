"""Listed configs in a sweep file and ``baselines.py shortlist``: benchmark v2 tunes the test
suite on the train suite's tuned picks (benchmarks/results/v2-plan.md). The expected sweeps
below are written out by hand from the tuned files the tests build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lossforge.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "baselines.py")

SOURCE = ('lr = [0.0001, 0.001]\n[baselines.dpo]\nbeta = [0.5, 2.0]\n'
          '[baselines.orpo]\nlam = [0.1]\n[halving]\nkeep = 2\n')


def _tuning():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import tuning

    return tuning


def _pick(item: str, *others: str) -> dict:
    return {"item": item, "tried": [{"item": it} for it in (item, *others)]}


def _tuned(tmp_path: Path, name: str, scenarios: dict, source: Path, sha: str) -> Path:
    f = tmp_path / name
    f.write_text(json.dumps({"sweep_file": str(source), "sweep_sha256": sha, "budget": "full",
                             "scenarios": scenarios}))
    return f


def _shortlist(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, "shortlist", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


def test_listed_configs_are_read_in_list_order_with_their_own_rates(tmp_path):
    tuning = _tuning()
    f = tmp_path / "s.toml"
    f.write_text('lr = [0.5]\n[baselines.ipo]\nconfigs = [{beta = 10, lr = 1e-4}, '
                 '{beta = 1.0, lr = 3e-4}]\n[baselines.dpo]\nbeta = [2.0]\n')
    decl = tuning.read_sweep(f)
    # listed: as written (ints become floats), the top-level lr untouched; dpo: the product
    assert decl.grid == {"ipo": ["ipo:beta=10.0:lr=0.0001", "ipo:beta=1.0:lr=0.0003"],
                         "dpo": ["dpo:beta=2.0:lr=0.5"]}
    assert decl.listed == {"ipo"}   # a list has no grid edges for tuned to name


@pytest.mark.parametrize("table, says", [
    ("configs = [{beta = 1.0}]\nbeta = [2.0]", "not both"),
    ("configs = []", "non-empty list"),
    ("configs = [{beta = true}]", "configs[0]"),
    ("configs = [1.0]", "configs[0]"),
    ("configs = [{beta = 1.0}, {beta = 1}]", "listed twice"),
])
def test_a_bad_config_list_is_refused_with_its_field(tmp_path, table, says):
    tuning = _tuning()
    f = tmp_path / "s.toml"
    f.write_text(f"[baselines.ipo]\n{table}\n")
    with pytest.raises(ConfigError, match=r"baselines\.ipo") as exc:
        tuning.read_sweep(f)
    assert says in str(exc.value)


def _two_scenarios(tmp_path: Path, a_picks: dict):
    """The source sweep and two tuned files of it: scenario A's ``a_picks``, and B's dpo beta 0.5
    lr 1e-4 (first in grid order) with orpo lam 0.1 lr 1e-4."""
    tuning = _tuning()
    source = tmp_path / "v2.toml"
    source.write_text(SOURCE)
    sha = tuning.read_sweep(source).sha256
    a = _tuned(tmp_path, "a.json", {"A": a_picks}, source, sha)
    b = _tuned(tmp_path, "b.json", {"B": {
        "dpo": _pick("dpo:beta=0.5:lr=0.0001"), "orpo": _pick("orpo:lam=0.1:lr=0.0001")}},
        source, sha)
    return tuning, source, a, b


def _written(tuning, tmp_path: Path, *args):
    """``shortlist ARGS --out short.toml`` succeeds; the sweep file it wrote, read back."""
    out = tmp_path / "short.toml"
    done = _shortlist(*args, "--out", out)
    assert done.returncode == 0, done.stderr
    return tuning.read_sweep(out)


def test_shortlist_is_the_union_of_picks_in_grid_order(tmp_path):
    # scenario A picks dpo beta 2 lr 1e-3 and orpo lr 1e-4; B picks dpo beta 0.5 lr 1e-4 (first
    # in grid order, so written first) and the same orpo; a candidate's pick is never listed
    tuning, source, a, bb = _two_scenarios(tmp_path, {
        "dpo": _pick("dpo:beta=2.0:lr=0.001", "dpo:beta=0.5:lr=0.001"),
        "orpo": _pick("orpo:lam=0.1:lr=0.0001"),
        "lf-x": {**_pick("lf-x:lr=0.01"), "spec": "x.json"}})
    decl = _written(tuning, tmp_path, a, bb)
    assert decl.grid == {"dpo": ["dpo:beta=0.5:lr=0.0001", "dpo:beta=2.0:lr=0.001"],
                         "orpo": ["orpo:lam=0.1:lr=0.0001"]}
    assert decl.keep == 2 and decl.specs == {}
    # the labels are the source grid's, so test-suite rows carry the train suite's names
    src = {it for items in tuning.read_sweep(source).grid.values() for it in items}
    assert {it for items in decl.grid.values() for it in items} <= src
    # stage2: every config that reached stage 2, here also dpo beta 0.5 lr 1e-3
    decl = _written(tuning, tmp_path, a, bb, "--take", "stage2", "--keep", "1")
    assert decl.grid["dpo"] == ["dpo:beta=0.5:lr=0.0001", "dpo:beta=0.5:lr=0.001",
                                "dpo:beta=2.0:lr=0.001"]
    assert decl.keep == 1
    # a pick that failed on its tuning draw (no config ran without failing) is no tuned
    # setting: A's orpo at lr 1e-3 is not listed, B's orpo pick is
    _, _, a, bb = _two_scenarios(tmp_path, {
        "dpo": _pick("dpo:beta=2.0:lr=0.001"),
        "orpo": {**_pick("orpo:lam=0.1:lr=0.001"), "failed_on_tuning": True}})
    assert _written(tuning, tmp_path, a, bb).grid["orpo"] == ["orpo:lam=0.1:lr=0.0001"]


def test_a_merged_files_extension_picks_stay_in_the_shortlist(tmp_path):
    """A pick moved past a grid edge (``merge`` of an extension) is not in the source grid: it
    must still be listed, after its baseline's grid picks (it was silently dropped before)."""
    tuning, _, merged, plain = _two_scenarios(tmp_path, {
        "dpo": {**_pick("dpo:beta=8.0:lr=0.001"), "extended_from": "dpo[beta=2,lr=0.001]"},
        "orpo": _pick("orpo:lam=0.1:lr=0.0001")})
    decl = _written(tuning, tmp_path, merged, plain)
    assert decl.grid == {"dpo": ["dpo:beta=0.5:lr=0.0001", "dpo:beta=8.0:lr=0.001"],
                         "orpo": ["orpo:lam=0.1:lr=0.0001"]}


def test_shortlist_refuses_mixed_sweeps_a_changed_source_and_an_uncovered_suite(tmp_path):
    tuning = _tuning()
    source = tmp_path / "v2.toml"
    source.write_text(SOURCE)
    sha = tuning.read_sweep(source).sha256
    a = _tuned(tmp_path, "a.json", {"A": {"dpo": _pick("dpo:beta=2.0:lr=0.001")}}, source, sha)
    other = _tuned(tmp_path, "o.json", {"B": {"dpo": _pick("dpo:beta=2.0:lr=0.001")}}, source,
                   "0" * 64)
    out = tmp_path / "short.toml"
    for args, says in (((a, other), "2 sweeps or budgets"), ((other,), "changed since"),
                       ((a, "--suite", "train"), "no tuned file covers"),
                       ((tmp_path / "none.json",), "not a tuned file")):
        done = _shortlist(*args, "--out", out)
        assert done.returncode == 2, done.stdout
        assert done.stderr.startswith("error: ") and says in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()   # nothing written on a refusal


def test_grid_plus_picks_keeps_every_rate_and_adds_the_extension_picks_candidates_too(tmp_path):
    """``--take grid+picks`` (the test suite's rates for the shortcut and the candidates,
    v2-plan.md "Session 22"): each entry's whole grid, then its picks off the grid from the
    merged files, a candidate written as a candidate (its spec, its rates) and a failed pick
    left out. Expected, by hand: sft keeps 1e-4 and 1e-3 and gains 3.3e-3 (A's extension);
    lf-test keeps both rates and gains 1e-2 (B's), not 3e-5 (A's, failed on its tuning draw)."""
    tuning = _tuning()
    spec = tmp_path / "cand.json"
    spec.write_text(json.dumps({"spec": {
        "name": "lf-test", "mirror_map": "p*log(p)", "beta": 0.1, "reference": True,
        "link": "-2*D - 3/2", "imitation": "-l/10", "w_pref": "1", "w_sft": "1",
        "aggregation": "sum", "params": {}, "description": ""}}))
    source = tmp_path / "rates.toml"
    source.write_text(f'lr = [0.0001, 0.001]\n[baselines.sft]\n[candidates.lf-test]\n'
                      f'spec = "{spec}"\n')
    sha = tuning.read_sweep(source).sha256
    cand = {"spec": str(spec)}
    a = _tuned(tmp_path, "a.json", {"A": {
        "sft": {**_pick("sft:lr=0.0033"), "extended_from": "sft[lr=0.001]"},
        "lf-test": {**_pick("lf-test:lr=3.3e-05"), **cand, "failed_on_tuning": True}}},
        source, sha)
    b = _tuned(tmp_path, "b.json", {"B": {
        "sft": _pick("sft:lr=0.0001"),
        "lf-test": {**_pick("lf-test:lr=0.01"), **cand, "extended_from": "lf-test[lr=0.001]"}}},
        source, sha)
    decl = _written(tuning, tmp_path, a, b, "--take", "grid+picks", "--keep", "3")
    assert decl.grid == {"sft": ["sft:lr=0.0001", "sft:lr=0.001", "sft:lr=0.0033"],
                         "lf-test": ["lf-test:lr=0.0001", "lf-test:lr=0.001", "lf-test:lr=0.01"]}
    assert decl.specs == {"lf-test": str(spec)} and decl.keep == 3
    # --take picks still leaves the candidate out: it has its own sweep file there
    assert _written(tuning, tmp_path, a, b).grid == {"sft": ["sft:lr=0.0001", "sft:lr=0.0033"]}
    # a rate is written exactly (a loss's label keeps six digits: 0.00123457)
    c = _tuned(tmp_path, "c.json", {"C": {"sft": _pick("sft:lr=0.00123456789")}}, source, sha)
    assert _written(tuning, tmp_path, c, "--take", "grid+picks").grid["sft"][-1] == \
        "sft:lr=0.00123456789"
    # only for sweeps of learning rates alone: another knob is refused, naming it
    _, _, d, _ = _two_scenarios(tmp_path, {"dpo": _pick("dpo:beta=2.0:lr=0.001")})
    done = _shortlist(d, "--take", "grid+picks", "--out", tmp_path / "no.toml")
    assert done.returncode == 2 and "dpo has the knob beta beside lr" in done.stderr
    assert not (tmp_path / "no.toml").exists()
