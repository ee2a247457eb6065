"""benchmarks/v2_mujoco.sh and benchmarks/llm_v2.sh, the plans' drivers, with a stand-in ``python``
that records each command instead of running it (``python -c`` and ``benchmarks/tomlq.py`` still
run: the scripts read TOML files with them). What is checked is the script's own logic: which
tuned file each step takes (the merged picks once an edge extension is declared, a refusal while
it is unfinished), that a sweep file written in a clone is copied to the checkout its RESULTS
point at, and that the later steps (candidates, confirmations, test tuning, headline) refuse
until what they need exists and then run the declared commands on the declared files."""

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
if [ "$1" = -c ] || [ "$(basename "$1")" = tomlq.py ]; then exec "{python}" "$@"; fi
echo "$*" >> "{log}"
# extend and merge write their --out (extend: when a pick is on an edge), as the real ones do;
# suite_winner.py its candidates' sweep file (--sweep) and ablate.py specs its sweep (--sweep-out)
if [ "$2" = extend ] || [ "$2" = merge ]; then
  while [ $# -gt 0 ]; do [ "$1" = --out ] && echo x > "$2"; shift; done
fi
if [ "$(basename "$1")" = suite_winner.py ] || [ "$(basename "$1")" = ablate.py ]; then
  while [ $# -gt 0 ]; do
    [ "$1" = --sweep ] || [ "$1" = --sweep-out ] &&
      printf '[candidates.lf-w]\nspec = "w"\n[candidates.lf-69d0421b]\nspec = "x"\n' > "$2"
    shift
  done
fi
# the search makes its run directory under --runs-dir
if [ "$1 $2" = "-m lossforge.search" ]; then
  while [ $# -gt 0 ]; do
    [ "$1" = --runs-dir ] && mkdir -p "$2/20261205-000000-suite-train-s0"
    shift
  done
fi
exit 0
"""


def _tree(tmp_path: Path) -> tuple[Path, Path, dict]:
    """A checkout with the script and the suites, a stand-in python first on PATH."""
    root = tmp_path / "clone"
    (root / "benchmarks" / "sweeps").mkdir(parents=True)
    for script in ("v2_mujoco.sh", "sweep_lib.sh", "llm_v2.sh", "tomlq.py"):
        shutil.copy(REPO / "benchmarks" / script, root / "benchmarks")
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


def _steps(log: Path) -> list[str]:
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def test_candidates_need_the_search_then_tune_like_the_baselines(tmp_path):
    root, log, env = _tree(tmp_path)
    r = _run(root, env, "candidates", "hopper-padded-clean")
    assert r.returncode != 0 and "no suite search run here" in r.stderr and not log.exists()
    run_dir = root / "runs" / "v2-suite-search" / "20261205-000000-suite-train-s0"
    run_dir.mkdir(parents=True)
    r = _run(root, env, "candidates", "hopper-padded-clean")
    assert r.returncode == 0, r.stderr
    calls = _steps(log)
    assert calls[0] == (f"benchmarks/suite_winner.py runs/v2-suite-search/{run_dir.name} "
                        "--sweep benchmarks/sweeps/v2-candidates.toml")
    assert [c.split()[1] for c in calls[1:]] == ["sweep", "tuned", "extend", "sweep", "tuned",
                                                  "merge"]
    assert calls[1].startswith("benchmarks/baselines.py sweep benchmarks/sweeps/v2-candidates.toml")
    assert calls[1].endswith("--out benchmarks/results/sweep-v2-cand-hopper-padded-clean.jsonl")
    assert "sweep benchmarks/sweeps/v2-cand-ext-hopper-padded-clean.toml" in calls[4]
    assert calls[6].endswith(
        "--out benchmarks/results/sweep-v2-cand-merged-hopper-padded-clean.tuned.json")
    # the winner is named once: a second run resumes the sweeps without suite_winner.py
    assert _run(root, env, "candidates", "hopper-padded-clean").returncode == 0
    assert "suite_winner.py" not in "\n".join(_steps(log))


def test_confirmations_take_both_picks_and_refuse_an_unfinished_candidates_extension(tmp_path):
    root, log, env = _tree(tmp_path)
    res, sweeps = root / "benchmarks" / "results", root / "benchmarks" / "sweeps"
    s = "hopper-padded-clean"
    (sweeps / f"v2-cand-ext-{s}.toml").write_text("x")      # declared, not merged yet
    r = _run(root, env, "confirm-train", s)
    assert r.returncode != 0 and not log.exists()
    assert f"{s}: its edge extension is not finished (run: " in r.stderr
    assert r.stderr.rstrip().endswith(f"candidates {s})")
    (res / f"sweep-v2-cand-merged-{s}.tuned.json").write_text("{}")
    assert _run(root, env, "confirm-train", s).returncode == 0
    (call,) = _steps(log)
    assert call == (f"benchmarks/baselines.py confirm --tuned benchmarks/results/sweep-v2-{s}"
                    f".tuned.json --tuned benchmarks/results/sweep-v2-cand-merged-{s}.tuned.json "
                    f"--scenarios {s} --workers 1 --out benchmarks/results/confirm-v2-train.jsonl")


def test_test_suite_steps_need_the_shortlist_and_the_candidates_then_never_extend(tmp_path):
    root, log, env = _tree(tmp_path)
    sweeps = root / "benchmarks" / "sweeps"
    t = "hopper-padded-noisy-0.15"
    r = _run(root, env, "test-tune", t)
    assert r.returncode != 0 and "no shortlist" in r.stderr and not log.exists()
    (sweeps / "v2-test.toml").write_text("x")
    r = _run(root, env, "test-tune", t)
    assert r.returncode != 0 and "no candidates' sweep" in r.stderr and not log.exists()
    (sweeps / "v2-candidates.toml").write_text('[candidates.lf-w]\nspec = "w"\n'
                                               '[candidates.lf-9ccbeb81]\nspec = "x"\n')
    assert _run(root, env, "test-tune", t).returncode == 0
    calls = _steps(log)
    assert [c.split()[1:3] for c in calls] == [
        ["sweep", "benchmarks/sweeps/v2-test.toml"],
        ["tuned", f"benchmarks/results/sweep-v2-test-{t}.jsonl"],
        ["sweep", "benchmarks/sweeps/v2-candidates.toml"],
        ["tuned", f"benchmarks/results/sweep-v2-cand-{t}.jsonl"]]
    assert _run(root, env, "test-confirm", t).returncode == 0
    (call,) = _steps(log)
    assert (f"--tuned benchmarks/results/sweep-v2-test-{t}.tuned.json --tuned "
            f"benchmarks/results/sweep-v2-cand-{t}.tuned.json --scenarios {t}") in call
    assert call.endswith("--out benchmarks/results/confirm-v2-test.jsonl")
    # headline: every candidate of the sweep file, on each suite with a confirmation
    (root / "benchmarks" / "results" / "confirm-v2-test.confirm.json").write_text("{}")
    r = _run(root, env, "headline")
    assert r.returncode == 0, r.stderr
    assert "no train confirmation yet" in r.stderr
    assert _steps(log) == [
        "benchmarks/field_v2.py benchmarks/results/confirm-v2-test.confirm.json --out "
        "benchmarks/results/field-v2-test.md"] + [
        f"benchmarks/headline.py benchmarks/results/confirm-v2-test.confirm.json --candidate {c} "
        f"--suite benchmarks/suites/test.toml --out benchmarks/results/headline-v2-test-{c}.md"
        for c in ("lf-w", "lf-9ccbeb81")]


def test_ablate_tunes_the_winners_arms_on_v2s_rates_and_confirms_them_beside_the_rest(tmp_path):
    root, log, env = _tree(tmp_path)
    shutil.copy(REPO / "benchmarks" / "sweeps" / "v2.toml", root / "benchmarks" / "sweeps")
    r = _run(root, env, "ablate", "hopper-padded-clean")
    assert r.returncode != 0 and "no candidates' sweep" in r.stderr and not log.exists()
    (root / "benchmarks" / "sweeps" / "v2-candidates.toml").write_text(
        '[candidates.lf-w]\nspec = "w"\n[candidates.lf-69d0421b]\nspec = "x"\n')
    r = _run(root, env, "ablate", "hopper-padded-clean")
    assert r.returncode == 0, r.stderr
    calls = _steps(log)
    # the first candidate is the search's winner; the arms' rates are v2.toml's
    assert calls[0] == ("benchmarks/ablate.py specs benchmarks/results/winners/lf-w.json "
                        "--out-dir benchmarks/results/ablations --sweep-out "
                        "benchmarks/sweeps/v2-ablate-lf-w.toml --lr 0.0001,0.0003,0.001 "
                        "--without-full")
    assert calls[1].startswith(
        "benchmarks/baselines.py sweep benchmarks/sweeps/v2-ablate-lf-w.toml")
    assert calls[2] == ("benchmarks/baselines.py tuned "
                        "benchmarks/results/sweep-v2-ablate-hopper-padded-clean.jsonl")
    assert ("--tuned benchmarks/results/sweep-v2-hopper-padded-clean.tuned.json --tuned "
            "benchmarks/results/sweep-v2-cand-hopper-padded-clean.tuned.json --tuned "
            "benchmarks/results/sweep-v2-ablate-hopper-padded-clean.tuned.json") in calls[3]
    assert calls[3].endswith("--out benchmarks/results/confirm-v2-train.jsonl")
    assert calls[4] == ("benchmarks/ablate.py table "
                        "benchmarks/results/confirm-v2-train.confirm.json"
                        " --loss lf-w --out benchmarks/results/ablation-v2-train-lf-w.md")
    assert len(calls) == 5


def test_all_runs_the_steps_in_the_plans_order_and_stops_at_the_first_refusal(tmp_path):
    """In an empty checkout, with the stand-in python writing only what the script itself
    checks for (extension and merged files, the search's run directory, the candidates' and
    ablations' sweep files; not the shortlist), every step up to test-tune issues its commands
    in the plan's order; test-tune then finds no shortlist and refuses, and nothing after it
    runs."""
    root, log, env = _tree(tmp_path)
    shutil.copy(REPO / "benchmarks" / "sweeps" / "v2.toml", root / "benchmarks" / "sweeps")
    r = _run(root, env, "all")
    assert r.returncode != 0 and "test-tune: no shortlist" in r.stderr
    steps = [ln[3:] for ln in r.stderr.splitlines() if ln.startswith("== ")]
    assert steps == ["sweep", "shortlist", "audit", "reference", "search", "candidates",
                     "confirm-train", "ablate", "test-tune"]
    calls = _steps(log)
    tools = [c.split()[0].split("/")[-1] + " " + c.split()[1] for c in calls]
    assert tools[:6] == ["baselines.py sweep", "baselines.py tuned", "baselines.py extend",
                         "baselines.py sweep", "baselines.py tuned", "baselines.py merge"]
    firsts = [t for i, t in enumerate(tools) if t not in tools[:i]]   # each tool's first call
    assert firsts == ["baselines.py sweep", "baselines.py tuned", "baselines.py extend",
                      "baselines.py merge", "baselines.py shortlist",
                      "audit.py hopper-padded-mixed-quality", "audit.py hopper-padded-noisy-0.15",
                      "baselines.py suite-reference", "-m lossforge.search",
                      "record_search.py runs/v2-suite-search/20261205-000000-suite-train-s0",
                      "suite_winner.py runs/v2-suite-search/20261205-000000-suite-train-s0",
                      "baselines.py confirm", "ablate.py specs", "ablate.py table"]
    # per train scenario: the baselines' and the candidates' tuning with extension, one
    # confirmation, and the ablation arms' tuning (no extension) with their confirmation
    assert tools.count("baselines.py merge") == 2 * len(TRAIN)
    assert tools.count("baselines.py confirm") == 2 * len(TRAIN)


def _llm(root: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(root / "benchmarks" / "llm_v2.sh"), *args],
                          capture_output=True, text=True, env={**env, "TASKS": "reverse"},
                          timeout=120)


def test_llm_transfer_tunes_the_winner_per_cell_as_that_cells_rows_were(tmp_path):
    import tomllib

    root, log, env = _tree(tmp_path)
    sweeps, res = root / "benchmarks" / "sweeps", root / "benchmarks" / "results"
    shutil.copy(REPO / "benchmarks" / "sweeps" / "llm-v2.toml", sweeps)
    r = _llm(root, env, "transfer")
    assert r.returncode != 0 and "no MuJoCo suite winner yet" in r.stderr and not log.exists()
    # a winner the LLM cells already carry as a declared candidate: nothing to do
    (sweeps / "v2-candidates.toml").write_text('[candidates.lf-cf853722]\nspec = "x"\n')
    r = _llm(root, env, "transfer")
    assert r.returncode == 0 and "lf-cf853722 is a declared candidate" in r.stderr
    assert not log.exists()
    (sweeps / "v2-candidates.toml").write_text('[candidates.lf-w]\nspec = "w"\n'
                                               '[candidates.lf-69d0421b]\nspec = "x"\n')
    r = _llm(root, env, "transfer", "mixed-quality", "clean")
    assert r.returncode != 0 and "reverse/mixed-quality has no tuned rows" in r.stderr
    # the transfer's sweep file: the winner alone, llm-v2.toml's rates and halving
    t = tomllib.loads((sweeps / "llm-v2-transfer.toml").read_text())
    v = tomllib.loads((REPO / "benchmarks" / "sweeps" / "llm-v2.toml").read_text())
    assert t["lr"] == v["lr"] and t["halving"] == v["halving"]
    assert list(t["candidates"]) == ["lf-w"] and "baselines" not in t
    for f in ("sweep-llm-v2-merged-reverse-mixed-quality.tuned.json",
              "sweep-llm-v2-reverse-clean.tuned.json"):
        (res / f).write_text("{}")
    r = _llm(root, env, "transfer", "mixed-quality", "clean")
    assert r.returncode == 0, r.stderr
    calls = _steps(log)
    assert [c.split()[1] for c in calls] == ["sweep", "tuned", "extend", "sweep", "tuned",
                                              "merge", "confirm", "sweep", "tuned", "confirm"]
    assert calls[0].startswith("benchmarks/baselines.py sweep benchmarks/sweeps/llm-v2-transfer"
                               ".toml --scenarios llm:reverse/mixed-quality")
    assert calls[6] == ("benchmarks/baselines.py confirm --tuned benchmarks/results/sweep-llm-v2-"
                        "merged-reverse-mixed-quality.tuned.json --tuned benchmarks/results/sweep-"
                        "llm-v2-transfer-merged-reverse-mixed-quality.tuned.json --draws=17-24 "
                        "--workers 1 --out benchmarks/results/confirm-llm-v2-merged-reverse-"
                        "mixed-quality-d17.jsonl")
    assert calls[9] == ("benchmarks/baselines.py confirm --tuned benchmarks/results/sweep-llm-v2-"
                        "reverse-clean.tuned.json --tuned benchmarks/results/sweep-llm-v2-"
                        "transfer-reverse-clean.tuned.json --workers 1 --out "
                        "benchmarks/results/confirm-llm-v2-reverse-clean.jsonl")
    (res / "confirm-llm-v2-merged-reverse-mixed-quality-d17.confirm.json").write_text("{}")
    r = _llm(root, env, "headline")
    assert r.returncode == 0, r.stderr
    assert _steps(log) == [
        "benchmarks/headline.py benchmarks/results/confirm-llm-v2-merged-reverse-mixed-quality-"
        "d17.confirm.json --candidate lf-w --out benchmarks/results/llm-v2-transfer-lf-w-"
        "mixed-quality.md"]


def test_llm_cells_sweep_tune_and_confirm_each_task_of_a_variant(tmp_path):
    root, log, env = _tree(tmp_path)
    r = _llm(root, env, "cells")
    assert r.returncode == 2 and "name the variants" in r.stderr
    assert _llm(root, env, "cells", "noisy-0.2").returncode == 0
    assert _steps(log) == [
        "benchmarks/baselines.py sweep benchmarks/sweeps/llm-v2.toml --scenarios "
        "llm:reverse/noisy-0.2 --budget full --workers 1 --out "
        "benchmarks/results/sweep-llm-v2-reverse-noisy-0.2.jsonl",
        "benchmarks/baselines.py tuned benchmarks/results/sweep-llm-v2-reverse-noisy-0.2.jsonl",
        "benchmarks/baselines.py confirm --tuned benchmarks/results/sweep-llm-v2-reverse-"
        "noisy-0.2.tuned.json --workers 1 --out benchmarks/results/confirm-llm-v2-reverse-"
        "noisy-0.2.jsonl"]


def test_tomlq_reads_values_keys_and_fields_and_refuses_a_missing_key(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text('lr = [1e-4, 3e-4]\n[halving]\nkeep = 2\n[candidates.b]\nspec = "1"\n'
                 '[candidates.a]\nspec = "2"\n[[scenarios]]\nname = "s1"\n[[scenarios]]\n'
                 'name = "s2"\n')
    q = [sys.executable, str(REPO / "benchmarks" / "tomlq.py"), str(f)]

    def out(*args):
        return subprocess.run(q + list(args), capture_output=True, text=True)

    assert out("lr", "--sep", ",").stdout == "0.0001,0.0003\n"
    assert out("halving.keep").stdout == "2\n"
    assert out("candidates", "--keys").stdout == "b a\n"          # file order
    assert out("scenarios", "--field", "name").stdout == "s1 s2\n"
    bad = out("halving.nope")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "halving.nope" in bad.stderr
