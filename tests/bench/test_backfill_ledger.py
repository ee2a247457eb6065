"""benchmarks/backfill_ledger.py: a run already in the ledger is not added again, in whatever
form a write-up quotes it; a run that is not, is."""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import backfill_ledger as bf  # noqa: E402

LIVE = ("python -m lossforge.search --suite benchmarks/suites/train.toml --suite-baselines "
        "/work/main/benchmarks/results/suite-reference-train.json --aggregation mean "
        "--population 16 --budget full --seed 0 --workers 2 --runs-dir /x/v2-suite-search "
        "--purpose v2-plan step 3: the declared suite search (issue 19)")
QUOTED = ("python -m lossforge.search --suite benchmarks/suites/train.toml --suite-baselines "
          "benchmarks/results/suite-reference-train.json --aggregation mean --population 16 "
          "--budget full --seed 0")


def test_one_run_however_it_is_quoted():
    # the live line (absolute paths, workers, runs dir, an unquoted purpose) and the write-up's
    # shorter form name one run
    assert bf.run_key(LIVE) == bf.run_key(QUOTED)
    # a different seed or scenario file is another run
    assert bf.run_key(QUOTED) != bf.run_key(QUOTED.replace("--seed 0", "--seed 1"))
    assert bf.run_key(QUOTED) != bf.run_key(QUOTED.replace("train.toml", "test.toml"))
    # an option that changes results right after the purpose is kept
    assert "--budget quick" in bf.run_key("python -m lossforge.search --purpose a b --budget quick")


def test_main_adds_only_runs_the_ledger_lacks(tmp_path, monkeypatch, capsys):
    out = tmp_path / "ledger.jsonl"
    out.write_text(json.dumps({"time": "t", "kind": "search", "command": LIVE}) + "\n")
    missing = "python -m lossforge.search --fitness llm --llm-task reverse --seed 0"
    found = [bf.entry(QUOTED, REPO / "README.md", "quoted"),
             bf.entry(missing, REPO / "README.md", "quoted"),
             bf.entry(missing + " --workers 2", REPO / "README.md", "quoted again")]
    monkeypatch.setattr(bf, "collect", lambda: found)
    monkeypatch.setattr(sys, "argv", ["backfill_ledger.py", "--out", str(out)])
    assert bf.main() == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["command"] for x in lines] == [LIVE, missing]
    assert lines[1]["backfilled"] is True
    # again: nothing more
    assert bf.main() == 0
    assert len(out.read_text().splitlines()) == 2
