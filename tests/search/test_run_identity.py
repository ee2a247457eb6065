"""hall_of_fame.json and pareto.json name the run that wrote them (the identity of its
config.json), so a result file copied in from another run directory, which carries a valid
checksum of its own, is refused by every command that reads it; a resume that only extends a
run keeps its identity, and moving the stranger aside and resuming writes the run's own."""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil

import pytest

from lossforge.export.__main__ import main as export_main
from lossforge.search import SearchConfig, run_search
from lossforge.search.__main__ import main as search_main

RESULTS = ("hall_of_fame.json", "pareto.json")
COMMANDS = {"show": lambda a: search_main(["show", *a]), "export": export_main,
            "report": lambda a: importlib.import_module("lossforge.report.__main__").main(a),
            "distill": lambda a: importlib.import_module("lossforge.distill.__main__").main(a)}


def _run(root, seed: int):
    cfg = SearchConfig(scenario="quick", fitness="probe", generations=1, population=4,
                       workers=1, seed=seed)
    return run_search(cfg, runs_root=root, quiet=True)


@pytest.fixture(scope="module")
def runs(probe_run, tmp_path_factory):
    """The shared probe run (seed 0) and one configured the same but for its seed."""
    return probe_run, _run(tmp_path_factory.mktemp("runs"), 1)


@pytest.fixture
def ours(runs, tmp_path):
    return shutil.copytree(runs[0], tmp_path / runs[0].name)


def _identity(config_json: dict) -> str:
    """By hand: sha256 of the method and configuration as canonical JSON, without what
    --resume may change (and without config.json's absolute paths)."""
    conf = {k: v for k, v in config_json["config"].items()
            if k not in ("generations", "executor", "workers", "eval_timeout")}
    text = json.dumps({"method": config_json.get("method", "gp"), "config": conf},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", RESULTS)
def test_each_result_file_names_the_run_its_config_describes(runs, name):
    a, b = ([json.loads((r / f).read_text()) for f in ("config.json", name)] for r in runs)
    assert a[1]["run"] == _identity(a[0]) and b[1]["run"] == _identity(b[0])
    assert a[1]["run"] != b[1]["run"]    # the two runs differ in their seed alone


@pytest.mark.parametrize("name,command", [(n, c) for n in RESULTS for c in sorted(COMMANDS)
                                          if (n, c) != ("pareto.json", "distill")])  # unread
def test_a_result_file_from_another_run_is_refused_by_every_reader(runs, ours, capsys, name,
                                                                   command):
    shutil.copy(runs[1] / name, ours / name)    # its checksum is valid: it is another run's
    assert COMMANDS[command]([str(ours)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    theirs = json.loads((runs[1] / name).read_text())["run"]
    own = _identity(json.loads((ours / "config.json").read_text()))
    assert (f"{ours / name}: from another run (it names run {theirs}; this directory's "
            f"config.json describes run {own})") in err[0]
    assert f"python -m lossforge.search --resume {ours} writes the run's own again" in err[0]


def test_moving_the_stranger_aside_and_resuming_writes_the_runs_own(runs, ours, capsys):
    own = (ours / "hall_of_fame.json").read_bytes()
    shutil.copy(runs[1] / "hall_of_fame.json", ours / "hall_of_fame.json")
    (ours / "hall_of_fame.json").rename(ours / "hall_of_fame.json.aside")
    assert search_main(["--resume", str(ours), "--quiet"]) == 0
    assert (ours / "hall_of_fame.json").read_bytes() == own
    assert search_main(["show", str(ours)]) == 0


@pytest.mark.parametrize("damage", ["truncated", "edited"])
def test_a_damaged_result_file_says_how_to_get_the_runs_own_back(ours, capsys, damage):
    """The refusal names the file and the resume that writes it again; following it works."""
    path = ours / "hall_of_fame.json"
    own = path.read_bytes()
    text = own.decode()
    path.write_text(text[:len(text) // 2] if damage == "truncated"
                    else text.replace('"generation": 1', '"generation": 7'))
    assert search_main(["show", str(ours)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and err.count("\n") == 1
    assert ("malformed JSON" if damage == "truncated" else "checksum mismatch") in err
    assert err.rstrip().endswith(f"; python -m lossforge.search --resume {ours} writes the "
                                 "run's own again from its checkpoint (copy this one aside "
                                 "first to keep it)")
    assert search_main(["--resume", str(ours), "--quiet"]) == 0
    assert path.read_bytes() == own
    assert search_main(["show", str(ours)]) == 0


def test_a_resume_that_extends_the_run_keeps_its_identity(ours, capsys):
    before = json.loads((ours / "pareto.json").read_text())["run"]
    assert search_main(["--resume", str(ours), "--generations", "2", "--quiet"]) == 0
    after = {n: json.loads((ours / n).read_text()) for n in RESULTS}
    assert {d["generation"] for d in after.values()} == {2}
    assert {d["run"] for d in after.values()} == {before}
    assert json.loads((ours / "config.json").read_text())["config"]["generations"] == 2
    assert search_main(["show", str(ours)]) == 0
    assert "generation 2" in capsys.readouterr().out


def test_a_result_file_written_before_files_named_their_run_is_read(runs, ours, capsys):
    for name in RESULTS:
        doc = json.loads((ours / name).read_text())
        del doc["run"], doc["sha256"]
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
        doc["sha256"] = hashlib.sha256(text.encode()).hexdigest()
        (ours / name).write_text(json.dumps(doc))
    assert search_main(["show", str(ours)]) == 0
    assert "Hall of fame" in capsys.readouterr().out


def test_the_same_run_in_another_checkout_is_the_same_run(ours, capsys):
    """config.json records the grammar's and scenario's absolute paths; written again from the
    checkpoint in a checkout at another path (or the checkout moved), it names other paths:
    still this run (the reviewer's case: it was refused as another run's)."""
    path = ours / "config.json"
    start = json.loads(path.read_text())
    assert start["grammar_file"].startswith("/") and start["scenario_file"].startswith("/")
    path.write_text(json.dumps({**start, "grammar_file": "/elsewhere/grammars/x.toml",
                                "scenario_file": "/elsewhere/scenarios/quick.toml"}))
    assert search_main(["show", str(ours)]) == 0
    assert "Hall of fame" in capsys.readouterr().out


def test_config_json_moved_aside_while_the_run_runs_changes_nothing(ours, monkeypatch, capsys):
    """The results name the run as it was when the search (re)started: config.json moved aside
    during a generation (here: as its checkpoint is saved, just before its results are
    written) neither stops the search nor changes what its results say."""
    from lossforge.search import checkpoint

    real, moved = checkpoint.save, []

    def save(run_dir, state):
        if not moved:
            (ours / "config.json").rename(ours / "config.json.aside")
            moved.append(True)
        return real(run_dir, state)

    before = json.loads((ours / "pareto.json").read_text())["run"]
    monkeypatch.setattr(checkpoint, "save", save)
    assert search_main(["--resume", str(ours), "--generations", "2", "--quiet"]) == 0
    assert moved and not (ours / "config.json").exists()
    assert {json.loads((ours / n).read_text())["run"] for n in RESULTS} == {before}
    (ours / "config.json.aside").rename(ours / "config.json")
    assert search_main(["show", str(ours)]) == 0
