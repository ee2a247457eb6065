"""The report's "Reproduce" command (``lossforge/search/reproduce.py``) is one the search command
line accepts and that rebuilds the run's config: each command line below is turned into a
config as ``python -m lossforge.search`` turns it (``__main__.config_from_args``), its command
is made from that config's JSON, parsed again by the same code, and the two configs compared.
The check never looks at how the command is built, only at what the command line makes of it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from lossforge.errors import LossforgeError
from lossforge.search.__main__ import build_parser, config_from_args
from lossforge.search.reproduce import NO_RESULT_EFFECT, reproduce_command

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TRAIN = "benchmarks/suites/train.toml"
LINK, IMITATION = "grammars/link.toml", "grammars/imitation.toml"

#: Real command lines (after ``python -m lossforge.search``), one per thing the command must say.
VARIANTS = [
    [],                                                              # plain GP, every default
    ["--scenario", "hopper-mixed-quality", "--fitness", "probe"],
    ["--grammar", "grammars/phi_tilde.toml", "--top-fraction", "0.5"],
    ["--generations", "3", "--population", "6", "--budget", "quick", "--seed", "7"],
    ["--single-fidelity", "--budget", "screen"],
    ["--aggregation", "mean", "--beta", "0.3"],
    ["--link-grammar", LINK, "--imitation-grammar", IMITATION],
    ["--require", "ranking-preserving,bounded-gradient"],
    ["--link-grammar", LINK, "--require", "redescending"],
    ["--eval-timeout", "30"],
    ["--suite", TRAIN],
    ["--suite", TRAIN, "--suite-objective", "worst", "--suite-baselines", "tuned.json",
     "--no-race", "--race-delta", "0.1"],
    ["--suite", TRAIN, "--race-delta", "0.2", "--aggregation", "mean", "--seed", "3"],
    ["--scenario", "halfcheetah-clean", "--allow-test"],            # a test-suite scenario
    ["--suite", "benchmarks/suites/test.toml", "--allow-test"],
    ["--fitness", "llm"],
    ["--fitness", "llm", "--llm-task", "sort", "--llm-variant", "noisy-0.2"],
    ["--fitness", "llm", "--llm-variant", "verbose-wrong", "--beta", "0.05"],
    ["--method", "es"],
    ["--method", "es", "--fitness", "probe", "--population", "4", "--generations", "2"],
    ["--method", "es", "--link-grammar", LINK, "--imitation-grammar", IMITATION],
    ["--method", "es", "--budget", "full", "--sigma0", "0.8", "--hidden", "3", "--seed", "2",
     "--aggregation", "mean", "--beta", "0.2", "--eval-timeout", "12.5"],
    ["--method", "es", "--fitness", "llm", "--llm-task", "add", "--llm-variant", "clean"],
    ["--method", "es", "--scenario", "halfcheetah-clean", "--allow-test"],
]


def _config(argv: list[str]):
    """(config, method) exactly as the search command line makes them, nothing run; a
    refused command line raises SystemExit (a usage error, exit 2) or a LossforgeError (a
    refused file or value: ``main`` prints it, exit 2)."""
    ap = build_parser()
    args = ap.parse_args(argv)
    return config_from_args(ap, args), args.method


def _round_trip(start: dict):
    """The config the reproduce command of ``start`` (a config.json) makes, and the command."""
    command = reproduce_command(start)
    argv = shlex.split(command, comments=True)
    assert argv[:3] == ["python", "-m", "lossforge.search"], command
    return _config(argv[3:]), command


def _mismatch(argv: list[str]) -> str | None:
    """None when the command of the config ``argv`` makes rebuilds that config, else why not."""
    cfg, method = _config(argv)
    try:
        (again, method_again), command = _round_trip({"config": cfg.to_json(),
                                                      "method": method})
    except (SystemExit, LossforgeError) as exc:   # the command line refused the command
        return (f"{argv}: refused ({exc}): "
                f"{reproduce_command({'config': cfg.to_json(), 'method': method})}")
    if (again.to_json(), method_again) != (cfg.to_json(), method):
        diff = {k: (v, again.to_json().get(k)) for k, v in cfg.to_json().items()
                if again.to_json().get(k) != v}
        return f"{argv}: {command} rebuilds another config: {diff}"
    return None


def test_every_command_line_round_trips_through_its_reproduce_command(capsys):
    pytest.importorskip("cma")   # --method es needs it (the command line refuses without)
    bad = [why for argv in VARIANTS if (why := _mismatch(argv))]
    assert not bad, "\n".join(bad) + "\n" + capsys.readouterr().err


#: Options that cannot change a run's numbers, which the command leaves out (reproduce.py's
#: docstring, "never"): where the run is written, logged and printed, and how it is spread.
NEVER = {"-h", "--help", "--executor", "--workers", "--runs-dir", "--ledger", "--purpose",
         "--quiet", "--resume"}


def test_every_option_of_the_search_command_line_is_round_tripped_or_declared_inert():
    """A flag added to the command line (and to ``config_from_args``) but not to reproduce.py's
    ``_FLAGS`` would land in the command's "NOT reproduced" comment: this makes the author put it
    in VARIANTS, whose round trip then says whether the command gives it, or in NEVER."""
    used = {a.split("=")[0] for argv in VARIANTS for a in argv if a.startswith("--")}
    options = {o for action in build_parser()._actions for o in action.option_strings}
    assert options - used - NEVER == set()
    assert NEVER <= options and not NEVER & used


def _committed_runs() -> list[Path]:
    return sorted(RESULTS.glob("**/config.json"))


def _inputs_exist(config: dict) -> bool:
    """Every grammar, suite and baseline file the config names is here (a run made elsewhere
    may name files this checkout lacks: its command cannot be parsed here)."""
    from lossforge.resources import file_candidates

    names = [config.get(k) for k in ("grammar", "link_grammar", "imitation_grammar", "suite",
                                     "suite_baselines")]
    return all(any(c.is_file() for c in [Path(n), *file_candidates(n)]) for n in names if n)


def _config_class(method: str):
    if method == "es":
        from lossforge.search.es import ESConfig

        return ESConfig
    from lossforge.search.engine import SearchConfig

    return SearchConfig


def test_committed_run_configs_round_trip(capsys):
    """Each run directory under benchmarks/results (read only): its command parses and
    rebuilds its config, up to the fields that cannot change results (executor, workers)."""
    runs = _committed_runs()
    assert runs, RESULTS
    checked = 0
    for path in runs:
        start = json.loads(path.read_text())
        if not _inputs_exist(start["config"]):
            continue
        try:
            (again, method), command = _round_trip(start)
        except (SystemExit, LossforgeError) as exc:
            pytest.fail(f"{path}: refused ({exc}): {reproduce_command(start)}\n"
                        f"{capsys.readouterr().err}")
        assert method == start.get("method", "gp"), (path, command)
        # the config as the run read it back (a field an older run lacks: its default)
        want = {k: v for k, v in _config_class(method).from_json(start["config"]).to_json()
                .items() if k not in NO_RESULT_EFFECT}
        got = {k: v for k, v in again.to_json().items() if k not in NO_RESULT_EFFECT}
        assert got == want, (path, command)
        assert "#" not in command, command   # nothing left to a comment
        checked += 1
    assert checked, "no committed run config whose files are all here"


def test_fields_without_a_flag_are_named_not_dropped():
    """A field that changes results but no flag sets (immigrants, dedup, operator weights, an
    ES run's l_range) is named with its value in a shell comment after the command; the
    command still parses and rebuilds everything else."""
    cfg, _ = _config(["--fitness", "probe", "--population", "6"])
    start = cfg.to_json() | {"immigrants": 0.2, "dedup": False, "max_size": 30}
    start["operator_weights"] = start["operator_weights"] | {"crossover": 0.5}
    (again, _), command = _round_trip({"config": start, "method": "gp"})
    assert "--population 6" in command
    _, comment = command.split("  # ", 1)
    assert comment.startswith("NOT reproduced"), command
    for text in ("immigrants=0.2", "dedup=false", "max_size=30", '"crossover":0.5'):
        assert text in comment, (text, command)
    assert again.to_json() == cfg.to_json()   # the rest rebuilt; those at their defaults
    pytest.importorskip("cma")
    es, _ = _config(["--method", "es", "--fitness", "probe"])
    (again, _), command = _round_trip({"config": es.to_json() | {"l_range": [-50.0, 0.0]},
                                       "method": "es"})
    assert command.endswith("l_range=[-50.0,0.0]") and again.to_json() == es.to_json()


def test_what_cannot_change_results_is_left_out_and_the_timeout_is_kept():
    """--workers, --executor, --runs-dir, --ledger, --quiet, --purpose: not in the command;
    --eval-timeout is (a timeout that fires fails its loss: other results)."""
    argv = ["--fitness", "probe", "--workers", "3", "--executor", "local", "--runs-dir", "x",
            "--ledger", "off", "--quiet", "--purpose", "why", "--eval-timeout", "20"]
    cfg, _ = _config(argv)
    (again, _), command = _round_trip({"config": cfg.to_json(), "method": "gp"})
    for flag in ("--workers", "--executor", "--runs-dir", "--ledger", "--quiet", "--purpose"):
        assert flag not in command, command
    assert again.eval_timeout == 20 and again.workers is None
    assert again.to_json() | {"workers": 3} == cfg.to_json()


def test_the_page_module_still_exports_the_function():
    """The function moved next to the command line it must agree with; the page (and code
    that imports it from there) uses that one, not a copy."""
    from lossforge.report import page

    assert reproduce_command.__module__ == "lossforge.search.reproduce"
    assert page.reproduce_command is reproduce_command


def test_a_hand_edited_key_cannot_end_the_comment_and_run_a_command():
    """config.json is data from whoever shared the run: its keys reach the "NOT reproduced"
    comment, and a newline there would make the pasted command run a second one."""
    from lossforge.search import SearchConfig

    c = SearchConfig(fitness="probe").to_json()
    c["x\ntouch /tmp/pwned"] = 1
    c["immigrants"] = 0.2
    command = reproduce_command({"config": c, "method": "gp"})
    assert "\n" not in command and "\r" not in command
    assert '"x\\ntouch /tmp/pwned"=1' in command and "immigrants=0.2" in command


def test_a_scenario_of_ones_own_folder_or_a_relative_path_is_given_as_the_file_read(
        tmp_path, monkeypatch, capsys):
    """--scenario mine (found through $LOSSFORGE_SCENARIOS) or sc/mine.toml (relative to where
    the search ran) was repeated as typed, so the command failed in another shell or directory
    (a walkthrough); such a scenario is now given as the file the run read, and the command
    rebuilds the same config from elsewhere without the variable."""
    from lossforge.search import SearchConfig, run_search

    folder = tmp_path / "sc"
    folder.mkdir()
    text = (REPO / "benchmarks/scenarios/quick.toml").read_text()
    (folder / "mine.toml").write_text(text.replace('name = "quick"', 'name = "mine"'))
    monkeypatch.setenv("LOSSFORGE_SCENARIOS", str(folder))
    monkeypatch.chdir(tmp_path)
    for typed in ("mine", "sc/mine.toml"):
        run = run_search(SearchConfig(scenario=typed, fitness="probe", generations=1,
                                      population=4, workers=1), runs_root=tmp_path / typed[:2],
                         quiet=True)
        start = json.loads((run / "config.json").read_text())
        command = reproduce_command(start)
        assert f"--scenario {folder / 'mine.toml'}" in command, command
        monkeypatch.delenv("LOSSFORGE_SCENARIOS")
        monkeypatch.chdir(REPO)
        (again, _), _ = _round_trip(start)
        skip = {"scenario"} | NO_RESULT_EFFECT      # the name typed; the worker count
        assert {k: v for k, v in again.to_json().items() if k not in skip} == {
            k: v for k, v in start["config"].items() if k not in skip}
        monkeypatch.setenv("LOSSFORGE_SCENARIOS", str(folder))
        monkeypatch.chdir(tmp_path)
    # a shipped name stays a name
    assert "--scenario quick " in reproduce_command(
        {"config": {"scenario": "quick"}, "method": "gp",
         "scenario_file": str(REPO / "benchmarks/scenarios/quick.toml")}) + " "
