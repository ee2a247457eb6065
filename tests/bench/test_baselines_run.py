"""``benchmarks/baselines.py run`` resumes per loss: a loss already in the file is never trained
again, and a loss added to a file that has a scenario's other rows is trained (a check on
(scenario, seed, budget) alone once skipped it silently)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(out: Path, losses: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "baselines.py"), "run",
                           "--scenarios", "quick", "--losses", losses, "--no-fixed", "--seeds",
                           "0", "--budget", "quick", "--workers", "1", "--out", str(out)],
                          check=True, capture_output=True, text=True, cwd=REPO)


def test_a_loss_added_later_is_trained_and_done_losses_are_not(tmp_path):
    out = tmp_path / "b.jsonl"
    _run(out, "dpo")
    first = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["loss"] for r in first] == ["dpo"]
    proc = _run(out, "dpo,orpo,ipo")
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["loss"] for r in rows] == ["dpo", "orpo", "ipo"]  # dpo not appended twice
    # with one worker each loss is appended (and reported) on its own as it lands, so a kill
    # loses at most the loss in flight
    head, *lines = proc.stdout.splitlines()
    assert head.endswith("rows in the file 1, to run 2")
    assert len(lines) == 2 and "orpo" in lines[0] and "ipo" in lines[1]
    assert "[1/2, about" in lines[0] and "[2/2, about 0.0 h to go]" in lines[1]
    assert "dpo" not in proc.stdout
    # nothing left to do: nothing trained
    assert _run(out, "dpo,orpo,ipo").stdout.strip().endswith("rows in the file 3, to run 0")
    assert len(out.read_text().splitlines()) == 3


def test_missing_is_per_loss():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from baselines import missing

    done = {("s", 0, "full", "dpo"), ("s", 1, "full", "orpo")}
    assert missing(done, "s", 0, "full", ["dpo", "orpo"]) == ["orpo"]
    assert missing(done, "s", 1, "full", ["dpo", "orpo"]) == ["dpo"]
    assert missing(done, "s", 0, "screen", ["dpo"]) == ["dpo"]


def test_bad_scenario_or_loss_fails_before_anything_trains(tmp_path):
    """A typo in the last scenario or loss of a long run is reported at once, in one line, and
    nothing is trained or written (it used to surface as a traceback after the earlier cells)."""
    out = tmp_path / "b.jsonl"
    for scenarios, losses, bad in (("quick,quick-typo", "dpo", "quick-typo"),
                                   ("quick", "dpo,dpoo", "dpoo")):
        proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "baselines.py"), "run",
                               "--scenarios", scenarios, "--losses", losses, "--seeds", "0",
                               "--budget", "quick", "--workers", "1", "--out", str(out)],
                              capture_output=True, text=True, cwd=REPO)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr.startswith("error: ") and bad in proc.stderr
        assert "Traceback" not in proc.stderr
        assert not out.exists()
