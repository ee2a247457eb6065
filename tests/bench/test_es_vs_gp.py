"""benchmarks/es_vs_gp.py, the GP-vs-ES comparison chain, end to end on the probe fitness
(seconds; says nothing about returns): ES with both slots, the GP at equal evaluations, the
re-score and the table. References: the runs' own checkpoints (how many losses each trained),
DPO scored directly by the probe fitness, and the ledger lines every step must leave."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lossforge.objectives import get
from lossforge.search import probe_fitness

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "es_vs_gp.py")


def _run(args: list[str], env: dict) -> str:
    r = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                       env=env, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def _evaluated(run: Path) -> int:
    state = json.loads((run / "checkpoint.json").read_text())["state"]
    return sum(state["counters"]["evaluated"].values())


def test_the_chain_on_the_probe_records_every_step(tmp_path):
    env = {**os.environ, "LOSSFORGE_LEDGER": str(tmp_path / "ledger.jsonl")}
    runs = tmp_path / "runs"
    _run(["es", "--slots", "link,imitation", "--fitness", "probe", "--population", "4",
          "--generations", "2", "--runs-dir", str(runs), "--quiet"], env)
    [es] = list(runs.iterdir())
    out = _run(["gp", "--es", str(es), "--equal-evaluations", "--population", "8",
                "--runs-dir", str(runs)], env)
    [gp] = [p for p in runs.iterdir() if p != es]
    assert _evaluated(gp) >= _evaluated(es) == 8           # equal evaluations: at least as many
    assert f"GP trained {_evaluated(gp)} losses" in out
    # a killed --equal-evaluations run (here: stopped after its first generation) goes on with
    # --resume to the same end as the uninterrupted one
    sys.path.insert(0, str(REPO / "benchmarks"))
    import es_vs_gp
    from lossforge.search import checkpoint, run_search
    from lossforge.search.engine import deterministic_view

    cfg = es_vs_gp.gp_config(json.loads((es / "config.json").read_text())["config"], 8, None,
                             True, None)
    killed = run_search(cfg, runs_root=tmp_path / "killed", quiet=True, stop_after=1)
    assert _evaluated(killed) < _evaluated(es)
    _run(["gp", "--es", str(es), "--equal-evaluations", "--resume", str(killed)], env)
    assert list((tmp_path / "killed").iterdir()) == [killed]      # no second run started
    assert (deterministic_view(checkpoint.load(killed))
            == deterministic_view(checkpoint.load(gp)))
    gp_cfg = json.loads((gp / "config.json").read_text())["config"]
    assert gp_cfg["link_grammar"] and gp_cfg["imitation_grammar"]  # the ES run's slots
    _run(["rescore", "--es", str(es), "--gp", str(gp), "--budget", "quick", "--workers", "1"],
         env)
    rescored = json.loads((es / "rescore-quick.json").read_text())["results"]
    assert set(rescored) == {"dpo", "es", "gp"}
    scenario = json.loads((es / "config.json").read_text())["scenario_file"]
    [dpo] = probe_fitness.evaluate([get("dpo", beta=0.1)], scenario, "quick")
    assert rescored["dpo"]["fitness"]["score"] == dpo.score
    _run(["table", "--es", str(es), "--gp", str(gp), "--out", str(tmp_path / "table")], env)
    text = (tmp_path / "table" / "es_vs_gp-quick.md").read_text()
    assert "GP search" in text and "ES (CMA-ES" in text
    lines = [json.loads(x) for x in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["search", "search", "search", "probe"]
    assert lines[0]["command"].startswith("python -m lossforge.search --method es")
    assert lines[1]["command"].startswith("python benchmarks/es_vs_gp.py gp --es")
    assert lines[2]["command"].endswith(f"--resume {killed}")
    assert lines[3]["command"].startswith("python benchmarks/es_vs_gp.py rescore --es")
    assert lines[3]["budget"] == "quick" and lines[1]["scenario"] == "quick"
