"""CMA-ES over the neural phi~ (``--method es``) on the cheap stand-in fitness: determinism,
kill -9 and resume, the CMA state re-derived from the checkpoint, executors, CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lossforge.errors import CheckpointError
from lossforge.objectives.neural import NeuralObjective, NeuralSpec
from lossforge.search import checkpoint, es, load_run, run_search
from lossforge.search.es import ESConfig
from search_helpers import AfterCheckpoint, kill_9_when
from search_helpers import run_view as view

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def tiny(**kw) -> ESConfig:
    base = dict(scenario="quick", fitness="probe", population=4, generations=3, seed=2,
                workers=1, sigma0=0.5, hidden=2)
    return ESConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    return run_search(tiny(), runs_root=tmp_path_factory.mktemp("ref"), quiet=True)


def test_same_seed_same_run_other_seed_another(tmp_path, reference_run):
    again = run_search(tiny(), runs_root=tmp_path / "a", quiet=True)
    other = run_search(tiny(seed=3), runs_root=tmp_path / "b", quiet=True)
    assert view(again) == view(reference_run)
    s, o = checkpoint.load(reference_run), checkpoint.load(other)
    assert s["asked"][0] != o["asked"][0]
    # what CMA-ES was told is the negated benchmark score of exactly the vectors it asked for
    for gen, (asked, told) in enumerate(zip(s["asked"], s["told"]), 1):
        for i, (x, t) in enumerate(zip(asked, told)):
            cand = s["candidates"][f"es-g{gen}-{i}"]
            assert cand["spec"]["params"] == x and t == -cand["screen"]["score"]
    # generation 1 samples around the DPO initialisation
    x0 = np.array(s["x0"])
    assert s["x0"] == list(NeuralSpec().params[:1]) + [0.0] * 2 + list(s["x0"][3:])
    assert np.abs(np.array(s["asked"][0]) - x0).max() < 0.5 * 6


def test_cma_state_is_rederived_from_the_log(reference_run):
    """The replay reproduces the logged mean and step size, and the next ask equals a fresh
    strategy that was never interrupted (advanced generation by generation in memory)."""
    state = checkpoint.load(reference_run)
    cfg = ESConfig.from_json(state["config"])
    replayed = es.strategy(state, cfg)
    assert [float(v) for v in replayed.mean] == state["cma"]["mean"]
    live = es.strategy({**state, "asked": [], "told": []}, cfg)
    for told in state["told"]:
        live.tell(live.ask(), told)
    assert np.array_equal(replayed.ask(), live.ask())


def test_edited_log_is_refused_on_resume(tmp_path, reference_run):
    run = shutil.copytree(reference_run, tmp_path / "run")   # with losses/
    state = checkpoint.load(run)
    state["asked"][1][0][0] += 1e-9
    checkpoint.save(run, state)   # a valid checksum: only the replay can notice
    with pytest.raises(CheckpointError, match="did not reproduce"):
        run_search(resume=run, quiet=True, overrides={"generations": 4})


def test_kill_9_mid_generation_then_resume_equals_uninterrupted(tmp_path):
    """SIGKILL while generation 2 trains; the resumed run ends exactly like an uninterrupted
    one (slow_evaluate leaves a marker per fitness call)."""
    cfg = tiny(fitness="search_helpers:slow_evaluate")
    markers, runs = tmp_path / "markers", tmp_path / "runs"
    env = dict(os.environ, LF_MARKERS=str(markers),
               PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
    code = ("from lossforge.search import run_search\nfrom lossforge.search.es import ESConfig\n"
            f"run_search(ESConfig(**{cfg.to_json()!r}), runs_root={str(runs)!r}, quiet=True)\n")
    # SIGKILL once generation 2 is training (a new marker after the first checkpoint)
    run_dir = kill_9_when(code, env, tmp_path, runs,
                          AfterCheckpoint(lambda d: len(list(markers.iterdir()))), timeout=90)
    assert checkpoint.load(run_dir)["generation"] == 1
    os.environ["LF_MARKERS"] = str(markers)
    try:
        resumed = run_search(resume=run_dir, quiet=True)
        straight = run_search(cfg, runs_root=tmp_path / "straight", quiet=True)
    finally:
        del os.environ["LF_MARKERS"]
    assert view(resumed) == view(straight)


def test_local_pool_and_ray_give_the_same_run(tmp_path):
    local = run_search(tiny(workers=2, generations=1), runs_root=tmp_path / "l", quiet=True)
    ray_dir = run_search(tiny(workers=2, generations=1, executor="ray"),
                         runs_root=tmp_path / "r", quiet=True)
    a, b = view(local), view(ray_dir)
    for v in (a, b):
        v["state"]["config"].pop("executor")
    assert a == b


def test_cli_runs_es_and_the_run_directory_loads_networks(tmp_path, capsys):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "lossforge.search", "--method", "es", "--fitness", "probe",
           "--generations", "2", "--population", "4", "--hidden", "2", "--workers", "1",
           "--runs-dir", str(tmp_path), "--quiet"]
    out = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    run_dir = Path(out.stdout.strip().split("run directory: ")[-1])
    run = load_run(run_dir)
    best = run.hall_of_fame[0]
    assert isinstance(run[best["name"]], NeuralObjective) and best["complexity"] == 7
    assert best["screen"]["score"] == max(
        c["screen"]["score"] for c in checkpoint.load(run_dir)["candidates"].values())
    # the rest in-process (each subprocess costs a torch import)
    from lossforge.search.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(cmd[3:-1] + ["--grammar", "grammars/mirror_map.toml"])
    assert exit_.value.code == 2 and "not used by --method es" in capsys.readouterr().err
    assert main(["show", str(run_dir)]) == 0 and best["name"] in capsys.readouterr().out


def test_slots_resume_equals_uninterrupted_and_other_slots_are_refused(tmp_path, capsys):
    """With both slots open (issue 19) a run stopped after generation 1 and resumed ends exactly
    like an uninterrupted one; a resume with other slots stops with a one-line error, whether
    asked through the API, by an edited checkpoint or on the command line."""
    from lossforge.errors import ConfigError
    from lossforge.objectives.neural import n_params
    from lossforge.search.__main__ import main

    cfg = tiny(generations=2, link_grammar="grammars/link.toml",
               imitation_grammar="grammars/imitation.toml")
    straight = run_search(cfg, runs_root=tmp_path / "s", quiet=True)
    stopped = run_search(cfg, runs_root=tmp_path / "r", quiet=True, stop_after=1)
    assert checkpoint.load(stopped)["generation"] == 1
    assert view(run_search(resume=stopped, quiet=True)) == view(straight)
    state = checkpoint.load(straight)
    assert {len(x) for gen in state["asked"] for x in gen} == {n_params(2) + 3 + 4}
    specs = [c["spec"] for c in state["candidates"].values()]
    assert all(s["link"] != "-logsigmoid(D)" and "imitation" in s for s in specs)
    # every row's size is the numbers searched, its properties those of its link and Psi as
    # a symbolic spec would have them (es_slots proves both slots monotone for every vector)
    from lossforge.objectives.mpo import MPOSpec
    from lossforge.objectives.properties import properties

    for row in load_run(straight).hall_of_fame:
        sp = row["spec"]
        assert row["complexity"] == n_params(2) + 3 + 4
        alike = MPOSpec(name="x", mirror_map="p*log(p)", beta=sp["beta"], link=sp["link"],
                        imitation=sp["imitation"], aggregation=sp["aggregation"])
        assert row["properties"] == properties(alike).to_json()
        assert row["properties"]["ranking"]["status"] == "proved"
    assert main(["show", str(straight)]) == 0
    assert "ranking-preserving" in capsys.readouterr().out

    with pytest.raises(ConfigError, match="cannot change imitation_grammar"):
        run_search(resume=straight, quiet=True, overrides={"imitation_grammar": None})
    edited = shutil.copytree(straight, tmp_path / "edited")
    state["config"].pop("imitation_grammar")
    checkpoint.save(edited, state)   # a valid checksum: config.json tells it ...
    with pytest.raises(CheckpointError, match=r"config.json: imitation_grammar differ"):
        run_search(resume=edited, quiet=True, overrides={"generations": 3})
    start = json.loads((edited / "config.json").read_text())
    start["config"].pop("imitation_grammar")
    (edited / "config.json").write_text(json.dumps(start))   # ... and, edited too, the vector
    with pytest.raises(CheckpointError, match=r"needs 10: the run was made with other slots"):
        run_search(resume=edited, quiet=True, overrides={"generations": 3})
    with pytest.raises(SystemExit) as exit_:
        main(["--resume", str(straight), "--link-grammar", "grammars/link.toml"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and "drop --link-grammar" in err[-1]
