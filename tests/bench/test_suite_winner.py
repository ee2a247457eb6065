"""``benchmarks/suite_winner.py``: the declared winner rule of v2-plan.md (Step 3) on constructed
run directories: refused before the search's last generation, with fewer than two losses at the
full rung, or with none scored on all its units; otherwise the best fully scored one (not a
raced-out loss with a higher partial estimate) becomes a spec file and joins the declared
candidates' sweep file, whose learning rates and halving are v2.toml's."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lossforge.runfiles import write_checked

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "suite_winner.py")


def _row(name, full, raced_out=False):
    spec = dict(json.loads((REPO / "benchmarks/results/winners/lf-cf853722.json")
                           .read_text())["spec"], name=name)
    fit = None if full is None else {"status": "ok", "score": full, "ci95": 0.5,
                                     "suite": {"raced_out": raced_out}}
    return {"name": name, "loss": f"L of {name}", "spec": spec,
            "screen": {"status": "ok", "score": 1.0}, "full": fit}


def _run(tmp_path, rows, generation=8):
    d = tmp_path / "run"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"config": {"generations": 8}}))
    write_checked(d / "hall_of_fame.json", {"ladder": ["screen", "full"],
                                            "generation": generation, "hall_of_fame": rows})
    return d


def _call(tmp_path, run):
    return subprocess.run([sys.executable, SCRIPT, str(run), "--sweep",
                           str(tmp_path / "cand.toml"), "--winners", str(tmp_path / "w")],
                          capture_output=True, text=True, cwd=REPO)


@pytest.mark.parametrize("rows,generation,said", [
    ([_row("lf-aaaa0001", 3.0), _row("lf-aaaa0002", 2.0)], 7, "has run 7 of 8 generations"),
    ([_row("lf-aaaa0001", 2.0), _row("lf-aaaa0003", None)], 8,
     "1 loss(es) reached the 'full' rung, 1 scored on all its units"),
    ([_row("lf-aaaa0001", 9.0, raced_out=True), _row("lf-aaaa0002", 2.0, raced_out=True)], 8,
     "2 loss(es) reached the 'full' rung, 0 scored on all its units")])
def test_refused_without_a_winner_under_the_rule(tmp_path, rows, generation, said):
    proc = _call(tmp_path, _run(tmp_path, rows, generation))
    assert proc.returncode == 2 and said in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "cand.toml").exists() and not (tmp_path / "w").exists()


def test_a_loss_that_failed_at_the_top_rung_reached_it_but_cannot_win(tmp_path):
    """The rule's "reached the full rung" is "evaluated there" (v2-plan.md, Step 3): a loss
    whose full run failed was, so with one fully scored loss beside it the run has a winner,
    the scored one, whatever order the hall of fame lists them in. (Counting only losses
    scored 'ok' refused such a run.)"""
    failed = dict(_row("lf-aaaa0009", None),
                  full={"status": "nonfinite at step 40", "score": None,
                        "suite": {"raced_out": False}})
    proc = _call(tmp_path, _run(tmp_path, [failed, _row("lf-aaaa0001", 4.0)]))
    assert proc.returncode == 0, proc.stderr
    assert list(tomllib.loads((tmp_path / "cand.toml").read_text())["candidates"])[0] == \
        "lf-aaaa0001"
    assert not (tmp_path / "w" / "lf-aaaa0009.json").exists()


def test_the_winner_joins_the_declared_candidates_with_v2s_rates(tmp_path):
    # one loss scored on every unit and one racing dropped there: two reached the full rung,
    # and the winner is the fully scored one even though the dropped one's partial estimate is
    # higher (and even listed first, as a hall of fame of older code would)
    rows = [_row("lf-aaaa0003", 9.0, raced_out=True), _row("lf-aaaa0001", 4.0),
            _row("lf-aaaa0002", None)]
    proc = _call(tmp_path, _run(tmp_path, rows))
    assert proc.returncode == 0, proc.stderr
    spec = json.loads((tmp_path / "w" / "lf-aaaa0001.json").read_text())
    assert spec["spec"]["name"] == "lf-aaaa0001" and spec["score"]["score"] == 4.0
    sweep = tomllib.loads((tmp_path / "cand.toml").read_text())
    v2 = tomllib.loads((REPO / "benchmarks/sweeps/v2.toml").read_text())
    assert sweep["lr"] == v2["lr"] and sweep["halving"] == v2["halving"]
    assert list(sweep["candidates"]) == ["lf-aaaa0001", "lf-69d0421b", "lf-9ccbeb81",
                                         "lf-cf853722"]
    assert "baselines" not in sweep
    # named once: a second call refuses instead of overwriting
    (tmp_path / "x").mkdir()
    again = _call(tmp_path, _run(tmp_path / "x", rows))
    assert again.returncode == 2 and "exists (the winner is named once)" in again.stderr


@pytest.mark.parametrize("as_found", [
    {},
    # as the suite search writes it: its link grammar has no logsigmoid, so DPO's link comes out
    # as softplus(-D), the same function; "no imitation" as the formula 0
    {"link": "softplus(-D)", "imitation": "0", "description": "found by the suite search"}])
def test_a_winner_that_is_a_declared_candidate_keeps_its_file_and_is_listed_once(tmp_path,
                                                                                 as_found):
    """The search may find exp(p) (lf-cf853722) again, in its own words: the sweep lists it
    once, first, and its committed spec is left as it is."""
    declared = REPO / "benchmarks/results/winners/lf-cf853722.json"
    before = declared.read_bytes()
    found = _row("lf-cf853722", 4.0)
    found["spec"] = dict(found["spec"], **as_found)
    rows = [found, _row("lf-aaaa0002", 3.0)]
    proc = subprocess.run([sys.executable, SCRIPT, str(_run(tmp_path, rows)), "--sweep",
                           str(tmp_path / "cand.toml")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "lf-cf853722 is a declared candidate already" in proc.stdout
    sweep = tomllib.loads((tmp_path / "cand.toml").read_text())
    assert list(sweep["candidates"]) == ["lf-cf853722", "lf-69d0421b", "lf-9ccbeb81"]
    assert declared.read_bytes() == before


def test_a_name_clash_or_an_invalid_winner_leaves_nothing_behind(tmp_path):
    clash = _row("lf-cf853722", 4.0)
    clash["spec"] = dict(clash["spec"], mirror_map="p*log(p)")       # same name, other loss
    proc = subprocess.run([sys.executable, SCRIPT, str(_run(tmp_path, [clash, _row("lf-b", 1.0)])),
                           "--sweep", str(tmp_path / "cand.toml")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "another spec than" in proc.stderr
    assert not (tmp_path / "cand.toml").exists()
    bad = _row("lf-aaaa0009", 4.0)
    bad["spec"] = dict(bad["spec"], mirror_map="p**(")                # does not parse
    (tmp_path / "x").mkdir()
    proc = _call(tmp_path, _run(tmp_path / "x", [bad, _row("lf-aaaa0002", 1.0)]))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert not (tmp_path / "cand.toml").exists() and not (tmp_path / "cand.toml.tmp").exists()
    assert not (tmp_path / "w" / "lf-aaaa0009.json").exists()
