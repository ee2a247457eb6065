"""``benchmarks/headline.py``'s claim page after a statistics review: what the claim block must
say and what ``--claim`` must refuse, on synthetic confirmation rows with known numbers.

The rows: two Hopper scenarios of a two-scenario test suite (weights 1 and 3), on confirm's
declared reporting draws 1-5, with the reference, DPO, ORPO, IPO, SFT, BC-on-chosen and the
candidate lf-x. Every per-scenario difference of the candidate is +3 ± 1 (p 0.001), so on
clean rows the bar is met on both scenarios (its CI's lower end, 2, is above zero), and the
candidate is far above every row on the suite mean."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import headline  # noqa: E402

DRAWS = (1, 2, 3, 4, 5)
A, B = "hopper-padded-clean", "hopper-padded-noisy-0.1"
NAMES = {"dpo": "dpo[beta=2,lr=0.001]", "orpo": "orpo[lam=0.5,lr=0.001]",
         "ipo": "ipo[beta=1,lr=0.001]", "sft": "sft[lr=0.001]"}
CAND = "lf-x[lr=0.001]"


def _row(scen, loss, role, per_draw):
    vals = [v for v in per_draw.values() if math.isfinite(v)]
    mean = sum(per_draw.values()) / len(per_draw)   # NaN where a draw failed, as confirm writes
    m = {"per_draw": {str(d): v for d, v in per_draw.items()}, "mean": mean,
         "ci95": 1.0 if len(vals) == len(per_draw) else float("nan")}
    return {"budget": "full", "scenario": scen, "loss": loss, "role": role, "auc": m,
            "final": m, "seeds_per_draw": {str(d): 3 for d in per_draw}, "missing": ""}


def _flat(scen, loss, role, level):
    """A row scoring ``level`` + draw / 10 on draw d (small spread, finite everywhere)."""
    return _row(scen, loss, role, {d: level + d / 10 for d in DRAWS})


def _rows():
    """Scenario a: reference 10, DPO 40, ORPO 52, IPO 45, SFT 15, BC-on-chosen 12, candidate
    55. Scenario b: reference 50, DPO 61, ORPO 55, IPO 52, SFT 52, BC-on-chosen 49, candidate
    70. (Each plus draw / 10.)"""
    levels = {A: {"reference (BC)": 10, "dpo": 40, "orpo": 52, "ipo": 45, "sft": 15,
                  "bc-on-chosen": 12, "cand": 55},
              B: {"reference (BC)": 50, "dpo": 61, "orpo": 55, "ipo": 52, "sft": 52,
                  "bc-on-chosen": 49, "cand": 70}}
    out = []
    for scen, by in levels.items():
        for key, level in by.items():
            loss = NAMES.get(key, CAND if key == "cand" else key)
            role = ("candidate" if key == "cand" else "baseline" if key in NAMES else "fixed")
            out.append(_flat(scen, loss, role, level))
    return out


def _comps(summary):
    """The candidate's per-scenario comparison with every other row: +3 ± 1, p 0.001."""
    return [{"budget": "full", "scenario": e["scenario"], "candidate": CAND,
             "baseline": e["loss"], "metric": m, "mean": 3.0, "ci95": 1.0, "p": 0.001,
             "p_holm": 0.001}
            for e in summary if e["role"] != "candidate" for m in ("auc", "final")]


def _files(tmp_path, summary=None):
    summary = _rows() if summary is None else summary
    report = tmp_path / "r.confirm.json"
    report.write_text(json.dumps({"summary": summary, "comparisons": _comps(summary)}))
    suite = tmp_path / "duo.toml"
    suite.write_text(f'name = "duo"\nrole = "test"\n[[scenarios]]\nname = "{A}"\nweight = 1.0\n'
                     f'[[scenarios]]\nname = "{B}"\nweight = 3.0\n')
    return str(report), str(suite)


def _page(tmp_path, summary=None, claim=True) -> str:
    report, suite = _files(tmp_path, summary)
    return "\n".join(headline.headline([report], "lf-x", suite, is_claim=claim))


def _block(page: str) -> str:
    """The claim block: from its heading to its verdict line, both included."""
    start = page.index("## The claim")
    return page[start:page.index("the preference term", start)]


def test_clean_rows_meet_the_claim(tmp_path):
    """The declared rules on clean, complete rows: every part met (the reference for the tests
    below, and a check that nothing here changed their outcome)."""
    block = _block(_page(tmp_path))
    assert "- met: best-or-tied with the best tuned baseline or the reference on at least 75% " \
           "of the scenarios: 2 of 2 (final: 2 of 2)" in block
    assert "**On AUC, the claim is met** on these reports." in block
    assert "no test" not in block and "not clean pairs" not in block


def test_a_row_above_the_comparator_that_failed_too_often_leaves_no_test(tmp_path):
    """Finding 1: IPO failed on draws 1-3 of scenario a and scores 53.0 on draws 4 and 5, above
    ORPO's mean of 52.3. stats.best_row may not pick it (2 of 5 draws is under half), so ORPO
    is the comparator; the candidate's +3 ± 1 over ORPO used to count as
    best-or-tied there. Now the scenario has no test for the bar (it never counts for the
    claim): 1 of 2, not met, and the claim block names IPO with its numbers."""
    summary = _rows()
    ipo = next(e for e in summary if e["scenario"] == A and e["loss"] == NAMES["ipo"])
    fresh = _row(A, NAMES["ipo"], "baseline",
                 {1: math.nan, 2: math.nan, 3: math.nan, 4: 53.0, 5: 53.0})
    summary[summary.index(ipo)] = fresh
    page = _page(tmp_path, summary)
    block = _block(page)
    assert ("- **not met**: best-or-tied with the best tuned baseline or the reference on at "
            "least 75% of the scenarios: 1 of 2 (final: 1 of 2); 1 of the 2 had no test (named "
            "below) and count as not best-or-tied") in block
    assert "**On AUC, the claim is not met** on these reports. 1 scenario(s) had no test" \
           in block
    assert ("- no test for the bar on hopper-padded-clean: ipo[beta=1,lr=0.001] failed on "
            "draw(s) 1, 2, 3 (mean 53.0 on its 2 finished draw(s), above the comparator "
            "orpo[lam=0.5,lr=0.001]'s 52.3).") in block
    assert "this scenario counts as no test, never as best-or-tied." in block
    # the lenient count does not take it either, and the table says why
    auc = page.split("### lf-x, auc")[1].split("### lf-x, final")[0]
    assert "not shown below the comparator (the CI's upper end at or above zero) on 1 of 2" in auc
    assert "No test for the bar on hopper-padded-clean: a row that failed" in auc
    # a row that failed on fewer draws may be the comparator: then it is, and nothing changes
    summary[summary.index(fresh)] = _row(A, NAMES["ipo"], "baseline",
                                         {1: math.nan, 2: 53.0, 3: 53.0, 4: 53.0, 5: 53.0})
    block = _block(_page(tmp_path, summary))
    assert "no test" not in block and "2 of 2 (final: 2 of 2)" in block


def test_claim_refuses_a_scenario_missing_a_tuned_baseline_family(tmp_path):
    """Finding 2: scenario b has no IPO row while scenario a does. The bar's comparator in b
    would be picked without it, unseen: --claim refuses, one line naming the scenario and the
    family (the loss name before its "[...]"). A page that is not the claim still reads it."""
    summary = [e for e in _rows() if not (e["scenario"] == B and e["loss"] == NAMES["ipo"])]
    with pytest.raises(headline.ConfigError) as err:
        _page(tmp_path, summary)
    said = str(err.value)
    assert "\n" not in said
    assert said.startswith("--claim: hopper-padded-noisy-0.1 has no row of the tuned baseline "
                           "ipo, which other scenarios of the reports have")
    assert "## Issue 19's bar" in _page(tmp_path, summary, claim=False)


@pytest.mark.parametrize("draws", [(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), (1, 2, 3)])
def test_claim_refuses_rows_on_other_than_the_declared_draws(tmp_path, draws):
    """Finding 3: the claim is read on confirm's declared reporting draws (confirmation.
    MUJOCO_DRAWS, 1-5) alone. Draws 6-10 appended to the same rows (a later session's fresh
    draws) would be pooled with them, and draws 1-3 alone are not the declared ones: --claim
    refuses both, saying fresh draws go in their own rows file."""
    import confirmation

    summary = [_row(e["scenario"], e["loss"], e["role"],
                    {d: e["auc"]["per_draw"].get(str(d), 1.0 + d) for d in draws})
               for e in _rows()]
    with pytest.raises(headline.ConfigError) as err:
        _page(tmp_path, summary)
    said = str(err.value)
    assert "\n" not in said and said.startswith("--claim: hopper-padded-clean: ")
    assert f"ran on draws {', '.join(map(str, draws))}; the claim is read on the declared " \
           f"reporting draws {confirmation.MUJOCO_DRAWS} and no others" in said
    assert "fresh draws go in their own rows file and report" in said
    assert "## Issue 19's bar" in _page(tmp_path, summary, claim=False)


def test_the_claim_block_names_draws_whose_pairs_are_not_clean(tmp_path):
    """Finding 4: draw 2 of scenario a is not clean (the report's data_split_draws: within one
    training seed, rows trained on different builds). The claim block names it in one line;
    the verdict is the one on clean rows (v2-plan.md, Session 25, item 2)."""
    summary = _rows()
    for e in summary:
        if e["scenario"] == A:
            e["data_split_draws"] = ["2"]
    block = _block(_page(tmp_path, summary))
    notes = [x for x in block.splitlines() if x.startswith("- not clean pairs")]
    assert len(notes) == 1 and "Session 25, item 2" in notes[0]
    assert notes[0].startswith("- not clean pairs on hopper-padded-clean draw 2: within one "
                               "training seed")
    assert "**On AUC, the claim is met** on these reports." in block
    assert block.replace(notes[0] + "\n", "") == _block(_page(tmp_path))


def test_the_claim_block_says_bc_on_chosen_is_decided_on_final(tmp_path):
    """Finding 5a: final decides nothing, except the shortcut test against BC-on-chosen, which
    is decided on final (declared: v2-plan.md, Session 22, item 3)."""
    block = _block(_page(tmp_path))
    assert ("final is shown beside each part and decides nothing, except that BC-on-chosen is "
            "judged on final in the shortcut part (declared: v2-plan.md, Session 22, item 3") \
        in block


def test_the_lenient_count_cannot_be_quoted_as_the_bar(tmp_path):
    """Finding 5b: the lenient count is said to be neither the declared reading nor the claim,
    and the page never says "bar met" of it."""
    page = _page(tmp_path)
    assert "bar met" not in page and "bar not met" not in page
    assert ("For comparison only, the lenient reading (not the declared one, and not the "
            "claim): not shown below the comparator") in page


def test_each_holm_family_size_is_stated_where_it_is_used(tmp_path):
    """Finding 5c: the per-scenario tables correct over every comparison in the files (12 per
    metric here), the suite mean against DPO and ORPO over 2, against the shortcuts over 3; the
    header, each suite table and each claim line say which."""
    page = _page(tmp_path)
    block = _block(page)
    head = next(x for x in page.splitlines() if x.startswith("Sources: "))
    assert ("Holm's correction, per metric: in the per-scenario tables, over every comparison "
            "of the candidate in these files (12 in auc); on the suite mean, over the 2 "
            "comparisons with DPO and ORPO, and over the 3 with the shortcuts, each a family "
            "of its own") in head
    assert "; Holm over 2 (DPO, ORPO), per metric" in block
    assert "; Holm over 3 (SFT, reference, BC-on-chosen), per metric" in block
    assert page.count("Holm's correction is over the 2 comparisons of this table (DPO, ORPO), "
                      "in auc.") == 1
    assert page.count("Holm's correction is over the 3 comparisons of this table (SFT, "
                      "reference, BC-on-chosen), in auc.") == 1


def test_the_claim_block_says_sft_stands_for_length_only(tmp_path):
    """Finding 6: issue 19 names length-only; on the v2 scenarios sft stands for it (v2-plan.md,
    Session 16), and the claim block says so."""
    block = _block(_page(tmp_path))
    assert ("- length-only, a shortcut issue 19 names, has no row of its own: on these "
            "length-controlled v2 scenarios") in block
    assert "the `sft` row stands for both (v2-plan.md, Session 16)." in block


def test_the_suite_table_gives_each_scale_and_effective_weight(tmp_path):
    """Finding 7: beside the suite-mean table, each scenario's scale and effective weight, by
    hand. Weights 1/4 and 3/4. Scenario a: best tuned ORPO, mean 52.3, over the reference's
    10.3: scale 42.0, w/scale 0.25/42 = 0.00595. Scenario b: DPO 61.3 over 50.3: 11.0,
    0.75/11 = 0.06818. Then the reference of b raised to 59.3 (2 points under DPO): the scale
    is the floor, 3, and flagged."""
    page = _page(tmp_path)
    auc = page.split("### Suite mean (duo, 2 scenarios, weighted), auc")[1].split("###")[0]
    assert "| hopper-padded-clean | 0.250 | 42.0 | 0.0060 (8%) |" in auc
    assert "| hopper-padded-noisy-0.1 | 0.750 | 11.0 | 0.0682 (92%) |" in auc
    summary = _rows()
    i = next(i for i, e in enumerate(summary) if e["scenario"] == B and e["loss"] ==
             "reference (BC)")
    summary[i] = _flat(B, "reference (BC)", "fixed", 59)
    page = _page(tmp_path, summary, claim=False)
    auc = page.split("### Suite mean (duo, 2 scenarios, weighted), auc")[1].split("###")[0]
    assert ("| hopper-padded-noisy-0.1 | 0.750 | 3.0 (at the floor: the best tuned baseline is "
            "at most 3 points above the reference) | 0.2500 (98%) |") in auc
    assert "at the floor" not in page.split("### Suite mean against the shortcuts")[1]


def test_holm_docstring_says_what_callers_reject():
    """Finding 8: callers reject where Holm's adjusted p < alpha (strictly), and the docstring
    says so; an adjusted p equal to alpha is not "beats"."""
    from lossforge.bench.stats import holm

    assert "adjusted p < alpha" in holm.__doc__ and "<= alpha" not in holm.__doc__
    comp = {"p_holm_all": 0.05, "mean": 1.0}
    assert headline.verdict(comp, "DPO", 0.05) == "level with DPO"
    assert not headline.suite_beats({"p_holm": 0.05, "mean": 1.0}, 0.05)
