"""A fitness that scores a baseline (DPO, ORPO) "ok" with a NaN or infinite score (status
"nonfinite") stops the run, as one that raises on a baseline does (test_plugin_errors.py): one
line naming the baseline, the budget, the scenario and the status, the run kept; the resume,
once the fitness is fixed, scores the baseline again instead of reading it from the journal, and
ends as a straight run. It used to go on with the baselines failed, so no verdict could come,
and a resume kept them so. A candidate scored NaN stays a recorded failure, journaled and
reused. The plug-in is in nonfinite_plugins.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lossforge.errors import ConfigError
from lossforge.objectives.zoo import scenario_spec
from lossforge.search import engine
from lossforge.search.__main__ import main
from lossforge.search.checkpoint import load
from lossforge.search.executors import LocalExecutor
from lossforge.search.journal import Journal
from raising_plugins import cannot_score
from search_helpers import run_view

FITNESS = "nonfinite_plugins:nan_baselines_while"


def _argv(runs: Path, *more: str) -> list[str]:
    return ["--fitness", FITNESS, "--workers", "1", "--population", "8", "--generations", "2",
            "--budget", "quick", "--quiet", "--runs-dir", str(runs), *more]


def _journaled(run_dir: Path) -> list[dict]:
    return [json.loads(line)["fitness"]
            for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]


def test_a_baseline_scored_nan_stops_the_run_and_the_fixed_resume_scores_it_again(
        tmp_path, capsys, monkeypatch):
    flag = tmp_path / "broken"
    flag.touch()
    monkeypatch.setenv("LF_NAN_BASELINES", str(flag))
    monkeypatch.setenv("LF_CALLS", str(tmp_path / "calls"))
    assert main(_argv(tmp_path / "b")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    (run_dir,) = (tmp_path / "b").iterdir()
    assert err == [f"error: the fitness {FITNESS!r} scored baseline dpo (and orpo) at the quick "
                   f"budget on quick \"ok\" with a NaN or infinite score (status 'nonfinite'); "
                   f"every loss is judged against the baselines, so the fitness must score them "
                   f"(the run so far is kept in {run_dir}: --resume it once fixed)"], err
    assert not (run_dir / "checkpoint.json").exists()      # stopped before generation 1 ended
    assert [(f["name"], f["status"]) for f in _journaled(run_dir)] == [
        ("dpo", "nonfinite"), ("orpo", "nonfinite")]
    flag.unlink()                                            # the user's fix
    assert main(["--resume", str(run_dir), "--quiet", "--ledger", "off"]) == 0
    state = load(run_dir)
    assert state["generation"] == 2
    assert {b["quick"]["status"] for b in state["baselines"].values()} == {"ok"}
    calls = (tmp_path / "calls").read_text().split()
    assert calls.count("dpo") == calls.count("orpo") == 2    # asked again, not read back
    # its candidates' NaN scores are failures of theirs, recorded, and the run went on
    statuses = {r["name"]: r["quick"]["status"] for r in state["losses"].values()
                if "quick" in r}
    failed = {n for n, s in statuses.items() if s != "ok"}
    assert failed and failed == {n for n in statuses if cannot_score(n)}
    assert {statuses[n] for n in failed} == {"nonfinite"}
    monkeypatch.delenv("LF_CALLS")
    assert main(_argv(tmp_path / "a")) == 0
    (straight,) = (tmp_path / "a").iterdir()
    assert run_view(run_dir) == run_view(straight)


def test_the_journal_asks_a_nan_baseline_again_and_keeps_a_nan_candidate(tmp_path,
                                                                         monkeypatch):
    """engine.run_jobs: a strict call (the baselines') whose result is non-finite stops, and
    once the fitness is fixed asks it again; a candidate's non-finite result is journaled and
    read back, never asked again (the fitness is deterministic)."""
    flag, calls = tmp_path / "broken", tmp_path / "calls"
    monkeypatch.setenv("LF_NAN_BASELINES", str(flag))
    monkeypatch.setenv("LF_CALLS", str(calls))
    ctx = engine.make_context(engine.SearchConfig(scenario="quick", fitness=FITNESS,
                                                  budget="quick", workers=1))
    ctx.journal = Journal(tmp_path)
    ex = LocalExecutor(1)
    dpo = scenario_spec("dpo", 0.1, None).to_json()
    bad = next(n for n in (f"lf-{i:08x}" for i in range(64)) if cannot_score(n))
    candidate = dict(dpo, name=bad)

    def asked() -> list[str]:
        return calls.read_text().split() if calls.exists() else []

    for _ in range(2):
        (f,) = engine.run_jobs(ctx, ex, "quick", [(candidate, None)])
        assert f["status"] == "nonfinite" and f["score"] is None
    assert asked() == [bad]
    flag.touch()
    for _ in range(2):    # still broken on the resume: asked again, stops again
        with pytest.raises(ConfigError, match=r"baseline dpo at the quick budget on quick "
                                              r"\"ok\" with a NaN or infinite score"):
            engine.run_jobs(ctx, ex, "quick", [(dpo, None)], strict=True)
    assert asked() == [bad, "dpo", "dpo"]
    flag.unlink()
    (f,) = engine.run_jobs(ctx, ex, "quick", [(dpo, None)], strict=True)
    assert f["status"] == "ok" and f["score"] is not None
    assert asked() == [bad, "dpo", "dpo", "dpo"]
    assert Journal(tmp_path).results()[-1] == f             # a resume reads the scored one
    engine.run_jobs(ctx, ex, "quick", [(dpo, None)], strict=True)
    engine.run_jobs(ctx, ex, "quick", [(candidate, None)])
    assert asked() == [bad, "dpo", "dpo", "dpo"]
