"""benchmarks/v2_mujoco.sh, the plan's driver, with a stand-in ``python`` that records each
command instead of running it (``python -c`` still runs: the script reads the suites with it).
What is checked is the script's own logic: which tuned file each step takes (the merged picks
once an edge extension is declared, a refusal while it is unfinished), and that a sweep file
written in a clone is copied to the checkout its RESULTS point at."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAIN = ["hopper-padded-mixed-quality", "hopper-padded-noisy-0.3", "hopper-padded-clean",
         "hopper-padded-noisy-0.1", "hopper-padded-noisy-0.2", "hopper-padded-noisy-0.4",
         "hopper-padded-ambiguous"]
FAKE = """#!/bin/bash
if [ "$1" = -c ]; then exec "{python}" "$@"; fi
echo "$*" >> "{log}"
# extend writes its sweep file (--out), as the real command does when a pick is on an edge
if [ "$2" = extend ]; then while [ $# -gt 0 ]; do [ "$1" = --out ] && echo x > "$2"; shift; done; fi
exit 0
"""


def _tree(tmp_path: Path) -> tuple[Path, Path, dict]:
    """A checkout with the script and the suites, a stand-in python first on PATH."""
    root = tmp_path / "clone"
    (root / "benchmarks" / "sweeps").mkdir(parents=True)
    shutil.copy(REPO / "benchmarks" / "v2_mujoco.sh", root / "benchmarks")
    shutil.copytree(REPO / "benchmarks" / "suites", root / "benchmarks" / "suites")
    (root / "benchmarks" / "results").mkdir()
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(FAKE.format(python=sys.executable, log=log))
    (bin_dir / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "NICE": "0"}
    return root, log, env


def _run(root: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(root / "benchmarks" / "v2_mujoco.sh"), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_reference_takes_merged_picks_and_refuses_an_unfinished_extension(tmp_path):
    root, log, env = _tree(tmp_path)
    r = _run(root, env, "reference")
    assert r.returncode == 0, r.stderr
    (call,) = log.read_text().splitlines()
    assert call.startswith("benchmarks/baselines.py suite-reference --suite train")
    assert all(f"--tuned benchmarks/results/sweep-v2-{s}.tuned.json" in call for s in TRAIN)
    # an extension declared (its sweep file) but not merged yet: refused, nothing runs
    (root / "benchmarks" / "sweeps" / "v2-ext-hopper-padded-clean.toml").write_text("x")
    log.unlink()
    r = _run(root, env, "reference")
    assert r.returncode != 0 and not log.exists()
    assert "hopper-padded-clean: its edge extension is not finished" in r.stderr
    # merged: its picks are the ones taken, the others stay
    (root / "benchmarks" / "results" / "sweep-v2-merged-hopper-padded-clean.tuned.json"
     ).write_text("{}")
    assert _run(root, env, "reference").returncode == 0
    (call,) = log.read_text().splitlines()
    assert "--tuned benchmarks/results/sweep-v2-merged-hopper-padded-clean.tuned.json" in call
    assert "sweep-v2-hopper-padded-clean.tuned.json" not in call
    assert "--tuned benchmarks/results/sweep-v2-hopper-padded-noisy-0.1.tuned.json" in call


def test_a_clone_writes_rows_to_results_and_copies_its_sweep_files_there(tmp_path):
    root, log, env = _tree(tmp_path)
    main = tmp_path / "main" / "benchmarks"
    (main / "results").mkdir(parents=True)
    (main / "sweeps").mkdir()
    env = {**env, "RESULTS": str(main / "results")}
    r = _run(root, env, "sweep", "hopper-padded-clean")
    assert r.returncode == 0, r.stderr
    calls = log.read_text().splitlines()
    out = main / "results"
    assert [c.split()[1] for c in calls] == ["sweep", "tuned", "extend", "sweep", "tuned",
                                              "merge"]
    assert calls[0].endswith(f"--out {out}/sweep-v2-hopper-padded-clean.jsonl")
    assert "sweep benchmarks/sweeps/v2-ext-hopper-padded-clean.toml" in calls[3]
    assert calls[5].endswith(f"--out {out}/sweep-v2-merged-hopper-padded-clean.tuned.json")
    # the extension's sweep file, named by its rows as benchmarks/sweeps/..., is in both trees
    assert (root / "benchmarks" / "sweeps" / "v2-ext-hopper-padded-clean.toml").exists()
    assert (main / "sweeps" / "v2-ext-hopper-padded-clean.toml").exists()
    # run again (after a kill): the extension is not written again, its sweep resumes
    log.unlink()
    assert _run(root, env, "sweep", "hopper-padded-clean").returncode == 0
    assert [c.split()[1] for c in log.read_text().splitlines()] == [
        "sweep", "tuned", "sweep", "tuned", "merge"]
