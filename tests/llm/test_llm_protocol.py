"""The benchmark protocol of ``benchmarks/baselines.py`` (sweep, tuned, confirm) on the LLM test
bed: ``llm:<task>/<variant>`` scenarios, ``lr=`` and ``draw=`` of ``lossforge.llm.fitness``, the
fixed rows. Tiny budgets (the ``tiny_bed`` fixture of test_llm_search.py): seconds."""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import test_llm_search

from lossforge import objectives
from lossforge.llm import fitness as F
from lossforge.llm import model as M
from lossforge.llm.tasks import get_task

REPO = Path(__file__).resolve().parents[2]
TINY = test_llm_search.TINY
tiny_bed = test_llm_search.tiny_bed   # the fixture: tiny budgets and splits, a private cache
SCRIPT = str(REPO / "benchmarks" / "baselines.py")


def _benchmark(name: str):
    """benchmarks/<name>.py (cells, tuning, confirmation, ...), imported as the scripts there
    import each other."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module(name)


def test_the_search_path_scores_what_the_code_before_draws_scored(tiny_bed):
    """``--fitness llm`` (draw 0, the budget's rates picked on dev prompts) is unchanged: the
    values pinned here are what 4575fe5 (before lr= and draw= existed) computes at this tiny
    budget (git archive 4575fe5, same settings: dpo 60.0, orpo 62.0 on sort/mixed-quality with
    N_EVAL 50, N_DEV 20, 32 pairs, 1 epoch, lrs 1e-5 and 3e-5)."""
    dpo, orpo = F.evaluate([objectives.get("dpo"), objectives.get("orpo")],
                           "sort/mixed-quality", "quick")
    assert (dpo.status, dpo.per_seed, orpo.status, orpo.per_seed) == \
        ("ok", (60.0,), "ok", (62.0,))
    assert sorted(tiny_bed) == sorted((n, lr) for n in ("dpo", "orpo") for lr in TINY.lrs)


def test_draw_zero_is_the_seeds_own_material_and_cache_entry():
    task = get_task("reverse")
    for seed in (0, 3):
        assert F.splits(task, seed, 0) == task.splits(seed, F.N_EVAL, F.N_PREF, F.N_DEV)
        assert F.data_seed(seed, 0) == seed
        # the cache key of every SFT base built before draws existed (the old formula)
        import transformers

        blob = json.dumps({"v": 1, "task": "reverse", "seed": seed, "model": asdict(F.MODEL),
                           "sft": asdict(F.sft_config(task)),
                           "splits": [F.N_EVAL, F.N_PREF, F.N_DEV],
                           "torch": torch.__version__,
                           "transformers": transformers.__version__}, sort_keys=True)
        key = hashlib.sha256(blob.encode()).hexdigest()[:16]
        assert F.sft_path(task, seed) == M.cache_dir("llm_bed") / f"reverse-s{seed}-{key}"


def test_tuning_and_reporting_draws_share_no_prompt_and_no_sft_base():
    task = get_task("reverse")
    prompts = {d: set().union(*F.splits(task, 0, d).values()) for d in ("t", 1, 2, 8)}
    for d in (1, 2, 8):
        assert not prompts["t"] & prompts[d]                  # eval, pref, dev and SFT alike
        assert F.data_seed(0, d) == 1000 * d != F.data_seed(0, "t") == 999_000
    assert F.splits(task, 0, 1)["eval"] != F.splits(task, 0, 2)["eval"]   # another instance
    for d in ("t", 1):
        s = F.splits(task, 0, d)
        held = [p for k in ("eval", "pref", "dev") for p in s[k]]
        assert len(set(held) | set(s["sft"])) == len(held) + len(s["sft"])   # disjoint
        assert len(s["sft"]) == task.space // 2 - len(held)
        # the seed is the training order only: the data and the SFT base are the draw's
        assert F.splits(task, 5, d) == s and F.sft_path(task, 5, d) == F.sft_path(task, 0, d)
    paths = {F.sft_path(task, 0, d) for d in (0, "t", 1, 2)}
    assert len(paths) == 4
    pairs_t = F.pairs_of(task, F.get_variant("clean"), 0, 50, "t")
    pairs_1 = F.pairs_of(task, F.get_variant("clean"), 0, 50, 1)
    assert not {p["prompt"] for p in pairs_t} & {p["prompt"] for p in pairs_1}


def test_lr_trains_at_exactly_that_rate_without_dev_selection(tiny_bed, monkeypatch):
    from lossforge.integrations.trl import LossforgeDPOTrainer

    seen, decoded = [], []
    train, accuracy = LossforgeDPOTrainer.train, M.accuracy

    def recording(self, *a, **k):
        out = train(self, *a, **k)
        seen.append((self.args.learning_rate, self.optimizer.param_groups[0]["lr"]))
        return out

    monkeypatch.setattr(LossforgeDPOTrainer, "train", recording)
    monkeypatch.setattr(M, "accuracy",
                        lambda *a, **k: decoded.append(len(a[2])) or accuracy(*a, **k))
    (r,) = F.evaluate([objectives.get("dpo")], "sort/clean", "quick", lr=7e-6, draw=1)
    assert r.status == "ok"
    assert tiny_bed == [("dpo", 7e-6)] and seen == [(7e-6, 7e-6)]   # the optimiser's rate too
    assert decoded == [F.N_EVAL]                                    # eval prompts only, no dev


def _row_keys(rows, role):
    return {frozenset(r) for r in rows if r.get("role") == role}


def test_an_llm_scenario_runs_through_run_cells_with_the_fixed_rows(tiny_bed, tmp_path,
                                                                  monkeypatch):
    cells = _benchmark("cells")
    from lossforge.bench.scenarios import load_scenario

    name = "llm:sort/clean"
    scen = cells.load_bed(name)
    assert cells.fitness_of(name) is F and cells.LLM_FIXED == F.FIXED
    (cfg,) = cells.configs_from_losses("dpo:lr=3e-05", scen, role="baseline", baseline="dpo")
    out = tmp_path / "llm.jsonl"
    book = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("LOSSFORGE_LEDGER", str(book))
    cells.run_cells(out, {name: scen}, {name: [cfg]}, draws=(1,), seeds=[0], budget="quick",
                    workers=1, fixed=True, command="test", quiet=True)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    (entry,) = [json.loads(x) for x in book.read_text().splitlines()]
    assert entry["kind"] == "baselines" and entry["scenario"] == [name] and entry["seeds"] == [0]
    assert [r["loss"] for r in rows] == ["reference (SFT base)", "dpo[lr=3e-05]"]
    assert all(r["status"] == "ok" and r["draw"] == 1 and r["dataset_seed"] == 1000
               for r in rows)
    ref, dpo = rows
    # the fields of a row (the module docstring of baselines.py: cost, command, what it ran)
    common = {"scenario", "draw", "dataset_seed", "seed", "budget", "loss", "status", "score",
              "final", "auc", "auc_over", "curve", "seconds", "wall_share", "batch_rows",
              "machine", "command", "role"}
    assert set(ref) == common and set(dpo) == common | {"baseline", "lr"}
    assert dpo["seconds"] > 0 and dpo["batch_rows"] == 1 and ref["batch_rows"] == 1
    # one job at a time: a job's share of the wall time is all of its own time, and more
    assert dpo["wall_share"] >= dpo["seconds"] and ref["wall_share"] >= ref["seconds"]
    assert ref["machine"] == dpo["machine"] and "torch " + torch.__version__ in dpo["machine"]
    assert dpo["lr"] == 3e-5 and dpo["auc"] == dpo["final"] == dpo["score"]
    # the reference is the draw's SFT base, untouched: its exact-match accuracy, decoded here
    task = get_task("sort")
    tok = F.tokenizer_of("sort")
    base = M.load_base(F.sft_base(task, 0, draw=1)[0])
    prompts = F.splits(task, 0, 1)["eval"]
    answers = M.decode(base, tok, prompts, task.max_new)
    right = sum(a.split(M.EOS)[0] == task.answer(p) for p, a in zip(prompts, answers))
    assert ref["score"] == ref["final"] == 100.0 * right / len(prompts)
    assert ref["auc_over"] == "untrained"
    # the reference does not train, and dpo trains once, at its own rate: no row of the
    # protocol picks a rate on dev prompts (sft on the chosen answers is a tuned baseline)
    assert tiny_bed == [("dpo[lr=3e-05]", 3e-5)]
    # resumable: nothing is trained again
    tiny_bed.clear()
    cells.run_cells(out, {name: scen}, {name: [cfg]}, draws=(1,), seeds=[0], budget="quick",
                    workers=1, fixed=True, command="test", quiet=True)
    assert tiny_bed == [] and len(out.read_text().splitlines()) == 2
    # ... and a re-run that trains nothing looks at no data: no second ledger entry
    assert len(book.read_text().splitlines()) == 1
    # the same fields as a MuJoCo row of the same kind: MuJoCo's fitness replaced by a stand-in
    # that returns what bench.fitness returns (Fitness with a curve) without the minute of
    # dataset and BC building; the rows are what run_cells makes of them
    from lossforge.bench import fitness as bench

    def fake(names):
        return [bench.Fitness(n, "ok", 1.0, float("nan"), (1.0,), 1.0, 1.0, 0.0, ((0, 1.0),))
                for n in names]

    monkeypatch.setattr(bench, "fixed_policies", lambda scen, budget, seed, names, **k: {
        f.name: f for f in fake(names)})
    monkeypatch.setattr(bench, "evaluate", lambda objs, *a, **k: fake([o.name for o in objs]))
    mj = tmp_path / "mujoco.jsonl"
    quick = load_scenario("quick")
    (mcfg,) = cells.configs_from_losses("dpo:lr=0.001", quick, role="baseline", baseline="dpo")
    cells.run_cells(mj, {"quick": quick}, {"quick": [mcfg]}, draws=(0,), seeds=[0], budget="quick",
                    workers=1, fixed=True, command="test", quiet=True)
    mrows = [json.loads(x) for x in mj.read_text().splitlines()]
    # ... but for what only a MuJoCo row records: the digests of the dataset and BC reference
    # it trained on (v2-plan.md, Session 22; the LLM bed builds neither)
    digests = {"dataset_sha256", "reference_sha256"}
    assert all(digests <= set(r) for r in mrows)
    mrows = [{k: v for k, v in r.items() if k not in digests} for r in mrows]
    assert _row_keys(rows, "fixed") == _row_keys(mrows, "fixed")
    assert len(_row_keys(rows, "fixed")) == 1
    assert _row_keys(rows, "baseline") == _row_keys(mrows, "baseline") != set()


def test_tuned_on_llm_sweep_rows_picks_the_hand_computed_configs(tmp_path):
    """Halving keep 1: stage 1 (seed 100) keeps dpo beta 0.5 (50 > 40) and sft lr 1e-5 (a tie
    at 20: file order); the picks are their means over seeds 100-102; the cut config's later
    rows (90) never win."""
    sweep = tmp_path / "s.toml"
    knobs = ("lr = [1e-05]\n[baselines.dpo]\nbeta = [0.1, 0.5]\n"
             "[baselines.sft]\nlr = [1e-05, 3e-05]\n")
    sweep.write_text(knobs + "[halving]\nkeep = 1\n")
    tag = {"file": str(sweep), "sha256": hashlib.sha256(knobs.encode()).hexdigest(),
           "halving": {"keep": 1}, "seeds": [100, 101, 102]}
    table = {"dpo[beta=0.1,lr=1e-05]": (40, 90, 90), "dpo[beta=0.5,lr=1e-05]": (50, 30, 35),
             "sft[lr=1e-05]": (20, 25, 27), "sft[lr=3e-05]": (20, None, None)}
    rows = [{"scenario": "llm:reverse/noisy-0.2", "draw": "t", "seed": seed, "budget": "full",
             "loss": label, "status": "ok", "score": acc, "auc": acc, "final": acc,
             "auc_over": "checkpoints", "role": "sweep", "sweep": tag,
             "baseline": label.split("[")[0], "command": "test"}
            for label, accs in table.items() for seed, acc in zip((100, 101, 102), accs)
            if acc is not None]
    jsonl = tmp_path / "sweep.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = subprocess.run([sys.executable, SCRIPT, "tuned", str(jsonl)], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    picks = json.loads((tmp_path / "sweep.tuned.json").read_text())["scenarios"][
        "llm:reverse/noisy-0.2"]
    assert picks["dpo"]["loss"] == "dpo[beta=0.5,lr=1e-05]"
    assert picks["dpo"]["auc"] == pytest.approx((50 + 30 + 35) / 3)
    assert picks["sft"]["loss"] == "sft[lr=1e-05]" and picks["sft"]["auc"] == 24
    assert picks["sft"]["item"] == "sft:lr=1e-05"


def test_confirm_on_llm_defaults_to_eight_draws_of_one_seed(tmp_path, monkeypatch):
    confirmation = _benchmark("confirmation")
    frozen = {"budget": "full", "seeds": [100, 101, 102], "draw": "t", "scenarios": {
        "llm:reverse/mixed-quality": {"dpo": {"item": "dpo:beta=0.5:lr=3e-05",
                                               "loss": "dpo[beta=0.5,lr=3e-05]",
                                               "config": {"beta": 0.5, "lr": 3e-5}}}}}
    (tmp_path / "tuned.json").write_text(json.dumps(frozen))
    got = {}
    monkeypatch.setattr(confirmation, "run_cells", lambda out, scens, configs, **k: got.update(
        configs=configs, **k))
    monkeypatch.setattr(confirmation, "report", lambda path: None)
    confirmation.confirm(argparse.Namespace(
        tuned=[str(tmp_path / "tuned.json")], spec=[], from_run=[], scenarios=None,
        draws=None, seeds=None, budget=None, no_fixed=False, workers=1,
        out=str(tmp_path / "c.jsonl")))
    assert got["draws"] == tuple(range(1, 9)) and list(got["seeds"]) == [0] and got["fixed"]
    (c,) = got["configs"]["llm:reverse/mixed-quality"]
    assert (c.name, c.lr, c.objective.spec.beta) == ("dpo[beta=0.5,lr=3e-05]", 3e-5, 0.5)


@pytest.mark.parametrize("name,said", [
    ("llm:reverse/nope", "LLM variant 'nope'"),
    ("llm:reverse", "LLM scenario 'reverse': expected <task>/<variant>"),
    ("llm:revers/clean", "LLM task 'revers'")])
def test_a_bad_llm_scenario_exits_2_with_one_line_and_writes_nothing(tmp_path, name, said):
    out = tmp_path / "s.jsonl"
    proc = subprocess.run([sys.executable, SCRIPT, "sweep",
                           str(REPO / "benchmarks" / "sweeps" / "llm-smoke.toml"),
                           "--scenarios", f"hopper-clean,{name}", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and said in proc.stderr
    assert not out.exists()
