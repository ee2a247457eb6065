"""The LaTeX export says how the log-probs are aggregated: ell is the per-token mean of the
response's token log-probs for ``aggregation="mean"`` (ORPO's convention, the suite winner
lf-29423ee3's) and their sum for ``"sum"``, named in words too; the two used to print the same
text, so a mean-aggregated loss read as a different (summed) loss."""

import json
import re

import pytest

from lossforge.export import export
from lossforge.export.__main__ import main
from lossforge.objectives import MPOSpec, Objective

# the rows as written by hand from the definitions (|y| tokens, k-th token given the prefix)
MEAN_ROW = (r"  \ell_\theta(y|x) &= \frac{1}{|y|} \sum_{k=1}^{|y|} \log \pi_\theta(y_k | x, "
            r"y_{<k}) \quad \text{(per-token mean log-probability)} \\")
SUM_ROW = (r"  \ell_\theta(y|x) &= \sum_{k=1}^{|y|} \log \pi_\theta(y_k | x, y_{<k}) \quad "
           r"\text{(summed log-probability, not length-normalised)} \\")
MEAN_REF_ROW = (r"  \ell_{\mathrm{ref}}(y|x) &= \frac{1}{|y|} \sum_{k=1}^{|y|} "
                r"\log \pi_{\mathrm{ref}}(y_k | x, y_{<k}) \\")
SUM_REF_ROW = (r"  \ell_{\mathrm{ref}}(y|x) &= \sum_{k=1}^{|y|} \log \pi_{\mathrm{ref}}(y_k | x, "
               r"y_{<k}) \\")

# lf-29423ee3, the suite winner, as its committed export spells its spec
WINNER = MPOSpec(name="lf-29423ee3", mirror_map="softplus(exp(p))", beta=0.1, reference=True,
                 link="1/2 - logsigmoid(4*logsigmoid(D))",
                 imitation="softplus(softplus(log1mexp(l)))", aggregation="mean")


def _cli(capsys, *argv) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _assert_well_formed(tex: str) -> None:
    """What a LaTeX run would choke on first: braces that close before they open or never
    close, unmatched \\left/\\right, environments that do not nest."""
    depth = 0
    for ch in re.sub(r"\\[{}]", "", tex):  # \{ and \} are escaped text, not groups
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, tex
    assert depth == 0, tex
    assert tex.count(r"\left") == tex.count(r"\right"), tex
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+\*?)\}", tex):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env, tex
    assert stack == [], tex


def test_mean_and_sum_print_their_own_definition_of_ell(capsys):
    mean = _cli(capsys, "--formula", "exp(p)", "--aggregation", "mean", "--format", "latex")
    total = _cli(capsys, "--formula", "exp(p)", "--aggregation", "sum", "--format", "latex")
    assert mean != total
    mean_rows, sum_rows = mean.splitlines(), total.splitlines()
    assert MEAN_ROW in mean_rows and MEAN_REF_ROW in mean_rows
    assert SUM_ROW in sum_rows and SUM_REF_ROW in sum_rows
    assert r"\frac{1}{|y|}" not in total
    # defined before the reward reads it; otherwise the blocks are the same
    assert mean_rows.index(MEAN_ROW) < next(i for i, r in enumerate(mean_rows)
                                            if r.lstrip().startswith(r"r_\theta"))
    assert [r for r in mean_rows if r not in (MEAN_ROW, MEAN_REF_ROW)] == \
        [r for r in sum_rows if r not in (SUM_ROW, SUM_REF_ROW)]
    for tex in (mean, total):
        _assert_well_formed(tex)


def test_no_reference_defines_only_the_policy_log_prob(capsys):
    tex = _cli(capsys, "--formula", "exp(p)", "--aggregation", "mean", "--no-reference",
               "--format", "latex")
    assert MEAN_ROW in tex.splitlines()
    assert r"\pi_{\mathrm{ref}}" not in tex and r"\ell_{\mathrm{ref}}" not in tex


@pytest.mark.parametrize("aggregation,row", [("mean", MEAN_ROW), ("sum", SUM_ROW)],
                         ids=["mean", "sum"])
def test_every_latex_form_carries_the_aggregation(aggregation, row):
    """The block, the document and the JSON's "latex" are one text: all say it."""
    import dataclasses

    objective = Objective(dataclasses.replace(WINNER, aggregation=aggregation))
    block = export(objective, "latex")
    document = export(objective, "latex-document", notes=["From run r, rank 0."])
    data = json.loads(export(objective, "json"))
    assert row in block.splitlines()
    assert block in document and data["latex"] + "\n" == block
    for tex in (block, document):
        _assert_well_formed(tex)
    assert document.startswith("\\documentclass{article}\n\\usepackage{amsmath}\n")  # \text


def test_the_suite_winner_reads_as_a_per_token_mean_loss():
    tex = Objective(WINNER).latex()
    assert MEAN_ROW in tex.splitlines() and MEAN_REF_ROW in tex.splitlines()
    assert SUM_ROW not in tex.splitlines()
