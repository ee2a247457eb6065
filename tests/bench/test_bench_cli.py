"""`python -m lossforge.bench`'s command line: what it accepts and how it labels rows (no
training here)."""

import pytest

from lossforge.bench.__main__ import build_parser, main, scored_objectives
from lossforge.bench.scenarios import load_scenario
from lossforge.cli import attach_values


def test_a_formula_starting_with_minus_is_a_formula_not_a_flag(capsys):
    """-sqrt(-l), the README's phi~ example: parsed as --formula's value, so the command gets
    as far as the scenario (named wrongly here, to stop before any training)."""
    code = main(["--scenario", "no-such-scenario", "--formula", "-sqrt(-l)", "--budget", "quick"])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: no scenario 'no-such-scenario'")


@pytest.mark.parametrize("argv", [["--formula", "-sqrt(-l)"], ["--formula=-sqrt(-l)"]])
def test_rows_are_labelled_by_what_the_formula_is(argv):
    """'-sqrt(-l)' is phi~(l) (a formula in l), 'p*log(p)' is h(p)."""
    args = build_parser().parse_args(attach_values(
        [*argv, "--formula", "p*log(p)", "--losses", "dpo"], ["--formula"]))
    names = [o.name for o in scored_objectives(args, load_scenario("quick"))]
    assert names == ["dpo", "phi~=-sqrt(-l)", "h=p*log(p)"]
