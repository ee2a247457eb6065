"""benchmarks/v2_mujoco.sh and benchmarks/llm_v2.sh, the plans' drivers, with a stand-in ``python``
that records each command instead of running it (``benchmarks/tomlq.py`` still runs: the scripts
read TOML files with it). What is checked is the scripts' own logic: which tuned file each step
takes (the merged picks once an edge extension is declared, the plain picks once `extend` found
nothing on an edge, a refusal before either), that a file one checkout declares reaches the other
(a clone whose RESULTS point at the main checkout), that the suite search runs in one checkout
and one job only, and that the later steps (candidates, confirmations, ablations, test tuning,
headline, the LLM transfer) refuse until what they need exists and then run the declared
commands on the declared files."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAIN = ["hopper-padded-mixed-quality", "hopper-padded-noisy-0.3", "hopper-padded-clean",
         "hopper-padded-noisy-0.1", "hopper-padded-noisy-0.2", "hopper-padded-noisy-0.4",
         "hopper-padded-ambiguous"]
WINNER_SPEC = "benchmarks/results/winners/lf-w.json"
ARM_SPEC = "benchmarks/results/ablations/lf-w-dpo-map.json"
FAKE = """#!/bin/bash
if [ "$(basename -- "$1")" = tomlq.py ]; then exec "{python}" "$@"; fi
echo "$*" >> "{log}"
echo "$LOSSFORGE_LEDGER" > "{log}.ledger"
# FAKE_FAIL: a command that holds this text refuses, as a real script does (exit 2)
if [ -n "${{FAKE_FAIL:-}}" ] && [[ "$*" == *"$FAKE_FAIL"* ]]; then exit 2; fi
out_of() {{ while [ $# -gt 0 ]; do [ "$1" = "$2" ] && echo "$3"; shift; done; }}
arg() {{ local want=$1; shift; while [ $# -gt 1 ]; do [ "$1" = "$want" ] && echo "$2"; shift; done; }}
# what the real commands write and the scripts look for: extend its --out (when a pick is on an
# edge: not with FAKE_NO_EDGE), merge and shortlist theirs, suite_winner.py the candidates' sweep and the
# winner's spec, ablate.py specs its sweep and an arm's spec, the search its run directory
case "$(basename -- "$1") $2" in
  "baselines.py extend") [ -n "${{FAKE_NO_EDGE:-}}" ] || echo x > "$(arg --out "$@")" ;;
  "baselines.py merge" | "baselines.py shortlist") echo x > "$(arg --out "$@")" ;;
  "suite_winner.py "*)
    mkdir -p benchmarks/results/winners && echo "{{}}" > {winner}
    printf '[candidates.lf-w]\\nspec = "{winner}"\\n[candidates.lf-69d0421b]\\nspec = "%s"\\n' \\
      benchmarks/results/winners/lf-69d0421b.json > "$(arg --sweep "$@")" ;;
  "ablate.py specs")
    mkdir -p benchmarks/results/ablations && echo "{{}}" > {arm}
    printf '[candidates.lf-w-dpo-map]\\nspec = "{arm}"\\n' > "$(arg --sweep-out "$@")" ;;
  "-m lossforge.search") mkdir -p "$(arg --runs-dir "$@")/20261205-000000-suite-train-s0" ;;
esac
exit 0
"""


def _tree(tmp_path: Path, name: str = "clone") -> tuple[Path, Path, dict]:
    """A checkout with the scripts, the suites, the declared sweep files and winner specs, and
    a stand-in python first on PATH."""
    root = tmp_path / name
    (root / "benchmarks" / "sweeps").mkdir(parents=True)
    for script in ("v2_mujoco.sh", "sweep_lib.sh", "llm_v2.sh", "tomlq.py"):
        shutil.copy(REPO / "benchmarks" / script, root / "benchmarks")
    for sweep in ("v2.toml", "v2-shortcuts.toml", "llm-v2.toml"):
        shutil.copy(REPO / "benchmarks" / "sweeps" / sweep, root / "benchmarks" / "sweeps")
    shutil.copytree(REPO / "benchmarks" / "suites", root / "benchmarks" / "suites")
    shutil.copytree(REPO / "benchmarks" / "results" / "winners",
                    root / "benchmarks" / "results" / "winners")
    bin_dir, log = tmp_path / f"bin-{name}", tmp_path / f"calls-{name}.log"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(FAKE.format(python=sys.executable, log=log,
                                                winner=WINNER_SPEC, arm=ARM_SPEC))
    (bin_dir / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "NICE": "0"}
    return root, log, env


def _run(root: Path, env: dict, *args: str, script: str = "v2_mujoco.sh"):
    return subprocess.run(["bash", str(root / "benchmarks" / script), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _steps(log: Path) -> list[str]:
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def _decided(root: Path, *scenarios: str, prefix: str = "") -> None:
    """Mark the train scenarios' edge extensions as decided with nothing on an edge (prefix
    "": the baselines' and the trained shortcut's, which the sweep step tunes together)."""
    for s in scenarios:
        for p in ([prefix] if prefix else ["", "short-"]):
            (root / "benchmarks" / "results" / f"sweep-v2-{p}ext-{s}.none").write_text("x")


def test_reference_takes_the_picks_each_extension_decided_and_refuses_before(tmp_path):
    root, log, env = _tree(tmp_path)
    res = root / "benchmarks" / "results"
    r = _run(root, env, "reference")      # no sweep has run: nothing is decided
    assert r.returncode != 0 and not log.exists()
    assert "hopper-padded-mixed-quality: its sweep and edge extension are not finished" in r.stderr
    _decided(root, *TRAIN)                 # extend found nothing on an edge, everywhere
    assert _run(root, env, "reference").returncode == 0
    (call,) = _steps(log)
    assert call.startswith("benchmarks/baselines.py suite-reference --suite train")
    assert all(f"--tuned benchmarks/results/sweep-v2-{s}.tuned.json" in call for s in TRAIN)
    # an extension declared (its sweep file) but not merged yet: refused, nothing runs
    (res / "sweep-v2-ext-hopper-padded-clean.none").unlink()
    (root / "benchmarks" / "sweeps" / "v2-ext-hopper-padded-clean.toml").write_text("x")
    r = _run(root, env, "reference")
    assert r.returncode != 0 and not log.exists()
    assert ("hopper-padded-clean: its edge extension is not finished (run: "
            in r.stderr) and r.stderr.rstrip().endswith("sweep hopper-padded-clean)")
    # merged: its picks are the ones taken, the others stay
    (res / "sweep-v2-merged-hopper-padded-clean.tuned.json").write_text("{}")
    assert _run(root, env, "reference").returncode == 0
    (call,) = _steps(log)
    assert "--tuned benchmarks/results/sweep-v2-merged-hopper-padded-clean.tuned.json" in call
    assert "sweep-v2-hopper-padded-clean.tuned.json" not in call
    assert "--tuned benchmarks/results/sweep-v2-hopper-padded-noisy-0.1.tuned.json" in call


def test_a_sweep_without_an_edge_pick_records_it_and_does_not_extend_again(tmp_path):
    root, log, env = _tree(tmp_path)
    env = {**env, "FAKE_NO_EDGE": "1"}
    assert _run(root, env, "sweep", "hopper-padded-clean").returncode == 0
    calls = _steps(log)   # the baselines, then the trained shortcut (v2-shortcuts.toml)
    assert [c.split()[1] for c in calls] == ["sweep", "tuned", "extend"] * 2
    assert calls[3].startswith("benchmarks/baselines.py sweep benchmarks/sweeps/v2-shortcuts.toml")
    assert calls[3].endswith("--out benchmarks/results/sweep-v2-short-hopper-padded-clean.jsonl")
    for p in ("", "short-"):
        assert (root / f"benchmarks/results/sweep-v2-{p}ext-hopper-padded-clean.none").exists()
    assert _run(root, env, "sweep", "hopper-padded-clean").returncode == 0
    assert [c.split()[1] for c in _steps(log)] == ["sweep", "tuned"] * 2


def test_a_clone_and_the_main_checkout_see_what_the_other_declared(tmp_path):
    root, log, env = _tree(tmp_path)
    main = tmp_path / "main"
    (main / "benchmarks" / "results").mkdir(parents=True)
    (main / "benchmarks" / "sweeps").mkdir()
    out = main / "benchmarks" / "results"
    env = {k: v for k, v in env.items() if k != "LOSSFORGE_LEDGER"}
    env["RESULTS"] = str(out)
    r = _run(root, env, "sweep", "hopper-padded-clean")
    assert r.returncode == 0, r.stderr
    calls = _steps(log)
    assert [c.split()[1] for c in calls] == ["sweep", "tuned", "extend", "sweep", "tuned",
                                              "merge"] * 2   # baselines, then the shortcut
    assert calls[0].endswith(f"--out {out}/sweep-v2-hopper-padded-clean.jsonl")
    assert "sweep benchmarks/sweeps/v2-ext-hopper-padded-clean.toml" in calls[3]
    assert calls[5].endswith(f"--out {out}/sweep-v2-merged-hopper-padded-clean.tuned.json")
    # the clone's ledger lines go to the main checkout's ledger
    assert Path(f"{log}.ledger").read_text().strip() == f"{out}/ledger.jsonl"
    # the extension's sweep file (rows name it as benchmarks/sweeps/...) is in both trees, and
    # the declared v2.toml reached the main checkout too
    for tree in (root, main):
        assert (tree / "benchmarks/sweeps/v2-ext-hopper-padded-clean.toml").exists()
    assert (main / "benchmarks/sweeps/v2.toml").exists()
    # run again (after a kill): the extension is not written again, its sweep resumes
    assert _run(root, env, "sweep", "hopper-padded-clean").returncode == 0
    assert [c.split()[1] for c in _steps(log)] == ["sweep", "tuned", "sweep", "tuned",
                                                   "merge"] * 2
    # the other way: the main checkout declared an extension (another job, killed before its
    # merge); this clone has never seen it: it fetches it and finishes it
    (main / "benchmarks/sweeps/v2-ext-hopper-padded-noisy-0.1.toml").write_text("y")
    assert _run(root, env, "sweep", "hopper-padded-noisy-0.1").returncode == 0
    assert [c.split()[1] for c in _steps(log)] == ["sweep", "tuned", "sweep", "tuned", "merge",
                                                   "sweep", "tuned", "extend", "sweep", "tuned",
                                                   "merge"]
    assert (root / "benchmarks/sweeps/v2-ext-hopper-padded-noisy-0.1.toml").read_text() == "y"


def test_the_search_runs_with_the_results_and_in_one_job(tmp_path):
    """Its run directory is in the results (committed with them, so the next session resumes
    it): a clone writing to the same results resumes the same run; other results are refused."""
    root, log, env = _tree(tmp_path)
    other, log_b, env_b = _tree(tmp_path, "other")
    res = root / "benchmarks" / "results"
    env_b = {**env_b, "RESULTS": str(res)}
    assert _run(root, env, "search").returncode == 0
    calls = _steps(log)
    runs = res / "v2-suite-search"
    assert calls[0].startswith("-m lossforge.search --suite benchmarks/suites/train.toml")
    assert f"--runs-dir {runs} " in calls[0]
    assert calls[1].startswith(f"benchmarks/record_search.py {runs}/20261205-000000-suite-train-s0")
    # relative to the results: a clone's committed copy of them finds its own copy of the run
    assert (res / "v2-suite-search.path").read_text().strip() == "v2-suite-search"
    # again: it resumes that run; so does a clone whose results are these
    assert _run(root, env, "search").returncode == 0
    assert _steps(log)[0].startswith(f"-m lossforge.search --resume {runs}/20261205-")
    assert _run(other, env_b, "search").returncode == 0
    assert _steps(log_b)[0].startswith(f"-m lossforge.search --resume {runs}/20261205-")
    # a clone run on its own copy of the results where the marker came with a commit and the
    # run did not: refused, not a second search beside the first
    own = other / "benchmarks/results"
    own.mkdir(parents=True, exist_ok=True)
    shutil.copy(res / "v2-suite-search.path", own)
    env_own = {k: v for k, v in env_b.items() if k != "RESULTS"}
    log_b.unlink(missing_ok=True)
    r = _run(other, env_own, "search")
    assert r.returncode != 0 and "its run is not" in r.stderr and "another checkout" in r.stderr
    assert not log_b.exists() and not (own / "v2-suite-search").exists()
    # but a first start here that failed before its run directory (the runs folder is here,
    # empty) is retried, not refused
    (own / "v2-suite-search").mkdir()
    assert _run(other, env_own, "search").returncode == 0
    assert _steps(log_b)[0].startswith("-m lossforge.search --suite ")
    shutil.rmtree(own / "v2-suite-search")
    log_b.unlink(missing_ok=True)
    # an older marker holds the absolute path of another checkout's results: refused so too
    (own / "v2-suite-search.path").write_text(f"{runs}\n")
    r = _run(other, env_own, "search")
    assert r.returncode != 0 and f"search: it runs in {runs}" in r.stderr and not log_b.exists()
    # the run committed with the results (what the next session's clone has): it resumes that
    # copy, in its own results
    shutil.copytree(runs, own / "v2-suite-search", ignore=shutil.ignore_patterns(".lock"))
    (own / "v2-suite-search.path").write_text("v2-suite-search\n")
    r = _run(other, env_own, "search")
    assert r.returncode == 0, r.stderr
    mine = (own / "v2-suite-search").resolve()
    assert _steps(log_b)[0].startswith(f"-m lossforge.search --resume {mine}/20261205-")
    # a second job in the same checkout while the first holds the lock: refused
    with open(runs / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = _run(root, env, "search")
    assert r.returncode != 0 and "another job is running it" in r.stderr and not log.exists()
    # the candidates step of the other checkout finds the run through the results
    _decided(other, "hopper-padded-clean", prefix="cand-")
    r = _run(other, env_b, "candidates", "hopper-padded-clean")
    assert r.returncode == 0, r.stderr
    assert _steps(log_b)[0] == (f"benchmarks/suite_winner.py {runs}/20261205-000000-suite-"
                                "train-s0 --sweep benchmarks/sweeps/v2-candidates.toml")
    # its winner's spec and sweep file reached the results' checkout
    assert (root / WINNER_SPEC).exists() and (root / "benchmarks/sweeps/v2-candidates.toml").exists()


def test_candidates_need_the_search_then_tune_like_the_baselines(tmp_path):
    root, log, env = _tree(tmp_path)
    r = _run(root, env, "candidates", "hopper-padded-clean")
    assert r.returncode != 0 and "no suite search run yet" in r.stderr and not log.exists()
    assert _run(root, env, "search").returncode == 0
    _steps(log)
    r = _run(root, env, "candidates", "hopper-padded-clean")
    assert r.returncode == 0, r.stderr
    calls = _steps(log)
    assert calls[0].startswith("benchmarks/suite_winner.py ")
    assert [c.split()[1] for c in calls[1:]] == ["sweep", "tuned", "extend", "sweep", "tuned",
                                                  "merge"]
    assert calls[1].startswith("benchmarks/baselines.py sweep benchmarks/sweeps/v2-candidates")
    assert calls[1].endswith("--out benchmarks/results/sweep-v2-cand-hopper-padded-clean.jsonl")
    assert "sweep benchmarks/sweeps/v2-cand-ext-hopper-padded-clean.toml" in calls[4]
    assert calls[6].endswith(
        "--out benchmarks/results/sweep-v2-cand-merged-hopper-padded-clean.tuned.json")
    # the winner is named once: a second run resumes the sweeps without suite_winner.py
    assert _run(root, env, "candidates", "hopper-padded-clean").returncode == 0
    assert "suite_winner.py" not in "\n".join(_steps(log))
    # a candidate whose spec is in neither checkout stops the step before anything trains
    (root / WINNER_SPEC).unlink()
    r = _run(root, env, "candidates", "hopper-padded-clean")
    assert r.returncode != 0 and "candidate lf-w: its spec" in r.stderr and not log.exists()


def test_confirmations_take_both_picks_and_refuse_an_unfinished_candidates_extension(tmp_path):
    root, log, env = _tree(tmp_path)
    res, sweeps = root / "benchmarks" / "results", root / "benchmarks" / "sweeps"
    s = "hopper-padded-clean"
    _decided(root, s)
    (sweeps / f"v2-cand-ext-{s}.toml").write_text("x")      # declared, not merged yet
    r = _run(root, env, "confirm-train", s)
    assert r.returncode != 0 and not log.exists()
    assert f"{s}: its edge extension is not finished (run: " in r.stderr
    assert r.stderr.rstrip().endswith(f"candidates {s})")
    (res / f"sweep-v2-cand-merged-{s}.tuned.json").write_text("{}")
    assert _run(root, env, "confirm-train", s).returncode == 0
    (call,) = _steps(log)
    assert call == (f"benchmarks/baselines.py confirm --tuned benchmarks/results/sweep-v2-{s}"
                    f".tuned.json --tuned benchmarks/results/sweep-v2-short-{s}.tuned.json "
                    f"--tuned benchmarks/results/sweep-v2-cand-merged-{s}.tuned.json "
                    f"--scenarios {s} --workers 1 --out benchmarks/results/confirm-v2-train.jsonl")


def _candidates_file(root: Path) -> None:
    (root / WINNER_SPEC).write_text("{}")
    (root / "benchmarks/sweeps/v2-candidates.toml").write_text(
        f'[candidates.lf-w]\nspec = "{WINNER_SPEC}"\n[candidates.lf-9ccbeb81]\n'
        'spec = "benchmarks/results/winners/lf-9ccbeb81.json"\n')


def test_test_suite_steps_need_the_shortlist_and_the_candidates_then_never_extend(tmp_path):
    root, log, env = _tree(tmp_path)
    sweeps = root / "benchmarks" / "sweeps"
    t = "hopper-padded-noisy-0.15"
    r = _run(root, env, "test-tune", t)
    assert r.returncode != 0 and "no shortlist" in r.stderr and not log.exists()
    (sweeps / "v2-test.toml").write_text("x")
    r = _run(root, env, "test-tune", t)
    assert r.returncode != 0 and "no candidates' sweep" in r.stderr and not log.exists()
    _candidates_file(root)
    # the shortcut's and the candidates' test rates are read from their train picks (Session
    # 22): refused while those are undecided
    r = _run(root, env, "test-tune", t)
    assert r.returncode != 0 and "edge extension are not finished" in r.stderr
    assert not log.exists()
    _decided(root, *TRAIN)
    _decided(root, *TRAIN, prefix="cand-")
    assert _run(root, env, "test-tune", t).returncode == 0
    calls = _steps(log)
    for call, p, out in ((calls[0], "short-", "v2-test-shortcuts"),
                         (calls[1], "cand-", "v2-test-candidates")):
        assert call == ("benchmarks/baselines.py shortlist " + " ".join(
            f"benchmarks/results/sweep-v2-{p}{s}.tuned.json" for s in TRAIN)
            + f" --suite train --take grid+picks --keep 2 --out benchmarks/sweeps/{out}.toml")
    assert [c.split()[1:3] for c in calls[2:]] == [
        ["sweep", "benchmarks/sweeps/v2-test.toml"],
        ["tuned", f"benchmarks/results/sweep-v2-test-{t}.jsonl"],
        ["sweep", "benchmarks/sweeps/v2-test-shortcuts.toml"],
        ["tuned", f"benchmarks/results/sweep-v2-short-{t}.jsonl"],
        ["sweep", "benchmarks/sweeps/v2-test-candidates.toml"],
        ["tuned", f"benchmarks/results/sweep-v2-cand-{t}.jsonl"]]
    # written once: the next test scenario tunes on the same files
    assert _run(root, env, "test-tune", t).returncode == 0
    assert not any(" shortlist " in c for c in _steps(log))
    assert _run(root, env, "test-confirm", t).returncode == 0
    (call,) = _steps(log)
    assert (f"--tuned benchmarks/results/sweep-v2-test-{t}.tuned.json --tuned "
            f"benchmarks/results/sweep-v2-short-{t}.tuned.json --tuned "
            f"benchmarks/results/sweep-v2-cand-{t}.tuned.json --scenarios {t}") in call
    assert call.endswith("--out benchmarks/results/confirm-v2-test.jsonl")
    # headline: the field's table, then every candidate of the sweep file, on each suite with
    # a confirmation
    (root / "benchmarks" / "results" / "confirm-v2-test.confirm.json").write_text("{}")
    r = _run(root, env, "headline")
    assert r.returncode == 0, r.stderr
    assert "no train confirmation yet" in r.stderr
    assert _steps(log) == [
        "benchmarks/field_v2.py benchmarks/results/confirm-v2-test.confirm.json --suite "
        "benchmarks/suites/test.toml --out benchmarks/results/field-v2-test.md"] + [
        f"benchmarks/headline.py benchmarks/results/confirm-v2-test.confirm.json --candidate {c} "
        f"--suite benchmarks/suites/test.toml {claim}--out benchmarks/results/headline-v2-test-{c}.md"
        # issue 19's claim: the declared winner (the sweep file's first) on the test suite alone
        for c, claim in (("lf-w", "--claim "), ("lf-9ccbeb81", ""))]
    # both suites, the test suite first (the claim); a table that refuses (the winner's, here)
    # does not keep the others from being written, and the step then fails naming it
    (root / "benchmarks" / "results" / "confirm-v2-train.confirm.json").write_text("{}")
    r = _run(root, {**env, "FAKE_FAIL": "--candidate lf-w "}, "headline")
    assert r.returncode != 0
    assert ("headline: not written (see above): headline-v2-test-lf-w headline-v2-train-lf-w"
            in r.stderr)
    steps = _steps(log)
    assert [c.split()[-1].split("/")[-1] for c in steps] == [
        "field-v2-test.md", "headline-v2-test-lf-w.md", "headline-v2-test-lf-9ccbeb81.md",
        "field-v2-train.md", "headline-v2-train-lf-w.md", "headline-v2-train-lf-9ccbeb81.md"]
    assert ["--claim" in c for c in steps] == [False, True, False, False, False, False]


def test_ablate_tunes_the_winners_arms_as_the_winner_and_confirms_them_beside_it(tmp_path):
    root, log, env = _tree(tmp_path)
    s = "hopper-padded-clean"
    r = _run(root, env, "ablate", s)
    assert r.returncode != 0 and "no candidates' sweep" in r.stderr and not log.exists()
    _candidates_file(root)
    _decided(root, s)
    _decided(root, s, prefix="cand-")
    r = _run(root, env, "ablate", s)
    assert r.returncode == 0, r.stderr
    calls = _steps(log)
    # the first candidate is the search's winner; the arms' rates are v2.toml's
    assert calls[0] == (f"benchmarks/ablate.py specs {WINNER_SPEC} "
                        "--out-dir benchmarks/results/ablations --sweep-out "
                        "benchmarks/sweeps/v2-ablate-lf-w.toml --lr 0.0001,0.0003,0.001 "
                        "--without-full --combined")   # (Session 22: the combined arms too)
    # the arms are tuned as the winner was: with the edge extension
    assert [c.split()[1] for c in calls[1:7]] == ["sweep", "tuned", "extend", "sweep", "tuned",
                                                   "merge"]
    assert calls[1].startswith(
        f"benchmarks/baselines.py sweep benchmarks/sweeps/v2-ablate-lf-w.toml --scenarios {s}")
    assert (f"--tuned benchmarks/results/sweep-v2-{s}.tuned.json --tuned "
            f"benchmarks/results/sweep-v2-short-{s}.tuned.json --tuned "
            f"benchmarks/results/sweep-v2-cand-{s}.tuned.json --tuned "
            f"benchmarks/results/sweep-v2-ablate-merged-{s}.tuned.json") in calls[7]
    assert calls[7].endswith("--out benchmarks/results/confirm-v2-train.jsonl")
    assert calls[8] == ("benchmarks/ablate.py table "
                        "benchmarks/results/confirm-v2-train.confirm.json"
                        " --loss lf-w --suite benchmarks/suites/train.toml"
                        " --out benchmarks/results/ablation-v2-train-lf-w.md")
    assert len(calls) == 9


def test_all_runs_every_step_in_the_plans_order_and_resumes(tmp_path):
    """In an empty checkout, with the stand-in python writing what the scripts check for, `all`
    issues every step's commands in the plan's order (the test suite's steps and headline
    before confirm-train and ablate: Session 19) and ends (headline finds no confirmation
    report: the stand-in writes none). Run again, it trains nothing new: the declared files are
    there, so no shortlist, winner, ablation or extension is written a second time."""
    root, log, env = _tree(tmp_path)
    r = _run(root, env, "all")
    assert r.returncode == 0, r.stderr
    steps = [ln[3:] for ln in r.stderr.splitlines() if ln.startswith("== ")]
    assert steps == ["sweep", "shortlist", "audit", "reference", "search", "candidates",
                     "test-tune", "test-confirm", "headline test", "confirm-train", "ablate",
                     "headline"]
    assert "headline: no train confirmation yet" in r.stderr
    tools = [c.split()[0].split("/")[-1] + " " + c.split()[1] for c in _steps(log)]
    firsts = [t for i, t in enumerate(tools) if t not in tools[:i]]   # each tool's first call
    run_dir = f"{root}/benchmarks/results/v2-suite-search/20261205-000000-suite-train-s0"
    assert firsts == ["baselines.py sweep", "baselines.py tuned", "baselines.py extend",
                      "baselines.py merge", "baselines.py shortlist",
                      "audit.py hopper-padded-mixed-quality", "audit.py hopper-padded-noisy-0.15",
                      "baselines.py suite-reference", "-m lossforge.search",
                      f"record_search.py {run_dir}", f"suite_winner.py {run_dir}",
                      "baselines.py confirm", "ablate.py specs", "ablate.py table"]
    # per train scenario: the baselines', the shortcut's, the candidates' and the arms' tuning,
    # each with its extension; confirm-train and ablate confirm each; per test scenario: three
    # sweeps (shortlist, shortcut, candidates), one confirmation, no extension
    n_test = len(tomllib.loads((REPO / "benchmarks/suites/test.toml").read_text())["scenarios"])
    assert tools.count("baselines.py extend") == 4 * len(TRAIN)
    assert tools.count("baselines.py confirm") == 2 * len(TRAIN) + n_test
    assert tools.count("baselines.py sweep") == 2 * 4 * len(TRAIN) + 3 * n_test
    r = _run(root, env, "all")
    assert r.returncode == 0, r.stderr
    again = [c.split()[0].split("/")[-1] + " " + c.split()[1] for c in _steps(log)]
    for once in ("baselines.py extend", "baselines.py shortlist", "suite_winner.py",
                 "ablate.py specs"):
        assert not any(t.startswith(once) for t in again), once
    assert again.count("-m lossforge.search") == 1 and "--resume" in r.stderr
    # a session ends during confirm-train: the train suite's report then covers some of its
    # scenarios, and its tables refuse it (here: field_v2 on it refuses). The test suite's
    # headline, before confirm-train, reads the test suite only, and a refusal of its own
    # does not stop the train suite's steps; only the last headline fails, at the end
    res = root / "benchmarks" / "results"
    for suite in ("test", "train"):
        (res / f"confirm-v2-{suite}.confirm.json").write_text("{}")
    r = _run(root, {**env, "FAKE_FAIL": "confirm-v2-train.confirm.json --suite"}, "all")
    calls = _steps(log)
    train_confirms = [c for c in calls if c.startswith("benchmarks/baselines.py confirm")
                      and c.endswith("confirm-v2-train.jsonl")]
    assert len(train_confirms) == 2 * len(TRAIN)     # confirm-train and ablate both ran
    assert r.returncode != 0 and "headline: not written (see above): field-v2-train" in r.stderr
    r = _run(root, {**env, "FAKE_FAIL": "--candidate lf-w --suite benchmarks/suites/test"}, "all")
    assert "the test suite's headline refused (above); the train suite's steps go on" in r.stderr
    assert sum(c.endswith("confirm-v2-train.jsonl") for c in _steps(log)) == 2 * len(TRAIN)


def test_llm_transfer_tunes_the_winner_per_cell_as_that_cells_rows_were(tmp_path):
    root, log, env = _tree(tmp_path)
    sweeps, res = root / "benchmarks" / "sweeps", root / "benchmarks" / "results"
    env = {**env, "TASKS": "reverse"}
    r = _run(root, env, "transfer", script="llm_v2.sh")
    assert r.returncode != 0 and "no MuJoCo suite winner yet" in r.stderr and not log.exists()
    # a winner the LLM cells already carry as a declared candidate: nothing to transfer, and
    # its headline runs on the cells as they are
    (sweeps / "v2-candidates.toml").write_text('[candidates.lf-cf853722]\nspec = "x"\n')
    r = _run(root, env, "transfer", script="llm_v2.sh")
    assert r.returncode == 0 and "lf-cf853722 is a declared candidate" in r.stderr
    assert not log.exists()
    # its headline spans the three declared tasks whatever TASKS says: with one task's report
    # there is no table (a smaller Holm family would be another claim)
    (res / "confirm-llm-v2-merged-reverse-mixed-quality-d17.confirm.json").write_text("{}")
    r = _run(root, env, "headline", script="llm_v2.sh")
    assert r.returncode != 0 and "mixed-quality: no confirmation of sort add yet" in r.stderr
    assert not log.exists()
    for t in ("sort", "add"):
        (res / f"confirm-llm-v2-merged-{t}-mixed-quality-d17.confirm.json").write_text("{}")
    r = _run(root, env, "headline", script="llm_v2.sh")
    # the other variants have no confirmation here: named, and the step fails at its end
    assert r.returncode != 0 and "clean: no confirmation of reverse sort add yet" in r.stderr
    reports = " ".join(f"benchmarks/results/confirm-llm-v2-merged-{t}-mixed-quality-d17"
                       ".confirm.json" for t in ("reverse", "sort", "add"))
    # the winner (a declared candidate here) once, then the other declared candidates
    assert _steps(log) == [
        f"benchmarks/headline.py {reports} --candidate {c} --out benchmarks/results/"
        f"llm-v2-headline-{c}-mixed-quality.md"
        for c in ("lf-cf853722", "lf-69d0421b", "lf-9ccbeb81", "lf-0fdc3456")]
    _candidates_file(root)
    r = _run(root, env, "transfer", "mixed-quality", "clean", script="llm_v2.sh")
    assert r.returncode != 0 and "reverse/mixed-quality has no tuned rows" in r.stderr
    # the transfer's sweep file: the winner alone, llm-v2.toml's rates and halving
    t = tomllib.loads((sweeps / "llm-v2-transfer.toml").read_text())
    v = tomllib.loads((REPO / "benchmarks" / "sweeps" / "llm-v2.toml").read_text())
    assert t["lr"] == v["lr"] and t["halving"] == v["halving"]
    assert list(t["candidates"]) == ["lf-w"] and "baselines" not in t
    for f in ("sweep-llm-v2-merged-reverse-mixed-quality.tuned.json",
              "sweep-llm-v2-reverse-clean.tuned.json"):
        (res / f).write_text("{}")
    r = _run(root, env, "transfer", "mixed-quality", "clean", script="llm_v2.sh")
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
    r = _run(root, env, "headline", script="llm_v2.sh")
    assert "headline: not written (see above): clean noisy-0.2" in r.stderr
    assert [c.split()[-1].split("/")[-1] for c in _steps(log)] == [
        f"llm-v2-headline-{c}-mixed-quality.md"
        for c in ("lf-w", "lf-69d0421b", "lf-9ccbeb81", "lf-0fdc3456", "lf-cf853722")]
    # a transfer file of another loss than the candidates file's winner is refused
    (sweeps / "v2-candidates.toml").write_text('[candidates.lf-v]\nspec = "x"\n')
    r = _run(root, env, "transfer", "clean", script="llm_v2.sh")
    assert r.returncode != 0 and "transfers another loss than" in r.stderr
    assert not log.exists()


def test_llm_replication_confirms_the_frozen_picks_on_fresh_draws_then_one_table_each(tmp_path):
    """llm_v2.sh replicate (llm-v2-mixed-quality.md, declared in session 20): the rows of draws
    17-24 exactly (the cells' merged picks and the transfer's), on draws 25-48, over the three
    declared tasks whatever TASKS says; then a table per candidate, the suite winner first."""
    root, log, env = _tree(tmp_path)
    sweeps, res = root / "benchmarks" / "sweeps", root / "benchmarks" / "results"
    env = {**env, "TASKS": "reverse"}
    r = _run(root, env, "replicate", script="llm_v2.sh")
    assert r.returncode != 0 and "no MuJoCo suite winner yet" in r.stderr and not log.exists()
    _candidates_file(root)
    r = _run(root, env, "replicate", script="llm_v2.sh")
    assert r.returncode != 0 and "reverse/mixed-quality has no tuned rows" in r.stderr
    assert not log.exists()
    for t in ("reverse", "sort", "add"):
        (res / f"sweep-llm-v2-merged-{t}-mixed-quality.tuned.json").write_text("{}")
    # the transfer's picks are not decided yet (its edge extension neither found empty nor
    # merged): refused, nothing run
    r = _run(root, env, "replicate", script="llm_v2.sh")
    assert r.returncode != 0 and "reverse/mixed-quality: its sweep and edge extension are not " \
        "finished (run: " in r.stderr
    assert "transfer mixed-quality" in r.stderr and not log.exists()
    # reverse's transfer extension found nothing on an edge (its plain picks), sort's and
    # add's were merged; one declared and unfinished extension refuses
    (res / "sweep-llm-v2-transfer-ext-reverse-mixed-quality.none").write_text("x")
    for t in ("sort", "add"):
        (res / f"sweep-llm-v2-transfer-merged-{t}-mixed-quality.tuned.json").write_text("{}")
    r = _run(root, env, "replicate", script="llm_v2.sh")
    assert r.returncode == 0, r.stderr
    calls = _steps(log)
    transfer = {"reverse": "sweep-llm-v2-transfer-reverse-mixed-quality.tuned.json",
                "sort": "sweep-llm-v2-transfer-merged-sort-mixed-quality.tuned.json",
                "add": "sweep-llm-v2-transfer-merged-add-mixed-quality.tuned.json"}
    reports = [f"benchmarks/results/confirm-llm-v2-replication-{t}-mixed-quality-d25.confirm.json"
               for t in ("reverse", "sort", "add")]
    assert calls[:3] == [
        f"benchmarks/baselines.py confirm --tuned benchmarks/results/sweep-llm-v2-merged-{t}-"
        f"mixed-quality.tuned.json --tuned benchmarks/results/{transfer[t]} --draws=25-48 "
        f"--workers 1 --out benchmarks/results/confirm-llm-v2-replication-{t}-mixed-quality-"
        "d25.jsonl" for t in ("reverse", "sort", "add")]
    # the suite winner is the primary (0.05), every other candidate a secondary (0.01)
    assert calls[3:] == [
        f"benchmarks/headline.py {' '.join(reports)} --candidate {c} --alpha {a} --out "
        f"benchmarks/results/llm-v2-replication-{c}-mixed-quality.md"
        for c, a in (("lf-w", "0.05"), ("lf-69d0421b", "0.01"), ("lf-9ccbeb81", "0.01"),
                     ("lf-0fdc3456", "0.01"), ("lf-cf853722", "0.01"))]
    # a refused table does not keep the others from being written; the step fails at its end
    r = _run(root, {**env, "FAKE_FAIL": "--candidate lf-9ccbeb81"}, "replicate",
             script="llm_v2.sh")
    assert r.returncode != 0 and "replicate: tables not written: lf-9ccbeb81" in r.stderr
    assert len([c for c in _steps(log) if "headline.py" in c]) == 5
    (sweeps / "llm-v2-transfer-ext-add-mixed-quality.toml").write_text("x")
    (res / "sweep-llm-v2-transfer-merged-add-mixed-quality.tuned.json").unlink()
    r = _run(root, env, "replicate", script="llm_v2.sh")
    assert r.returncode != 0 and "add/mixed-quality: its edge extension is not finished" in r.stderr
    assert not log.exists()   # every task's rows are checked before any confirmation runs


def test_llm_cells_sweep_tune_and_confirm_each_task_of_a_variant(tmp_path):
    root, log, env = _tree(tmp_path)
    env = {**env, "TASKS": "reverse"}
    r = _run(root, env, "cells", script="llm_v2.sh")
    assert r.returncode == 2 and "name the variants" in r.stderr
    assert _run(root, env, "cells", "noisy-0.2", script="llm_v2.sh").returncode == 0
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
