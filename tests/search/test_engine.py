"""The search engine on the cheap stand-in fitness: checks before training, de-duplication,
resume (in-process and after kill -9), corrupted checkpoints, run directory, executors."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from rich.console import Console

from lossforge.errors import CheckpointError
from lossforge.grammar.loader import load_grammar
from lossforge.grammar.trees import tree_from_names, tree_to_sympy
from lossforge.objectives import MPOSpec, Objective
from lossforge.search import checkpoint, engine, load_run, run_search
from lossforge.search.candidates import Candidate, Rejection, fingerprint, validate
from lossforge.search.engine import SearchConfig, deterministic_view
from lossforge.search.executors import LocalExecutor, evaluate_chunk
from search_helpers import AfterCheckpoint, kill_9_when, run_view

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DCP = "grammars/mirror_map_dcp.toml"
DOMAIN = "grammars/mirror_map.toml"


def tiny(**kw) -> SearchConfig:
    base = dict(scenario="quick", grammar=DCP, population=8, generations=2, seed=3,
                fitness="search_helpers:slow_evaluate", workers=1)
    return SearchConfig(**{**base, **kw})


def final_view(run_dir: Path) -> dict:
    """Everything a run decided, without clock/load-dependent fields."""
    out = run_view(run_dir)
    out["losses"] = sorted(p.name for p in (run_dir / "losses").iterdir())
    return out


@pytest.fixture(scope="module")
def env_markers(tmp_path_factory):
    d = tmp_path_factory.mktemp("markers")
    old = os.environ.get("LF_MARKERS")
    os.environ["LF_MARKERS"] = str(d)
    yield d
    if old is None:
        del os.environ["LF_MARKERS"]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, env_markers):
    """An uninterrupted run of ``tiny()``."""
    root = tmp_path_factory.mktemp("ref")
    return run_search(tiny(), runs_root=root, quiet=True)


# ---- checks before training, de-duplication ------------------------------------------------


def test_assess_rejects_dedups_and_caches_before_any_training(tmp_path, monkeypatch):
    """Rejected trees and duplicates (same loss, other tree; same tree again) are never
    trained: exactly one training per distinct valid loss and rung."""
    log = tmp_path / "train.jsonl"
    monkeypatch.setenv("LF_TRAIN_LOG", str(log))
    ctx = engine.make_context(SearchConfig(grammar=DOMAIN, fitness="search_helpers:"
                                           "recording_evaluate", workers=1, population=4))
    state = engine.init_state(ctx)
    state["baselines"] = {"skip": {}}
    dpo = ["xlogx[Prob->Neg]", "p"]
    dpo_plus_affine = ["add[Real,Real->Real]", "xlogx[Prob->Neg]", "p", "p"]   # h + p
    sin = ["sin[Real->Real]", "p"]                                            # not convex
    neg_dpo = ["neg[Real->Real]", "xlogx[Prob->Neg]", "p"]                     # concave
    two_dpo = ["mul[Coef,Real->Real]", "2[Coef]", "xlogx[Prob->Neg]", "p"]     # 2 p log p
    flat = ["square[Prob->Prob]", "p"]             # p^2: phi~ = 2 e^l, no gradient at l ~ -100
    proposals = [(dpo, "t"), (sin, "t"), (dpo_plus_affine, "t"), (dpo, "t"), (neg_dpo, "t"),
                 (two_dpo, "t"), (flat, "t")]
    tally = engine.assess(state, ctx, proposals)
    assert tally["rejected"] == 3 and tally["duplicates"] == 1 and tally["cache_hits"] == 1
    assert state["counters"]["rejected"]["not_convex"] == 2
    assert state["counters"]["rejected"]["vanishing_gradient"] == 1
    engine.evaluate_generation(state, ctx, LocalExecutor(1), tally["offspring"])
    trained = [json.loads(line) for line in log.read_text().splitlines()]
    first = ctx.ladder[0]
    formulas = sorted(t["spec"]["mirror_map"] for t in trained if t["budget"] == first)
    assert formulas == sorted(["p*log(p)", "2*p*log(p)"])
    for rejected in (sin, neg_dpo, flat):
        h = str(tree_to_sympy(ctx.grammar, tree_from_names(ctx.grammar, rejected)))
        assert h not in {t["spec"]["mirror_map"] for t in trained}


def test_search_trains_only_valid_and_never_the_same_loss_twice(tmp_path, monkeypatch):
    """A whole run on the domain grammar (many invalid trees): every trained spec is a tree
    that passes validation; per rung no loss (by recomputed fingerprint) is trained twice."""
    log = tmp_path / "train.jsonl"
    monkeypatch.setenv("LF_TRAIN_LOG", str(log))
    cfg = tiny(grammar=DOMAIN, fitness="search_helpers:recording_evaluate", generations=3,
               population=10, seed=1)
    run_dir = run_search(cfg, runs_root=tmp_path, quiet=True)
    state = checkpoint.load(run_dir)
    c = state["counters"]
    assert sum(c["rejected"].values()) > 0 and c["duplicates"] + c["cache_hits"] > 0
    grammar = load_grammar(REPO / DOMAIN)
    trained = [json.loads(line) for line in log.read_text().splitlines()]
    baselines = set(state["baselines"])
    by_rung: dict[str, list[str]] = {}
    for t in trained:
        spec = t["spec"]
        if spec["name"] in baselines:
            continue
        loss = next(rec for rec in state["losses"].values() if rec["name"] == spec["name"])
        res = validate(grammar, state["trees"][loss["tree"]]["names"], beta=spec["beta"])
        assert isinstance(res, Candidate), res
        by_rung.setdefault(t["budget"], []).append(fingerprint(Objective(MPOSpec.from_json(spec),
                                                                         check=False)))
    for rung, fps in by_rung.items():
        assert len(fps) == len(set(fps)), f"a loss was trained twice at {rung}"
    rejected = {k for k, rec in state["trees"].items() if rec["status"] == "rejected"}
    assert rejected and all(state["trees"][k]["loss"] is None for k in rejected)
    assert isinstance(validate(grammar, ["sin[Real->Real]", "p"], beta=0.1), Rejection)


# ---- resume ----------------------------------------------------------------------------------


def test_resume_in_process_equals_uninterrupted(tmp_path, reference_run):
    run_dir = run_search(tiny(), runs_root=tmp_path, quiet=True, stop_after=1)
    assert checkpoint.load(run_dir)["generation"] == 1
    run_search(resume=run_dir, quiet=True)
    assert final_view(run_dir) == final_view(reference_run)


def test_resume_keeps_every_generations_wall_seconds(tmp_path, env_markers):
    """generations.jsonl after a resume (mid-run, and again once finished) is the log as first
    written, each generation's own seconds included; the run's record of its cost is kept."""
    log = lambda d: [json.loads(x) for x in (d / "generations.jsonl").read_text().splitlines()]
    run_dir = run_search(tiny(), runs_root=tmp_path, quiet=True, stop_after=1)
    first = log(run_dir)
    run_search(resume=run_dir, quiet=True)
    written = log(run_dir)
    assert written[0] == first[0] and len(written) == 2
    assert [g["seconds"] for g in written] == checkpoint.load(run_dir)["timing"]["generation_s"]
    assert all(g["seconds"] > 0 for g in written)
    run_search(resume=run_dir, quiet=True)                 # finished: re-entered, nothing run
    assert log(run_dir) == written


def test_kill_9_mid_generation_then_resume_equals_uninterrupted(tmp_path, reference_run,
                                                                  env_markers):
    """A subprocess is killed with SIGKILL while it trains generation 2; the resumed run ends
    exactly like the uninterrupted one."""
    markers = tmp_path / "markers"
    runs = tmp_path / "runs"
    code = ("from lossforge.search import run_search, SearchConfig\n"
            f"run_search(SearchConfig(**{tiny().to_json()!r}), runs_root={str(runs)!r}, "
            "quiet=True)\n")
    env = dict(os.environ, LF_MARKERS=str(markers),
               PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
    # SIGKILL once generation 2 is training (a new marker after the first checkpoint)
    run_dir = kill_9_when(code, env, tmp_path, runs,
                          AfterCheckpoint(lambda d: len(list(markers.iterdir()))), timeout=90)
    assert checkpoint.load(run_dir)["generation"] == 1        # killed mid-generation 2
    run_search(resume=run_dir, quiet=True)
    assert final_view(run_dir) == final_view(reference_run)


def test_corrupted_checkpoint_is_detected_and_named(tmp_path, reference_run, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)
    path = run_dir / "checkpoint.json"
    text = path.read_text()
    doc = json.loads(text)
    doc["state"]["population"] = doc["state"]["population"][::-1]   # valid JSON, wrong content
    path.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=re.escape(f"{path}: corrupted checkpoint (checksum")):
        checkpoint.load(run_dir)
    path.write_text(text[: len(text) // 2])                        # truncated
    with pytest.raises(CheckpointError,
                       match=re.escape(f"{path}: corrupted checkpoint (not valid JSON")):
        checkpoint.load(run_dir)
    from lossforge.search.__main__ import main

    assert main(["--resume", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupted checkpoint" in err[0] and str(path) in err[0]
    # the way out the message gives: move it aside and --resume; nothing is trained again
    assert "move it aside and --resume" in err[0]
    journal = (run_dir / "evaluations.jsonl").read_text()
    names = [r["name"] for r in json.loads((run_dir / "hall_of_fame.json").read_text())
             ["hall_of_fame"]]
    path.rename(run_dir / "checkpoint.json.bad")
    assert main(["--resume", str(run_dir), "--quiet"]) == 0
    assert (run_dir / "evaluations.jsonl").read_text() == journal
    assert [r["name"] for r in json.loads((run_dir / "hall_of_fame.json").read_text())
            ["hall_of_fame"]] == names
    path.write_text(text)                                          # the intact file loads
    assert checkpoint.load(run_dir)["generation"] == tiny().generations


# ---- outputs ---------------------------------------------------------------------------------


def test_run_directory_and_load_run(reference_run):
    for name in ("config.json", "seeds.json", "checkpoint.json", "generations.jsonl",
                 "hall_of_fame.json", "pareto.json", "pareto.tex", "pareto.png"):
        assert (reference_run / name).is_file(), name
    assert len((reference_run / "generations.jsonl").read_text().splitlines()) == 2
    seeds = json.loads((reference_run / "seeds.json").read_text())
    assert seeds["search_seed"] == 3 and "screen" in seeds["fitness_seeds"]
    run = load_run(reference_run)
    assert run.pareto and run.hall_of_fame
    assert {b["spec"]["name"] for b in run.baselines} == {"dpo", "orpo"}
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (-5 - 50 * torch.rand(6, generator=g, dtype=torch.float64) for _ in range(4))
    for row in run.pareto:
        obj = run.objectives[row["name"]]
        want = obj(pc, pr, rc, rr)
        assert want.shape == (6,) and torch.isfinite(want).all()
        # the standalone torch file computes the same loss
        spec = importlib.util.spec_from_file_location("m", reference_run / "losses" /
                                                      f"{row['name']}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        torch.testing.assert_close(mod.loss(pc, pr, rc, rr), want, rtol=1e-10, atol=1e-12)
    tex = (reference_run / "pareto.tex").read_text()
    assert tex.startswith(r"\begin{tabular}") and "dpo (baseline)" in tex


# ---- executors -------------------------------------------------------------------------------


def _specs():
    from lossforge.objectives import get_spec
    return [get_spec("dpo").to_json(), get_spec("orpo").to_json(),
            MPOSpec(name="sq", mirror_map="p**2").to_json(),
            MPOSpec(name="x3", mirror_map="3*p*log(p)").to_json()]


def test_dead_worker_chunks_are_rerun(tmp_path, monkeypatch):
    monkeypatch.setenv("LF_DIE_ONCE", str(tmp_path / "died"))
    jobs = [[spec, None, None] for spec in _specs()]
    want = evaluate_chunk("probe", jobs, "screen", "auc")
    ex = LocalExecutor(workers=2)
    try:
        got = ex.map_chunks("search_helpers:dying_evaluate", [jobs[:2], jobs[2:]], "screen",
                            "auc")
    finally:
        ex.close()
    assert (tmp_path / "died").exists() and ex.reruns >= 1
    strip = deterministic_view
    assert strip(got[0] + got[1]) == strip(want)


def test_a_chunk_that_always_kills_its_worker_names_its_losses(monkeypatch):
    """"an evaluation chunk killed its worker 3 times; giving up" did not say which losses or
    what ended the worker (a walkthrough): the chunk's losses, budget and fitness are named."""
    from lossforge.errors import LossforgeError

    monkeypatch.setenv("LF_DIES_ON", "sq")
    jobs = [[spec, None, None] for spec in _specs()]
    ex = LocalExecutor(workers=2)
    try:
        with pytest.raises(LossforgeError) as e:
            ex.map_chunks("search_helpers:always_dying_evaluate", [jobs[:2], jobs[2:]],
                          "screen", "auc")
    finally:
        ex.close()
    assert str(e.value).startswith("an evaluation chunk killed its worker")
    assert ("giving up. Its losses at the screen budget: sq, x3 (the fitness "
            "'search_helpers:always_dying_evaluate' ended the worker process") in str(e.value)


def test_warm_up_runs_once_in_the_main_process_before_any_evaluation(tmp_path, monkeypatch):
    """The fitness module's warm_up (bench: build the dataset and reference) runs in the run's
    own process, once, before the workers evaluate anything; not again when nothing is left."""
    log = tmp_path / "warm.jsonl"
    monkeypatch.setenv("LF_WARM_LOG", str(log))
    cfg = tiny(fitness="search_helpers:warm_checking_evaluate", workers=2, generations=1)
    out = io.StringIO()
    run_dir = run_search(cfg, runs_root=tmp_path, console=Console(file=out, width=200))
    calls = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(Path(c["scenario"]).name, c["workers"], c["pid"]) for c in calls] == \
        [("quick.toml", 2, os.getpid())]
    # the hook, which knows what it prepares, says so on the run's console
    assert re.search(r"^\d\d:\d\d:\d\d quick: helper warm-up for quick\.toml$", out.getvalue(),
                     re.M)
    assert checkpoint.load(run_dir)["generation"] == 1
    run_search(None, resume=run_dir, quiet=True)  # finished already: no warm-up, no work
    assert len(log.read_text().splitlines()) == 1


def test_local_pool_and_ray_give_the_same_run(tmp_path):
    cfg = dict(fitness="probe", workers=2, generations=2, population=6, seed=5)
    local = run_search(tiny(**cfg), runs_root=tmp_path / "local", quiet=True)
    ray_dir = run_search(tiny(**cfg, executor="ray"), runs_root=tmp_path / "ray", quiet=True)
    a, b = final_view(local), final_view(ray_dir)
    a["state"]["config"].pop("executor")
    b["state"]["config"].pop("executor")
    assert a == b


def test_ray_reruns_a_dead_workers_chunk(tmp_path, monkeypatch):
    from lossforge.search.ray_executor import RayExecutor

    monkeypatch.setenv("LF_DIE_ONCE", str(tmp_path / "died"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH",
                                                                                "")]))
    jobs = [[spec, None, None] for spec in _specs()]
    want = evaluate_chunk("probe", jobs, "screen", "auc")
    ex = RayExecutor(workers=2)
    try:
        got = ex.map_chunks("search_helpers:dying_evaluate", [jobs[:2], jobs[2:]], "screen",
                            "auc")
    finally:
        ex.close()
    assert (tmp_path / "died").exists()
    assert deterministic_view(got[0] + got[1]) == deterministic_view(want)


def test_progress_to_a_file_is_one_line_per_generation(tmp_path, env_markers):
    """Redirected to a file (a background run), the live table would show nothing until exit:
    the display writes a timestamped line as each generation starts and ends instead, whose
    numbers are the run's own generations.jsonl, and the table once at the end."""
    from rich.console import Console

    buf = io.StringIO()
    run_dir = run_search(tiny(), runs_root=tmp_path, quiet=False,
                         console=Console(file=buf, width=200))
    out = buf.getvalue()
    gens = [json.loads(x) for x in (run_dir / "generations.jsonl").read_text().splitlines()]
    assert out.count("running generation") == len(gens) == 2
    for g in gens:
        line = next(x for x in out.splitlines() if f"gen {g['generation']}  best" in x)
        assert f"best {g['best']:.1f}" in line and f"rejected {g['total_rejected']}" in line
    assert "Pareto front" in out  # the report follows


def test_progress_inside_a_generation_counts_the_evaluations(tmp_path, env_markers,
                                                             monkeypatch):
    """A long generation is not a silent wait: after each journaled round the display says how
    many of the budget's evaluations are done and the ETA of the rest. The counts are the run's
    own (generations.jsonl: evaluated_<budget>, plus the baselines in generation 1)."""
    from lossforge.search.display import Display

    monkeypatch.setattr(Display, "LINE_EVERY", 0.0)   # a line per round
    buf = io.StringIO()
    run_dir = run_search(tiny(generations=2), runs_root=tmp_path, quiet=False,
                         console=Console(file=buf, width=200))
    pat = re.compile(r"generation (\d+)/2, (\w+) budget: (\d+)/(\d+) evaluations"
                     r"(, ETA (\d+) s for this budget)?$")
    lines = [m.groups() for m in map(pat.search, buf.getvalue().splitlines()) if m]
    assert lines
    for gen, rung, done, total, eta, _ in lines:
        assert 0 < int(done) <= int(total)
        assert (eta is None) == (done == total)           # an ETA while anything is left
    gens = [json.loads(x) for x in (run_dir / "generations.jsonl").read_text().splitlines()]
    n_baselines = len(tiny().baselines)
    for g in gens:
        finished = {(r, int(t)) for gen, r, d, t, _, _ in lines
                    if int(gen) == g["generation"] and d == t}
        for rung in ("screen", "full"):
            if g[f"evaluated_{rung}"]:
                assert (rung, g[f"evaluated_{rung}"]) in finished
            if g["generation"] == 1:
                assert (rung, n_baselines) in finished
