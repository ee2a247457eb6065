"""A plug-in fitness's results are matched to its objectives by position; one that returns them
in another order (sorted by score, collected as they finish) gave each loss another's score,
and the run ended normally. Each result must now carry its objective's name, in order, or the
call is refused in one line. The reference scores are the probe fitness's own, in order."""

from __future__ import annotations

import textwrap

import pytest

from lossforge.errors import ConfigError
from lossforge.objectives.zoo import scenario_spec
from lossforge.search.__main__ import main
from lossforge.search.executors import evaluate_chunk

PLUGIN = '''
from lossforge.search import probe_fitness


def worst_first(objectives, scenario, budget, **kw):
    """The probe's results, sorted worst first: the right scores under the wrong losses."""
    out = probe_fitness.evaluate(objectives, scenario, budget, **kw)
    return sorted(out, key=lambda f: f.score)


def renamed(objectives, scenario, budget, **kw):
    """In order, but named by the fitness's own scheme."""
    from dataclasses import replace
    out = probe_fitness.evaluate(objectives, scenario, budget, **kw)
    return [replace(f, name=f"loss-{i}") for i, f in enumerate(out)]
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "order_plugins.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))


def _jobs():
    return [[scenario_spec(n, 0.1, None).to_json(), "quick", None] for n in ("dpo", "orpo")]


def test_the_reference_order_is_not_the_sorted_one():
    """The case below is a real swap: on the probe, DPO scores above ORPO."""
    dpo, orpo = evaluate_chunk("probe", _jobs(), "quick", "auc")
    assert (dpo["name"], orpo["name"]) == ("dpo", "orpo") and dpo["score"] > orpo["score"]


@pytest.mark.parametrize("fn, named", [("worst_first", "'orpo', 'dpo'"),
                                       ("renamed", "'loss-0', 'loss-1'")])
def test_results_out_of_order_or_misnamed_are_refused(plugin, fn, named):
    with pytest.raises(ConfigError) as e:
        evaluate_chunk(f"order_plugins:{fn}", _jobs(), "quick", "auc")
    assert f"returned results named {named} for the objectives 'dpo', 'orpo'" in str(e.value)
    assert "in the objectives' order, each with its objective's name" in str(e.value)


def test_the_search_stops_in_one_line_before_recording_a_swapped_score(plugin, tmp_path,
                                                                      capsys):
    runs = tmp_path / "runs"
    code = main(["--fitness", "order_plugins:worst_first", "--workers", "1", "--population",
                 "4", "--generations", "1", "--budget", "quick", "--quiet", "--runs-dir",
                 str(runs), "--ledger", "off"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "fitness 'order_plugins:worst_first' returned results named" in err
    assert "Traceback" not in err
