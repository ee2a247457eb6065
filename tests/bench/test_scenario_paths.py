"""One rule finds a scenario (``lossforge.resources.find_scenario``) for ``python -m
lossforge.bench``, ``python -m lossforge.search``, the search's test-set guard and suite files;
a suite file's relative scenario paths are found from the suite file's own folder first."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import lossforge
from lossforge.bench import suites
from lossforge.bench.__main__ import main as bench_main
from lossforge.bench.__main__ import resolve_scenario as bench_resolve
from lossforge.bench.scenarios import load_scenario
from lossforge.errors import ConfigError
from lossforge.search import SearchConfig, checkpoint, run_search
from lossforge.search.__main__ import main as search_main
from lossforge.search.context import resolve_scenario as search_resolve

REPO = Path(lossforge.__file__).resolve().parents[1]
SHIPPED = REPO / "benchmarks" / "scenarios"


def _copy(src: str, dest: Path, name: str, beta: float | None = None) -> Path:
    """The shipped scenario ``src`` as ``dest`` (a scenario named ``name``)."""
    text = (SHIPPED / f"{src}.toml").read_text().replace(f'name = "{src}"', f'name = "{name}"')
    if beta is not None:
        text = text.replace("beta = 0.1", f"beta = {beta}", 1)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    return dest


def _suite(path: Path, *entries: str, name: str | None = None, role: str = "train") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'name = "{name or path.stem}"\nrole = "{role}"\n' + "".join(
        f'[[scenarios]]\nname = "{e}"\nweight = 1.0\n' for e in entries))
    return path


def _probe(**kw) -> SearchConfig:
    return SearchConfig(**{**dict(fitness="probe", population=4, generations=2, workers=1),
                           **kw})


def test_bench_search_and_the_guard_find_the_same_file_from_any_directory(tmp_path,
                                                                           monkeypatch):
    """From outside the checkout: a name, a path into the shipped data, a user's relative and
    absolute paths. The bench read ``benchmarks/scenarios/X.toml`` relative to the working
    directory only (not found there), the search and the guard found it in the checkout."""
    monkeypatch.chdir(tmp_path)
    own = _copy("hopper-clean", tmp_path / "my" / "own.toml", "own")
    cases = {"hopper-noisy-0.2": SHIPPED / "hopper-noisy-0.2.toml",
             "benchmarks/scenarios/hopper-noisy-0.2.toml": SHIPPED / "hopper-noisy-0.2.toml",
             "my/own.toml": own.resolve(), str(own): own.resolve()}
    for text, want in cases.items():
        benched = load_scenario(bench_resolve(None, text))     # what the bench scores on
        search_file, scenario = search_resolve(text)
        assert Path(benched.source).resolve() == search_file == want, text
        assert benched == scenario == suites._as_found(text), text
    assert load_scenario(bench_resolve("Hopper-v5", "noisy-0.2")).name == "hopper-noisy-0.2"


def test_a_folder_named_like_a_scenario_in_the_working_directory_does_not_shadow_it(
        tmp_path, monkeypatch):
    """``--scenario quick`` (the search's default) beside a folder ``quick/``, or a name beside a
    suffixless file of that name: a name is looked up among the scenarios, never in the working
    directory. The bench and the guard read ``./quick`` (IsADirectoryError, a traceback)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quick").mkdir()
    (tmp_path / "hopper-clean").write_text("not a scenario")
    for name in ("quick", "hopper-clean"):
        shipped = load_scenario(SHIPPED / f"{name}.toml")
        assert load_scenario(bench_resolve(None, name)) == shipped == suites._as_found(name)
        assert load_scenario(name) == shipped    # what baselines.py and --list-scenarios call
    suites.refuse_test_scenario("quick")      # a train-side scenario: not refused


@pytest.mark.parametrize("text, looked", [
    ("nope.toml", ["{cwd}/nope.toml", "{repo}/nope.toml"]),
    ("benchmarks/scenarios/nope.toml", ["{cwd}/benchmarks/scenarios/nope.toml",
                                        "{repo}/benchmarks/scenarios/nope.toml"]),
    ("nope", ["{repo}/benchmarks/scenarios/nope.toml"]),
])
def test_a_missing_scenario_is_the_same_one_line_from_bench_and_search(text, looked, tmp_path,
                                                                       monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert bench_main(["--scenario", text, "--budget", "quick", "--out",
                       str(tmp_path / "b")]) == 2
    bench_err = capsys.readouterr().err
    assert search_main(["--scenario", text, "--fitness", "probe", "--runs-dir",
                        str(tmp_path / "runs"), "--quiet"]) == 2
    search_err = capsys.readouterr().err
    assert bench_err == search_err and bench_err.count("\n") == 1, (bench_err, search_err)
    for place in looked:
        assert place.format(cwd=tmp_path, repo=REPO) in bench_err
    assert not (tmp_path / "b").exists() and not (tmp_path / "runs").exists()


def test_a_scenario_file_named_as_a_file_in_no_folder_is_told_its_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=re.escape(
            f"scenario file 'hopper-noisy-0.2.toml' not found (looked for "
            f"{tmp_path / 'hopper-noisy-0.2.toml'}, {REPO / 'hopper-noisy-0.2.toml'}); the "
            f"scenario 'hopper-noisy-0.2' of {SHIPPED} is named without .toml")):
        bench_resolve(None, "hopper-noisy-0.2.toml")


def test_a_suites_relative_paths_are_found_from_its_own_folder_first(tmp_path, monkeypatch):
    """A suite of one's own lists ``../scen/own.toml`` beside it; run from another directory,
    where the same relative path names another file, the suite's own is read (the cwd's was;
    without it, not found), by load_suite and by a search on it."""
    project = tmp_path / "project"
    own = _copy("hopper-padded-clean", project / "scen" / "own.toml", "own")
    suite = _suite(project / "suites" / "mine.toml", "../scen/own.toml", "hopper-padded-clean")
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    _copy("hopper-padded-clean", tmp_path / "elsewhere" / "scen" / "own.toml", "own", beta=0.7)
    monkeypatch.chdir(elsewhere)
    loaded = suites.load_suite(suite)
    assert [(e.scenario, e.path) for e in loaded.entries] == [
        ("own", str(own.resolve())), ("hopper-padded-clean", str(SHIPPED / "hopper-padded-clean.toml"))]
    run = run_search(_probe(suite=str(suite), generations=1), runs_root=tmp_path / "runs",
                     quiet=True)
    assert [rec["path"] for rec in _suite_inputs(run)] == [str(own.resolve())]


def _suite_inputs(run: Path) -> list[dict]:
    """inputs.json's record of the suite scenario "own": [{"path": ..., "sha256": ...}]."""
    from lossforge import runfiles

    return [rec for role, rec in runfiles.read_checked(run / "inputs.json")[0].items()
            if role == "suite scenario own"]


def test_a_resumed_suite_run_finds_its_suites_relative_scenarios_from_any_directory(
        tmp_path, monkeypatch):
    """Started in the suite's folder (the relative entry meant the same file either way),
    resumed from another: the entry is read beside the suite, and inputs.json's digest of it
    still matches (it was looked for under the new working directory: not found)."""
    start = tmp_path / "start"
    own = _copy("hopper-padded-clean", start / "sc" / "own.toml", "own")
    _suite(start / "pair.toml", "sc/own.toml", "hopper-padded-noisy-0.2")
    monkeypatch.chdir(start)
    run = run_search(_probe(suite="pair.toml"), runs_root=tmp_path / "runs", quiet=True,
                     stop_after=1)
    monkeypatch.chdir(tmp_path)
    assert run_search(resume=run, quiet=True) == run
    assert checkpoint.load(run)["generation"] == 2
    assert [rec["path"] for rec in _suite_inputs(run)] == [str(own.resolve())]


def test_the_guard_refuses_test_scenarios_a_suite_names_relative_to_itself(tmp_path,
                                                                           monkeypatch, capsys):
    """A suite of one's own, run from elsewhere, naming a test scenario by a path relative to
    the suite file (into the checkout), or a renamed copy of one beside it: refused, as by
    name. Without the suite-relative rule the suite did not load at all."""
    project = tmp_path / "project"
    _copy("hopper-padded-noisy-0.15", project / "copies" / "held.toml", "held")
    into_repo = os.path.relpath(SHIPPED / "halfcheetah-clean.toml", project / "suites")
    suite = _suite(project / "suites" / "mine.toml", "../copies/held.toml", into_repo,
                   "hopper-padded-clean")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match=re.escape(
            "scenario 'held' rolls out the same segments as the test suite's "
            "'hopper-padded-")) as err:
        suites.refuse_test_suite(suites.load_suite(suite))
    assert "scenario 'halfcheetah-clean' is in the test suite" in str(err.value)
    assert search_main(["--suite", str(suite), "--fitness", "probe", "--runs-dir",
                        str(tmp_path / "runs"), "--quiet"]) == 2
    assert "--allow-test" in capsys.readouterr().err and not (tmp_path / "runs").exists()


def test_a_test_suite_entry_given_as_a_path_beside_it_is_held_out_by_its_segments(
        tmp_path, monkeypatch):
    """A test suite of one's own ($LOSSFORGE_SUITES) listing its scenario as a path relative to
    itself: a renamed copy of that scenario is refused by its segments. The guard loaded the
    entry by its stem among the shipped scenarios: not found, skipped, not refused."""
    folder = tmp_path / "suites"
    _copy("hopper-padded-noisy-0.15", folder / "held" / "secret.toml", "secret")
    _suite(folder / "test.toml", "held/secret.toml", role="test")
    copy = _copy("hopper-padded-noisy-0.15", tmp_path / "mine.toml", "mine")
    monkeypatch.setenv("LOSSFORGE_SUITES", str(folder))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="scenario 'mine' rolls out the same segments as the "
                                          "test suite's 'secret'"):
        suites.refuse_test_scenario(str(copy))
    with pytest.raises(ConfigError, match="scenario 'mine' rolls out the same segments"):
        suites.refuse_test_suite(suites.load_suite(_suite(tmp_path / "s" / "s.toml",
                                                          "../mine.toml")))
    suites.refuse_test_scenario("hopper-padded-clean")   # dataset seed 0: not the held draw


def test_a_resumed_run_reads_the_scenario_its_name_named_at_the_start(tmp_path, monkeypatch):
    """A name is resolved like a relative path on resume: the file it named when the run
    started is read when it is still there, though $LOSSFORGE_SCENARIOS now names another
    folder whose copy differs (the resume refused: "changed")."""
    first, second = tmp_path / "first", tmp_path / "second"
    _copy("quick", first / "mine.toml", "mine")
    _copy("quick", second / "mine.toml", "mine", beta=0.9)
    monkeypatch.setenv("LOSSFORGE_SCENARIOS", str(first))
    run = run_search(_probe(scenario="mine"), runs_root=tmp_path / "runs", quiet=True,
                     stop_after=1)
    monkeypatch.setenv("LOSSFORGE_SCENARIOS", str(second))
    assert run_search(resume=run, quiet=True) == run
    assert checkpoint.load(run)["generation"] == 2


def test_list_scenarios_lists_every_file_and_says_why_a_broken_one_does_not_load(
        tmp_path, monkeypatch, capsys):
    """One bad file in the scenario folder stopped --list-scenarios at that file with its error,
    listing nothing (a walkthrough); now every good file is listed, the bad one says why, and
    the exit code is 2."""
    import shutil

    repo = Path(__file__).resolve().parents[2]
    shutil.copy(repo / "benchmarks/scenarios/quick.toml", tmp_path / "quick.toml")
    (tmp_path / "aaa-broken.toml").write_text('name = "aaa-broken"\nhorizon = "long"\n')
    monkeypatch.setenv("LOSSFORGE_SCENARIOS", str(tmp_path))
    assert bench_main(["--list-scenarios"]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("aaa-broken") and "does not load:" in out[0]
    assert out[1].startswith("quick") and "Hopper-v5" in out[1]
