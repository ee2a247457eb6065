"""Every command line offers the budgets, metrics and log-prob aggregations the code knows, as
the code lists them: a name added to one of the lists (``BUDGET_NAMES``, ``METRICS``,
``AGGREGATIONS``) and not to a command line's choices would be refused there as "invalid
choice", and a choice the code does not know would fail later with another message. Some parsers
keep a literal to stay light to import (``formula``); this holds them to the lists."""

from __future__ import annotations

import importlib

import pytest

from lossforge.bench.result import METRICS
from lossforge.bench.scenarios import BUDGET_NAMES
from lossforge.objectives.mpo import AGGREGATIONS

LISTS = {"--budget": BUDGET_NAMES, "--metric": METRICS, "--aggregation": AGGREGATIONS}
CLIS = ["lossforge.formula", "lossforge.export.__main__", "lossforge.search.__main__",
        "lossforge.bench.__main__", "lossforge.distill.__main__"]


@pytest.mark.parametrize("module", CLIS)
def test_a_command_lines_choices_are_the_codes_lists(module):
    ap = importlib.import_module(module).build_parser()
    offered = {a.option_strings[0]: a.choices for a in ap._actions
               if a.option_strings and a.option_strings[0] in LISTS}
    assert offered, f"{module} offers none of {sorted(LISTS)}"
    for flag, choices in offered.items():
        assert tuple(choices) == tuple(LISTS[flag]), (module, flag)


def test_the_lists_are_what_the_code_accepts():
    """Independent of the lists: each name works where it is used (a config check, a zoo
    member's aggregation) and a name outside them is refused."""
    from lossforge.bench.scenarios import load_scenario
    from lossforge.errors import ConfigError
    from lossforge.objectives import MPOSpec, Objective
    from lossforge.search import SearchConfig
    from lossforge.search.context import check_common

    quick = load_scenario("quick")
    assert all(quick.budget(b) is not None for b in BUDGET_NAMES)
    for agg in AGGREGATIONS:
        Objective(MPOSpec("x", "p*log(p)", aggregation=agg))
    for metric in METRICS:
        check_common(SearchConfig(metric=metric))
    with pytest.raises(ConfigError):
        check_common(SearchConfig(metric="median"))
    with pytest.raises(ConfigError):
        check_common(SearchConfig(aggregation="max"))
