"""``baselines.py suite-reference``: the regret reference of a suite search from tuned baselines
(issue 19: regret to the best *tuned* baseline of each scenario), trained on the search's own
units and read back by ``--suite-baselines`` with the regret paired per seed. No training: a
fake ``fitness.evaluate`` returns scores from a table; the expected file is worked out by hand."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from lossforge.errors import ConfigError
from lossforge.search import suite_fitness as sf

REPO = Path(__file__).resolve().parents[2]
NAN = float("nan")
CLEAN, NOISY = "hopper-padded-clean", "hopper-padded-noisy-0.3"

#: score by (scenario, baseline, rung, seed). By hand: quick (seed 0): clean orpo 7 > dpo 5,
#: noisy dpo 3 > orpo 2; screen (seeds 0, 1): clean dpo mean 15 > orpo 14 (although orpo
#: leads on seed 0), noisy orpo mean 5 > dpo 4 (although dpo leads on seed 0).
SCORES = {(CLEAN, "dpo", "quick", 0): 5, (CLEAN, "orpo", "quick", 0): 7,
          (NOISY, "dpo", "quick", 0): 3, (NOISY, "orpo", "quick", 0): 2,
          (CLEAN, "dpo", "screen", 0): 10, (CLEAN, "dpo", "screen", 1): 20,
          (CLEAN, "orpo", "screen", 0): 16, (CLEAN, "orpo", "screen", 1): 12,
          (NOISY, "dpo", "screen", 0): 4, (NOISY, "dpo", "screen", 1): 4,
          (NOISY, "orpo", "screen", 0): 1, (NOISY, "orpo", "screen", 1): 9}
ITEMS = {CLEAN: {"dpo": "dpo:beta=2.0:lr=0.001", "orpo": "orpo:lam=0.1:lr=0.0003"},
         NOISY: {"dpo": "dpo:beta=8.0:lr=0.0003", "orpo": "orpo:lam=2.0:lr=0.001"}}


def _tuning():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import tuning

    return tuning


def _setup(tmp_path: Path, monkeypatch):
    tuning = _tuning()
    from lossforge.bench import fitness
    from lossforge.bench.fitness import Fitness

    calls = []

    def evaluate(objs, scen, budget, *, seeds, workers, draw, lr, progress):
        assert draw == 0 and len(seeds) == 1
        out = []
        for o in objs:
            calls.append((scen.name, o.name, budget, seeds[0], lr))
            s = float(SCORES[scen.name, o.name.split("[")[0], budget, seeds[0]])
            out.append(Fitness(o.name, "ok", s, NAN, (s,), s, s, 0.0, ()))
        return out

    monkeypatch.setattr(fitness, "evaluate", evaluate)
    # nor any dataset or reference built for the fake (two scenarios' took 331 s of a CI run)
    monkeypatch.setattr(fitness, "warm_up", lambda *a, **k: None)
    monkeypatch.setattr(sf, "reference_score", lambda fit, path, rung, metric: 2.0)
    monkeypatch.setattr(sys, "argv", ["baselines.py", "suite-reference"])
    suite = tmp_path / "train.toml"
    suite.write_text(f'name = "train"\nrole = "train"\n[[scenarios]]\nname = "{CLEAN}"\n'
                     f'weight = 1.0\n[[scenarios]]\nname = "{NOISY}"\nweight = 3.0\n')
    tuned = []
    for scen, items in ITEMS.items():   # one tuned file per scenario, as the sweeps write them
        picks = {bl: {"item": it, "loss": tuning._label(it),
                      "config": tuning._knobs(tuning._label(it))}
                 for bl, it in items.items()}
        picks["lf-x"] = {"item": "lf-x:lr=0.01", "loss": "lf-x[lr=0.01]", "spec": "x.json",
                         "config": {"lr": 0.01}}   # a candidate: never a reference
        f = tmp_path / f"{scen}.tuned.json"
        f.write_text(json.dumps({"budget": "full", "seeds": [100, 101, 102],
                                 "scenarios": {scen: picks}}))
        tuned.append(str(f))
    args = argparse.Namespace(suite=str(suite), tuned=tuned, rungs="quick,screen",
                              runs=str(tmp_path / "ref.jsonl"), workers=1,
                              out=str(tmp_path / "ref.json"))
    return tuning, args, calls


def test_the_best_tuned_baseline_per_rung_and_scenario_with_its_seeds(tmp_path, monkeypatch):
    tuning, args, calls = _setup(tmp_path, monkeypatch)
    tuning.suite_reference(args)
    got = json.loads(Path(args.out).read_text())
    label = {(s, bl): tuning._label(it) for s, items in ITEMS.items() for bl, it in items.items()}
    assert got["quick"] == {
        CLEAN: {"best": 7, "reference": 2, "baseline": label[CLEAN, "orpo"],
                "per_seed": {"0": 7}},
        NOISY: {"best": 3, "reference": 2, "baseline": label[NOISY, "dpo"], "per_seed": {"0": 3}}}
    assert got["screen"] == {
        CLEAN: {"best": 15, "reference": 2, "baseline": label[CLEAN, "dpo"],
                "per_seed": {"0": 10, "1": 20}},
        NOISY: {"best": 5, "reference": 2, "baseline": label[NOISY, "orpo"],
                "per_seed": {"0": 1, "1": 9}}}
    # each baseline trained at its tuned rate on the search's units only; no candidate trained
    assert sorted(calls) == sorted((s, label[s, bl], rung, seed,
                                    float(ITEMS[s][bl].rpartition("lr=")[2]))
                                   for s, bl, rung, seed in SCORES)
    # resumable: a second call trains nothing and writes the same file
    calls.clear()
    tuning.suite_reference(args)
    assert calls == [] and json.loads(Path(args.out).read_text()) == got
    # written once: where the reference now scores otherwise (another machine), the file that
    # records the table a search started from is kept byte for byte
    before = Path(args.out).read_bytes()
    monkeypatch.setattr(sf, "reference_score", lambda fit, path, rung, metric: 3.0)
    tuning.suite_reference(args)
    assert Path(args.out).read_bytes() == before

    # --suite-baselines reads it back with the regret paired per seed:
    # clean, screen, seed 1: (20 - 12) / max(15 - 2, 1) = 8 / 13
    units = [sf.Unit(CLEAN, 0), sf.Unit(CLEAN, 1), sf.Unit(NOISY, 0), sf.Unit(NOISY, 1)]
    table = sf.frozen_table(args.out, "screen", units)
    assert sf.unit_regret(table, sf.Unit(CLEAN, 1), 12.0) == pytest.approx(8 / 13, rel=1e-15)
    assert sf.unit_regret(table, sf.Unit(NOISY, 0), 0.0) == pytest.approx(1 / 3, rel=1e-15)
    assert table[CLEAN]["best"] == label[CLEAN, "dpo"]


def test_a_suite_scenario_without_tuned_configs_and_a_file_missing_a_seed_are_refused(
        tmp_path, monkeypatch):
    tuning, args, calls = _setup(tmp_path, monkeypatch)
    with pytest.raises(ConfigError, match=f"no tuned configs for {NOISY}"):
        tuning.suite_reference(argparse.Namespace(**{**vars(args), "tuned": args.tuned[:1]}))
    assert calls == []
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"screen": {CLEAN: {"best": 15, "reference": 2,
                                                  "per_seed": {"0": 10}}}}))
    with pytest.raises(ConfigError, match=r"field 'screen\.hopper-padded-clean\.per_seed\.1'"):
        sf.frozen_table(str(bad), "screen", [sf.Unit(CLEAN, 0), sf.Unit(CLEAN, 1)])
    # a reference of AUCs for a search that selects on final scores
    bad.write_text(json.dumps({"metric": "auc", "screen": {CLEAN: {"best": 15, "reference": 2}}}))
    with pytest.raises(ConfigError, match="the scores are 'auc', the search selects on 'final'"):
        sf.frozen_table(str(bad), "screen", [sf.Unit(CLEAN, 0)], "final")
    assert sf.frozen_table(str(bad), "screen", [sf.Unit(CLEAN, 0)], "auc")[CLEAN]["scale"] == 13
