"""A run records the files it reads (grammars, scenario, suite); a resume refuses a run whose
inputs changed in content, and accepts one whose files changed only in comments or layout."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from lossforge.errors import ConfigError
from lossforge.search import SearchConfig, checkpoint, inputs, run_search

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_files(tmp_path):
    """A copy of the quick scenario and of the mirror-map grammar, as a user's own files."""
    scenario = tmp_path / "quick.toml"
    shutil.copy(REPO / "benchmarks/scenarios/quick.toml", scenario)
    grammar = tmp_path / "mine.toml"
    shutil.copy(REPO / "grammars/mirror_map.toml", grammar)
    return scenario, grammar


def _stopped_run(tmp_path, scenario, grammar) -> Path:
    cfg = SearchConfig(scenario=str(scenario), grammar=str(grammar), fitness="probe",
                       generations=2, population=4, workers=1)
    run = run_search(cfg, runs_root=tmp_path / "runs", quiet=True, stop_after=1)
    assert checkpoint.load(run)["generation"] == 1
    return run


def test_the_run_records_a_digest_of_each_file_it_reads(tmp_path, own_files):
    scenario, grammar = own_files
    run = _stopped_run(tmp_path, scenario, grammar)
    rec = inputs.runfiles.read_checked(run / inputs.NAME)[0]
    assert rec == {"grammar": {"path": str(grammar), "sha256": inputs.digest(grammar)},
                   "scenario": {"path": str(scenario), "sha256": inputs.digest(scenario)}}
    # the digest is of the parsed content: a comment and blank lines do not change it (the
    # grammar's intervals hold infinities, which plain canonical JSON refuses)
    assert "inf" in grammar.read_text()
    for file in (scenario, grammar):
        before = inputs.digest(file)
        file.write_text("# my note\n\n" + file.read_text())
        assert inputs.digest(file) == before
    assert run_search(resume=run, quiet=True) == run          # and the run resumes
    assert checkpoint.load(run)["generation"] == 2


@pytest.mark.parametrize("which,old,new", [
    ("scenario", "beta = 0.1", "beta = 0.5"),
    ("grammar", "max_depth = 5", "max_depth = 6"),
])
def test_a_resume_after_an_edited_input_is_refused_by_name(tmp_path, own_files, which, old,
                                                           new):
    scenario, grammar = own_files
    run = _stopped_run(tmp_path, scenario, grammar)
    file = scenario if which == "scenario" else grammar
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new, 1))
    journal = (run / "evaluations.jsonl").read_text()
    with pytest.raises(ConfigError, match=re.escape(f"cannot resume: {which} {file} changed")):
        run_search(resume=run, quiet=True)
    assert checkpoint.load(run)["generation"] == 1             # nothing run, nothing lost
    assert (run / "evaluations.jsonl").read_text() == journal


def test_a_suite_run_records_the_suite_and_each_of_its_scenarios(tmp_path):
    suite = tmp_path / "pair.toml"
    suite.write_text('name = "pair"\nrole = "train"\n'
                     '[[scenarios]]\nname = "hopper-padded-clean"\nweight = 1.0\n'
                     '[[scenarios]]\nname = "hopper-padded-noisy-0.2"\nweight = 2.0\n')
    cfg = SearchConfig(suite=str(suite), fitness="probe", generations=1, population=4,
                       workers=1)
    files = inputs.input_files(cfg)
    shipped = REPO / "benchmarks/scenarios"
    assert files == {"grammar": REPO / cfg.grammar, "suite": suite,
                     "suite scenario hopper-padded-clean": shipped / "hopper-padded-clean.toml",
                     "suite scenario hopper-padded-noisy-0.2":
                         shipped / "hopper-padded-noisy-0.2.toml"}


def test_a_resume_without_inputs_json_says_the_inputs_were_not_checked(tmp_path, own_files,
                                                                       capsys):
    """Deleting inputs.json is no silent way round the check above: the resume goes on (a run
    from before the file has none) but says that the input files were not checked."""
    scenario, grammar = own_files
    run = _stopped_run(tmp_path, scenario, grammar)
    (run / inputs.NAME).unlink()
    grammar.write_text(grammar.read_text().replace("max_depth = 5", "max_depth = 6", 1))
    capsys.readouterr()
    assert run_search(resume=run) == run
    out = " ".join(capsys.readouterr().out.split())
    assert f"note: {run / inputs.NAME} is missing: the grammar and scenario files were not " \
           "checked" in out
    assert checkpoint.load(run)["generation"] == 2
