"""The shortcut audit: label predictors on hand-built pairs, the shortcut flag on constructed
tables, zero_pref through the trainer, and ``benchmarks/audit.py`` on the quick scenario."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lossforge import objectives
from lossforge.bench import audit
from lossforge.bench.datasets import build_dataset
from lossforge.bench.fitness import (Fitness, evaluate_policies, reference_policy,
                                     training_data)
from lossforge.bench.policy import PolicySpec, init_params
from lossforge.bench.scenarios import load_scenario
from lossforge.bench.trainer import TrainConfig, train_population
from harness_fixtures import synthetic_dataset

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "audit.py")


def toy_dataset():
    """Ten labelled pairs and one tie label. Lengths (side 0, side 1), chosen side:
    6 pairs of unequal length, the longer side chosen in 5 of them (pair 5 chose the shorter);
    4 pairs of equal length; pair 10 (longer side 1) has a soft label 1/2, so no chosen side."""
    lengths = np.array([[200, 31], [69, 200], [150, 139], [10, 20], [200, 199], [40, 100],
                        [200, 200], [77, 77], [31, 31], [5, 5], [10, 200]], np.int32)
    chosen = np.array([0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0], np.int8)
    label_prob = np.array([1.0] * 10 + [0.5], np.float32)
    return SimpleNamespace(lengths=lengths, chosen=chosen, label_prob=label_prob)


def test_length_predictor_on_a_hand_built_dataset():
    ds = toy_dataset()
    ref_sum = -3.0 * ds.lengths.astype(float)  # |l_ref| grows with length: the same predictor
    ref_sum[6] = [-600.0, -500.0]  # an equal-length pair that |l_ref| separates (chosen: 1)
    stats = audit.label_stats(ds, ref_sum, ref_sum / ds.lengths)
    assert stats["labelled_pairs"] == 10 and stats["unlabelled_pairs"] == 1
    assert stats["unequal_lengths"] == 0.6
    assert stats["p_chosen_longer"] == 5 / 6
    length = stats["predictors"]["length"]
    assert length["tied"] == 0.4 and length["accuracy"] == 5 / 6
    assert length["accuracy_coin"] == (5 + 0.5 * 4) / 10
    # |l_ref| sum: the length's answers plus pair 6, which it gets wrong (-600 is side 0)
    lref = stats["predictors"]["|l_ref| sum"]
    assert lref["tied"] == 0.3 and lref["accuracy"] == 5 / 7
    # per-step mean: -3 everywhere except pair 6 (-3 vs -2.5, picks side 1 = chosen): one hit
    mean = stats["predictors"]["l_ref mean"]
    assert mean["tied"] == 0.9 and mean["accuracy"] == 1.0
    assert mean["accuracy_coin"] == (1 + 0.5 * 9) / 10


def test_pair_accuracy_rejects_misshaped_scores():
    with pytest.raises(ValueError, match="N, 2"):
        audit.pair_accuracy(np.zeros((3, 3)), np.zeros(3))


@pytest.mark.parametrize("table,flag", [
    # a shortcut above every other row, intervals apart
    ({"dpo": (20.0, 1.0), "orpo": (22.0, 1.5), "length_sft[c=150]": (30.0, 1.0)},
     "shortcut best"),
    # a shortcut on top but its interval touches orpo's
    ({"dpo": (20.0, 1.0), "orpo": (27.5, 1.5), "length_sft": (30.0, 1.0)},
     "shortcut level with best"),
    # a shortcut below the best loss but within its interval
    ({"dpo": (30.0, 2.0), "sft": (28.5, 0.5)}, "shortcut level with best"),
    # every shortcut below the best loss, intervals apart
    ({"dpo": (30.0, 1.0), "sft": (25.0, 1.0), "zero_pref": (26.0, 2.0),
      "reference (BC)": (26.0, float("nan"))}, None),
    # the failed (NaN) shortcut does not count
    ({"dpo": (30.0, 1.0), "length_sft": (float("nan"), float("nan"))}, None),
    # one seed: no CI, a shortcut with the highest mean is best
    ({"dpo": (20.0, float("nan")), "zero_pref": (21.0, float("nan"))}, "shortcut best"),
    ({"dpo": (20.0, float("nan")), "zero_pref": (20.0, float("nan"))},
     "shortcut level with best"),
    # no shortcut rows, or only shortcut rows
    ({"dpo": (20.0, 1.0), "orpo": (30.0, 1.0)}, None),
    ({"sft": (20.0, 1.0)}, None),
])
def test_shortcut_flag_on_constructed_tables(table, flag):
    assert audit.shortcut_flag(table) == flag


def test_shortcut_flag_reads_fitness_rows():
    def row(name, score, ci):
        return Fitness(name, "ok", score, ci, (score,), score, score, 1.0)
    rows = {"dpo": row("dpo", 10.0, 1.0), "bc-on-chosen": row("bc-on-chosen", 15.0, 1.0)}
    assert audit.shortcut_flag(rows) == "shortcut best"
    assert audit.is_shortcut("length_sft[c=90]") and not audit.is_shortcut("dpo[beta=2]")


def test_zero_pref_leaves_the_reference_bit_identical():
    """Trained with DPO beside it (batched: one backward for both) and alone (processes path):
    zero_pref's parameters at every checkpoint and at the end are the reference's, bit for bit,
    while DPO's moved."""
    ds = synthetic_dataset(n_pairs=16, horizon=9, seed=7)
    spec = PolicySpec(obs_dim=11, act_dim=3, bins=7, hidden=(16, 16))
    ref = init_params(spec, torch.Generator().manual_seed(3), obs_mean=torch.full((11,), 0.5),
                      obs_std=torch.full((11,), 2.0))
    cfg = TrainConfig(steps=12, batch_pairs=4, lr=3e-3, eval_every=5, workers=1)
    zero, dpo = objectives.get("zero_pref"), objectives.get("dpo", beta=1.0)
    for mode, objs in (("batched", [zero, dpo]), ("processes", [zero])):
        runs = train_population(objs, ds, ref, [0, 1], cfg, mode=mode)
        for run in runs[:2]:
            assert run.ok and run.objective == "zero_pref"
            assert np.all(run.loss == 0.0)
            for params in run.checkpoints + [run.params]:
                assert params.keys() == ref.keys()
                assert all(torch.equal(params[k], ref[k]) for k in ref)
        if mode == "batched":
            assert not torch.equal(runs[2].params["w2"], ref["w2"])


def test_dataset_cache_file_is_where_build_dataset_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSFORGE_CACHE", str(tmp_path))
    quick = load_scenario("quick")
    path = audit.dataset_cache_file(quick)
    assert not path.exists()
    ds = build_dataset(quick)
    assert Path(ds.meta["cache_file"]) == path and path.exists()
    assert audit.dataset_cache_file(quick, seed=5) != path


def test_audit_cli_on_quick(tmp_path):
    """P(chosen longer) and the per-level numbers are the dataset's own (counted here with
    numpy); at the quick budget zero_pref scores exactly what the reference scores on the same
    episodes, at every checkpoint."""
    out = tmp_path / "audit.md"
    r = subprocess.run([sys.executable, SCRIPT, "quick", "missing-scenario-is-an-error"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "missing-scenario-is-an-error" in r.stderr
    # --build: on a fresh machine nothing has cached the quick dataset yet (without it the
    # audit skips the scenario, and this test passed only after another test had built it)
    ledger = tmp_path / "ledger.jsonl"
    subprocess.run([sys.executable, SCRIPT, "quick", "--budget", "quick", "--workers", "1",
                    "--build", "--out", str(out)], check=True, capture_output=True, text=True,
                   timeout=600, env={**os.environ, "LOSSFORGE_LEDGER": str(ledger)})
    [entry] = [json.loads(x) for x in ledger.read_text().splitlines()]  # in the run ledger
    assert entry["kind"] == "audit" and entry["scenario"] == ["quick"]
    assert entry["budget"] == "quick" and entry["command"].startswith(
        "python benchmarks/audit.py quick --budget quick")
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["command"].startswith("python benchmarks/audit.py quick --budget quick")
    assert len(report["audits"]) == 1, "the scenario was skipped"
    (a,) = report["audits"]
    scen = load_scenario("quick")
    dataset, ref = reference_policy(scen)
    i = np.arange(len(dataset))
    c = dataset.chosen.astype(int)
    lc, lr = dataset.lengths[i, c], dataset.lengths[i, 1 - c]
    assert a["p_chosen_longer"] == np.sum(lc > lr) / np.sum(lc != lr)
    assert a["unequal_lengths"] == np.mean(lc != lr)
    assert a["labelled_pairs"] == len(dataset) == scen.n_pairs
    ref_sum = training_data(scen).ref_logps["sum"].numpy()  # what the losses see
    sc_, sr_ = ref_sum[i, c], ref_sum[i, 1 - c]
    assert a["predictors"]["|l_ref| sum"]["accuracy"] == np.sum(sc_ < sr_) / np.sum(sc_ != sr_)
    levels = {lv["level"]: lv for lv in a["levels"]}
    assert sum(lv["segments"] for lv in levels.values()) == 2 * len(dataset)
    assert sum(lv["chosen_share"] * lv["segments"] for lv in levels.values()) == len(dataset)
    md = out.read_text()
    assert report["command"] in md and f"| quick | {len(dataset)} | {scen.horizon} |" in md

    sc = a["shortcuts"]
    rows = {row["loss"]: row for row in sc["rows"]}
    assert set(rows) == {"dpo", "orpo", "cdpo", "sft", "length_sft", "zero_pref"}
    assert rows["length_sft"]["params"] == {"c": math.ceil(0.75 * scen.horizon)}
    assert [r["shortcut"] for r in sc["rows"]] == [False] * 3 + [True] * 3
    reference = evaluate_policies({"ref": ref.params}, scen, "quick")["ref"].score
    curve = [v for _, v in rows["zero_pref"]["curve"]]
    assert len(curve) == scen.quick.train_steps // scen.quick.eval_every and len(curve) >= 2
    assert curve == [reference] * len(curve)

    # run again (as after a kill): the scenario is taken from the JSON, nothing trains, the
    # numbers are the same; other settings (labels only) audit it afresh, without shortcuts
    booked = {**os.environ, "LOSSFORGE_LEDGER": str(ledger)}
    again = subprocess.run([sys.executable, SCRIPT, "quick", "--budget", "quick", "--workers",
                            "1", "--out", str(out)], check=True, capture_output=True,
                           text=True, timeout=120, env=booked)
    assert "quick: taken from" in again.stdout and "shortcut baselines" not in again.stdout
    assert json.loads(out.with_suffix(".json").read_text())["audits"] == report["audits"]
    assert len(ledger.read_text().splitlines()) == 1   # it looked at no data: no entry
    labels = subprocess.run([sys.executable, SCRIPT, "quick", "--out", str(out)], check=True,
                            capture_output=True, text=True, timeout=120, env=booked)
    assert "taken from" not in labels.stdout
    assert json.loads(ledger.read_text().splitlines()[-1])["purpose"].endswith(
        "label statistics only (no loss trained)")
    (b,) = json.loads(out.with_suffix(".json").read_text())["audits"]
    assert "shortcuts" not in b and b["p_chosen_longer"] == a["p_chosen_longer"]
    # a file that is not this script's audit is refused, not overwritten
    out.with_suffix(".json").write_text("[1, 2]")
    bad = subprocess.run([sys.executable, SCRIPT, "quick", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not an audit file" in bad.stderr
    assert out.with_suffix(".json").read_text() == "[1, 2]"
    assert rows["zero_pref"]["final"] == reference
    assert sc["flag"] == audit.shortcut_flag({k: (v["score"], v["ci95"]) for k, v in rows.items()})
    assert f"**{sc['flag'] or 'no shortcut flag'}**" in md
