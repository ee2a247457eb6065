"""``python -m lossforge.search confirm RUN``: the best loss and the run's baselines trained again
on seeds the search never used, judged as the search judges. References: the probe fitness
called directly on those seeds, and ``paired_verdict`` on its per-seed scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lossforge.errors import ConfigError
from lossforge.objectives import from_spec
from lossforge.search import SearchConfig, probe_fitness, run_search
from lossforge.search.__main__ import main
from lossforge.search.confirm import confirm, output_path, run_seeds
from lossforge.search.verdict import baseline_label, paired_verdict

REPO_QUICK = Path(__file__).resolve().parents[2] / "benchmarks/scenarios/quick.toml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = SearchConfig(scenario="quick", fitness="probe", generations=2, population=6,
                       workers=1)
    return run_search(cfg, runs_root=tmp_path_factory.mktemp("runs"), quiet=True)


def _hof(run):
    return json.loads((run / "hall_of_fame.json").read_text())


def test_the_scores_are_the_fitness_own_on_the_fresh_seeds_and_the_verdicts_follow(run):
    out = confirm(run, seeds=(1000, 1001, 1002), workers=1)
    hof = _hof(run)
    best, bases = hof["hall_of_fame"][0], [b["spec"] for b in hof["baselines"]]
    want = probe_fitness.evaluate([from_spec(s) for s in [best["spec"], *bases]], "quick",
                                  "full", seeds=(1000, 1001, 1002))
    assert out["loss"] == best["name"] and out["budget"] == "full"
    assert [out["scores"][w.name]["per_seed"] for w in want] == [list(w.per_seed) for w in want]
    for spec, w in zip(bases, want[1:]):
        v = paired_verdict(want[0].per_seed, w.per_seed)
        got = out["verdicts"][baseline_label(spec)]
        assert (got["word"], got["diff"], got["halfwidth"]) == (v.word, v.diff, v.halfwidth)
    # the seeds are other than the search's: the best loss's scores differ from its own there
    assert out["scores"][best["name"]]["per_seed"] != best["full"]["per_seed"]


def test_seeds_the_run_may_have_trained_on_are_refused(run):
    # the probe picks seeds 0-2 at full itself; the quick scenario (seeds.json) names 0-1
    start = json.loads((run / "config.json").read_text())
    assert run_seeds(run, start, _hof(run)) == {0, 1, 2}
    for seeds in ((0, 1000), (2, 1000)):
        with pytest.raises(ConfigError, match="the search trained on seed"):
            confirm(run, seeds=seeds, workers=1)
    # one training counted as four pairs gave "BETTER ... ± 0.00, paired over 4 seeds"
    with pytest.raises(ConfigError, match="seed.s. 1000 given more than once"):
        confirm(run, seeds=(1000, 1000, 1000, 1000), workers=1)
    with pytest.raises(ConfigError, match="at least 2 seeds"):
        confirm(run, seeds=(1000,), workers=1)
    with pytest.raises(ConfigError, match="the hall of fame of .* has"):
        confirm(run, seeds=(1000, 1001), rank=99, workers=1)


def test_an_input_file_changed_since_the_run_is_refused(tmp_path):
    """confirm trained on an edited scenario without a word (resume refuses it): a
    confirmation must score on the search's data."""
    scenario = tmp_path / "mine.toml"
    scenario.write_text(open(REPO_QUICK).read().replace('name = "quick"', 'name = "mine"'))
    run = run_search(SearchConfig(scenario=str(scenario), fitness="probe", generations=1,
                                  population=4, workers=1), runs_root=tmp_path, quiet=True)
    scenario.write_text(scenario.read_text().replace("beta = 0.1", "beta = 0.5"))
    with pytest.raises(ConfigError, match="scenario .*mine.toml changed since the run started"):
        confirm(run, seeds=(1000, 1001), workers=1)


def test_a_suite_run_is_sent_to_baselines_confirm(run, tmp_path):
    copy = shutil.copytree(run, tmp_path / run.name)
    cfg = json.loads((copy / "config.json").read_text())
    cfg["config"]["suite"] = "benchmarks/suites/train.toml"
    (copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="suite run.*baselines.py confirm"):
        confirm(copy, workers=1)


def test_the_command_prints_writes_and_records_and_the_search_points_to_it(run, tmp_path,
                                                                           capsys):
    ledger = tmp_path / "ledger.jsonl"
    argv = ["confirm", str(run), "--seeds", "1000-1001", "--workers", "1", "--ledger",
            str(ledger)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    best = _hof(run)["hall_of_fame"][0]["name"]
    assert f"Confirmation of {best} on fresh seeds 1000-1001 (2) at the full budget" in out
    assert "paired over 2 seeds" in out
    [path] = run.glob("confirm-*.json")
    written = json.loads(path.read_text())
    assert written["seeds"] == [1000, 1001] and written["loss"] == best
    assert path == output_path(written) and path.name.startswith(f"confirm-{best}-full-seeds-")
    # another rank on the same seeds: its own file, and the output names the earlier one
    assert main(argv[:2] + ["--rank", "1"] + argv[2:]) == 0
    other = _hof(run)["hall_of_fame"][1]["name"]
    assert f"Also confirmed on these seeds: {best}." in capsys.readouterr().out
    assert len(list(run.glob("confirm-*.json"))) == 2
    assert json.loads(path.read_text())["loss"] == best and other != best
    entry = [json.loads(x) for x in ledger.read_text().splitlines()][0]
    assert entry["kind"] == "probe" and entry["seeds"] == [1000, 1001]
    assert entry["command"] == "python -m lossforge.search " + " ".join(argv)
    assert main(["confirm", str(run), "--seeds", "0-1", "--ledger", "off"]) == 2
    assert "the search trained on seed(s) 0, 1" in capsys.readouterr().err
    # the search's own verdict says its seeds picked the loss, and how to confirm it
    assert main(["show", str(run)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert (f"the seeds the search picked the loss on, so the verdict is optimistic (the best "
            f"of many on them): python -m lossforge.search confirm {run}") in shown


def test_a_fitness_that_raises_is_its_traceback_and_one_line(run, tmp_path, monkeypatch,
                                                              capsys):
    """It ended in an internal traceback through stops.py, without the fitness's own."""
    from lossforge.search import executors

    def raising(*args, **kwargs):
        raise executors.FitnessRaised({"type": "ValueError", "message": "cannot handle 1000",
                                       "traceback": "Traceback (fitness)\nValueError"}, "x")

    monkeypatch.setattr(executors, "map_specs", raising)
    assert main(["confirm", str(run), "--seeds", "1000-1001", "--ledger", "off"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "Traceback (fitness)"
    assert err[-1] == ("error: the confirmation stopped on ValueError: cannot handle 1000 "
                       "(traceback above); nothing was written")
