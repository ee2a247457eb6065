"""The search refuses test-suite scenarios without --allow-test, and every search that starts
appends one line to the selection ledger (never the repository's during tests)."""

from __future__ import annotations

import os
import platform

import mujoco
import pytest
import torch

from lossforge import ledger
from lossforge.search.__main__ import main

REPO_LEDGER = ledger.DEFAULT_PATH


def _repo_ledger_state() -> set[str]:
    return set(REPO_LEDGER.read_text().splitlines()) if REPO_LEDGER.exists() else set()


def _written_by_this_test(before: set[str], mark: str) -> list[str]:
    """The repository ledger's lines added since ``before`` that name ``mark``: a benchmark job
    running beside the tests appends lines of its own to that file."""
    return [line for line in _repo_ledger_state() - before if mark in line]


def test_tests_never_write_the_repo_ledger(tmp_path):
    assert os.environ["LOSSFORGE_LEDGER"] == "off"  # tests/conftest.py
    assert ledger.ledger_path() is None
    before = _repo_ledger_state()
    assert ledger.record("search", command=str(tmp_path), scenario="quick", seeds=[0],
                         budget="quick") is None
    assert _written_by_this_test(before, str(tmp_path)) == []


def test_search_refuses_a_test_scenario(tmp_path, capsys):
    before = _repo_ledger_state()
    code = main(["--scenario", "halfcheetah-clean", "--fitness", "probe", "--runs-dir",
                 str(tmp_path), "--ledger", str(tmp_path / "l.jsonl"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "test suite" in err and "--allow-test" in err and "halfcheetah-clean" in err
    assert not (tmp_path / "l.jsonl").exists() and not list(tmp_path.glob("*-s0"))
    assert _written_by_this_test(before, str(tmp_path)) == []


def test_allowed_search_appends_one_ledger_line(tmp_path, capsys):
    path = tmp_path / "ledger.jsonl"
    before = _repo_ledger_state()
    argv = ["--scenario", "halfcheetah-clean", "--allow-test", "--fitness", "probe",
            "--generations", "1", "--population", "4", "--workers", "1", "--runs-dir",
            str(tmp_path / "runs"), "--quiet", "--ledger", str(path), "--purpose", "guard test"]
    assert main(argv) == 0
    (entry,) = ledger.read(path)
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert printed == f"run directory: {entry['run_dir']}"    # the entry names its run
    assert entry["kind"] == "search" and entry["scenario"] == "halfcheetah-clean"
    assert entry["seeds"] == [0] and entry["purpose"] == "guard test"
    assert entry["command"] == "python -m lossforge.search " + " ".join(argv)
    assert entry["budget"] and entry["time"].endswith("+00:00")
    assert entry["commit"] is None or len(entry["commit"].split("+")[0]) == 40
    # where it ran: this CPU's model (read here from /proc/cpuinfo) and the numerics' libraries
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "") or platform.processor() \
        or platform.machine()                      # no "model name" line (aarch64, say)
    assert entry["machine"].startswith(cpu + " (cpu flags ")
    assert f"torch {torch.__version__}" in entry["machine"]
    assert f"mujoco {mujoco.__version__}" in entry["machine"]
    assert _written_by_this_test(before, str(tmp_path)) == []


@pytest.mark.parametrize("bad", [["--grammar", "no-such-grammar.toml"],
                                 ["--scenario", "no-such-scenario"]])
def test_a_search_refused_before_its_run_directory_is_not_listed(tmp_path, capsys, bad):
    """The ledger lists looks at data; a search stopped by a bad file or name looked at none
    (it was listed before, as if it had run)."""
    path = tmp_path / "ledger.jsonl"
    code = main(["--fitness", "probe", "--runs-dir", str(tmp_path / "runs"), "--quiet",
                 "--ledger", str(path), *bad])
    assert code == 2 and capsys.readouterr().err.startswith("error: ")
    assert not path.exists() and not (tmp_path / "runs").exists()


def test_ledger_env_setting_and_append(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "l.jsonl"
    monkeypatch.setenv("LOSSFORGE_LEDGER", str(path))
    assert ledger.ledger_path() == path
    for i in range(3):
        ledger.record("sweep", command=f"c{i}", scenario=["a", "b"], seeds=(1, 2),
                      budget="full", purpose="p", extra_field=i)
    rows = ledger.read(path)
    assert [r["command"] for r in rows] == ["c0", "c1", "c2"]
    assert rows[2]["scenario"] == ["a", "b"] and rows[2]["extra_field"] == 2
    with open(path, "a") as fh:      # a torn last line (killed writer) is skipped, and the next
        fh.write('{"kind": "sea')    # append starts on a fresh line
    ledger.record("search", command="c3", scenario=None, seeds=None, budget=None)
    assert [r["command"] for r in ledger.read(path)] == ["c0", "c1", "c2", "c3"]
    monkeypatch.setenv("LOSSFORGE_LEDGER", "off")
    assert ledger.ledger_path() is None
    assert ledger.ledger_path(str(path)) == path   # --ledger PATH wins over the environment


def _suite(tmp_path, *names, role="train"):
    path = tmp_path / "mine.toml"
    path.write_text(f'name = "mine"\nrole = "{role}"\n' + "".join(
        f'[[scenarios]]\nname = "{n}"\nweight = 1.0\n' for n in names))
    return path


@pytest.mark.parametrize("name", ["hopper-padded-noisy-0.15", "halfcheetah-noisy-0.2",
                                  "ant-padded-noisy-0.3", "hopper-padded-mistake-0.2"])
def test_every_dotted_test_scenario_name_is_refused_too(name, tmp_path):
    """A name's ".15" is not a file suffix: the guard compares names as written."""
    from lossforge.bench.suites import load_suite, refuse_test_scenario, refuse_test_suite
    from lossforge.errors import LeaksTestSet

    with pytest.raises(LeaksTestSet, match=f"scenario '{name}' is in the test suite"):
        refuse_test_scenario(name)
    with pytest.raises(LeaksTestSet, match=f"suite .*: scenario '{name}' is in the test suite"):
        refuse_test_suite(load_suite(_suite(tmp_path, "hopper-padded-clean", name)))


def test_a_suite_of_ones_own_that_lists_a_test_scenario_is_refused(tmp_path, capsys):
    """A train-role suite is no way round the guard: listing a test-suite scenario (here beside
    a train one) is refused as the scenario itself is; --allow-test lets it run."""
    suite = _suite(tmp_path, "hopper-padded-clean", "halfcheetah-clean")
    argv = ["--suite", str(suite), "--fitness", "probe", "--generations", "1",
            "--population", "4", "--workers", "1", "--runs-dir", str(tmp_path / "runs"),
            "--quiet", "--ledger", "off"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"suite {suite}: scenario 'halfcheetah-clean' is in the test" in err
    assert "--allow-test" in err and not (tmp_path / "runs").exists()
    assert main(argv + ["--allow-test"]) == 0


def test_a_suite_may_list_ones_own_scenario_files(tmp_path):
    """A suite entry given as a TOML path is scored on that file, not looked up by name among
    the shipped scenarios (where this one does not exist)."""
    from lossforge.bench.scenarios import load_scenario
    from lossforge.search import suite_fitness

    repo = ledger.DEFAULT_PATH.parents[2]
    mine = tmp_path / "my-padded.toml"
    text = (repo / "benchmarks/scenarios/hopper-padded-clean.toml").read_text()
    mine.write_text(text.replace('name = "hopper-padded-clean"', 'name = "my-padded"')
                    .replace("beta = 0.1", "beta = 0.3"))
    assert load_scenario(mine).beta == 0.3
    name, scenarios = suite_fitness.load(str(_suite(tmp_path, str(mine), "hopper-padded-clean")))
    assert name == "mine"
    assert [(s.name, s.path, s.scenario.beta) for s in scenarios] == [
        ("my-padded", str(mine), 0.3),
        ("hopper-padded-clean", str(repo / "benchmarks/scenarios/hopper-padded-clean.toml"),
         load_scenario("hopper-padded-clean").beta)]


def test_a_scenario_folder_of_ones_own_is_searched_by_name(tmp_path, monkeypatch):
    """$LOSSFORGE_SCENARIOS moves the scenario folder for --scenario NAME too, and the test-suite
    guard does not need the shipped scenarios in it."""
    import shutil

    repo = ledger.DEFAULT_PATH.parents[2]
    folder = tmp_path / "scenarios"
    folder.mkdir()
    shutil.copy(repo / "benchmarks/scenarios/quick.toml", folder / "quick.toml")
    text = (folder / "quick.toml").read_text().replace('name = "quick"', 'name = "mine"')
    (folder / "mine.toml").write_text(text)
    monkeypatch.setenv("LOSSFORGE_SCENARIOS", str(folder))
    runs = tmp_path / "runs"
    assert main(["--scenario", "mine", "--fitness", "probe", "--generations", "1",
                 "--population", "4", "--workers", "1", "--runs-dir", str(runs), "--quiet",
                 "--ledger", "off"]) == 0
    (run,) = runs.iterdir()
    assert run.name.endswith("-mine-probe-s0")


def test_a_test_scenario_named_by_its_repository_path_is_refused_from_any_directory(
        tmp_path, monkeypatch, capsys):
    """The search finds ``benchmarks/scenarios/X.toml`` from outside the checkout (it looks
    under the checkout and the package data too); the guard must find it the same way. It
    let such a search run: the path did not exist relative to the working directory."""
    from lossforge.bench.suites import refuse_test_scenario
    from lossforge.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    rel = "benchmarks/scenarios/halfcheetah-clean.toml"
    assert not (tmp_path / rel).exists()
    with pytest.raises(ConfigError, match="scenario 'halfcheetah-clean' is in the test suite"):
        refuse_test_scenario(rel)
    assert main(["--scenario", rel, "--fitness", "probe", "--population", "4",
                 "--generations", "1", "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 2
    assert "--allow-test" in capsys.readouterr().err and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name, test_name", [
    ("hopper-padded-noisy-0.05", "hopper-padded-"),    # a cut test scenario: dataset seed 1
    ("halfcheetah-noisy-0.1", "halfcheetah-"),         # HalfCheetah's one draw, other flips
    ("ant-padded-clean", "ant-padded-noisy-0.3"),      # the test scenario without its flips
])
def test_a_scenario_on_a_test_scenarios_segments_is_refused(name, test_name, tmp_path):
    """Another teacher on a test scenario's segments selects on the test set's data: same
    environment, dataset seed, horizon and pair mix, only the labels differ. So is a renamed
    copy of a test scenario, alone or in a suite of one's own. The train suite's scenarios
    (dataset seed 0 on Hopper) are not refused."""
    from lossforge.bench.suites import load_suite, refuse_test_scenario, refuse_test_suite
    from lossforge.bench.scenarios import load_scenario
    from lossforge.errors import ConfigError

    with pytest.raises(ConfigError, match=f"scenario '{name}' rolls out the same segments as "
                                          f"the test suite's '{test_name}"):
        refuse_test_scenario(name)
    copy = tmp_path / "my-copy.toml"
    text = load_scenario("hopper-padded-noisy-0.15").source
    copy.write_text(open(text).read().replace('name = "hopper-padded-noisy-0.15"',
                                              'name = "my-copy"'))
    with pytest.raises(ConfigError, match="scenario 'my-copy' rolls out the same segments"):
        refuse_test_scenario(str(copy))
    with pytest.raises(ConfigError, match=f"suite .*: scenario '{name}' rolls out"):
        refuse_test_suite(load_suite(_suite(tmp_path, "hopper-padded-clean", name)))
    for train_name in load_suite("train").scenarios:
        refuse_test_scenario(train_name)
    refuse_test_suite(load_suite("train"))


def test_a_ledger_that_cannot_be_written_leaves_no_run_directory(tmp_path, capsys):
    """The listing comes once the run directory exists; when it fails, the (empty) directory
    went on existing, unnamed by the error and holding nothing to resume."""
    (tmp_path / "afile").write_text("")
    code = main(["--fitness", "probe", "--runs-dir", str(tmp_path / "runs"), "--quiet",
                 "--ledger", str(tmp_path / "afile" / "ledger.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ledger ") and "cannot append" in err
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_resume_is_listed_with_its_run_directory(tmp_path, capsys):
    path = tmp_path / "ledger.jsonl"
    base = ["--fitness", "probe", "--generations", "1", "--population", "4", "--workers", "1",
            "--quiet", "--ledger", str(path)]
    assert main([*base, "--runs-dir", str(tmp_path / "runs")]) == 0
    run = capsys.readouterr().out.strip().splitlines()[-1].removeprefix("run directory: ")
    assert main(["--resume", run, "--generations", "2", "--quiet", "--ledger", str(path)]) == 0
    first, again = ledger.read(path)
    assert first["run_dir"] == again["run_dir"] == run
    assert again["purpose"] == f"resume {run}"


@pytest.mark.parametrize("edit", [("horizon = 200", "horizon = 199"),
                                  ("n_pairs = 2048", "n_pairs = 2000")])
def test_a_test_scenarios_copy_with_another_horizon_or_pair_count_is_refused(edit, tmp_path):
    """A shorter horizon cuts the same roll-outs, fewer pairs take the first of them: the
    guard compared the horizon and pair count exactly, so such a copy passed (a walkthrough).
    The reference: the copy's first segments are the test scenario's, cut (checked here on a
    small draw of the same recipe)."""
    from lossforge.bench.scenarios import load_scenario
    from lossforge.bench.suites import refuse_test_scenario
    from lossforge.errors import ConfigError

    source = open(load_scenario("hopper-padded-noisy-0.35").source).read()
    assert edit[0] in source
    copy = tmp_path / "nearly.toml"
    copy.write_text(source.replace(edit[0], edit[1]).replace(
        'name = "hopper-padded-noisy-0.35"', 'name = "nearly"'))
    with pytest.raises(ConfigError, match="scenario 'nearly' rolls out the same segments as "
                                          "the test suite's 'hopper-padded-"):
        refuse_test_scenario(str(copy))


def test_cut_roll_outs_are_the_same_segments(tmp_path, monkeypatch):
    """Why the horizon and pair count are left out of the guard's key, on small draws of a test
    scenario's recipe (three pair-mix entries): 32 pairs at horizon 12 are those at horizon 16
    cut to 12 steps; 32 pairs start from states all among 40 pairs' starts, and the pairs whose
    mix entry stayed the same are the same pairs (32: the recipe's largest batch)."""
    import numpy as np

    from lossforge.bench.datasets import build_dataset
    from lossforge.bench.scenarios import load_scenario

    monkeypatch.setenv("LOSSFORGE_CACHE", str(tmp_path / "cache"))
    base = open(load_scenario("hopper-padded-noisy-0.35").source).read()

    def draw(horizon, pairs):
        path = tmp_path / f"cut-{horizon}-{pairs}.toml"
        path.write_text(base.replace("horizon = 200", f"horizon = {horizon}").replace(
            "n_pairs = 2048", f"n_pairs = {pairs}").replace(
            'name = "hopper-padded-noisy-0.35"', f'name = "cut-{horizon}-{pairs}"'))
        return build_dataset(load_scenario(path), cache=False, workers=1, quiet=True)

    short, full, more = draw(12, 32), draw(16, 32), draw(16, 40)
    np.testing.assert_array_equal(short.obs, full.obs[:, :, :12])
    np.testing.assert_array_equal(short.actions, full.actions[:, :, :12])
    starts = {s.tobytes() for s in more.obs[:, :, 0].reshape(-1, more.obs.shape[-1])}
    assert all(s.tobytes() in starts for s in full.obs[:, :, 0].reshape(-1, full.obs.shape[-1]))
    # a pair from the same start whose mix entry (its two levels) is the same is the same pair
    first = {full.obs[k, :, 0].tobytes(): k for k in range(32)}
    same = [(j, first[key]) for j in range(40)
            if (key := more.obs[j, :, 0].tobytes()) in first
            and tuple(more.sources[j]) == tuple(full.sources[first[key]])]
    assert len(same) >= 5
    assert all(np.array_equal(more.obs[j], full.obs[k]) for j, k in same)


def test_a_scenario_folder_of_ones_own_does_not_hide_the_test_scenarios(tmp_path, monkeypatch):
    """With $LOSSFORGE_SCENARIOS set to a folder without the shipped scenarios, the guard found
    no test scenario to compare with, and a renamed copy of one passed (a walkthrough); it now
    reads the test scenarios from the shipped folder when the user's lacks them."""
    from lossforge.bench.scenarios import load_scenario
    from lossforge.bench.suites import refuse_test_scenario
    from lossforge.errors import ConfigError

    folder = tmp_path / "scenarios"
    folder.mkdir()
    source = open(load_scenario("hopper-padded-noisy-0.35").source).read()
    (folder / "my-hop.toml").write_text(source.replace('name = "hopper-padded-noisy-0.35"',
                                                       'name = "my-hop"'))
    monkeypatch.setenv("LOSSFORGE_SCENARIOS", str(folder))
    with pytest.raises(ConfigError, match="scenario 'my-hop' rolls out the same segments"):
        refuse_test_scenario("my-hop")
