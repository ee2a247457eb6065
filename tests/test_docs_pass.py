"""benchmarks/docs_pass.py runs every command the README documents: its list and the README's
code blocks must agree both ways, and its parsing and placeholder filling must be right."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("docs_pass", ROOT / "benchmarks" / "docs_pass.py")
docs_pass = importlib.util.module_from_spec(spec)
sys.modules["docs_pass"] = docs_pass          # dataclasses look their module up by name
spec.loader.exec_module(docs_pass)


def test_every_readme_command_is_run_and_every_run_command_is_in_the_readme():
    documented = set(docs_pass.readme_commands((ROOT / "README.md").read_text()))
    listed = {c.readme for c in docs_pass.COMMANDS}
    assert documented - listed == set(), "README commands docs_pass.py does not run"
    assert listed - documented == set(), "docs_pass.py commands the README no longer has"


def test_readme_parsing_joins_continuations_and_drops_comments():
    text = ("Intro\n\n"
            "    python -m lossforge.search --scenario x \\\n"
            "        --population 4        # a comment\n"
            "    python -m lossforge.formula \"p*log(p)\"   # h, phi^-1\n"
            "    pip install -e \".[es]\"\n"
            "not code: python -m lossforge.bench\n")
    assert docs_pass.readme_commands(text) == [
        "python -m lossforge.search --scenario x --population 4",
        'python -m lossforge.formula "p*log(p)"',
        'pip install -e ".[es]"']


def test_placeholders_come_from_earlier_runs_or_the_command_is_skipped():
    assert docs_pass.fill("python -m lossforge.report runs/<run>", {"run": "runs/a"}) == \
        "python -m lossforge.report runs/a"
    with pytest.raises(KeyError, match="runs/<es-run>"):
        docs_pass.fill("python -m lossforge.distill runs/<es-run>", {"run": "runs/a"})


def test_a_capped_command_is_stopped_and_a_wrong_exit_code_is_flagged(tmp_path):
    slow = docs_pass.Command("slow", "sleep 30", cap_s=0.5)
    row = docs_pass.run_one(slow, {}, tmp_path)
    assert row["capped_after_s"] == 0.5 and row["wall_s"] < 10 and row["ok"]
    wrong = docs_pass.run_one(docs_pass.Command("w", "exit 3", expect=2), {}, tmp_path)
    assert wrong["exit"] == 3 and not wrong["ok"]
    made = docs_pass.run_one(docs_pass.Command("m", "mkdir -p runs/r1", sets="run"), {}, tmp_path)
    assert made["run_dir"] == "runs/r1"
    # a capped command's run directory is unfinished: what needs it is skipped, not failed
    places, unfinished = {}, set()
    docs_pass.run_one(docs_pass.Command("c", "mkdir -p runs/r2 && sleep 30", cap_s=1.0,
                                        sets="es"), places, tmp_path, unfinished)
    assert places == {"es": "runs/r2"} and unfinished == {"es"}
    with pytest.raises(KeyError, match="stopped at its cap"):
        docs_pass.run_one(docs_pass.Command("d", "ls runs/<es>"), places, tmp_path, unfinished)
    assert "FAILED (expected exit 2)" in docs_pass.render([wrong])
