"""Suite fitness (lossforge/search/suite_fitness.py) on the probe fitness: the aggregate is the
weighted mean (and the max) of per-scenario regrets computed here by hand from the probe's own
per-scenario scores; a suite search records the per-scenario breakdown, and a killed and resumed
suite search (racing included) ends exactly as an uninterrupted one."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from rich.console import Console

from lossforge.errors import ConfigError
from lossforge.objectives import get
from lossforge.search import checkpoint, probe_fitness, run_search, suite_fitness
from lossforge.search.engine import SearchConfig, deterministic_view
from lossforge.search.summary import show
from search_helpers import AfterCheckpoint, kill_9_when

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TRAIN = "benchmarks/suites/train.toml"
# benchmarks/suites/train.toml, written out: every scenario weight 1, mixed quality 2
WEIGHTS = {"hopper-padded-clean": 1, "hopper-padded-noisy-0.1": 1, "hopper-padded-noisy-0.2": 1,
           "hopper-padded-noisy-0.3": 1, "hopper-padded-noisy-0.4": 1,
           "hopper-padded-ambiguous": 1, "hopper-padded-mixed-quality": 2}


def test_suite_fitness_is_the_weighted_mean_of_its_parts_on_the_probe():
    cand = get("dpo", beta=0.5)
    dpo, orpo = get("dpo", beta=0.1), get("orpo")
    [res] = suite_fitness.evaluate([cand], TRAIN, "quick", fitness="probe",
                                   baselines=[dpo, orpo])
    # by hand: each scenario scored on its own by the probe, best baseline, scale (reference 0)
    regret, scores = {}, {}
    for name in WEIGHTS:
        path = str(REPO / "benchmarks" / "scenarios" / f"{name}.toml")
        d, o, c = (f.score for f in probe_fitness.evaluate([dpo, orpo, cand], path, "quick"))
        best = max(d, o)
        regret[name] = (best - c) / max(best - 0.0, 3.0)   # the scale's floor: 3 points
        scores[name] = c
    assert len(set(scores.values())) == len(scores)   # the probe differs by scenario
    mean = sum(WEIGHTS[s] * r for s, r in regret.items()) / sum(WEIGHTS.values())
    suite = res["suite"]
    assert suite["mean_regret"] == pytest.approx(mean, rel=1e-12, abs=1e-12)
    assert suite["worst_regret"] == pytest.approx(max(regret.values()), rel=1e-12)
    assert res["score"] == pytest.approx(-100 * mean, rel=1e-12, abs=1e-10)
    for s, r in regret.items():
        assert suite["per_scenario"][s]["regret"] == pytest.approx(r, rel=1e-12, abs=1e-12)
        assert suite["per_scenario"][s]["score"] == pytest.approx(scores[s], rel=1e-12)
    [worst] = suite_fitness.evaluate([cand], TRAIN, "quick", fitness="probe",
                                     baselines=[dpo, orpo], objective="worst")
    assert worst["score"] == pytest.approx(-100 * max(regret.values()), rel=1e-12)


def test_the_best_baseline_itself_has_zero_regret_and_scores_plus_zero():
    """A candidate that is the only baseline has regret 0 on every unit: its score is 0.0, which
    prints as 0.00 (it was -0.0, printed -0.00)."""
    dpo = get("dpo", beta=0.1)
    [res] = suite_fitness.evaluate([dpo], TRAIN, "quick", fitness="probe", baselines=[dpo])
    assert res["suite"]["mean_regret"] == 0.0 and res["suite"]["worst_regret"] == 0.0
    assert f"{res['score']:.2f}" == "0.00"


def test_probe_keeps_its_batch_on_quick_and_without_a_scenario():
    """Earlier probe runs (scenario quick) keep their numbers: the batch there is the old one."""
    assert probe_fitness._variant(None) == probe_fitness._variant(
        REPO / "benchmarks" / "scenarios" / "quick.toml") == (20261125, 0.3)


#: the rung of the suite runs below: screen, whose two seeds a scenario make two rounds of
#: units, so racing has a stage to drop at (quick's one seed is one round: nothing to race)
RUNG = "screen"


def suite_cfg(**kw) -> SearchConfig:
    base = dict(suite=TRAIN, grammar="grammars/mirror_map_dcp.toml", population=12,
                generations=2, seed=4, budget=RUNG, multi_fidelity=False,
                fitness="search_helpers:slow_evaluate", workers=1)
    return SearchConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def markers(tmp_path_factory):
    d = tmp_path_factory.mktemp("suite-markers")
    old = os.environ.get("LF_MARKERS")
    os.environ["LF_MARKERS"] = str(d)
    yield d
    if old is None:
        del os.environ["LF_MARKERS"]
    else:
        os.environ["LF_MARKERS"] = old


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory, markers):
    return run_search(suite_cfg(), runs_root=tmp_path_factory.mktemp("suite"), quiet=True)


def view(run_dir: Path) -> dict:
    state = checkpoint.load(run_dir)
    return {"state": deterministic_view(state),
            "hof": deterministic_view(json.loads((run_dir / "hall_of_fame.json").read_text()))}


def test_suite_search_records_every_scenario_and_matches_the_naive_evaluation(suite_run):
    state = checkpoint.load(suite_run)
    assert set(state["suite"][RUNG]) == set(WEIGHTS)
    full = [lid for lid, rec in state["losses"].items()
            if RUNG in rec and not rec[RUNG]["suite"]["raced_out"]
            and rec[RUNG]["status"] == "ok"]
    assert full
    # the complete candidate furthest from the baselines has exactly the naive evaluation's record
    from lossforge.objectives import from_spec

    lid = max(full, key=lambda i: abs(state["losses"][i][RUNG]["suite"]["mean_regret"]))
    spec = from_spec(state["losses"][lid]["spec"], check=False)
    base = [from_spec(b["spec"], check=False) for b in state["baselines"].values()]
    [naive] = suite_fitness.evaluate([spec], TRAIN, RUNG, fitness="probe", baselines=base)
    got = state["losses"][lid][RUNG]["suite"]
    assert got["mean_regret"] != 0
    assert got["mean_regret"] == pytest.approx(naive["suite"]["mean_regret"], rel=1e-12)
    assert got["worst_regret"] == pytest.approx(naive["suite"]["worst_regret"], rel=1e-12)
    for s, p in naive["suite"]["per_scenario"].items():
        assert got["per_scenario"][s]["regret"] == pytest.approx(p["regret"], rel=1e-12)
        assert got["per_scenario"][s]["score"] == pytest.approx(p["score"], rel=1e-12)
    out = io.StringIO()
    show(suite_run, console=Console(file=out, width=200))
    text = out.getvalue()
    assert "hopper-padded-mixed-quality" in text and "worst" in text


def test_scores_pair_unit_by_unit_between_losses_and_baselines(suite_run):
    """Racing runs the units in a random order, the baselines in suite order: every loss's
    per_seed must still be in suite order, so that the verdict pairs the same (scenario, seed)
    on both sides. The verdict's difference is worked out here from the units' named scores."""
    state = checkpoint.load(suite_run)
    _, scenarios = suite_fitness.load(TRAIN)
    units = [suite_fitness.unit_name(u) for u in suite_fitness.units_of(scenarios, RUNG)]
    assert units != [suite_fitness.unit_name(u)   # the racing order is another one
                     for u in suite_fitness.unit_order(suite_fitness.units_of(scenarios,
                                                                              RUNG), 4,
                                                       RUNG)]
    records = [rec[RUNG] for rec in state["losses"].values()
               if RUNG in rec and rec[RUNG]["status"] == "ok"]
    records += [b[RUNG] for b in state["baselines"].values()]
    complete = [f for f in records if not f["suite"]["raced_out"]]
    assert len(complete) > 2
    for f in complete:
        assert f["per_seed"] == [f["suite"]["unit_scores"][u] for u in units]
    from lossforge.search.summary import verdict_lines

    results = json.loads((suite_run / "hall_of_fame.json").read_text())
    lines = verdict_lines(results, state)
    best_f = max((r for r in results["hall_of_fame"] if r.get(RUNG)),
                 key=lambda r: r[RUNG]["score"])[RUNG]
    dpo_f = state["baselines"]["dpo"][RUNG]
    best, dpo = best_f["suite"]["unit_scores"], dpo_f["suite"]["unit_scores"]
    diff = sum(best[u] - dpo[u] for u in units) / len(units)
    [line] = [x for x in lines if x.startswith("  ") and " DPO (beta " in x
              and not x.startswith("  Note: ")]       # named with its beta
    assert line.split("): ", 1)[1].startswith(f"{diff:+.2f} ± ")
    assert "paired over 14 units (scenario x seed)" in line
    # the HTML report's cell pairs the same way (page and terminal agree)
    from lossforge.report.page import _verdict_cell

    assert _verdict_cell(best_f, dpo_f)[0].startswith(f"{diff:+.2f} ± ")


def test_suite_search_kill_9_then_resume_equals_uninterrupted(tmp_path, suite_run, markers):
    """Killed while generation 2 races; the reference run did drop candidates there, so the
    resumed run must repeat racing's decisions, not only the evaluations."""
    state = checkpoint.load(suite_run)
    assert any(rec["born"] == 1 and rec[RUNG]["suite"]["raced_out"]
               for rec in state["losses"].values() if RUNG in rec)
    runs = tmp_path / "runs"
    mk = tmp_path / "markers"
    code = ("from lossforge.search import run_search, SearchConfig\n"
            f"run_search(SearchConfig(**{suite_cfg().to_json()!r}), runs_root={str(runs)!r}, "
            "quiet=True)\n")
    env = dict(os.environ, LF_MARKERS=str(mk),
               PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
    run_dir = kill_9_when(code, env, tmp_path, runs,
                          AfterCheckpoint(lambda d: len(list(mk.iterdir()))), timeout=120)
    assert checkpoint.load(run_dir)["generation"] == 1
    run_search(resume=run_dir, quiet=True)
    assert view(run_dir) == view(suite_run)


def test_suite_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="suite-objective"):
        SearchConfig(suite=TRAIN, suite_objective="median")
    with pytest.raises(ConfigError, match="race-delta"):
        SearchConfig(suite=TRAIN, race_delta=1.5)


def test_cli_refuses_the_test_suite_and_a_missing_suite_file(tmp_path, capsys):
    from lossforge.search.__main__ import main

    common = ["--fitness", "probe", "--runs-dir", str(tmp_path), "--ledger", "off", "--quiet"]
    assert main(["--suite", "benchmarks/suites/test.toml", *common]) == 2
    assert "test suite" in capsys.readouterr().err
    assert main(["--suite", "no/such/suite.toml", *common]) == 2
    err = capsys.readouterr().err
    assert "no/such/suite.toml" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())      # nothing started


def test_frozen_suite_baselines_give_the_hand_computed_regret(tmp_path):
    """--suite-baselines: B_s and R_s from a file; regret (B_s - c) / max(B_s - R_s, 3)."""
    best = {s: 10.0 + i for i, s in enumerate(WEIGHTS)}
    ref = {s: (2.0 if s != "hopper-padded-clean" else 10.5) for s in WEIGHTS}  # clean: the floor, 3
    path = tmp_path / "tuned.json"
    path.write_text(json.dumps({RUNG: {s: {"best": best[s], "reference": ref[s]}
                                          for s in WEIGHTS}}))
    run_dir = run_search(suite_cfg(fitness="probe", generations=1, suite_baselines=str(path)),
                         runs_root=tmp_path / "runs", quiet=True)
    state = checkpoint.load(run_dir)
    assert state["baselines"] == {}
    rec = next(r[RUNG] for r in state["losses"].values()
               if RUNG in r and r[RUNG]["status"] == "ok"
               and not r[RUNG]["suite"]["raced_out"])
    mean = 0.0
    for s, p in rec["suite"]["per_scenario"].items():
        want = (best[s] - p["score"]) / max(best[s] - ref[s], 3.0)
        assert p["regret"] == pytest.approx(want, rel=1e-12)
        mean += WEIGHTS[s] * want / sum(WEIGHTS.values())
    assert rec["suite"]["mean_regret"] == pytest.approx(mean, rel=1e-12)
    # no baseline ran, so the verdict is against the file's best of each scenario, paired by
    # unit: the mean of (best loss - file's best) over the 14 units (two seeds a scenario)
    from lossforge.search.summary import verdict_lines

    results = json.loads((run_dir / "hall_of_fame.json").read_text())
    top = max((r for r in results["hall_of_fame"] if r.get(RUNG)),
              key=lambda r: r[RUNG]["score"])[RUNG]
    diff = sum(p["score"] - best[s] for s, p in top["suite"]["per_scenario"].items()) / 7
    [line] = [x for x in verdict_lines(results, state) if "EACH SCENARIO (file): " in x]
    assert f"SCENARIO (file): {diff:+.2f} ± " in line and "over 14 units" in line
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({RUNG: {"hopper-padded-clean": {"best": "x", "reference": 0}}}))
    with pytest.raises(ConfigError, match=rf"bad.json: field '{RUNG}.hopper-padded-clean.best'"):
        run_search(suite_cfg(fitness="probe", suite_baselines=str(bad)),
                   runs_root=tmp_path / "runs2", quiet=True)
    assert not (tmp_path / "runs2").exists()    # refused before anything started
    # a missing key is called missing (it read "expected a number, got None")
    bad.write_text(json.dumps({RUNG: {s: {"best": 1.0} for s in WEIGHTS}}))
    with pytest.raises(ConfigError, match=rf"field '{RUNG}\.[a-z0-9.-]+\.reference': missing"):
        run_search(suite_cfg(fitness="probe", suite_baselines=str(bad)),
                   runs_root=tmp_path / "runs2", quiet=True)


def test_a_loss_failing_on_one_scenario_is_recorded_and_the_run_resumes(tmp_path):
    """A candidate whose training fails on some units (non-finite) gets status and no score, a
    None regret for that scenario, and the checkpoint is written: the run goes on and finishes
    (the per-scenario NaN used to stop every save, and so every resume, with a ValueError)."""
    path = tmp_path / "tuned.json"
    path.write_text(json.dumps({RUNG: {s: {"best": 10.0, "reference": 2.0}
                                          for s in WEIGHTS}}))
    cfg = suite_cfg(fitness="search_helpers:flaky_evaluate", generations=2,
                    suite_baselines=str(path))
    run_dir = run_search(cfg, runs_root=tmp_path / "runs", quiet=True)
    state = checkpoint.load(run_dir)
    assert state["generation"] == 2
    recs = [r[RUNG] for r in state["losses"].values() if RUNG in r]
    failed = [f for f in recs if f["status"] != "ok"]
    ok = [f for f in recs if f["status"] == "ok"]
    assert failed and ok and state["counters"]["failed_training"] == len(failed)
    for f in failed:
        assert f["score"] is None and f["suite"]["mean_regret"] is None
        per = f["suite"]["per_scenario"]
        if "hopper-padded-noisy-0.2" in per:   # racing may drop it before that scenario
            assert per["hopper-padded-noisy-0.2"]["regret"] is None
        assert all(p["regret"] is not None for s, p in per.items()
                   if s != "hopper-padded-noisy-0.2")
    # the hall of fame lists only losses with a score, and a resume of the finished run
    # reads the checkpoint back
    hof = json.loads((run_dir / "hall_of_fame.json").read_text())["hall_of_fame"]
    assert all(r[RUNG]["status"] == "ok" for r in hof if r.get(RUNG))
    again = run_search(resume=run_dir, overrides={"generations": 3}, quiet=True)
    assert checkpoint.load(again)["generation"] == 3


class RecordingExecutor:
    """Two 'workers' evaluated in this process; records the jobs of every call."""

    name = "local"
    workers = 2

    def __init__(self):
        self.calls: list[list[list]] = []

    def map_chunks(self, fitness_ref, chunks, budget, metric):
        from lossforge.search.executors import evaluate_chunk

        self.calls.append([job for chunk in chunks for job in chunk])
        return [evaluate_chunk(fitness_ref, chunk, budget, metric) for chunk in chunks]

    def close(self):
        pass


def test_a_racing_stage_runs_its_candidate_unit_pairs_together(tmp_path, monkeypatch):
    """The workers stay busy when few candidates are left: a stage's (candidate, unit) pairs go
    to the executor in rounds of workers x ROUND_PER_WORKER, not one unit at a time (a stage
    with one candidate on four units is one round of four jobs, not four of one). Results equal
    a one-worker run's, and the run ends as one without the batching would (same losses)."""
    from lossforge.search import engine

    stages = []
    real_race = suite_fitness.race

    def race(n, order, weight, regrets, *a, **kw):
        def recorded(cands, block):
            before = len(ex.calls)
            out = regrets(cands, block)
            stages.append((len(cands) * len(block), ex.calls[before:]))
            return out
        return real_race(n, order, weight, recorded, *a, **kw)

    monkeypatch.setattr(suite_fitness, "race", race)
    ex = RecordingExecutor()
    cfg = suite_cfg(fitness="probe", generations=2, budget="screen", population=8)
    run_dir = run_search(cfg, runs_root=tmp_path / "a", quiet=True, executor=ex)
    size = ex.workers * engine.ROUND_PER_WORKER
    assert stages and any(pairs > 1 and pairs < 8 for pairs, _ in stages)
    for pairs, calls in stages:
        # resumed pairs come from the journal; here nothing was journaled before
        assert [len(c) for c in calls] == [min(size, pairs - k) for k in range(0, pairs, size)]
    one = run_search(SearchConfig(**{**cfg.__dict__, "workers": 1}),
                     runs_root=tmp_path / "b", quiet=True)
    assert view(run_dir)["state"] == view(one)["state"]
