"""``python -m lossforge.search --fitness llm``: a tiny search end to end (tiny budgets patched
in; the search runs in this process with --workers 1), and its resume."""

from __future__ import annotations

import math

import pytest
import torch

from lossforge.llm import fitness as F
from lossforge.llm import model as M
from lossforge.search.__main__ import main
from lossforge.search.checkpoint import load

TINY = F.Budget(seeds=(0,), n_pref=32, epochs=1, lrs=(1e-5, 3e-5), batch=16)


@pytest.fixture
def tiny_bed(tmp_path, monkeypatch):
    """Budgets and splits small enough for seconds; a private cache; a training counter."""
    monkeypatch.setenv("LOSSFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(F, "BUDGETS", {"quick": TINY, "screen": TINY, "full": TINY})
    monkeypatch.setattr(F, "N_EVAL", 50)
    monkeypatch.setattr(F, "N_DEV", 20)
    monkeypatch.setattr(F, "N_PREF", 64)
    monkeypatch.setitem(F.SFT_STEPS, "reverse", 30)
    calls = []
    train = M.train_preference

    def counting(po, base, tokenizer, objective, pairs, seed, lr):
        calls.append((objective.name, lr))
        return train(po, base, tokenizer, objective, pairs, seed, lr)

    monkeypatch.setattr(M, "train_preference", counting)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # as the executor's pool workers: tiny ops thrash on 2 threads
    yield calls
    torch.set_num_threads(threads)


def test_tiny_llm_search_runs_and_resumes(tmp_path, tiny_bed):
    runs = tmp_path / "runs"
    argv = ["--fitness", "llm", "--llm-task", "reverse", "--llm-variant", "length-controlled",
            "--budget", "quick", "--population", "4", "--workers", "1", "--quiet",
            "--runs-dir", str(runs)]
    assert main(argv + ["--generations", "1"]) == 0
    (run_dir,) = runs.iterdir()
    assert run_dir.name.endswith("-llm-reverse-length-controlled-s0")
    state = load(run_dir)
    base = state["baselines"]
    for name in ("dpo", "orpo"):
        f = base[name]["quick"]
        assert f["status"] == "ok" and 0 <= f["score"] <= 100
        assert math.isclose(f["score"] * F.N_EVAL / 100, round(f["score"] * F.N_EVAL / 100))
    # the search's own p log p at the scenario's beta is DPO: same data, same order, same score
    twin = next(rec for rec in state["losses"].values() if rec["h"] == "p*log(p)")
    assert twin["quick"]["score"] == base["dpo"]["quick"]["score"]
    trained = sum(1 for rec in state["losses"].values() if "quick" in rec)
    assert len(tiny_bed) == (2 + trained) * len(TINY.lrs)   # every lr of the budget, once each

    tiny_bed.clear()
    assert main(["--resume", str(run_dir), "--generations", "2", "--quiet"]) == 0
    after = load(run_dir)
    assert after["generation"] == 2
    assert after["baselines"] == state["baselines"]          # not trained again
    new = sum(1 for rec in after["losses"].values() if "quick" in rec) - trained
    assert len(tiny_bed) == new * len(TINY.lrs)
    assert {name for name, _ in tiny_bed}.isdisjoint({"dpo", "orpo"})
