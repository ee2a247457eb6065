"""``benchmarks/headline.py``: one candidate's line per scenario across confirm reports, with
Holm's correction over every comparison in all the files (hand-computed here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "headline.py")


def _entry(scen, loss, role, mean, ci=1.0):
    m = {"per_draw": {"1": mean, "2": mean}, "mean": mean, "ci95": ci}
    return {"budget": "full", "scenario": scen, "loss": loss, "role": role, "auc": m, "final": m,
            "missing": ""}


def _comp(scen, cand, base, mean, ci, p):
    return [{"budget": "full", "scenario": scen, "candidate": cand, "baseline": base,
             "metric": m, "mean": mean, "ci95": ci, "p": p, "p_holm": p} for m in ("auc", "final")]


def _report(path: Path, scen: str, ps: tuple[float, float, float], cand_mean: float) -> str:
    c = "lf-x[lr=1e-05]"
    summary = [_entry(scen, "reference (SFT base)", "fixed", 60),
               _entry(scen, "dpo[beta=0.1,lr=1e-05]", "baseline", 80),
               _entry(scen, "orpo[lam=0.5,lr=1e-05]", "baseline", 85),
               _entry(scen, "sft[lr=1e-05]", "baseline", 84),
               _entry(scen, c, "candidate", cand_mean)]
    comps = (_comp(scen, c, "dpo[beta=0.1,lr=1e-05]", cand_mean - 80, 2.0, ps[0])
             + _comp(scen, c, "orpo[lam=0.5,lr=1e-05]", cand_mean - 85, 2.0, ps[1])
             + _comp(scen, c, "sft[lr=1e-05]", cand_mean - 84, 2.0, ps[2]))
    path.write_text(json.dumps({"summary": summary, "comparisons": comps}))
    return str(path)


def _auc_table(*reports: str) -> tuple[str, list[str]]:
    """headline.py's AUC section for candidate lf-x, and its line of each report, in order."""
    proc = subprocess.run([sys.executable, SCRIPT, *reports, "--candidate", "lf-x"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    auc = proc.stdout.split("### lf-x, final")[0]
    scenarios = [json.loads(Path(r).read_text())["summary"][0]["scenario"] for r in reports]
    return auc, [next(x for x in auc.splitlines() if x.startswith(f"| {s} ")) for s in scenarios]


def test_holm_spans_both_files_and_the_verdicts_follow(tmp_path):
    a = _report(tmp_path / "a.confirm.json", "llm:a/m", (0.001, 0.004, 0.03), 88.0)
    b = _report(tmp_path / "b.confirm.json", "llm:b/m", (0.002, 0.02, 0.5), 87.0)
    # Holm by hand over the six p-values of one metric, sorted 0.001 0.002 0.004 0.02 0.03 0.5:
    # 6*0.001 = 0.006, 5*0.002 = 0.01, 4*0.004 = 0.016, 3*0.02 = 0.06, 2*0.03 = 0.06 (kept
    # monotone), 1*0.5 = 0.5
    auc, (line_a, line_b) = _auc_table(a, b)
    assert "+3.0 ± 2.0 (0.016)" in line_a and "+8.0 ± 2.0 (0.006)" in line_a   # ORPO, DPO
    assert "+4.0 ± 2.0 (0.06)" in line_a                                    # sft (shortcut)
    assert "beats ORPO; beats DPO" in line_a and "level with the best shortcut" in line_a
    assert "+2.0 ± 2.0 (0.06)" in line_b and "level with ORPO; beats DPO" in line_b
    # best tuned is ORPO (85) on both; CI of the difference not below zero on both
    assert line_a.count("best-or-tied with the best tuned") == 1
    assert "Beats ORPO and DPO (Holm p < 0.05 over all 6 comparisons of lf-x in auc): " \
           "1 of 2 scenarios" in auc
    assert "Best-or-tied with the best tuned baseline, or the reference where it is better " \
           "(difference's 95 % CI not below zero): 2 of 2; issue 19's bar (at least 75% of the " \
           "scenarios): met" in auc
    assert "The untrained reference is that comparator" not in auc   # (60, below every row)
    # the note on BC-on-chosen's AUC only where the reports hold that row (MuJoCo's, not here)
    assert "BC-on-chosen" not in auc
    rows = json.loads(Path(a).read_text())
    rows["summary"].append(_entry("llm:a/m", "bc-on-chosen", "fixed", 70))
    Path(a).write_text(json.dumps(rows))
    assert "BC-on-chosen trains from scratch" in _auc_table(a, b)[0]


@pytest.mark.parametrize("args,said", [
    (["nope.json", "--candidate", "x"], "nope.json: not a confirm report"),
    (["{a}", "--candidate", "lf-y"], "lf-y: no candidate row of that name")])
def test_bad_input_exits_2_with_one_line(tmp_path, args, said):
    a = _report(tmp_path / "a.confirm.json", "llm:a/m", (0.001, 0.004, 0.03), 88.0)
    proc = subprocess.run([sys.executable, SCRIPT] + [x.format(a=a) for x in args],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and said in proc.stderr


def test_best_or_tied_is_the_strict_reading_and_the_words_say_which_side(tmp_path):
    """Against the best tuned row (ORPO, 85; every difference ± 2.0): +1.0 ± 2.0 spans zero, so
    not shown best-or-tied (not "below": its mean is above); -5.0 ± 2.0 lies below zero."""
    spans = _report(tmp_path / "s.confirm.json", "llm:s/m", (0.001, 0.5, 0.5), 86.0)
    below = _report(tmp_path / "b.confirm.json", "llm:b/m", (0.5, 0.001, 0.5), 80.0)
    auc, (line_s, line_b) = _auc_table(spans, below)
    assert "+1.0 ± 2.0" in line_s and "not shown best-or-tied (CI spans 0)" in line_s
    assert "-5.0 ± 2.0" in line_b and "below the best tuned or reference (CI)" in line_b
    assert "(difference's 95 % CI not below zero): 0 of 2; issue 19's bar (at least 75% of " \
           "the scenarios): not met" in auc


def _draws(scen, loss, role, per_draw):
    m = {"per_draw": {str(d): v for d, v in per_draw.items()},
         "mean": sum(per_draw.values()) / len(per_draw), "ci95": 1.0}
    return {"budget": "full", "scenario": scen, "loss": loss, "role": role, "auc": m,
            "final": m, "seeds_per_draw": {str(d): 3 for d in per_draw}, "missing": ""}


def _suite_files(tmp_path, candidate_b=(58.0, 63.0, 60.0)):
    """Two scenarios (weights 1 and 3), three draws; the numbers of the hand computation in
    test_suite_mean_pairs_draws_on_the_regret_scale."""
    a, b = "hopper-padded-clean", "hopper-padded-noisy-0.1"
    summary = [_draws(a, "reference (BC)", "fixed", {1: 10, 2: 10, 3: 10}),
               _draws(a, "dpo[beta=2,lr=0.001]", "baseline", {1: 20, 2: 22, 3: 18}),
               _draws(a, "orpo[lam=0.5,lr=0.001]", "baseline", {1: 30, 2: 31, 3: 29}),
               _draws(a, "lf-x[lr=0.001]", "candidate", {1: 28, 2: 33, 3: 30}),
               _draws(b, "reference (BC)", "fixed", {1: 50, 2: 50, 3: 50}),
               _draws(b, "dpo[beta=2,lr=0.001]", "baseline", {1: 60, 2: 62, 3: 61}),
               _draws(b, "orpo[lam=0.5,lr=0.001]", "baseline", {1: 55, 2: 54, 3: 56}),
               _draws(b, "lf-x[lr=0.001]", "candidate", dict(zip((1, 2, 3), candidate_b))),
               # the shortcuts (the reference above is the third): below the tuned rows
               _draws(a, "sft[lr=0.001]", "baseline", {1: 15, 2: 16, 3: 14}),
               _draws(a, "bc-on-chosen", "fixed", {1: 12, 2: 9, 3: 11}),
               _draws(b, "sft[lr=0.001]", "baseline", {1: 52, 2: 53, 3: 51}),
               _draws(b, "bc-on-chosen", "fixed", {1: 49, 2: 51, 3: 50})]
    comps = [c for s in (a, b) for base in ("dpo[beta=2,lr=0.001]", "orpo[lam=0.5,lr=0.001]")
             for c in _comp(s, "lf-x[lr=0.001]", base, 1.0, 2.0, 0.5)]
    report = tmp_path / "r.confirm.json"
    report.write_text(json.dumps({"summary": summary, "comparisons": comps}))
    suite = tmp_path / "duo.toml"
    suite.write_text(f'name = "duo"\nrole = "test"\n[[scenarios]]\nname = "{a}"\nweight = 1.0\n'
                     f'[[scenarios]]\nname = "{b}"\nweight = 3.0\n')
    return str(report), str(suite)


def test_suite_mean_pairs_draws_on_the_regret_scale(tmp_path):
    """By hand: weights 1/4 and 3/4; scales max(best tuned - reference, 1): scenario a's best
    tuned is ORPO (mean 30) over a reference of 10 -> 20; b's is DPO (61) over 50 -> 11. The
    candidate's gain over DPO on draw d is 1/4 (c_a - dpo_a)/20 + 3/4 (c_b - dpo_b)/11."""
    from scipy import stats as sps

    report, suite = _suite_files(tmp_path)
    sys.path.insert(0, str(REPO / "benchmarks"))
    import headline
    from lossforge.bench.suites import load_suite

    summary, _ = headline.load([report])
    res = headline.suite_mean(summary, load_suite(suite).weights(), "lf-x", "auc")
    cand = {1: (28, 58), 2: (33, 63), 3: (30, 60)}
    rival = {"DPO": {1: (20, 60), 2: (22, 62), 3: (18, 61)},
             "ORPO": {1: (30, 55), 2: (31, 54), 3: (29, 56)}}
    gains = {who: [0.25 * (cand[d][0] - v[d][0]) / 20 + 0.75 * (cand[d][1] - v[d][1]) / 11
                   for d in (1, 2, 3)] for who, v in rival.items()}
    assert gains["DPO"] == pytest.approx([-0.036364, 0.205682, 0.081818], abs=1e-6)
    ps = {}
    for who, g in gains.items():
        c = res["comparisons"][who]
        assert c["mean"] == pytest.approx(sum(g) / 3)
        ps[who] = sps.ttest_1samp(g, 0.0).pvalue
        assert c["p"] == pytest.approx(ps[who])
    lo, hi = sorted(ps.values())   # Holm over the two: 2 x the smaller, the larger kept monotone
    holm_by_hand = {w: min(1, 2 * lo) if p == lo else max(min(1, 2 * lo), hi)
                    for w, p in ps.items()}
    for who in ps:
        assert res["comparisons"][who]["p_holm"] == pytest.approx(holm_by_hand[who])
    # the candidate's own suite regret on draw 1: 1/4 (30 - 28)/20 + 3/4 (61 - 58)/11
    assert res["regret"]["candidate"]["1"] == pytest.approx(0.025 + 0.75 * 3 / 11)


def test_suite_mean_on_the_command_line_and_its_refusals(tmp_path):
    report, suite = _suite_files(tmp_path, candidate_b=(70.0, 71.0, 72.0))
    proc = subprocess.run([sys.executable, SCRIPT, report, "--candidate", "lf-x", "--suite",
                           suite], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    part = proc.stdout.split("### Suite mean (duo, 2 scenarios, weighted), auc")[1]
    # far above both rivals on the heavy scenario: beats both, Holm over two comparisons
    assert "beats DPO on the suite mean" in part and "beats ORPO on the suite mean" in part
    # a scenario of the suite without a DPO row: refused by name, one line
    data = json.loads(Path(report).read_text())
    data["summary"] = [e for e in data["summary"] if not (
        e["scenario"] == "hopper-padded-noisy-0.1" and e["loss"].startswith("dpo"))]
    Path(report).write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, SCRIPT, report, "--candidate", "lf-x", "--suite",
                           suite], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "hopper-padded-noisy-0.1: the reports have no DPO row" in proc.stderr


def test_failed_runs_rank_a_baseline_on_its_other_draws_and_count_against_the_candidate(
        tmp_path):
    """A baseline that failed on one draw stays a rival (ranked on its other draws), so a
    failure never hands the candidate a weaker "best": here IPO (NaN on draw 2, 40 and 42 on
    draws 1 and 3) is scenario a's best tuned baseline and B_s = 41, scale 41 - 10 = 31. A DPO
    run that failed on draw 2 leaves draw 2 out of the DPO comparison only (the candidate's
    gains on draws 1 and 3, by hand); a failed candidate run leaves both tests without a p,
    also on a draw where the rival failed too."""
    report, suite = _suite_files(tmp_path)
    data = json.loads(Path(report).read_text())
    data["summary"].insert(0, _draws("hopper-padded-clean", "ipo[beta=1,lr=0.001]", "baseline",
                                     {1: 40, 2: float("nan"), 3: 42}))
    for m in ("auc", "final"):
        data["summary"][0][m]["mean"] = float("nan")    # what confirm writes for such a row
    Path(report).write_text(json.dumps(data))
    sys.path.insert(0, str(REPO / "benchmarks"))
    import headline
    from lossforge.bench.suites import load_suite

    weights = load_suite(suite).weights()
    summary, _ = headline.load([report])
    assert headline.best_row([e for e in summary if e["scenario"] == "hopper-padded-clean"
                              and e["role"] == "baseline"], "auc")["loss"].startswith("ipo")
    res = headline.suite_mean(summary, weights, "lf-x", "auc")
    assert res["scales"] == {"hopper-padded-clean": 31.0, "hopper-padded-noisy-0.1": 11.0}
    dpo = next(e for e in summary if e["scenario"] == "hopper-padded-noisy-0.1"
               and e["loss"].startswith("dpo"))
    dpo["auc"]["per_draw"]["2"] = float("nan")
    res = headline.suite_mean(summary, weights, "lf-x", "auc")
    c = res["comparisons"]["DPO"]
    # b's best tuned is still DPO, now ranked on draws 1 and 3: B_b = 60.5, scale 10.5
    assert res["scales"]["hopper-padded-noisy-0.1"] == 10.5
    gains = [0.25 * (28 - 20) / 31 + 0.75 * (58 - 60) / 10.5,     # draw 1
             0.25 * (30 - 18) / 31 + 0.75 * (60 - 61) / 10.5]     # draw 3
    assert c["draws"] == ["1", "3"] and c["n"] == 2
    assert c["mean"] == pytest.approx(sum(gains) / 2)
    assert res["comparisons"]["ORPO"]["n"] == 3
    assert res["failed"] == {"DPO": ["hopper-padded-noisy-0.1 draw 2"]}
    cand = next(e for e in summary if e["scenario"] == "hopper-padded-clean"
                and e["role"] == "candidate")
    cand["auc"]["per_draw"]["2"] = float("nan")   # the draw where DPO failed too: not dropped
    res = headline.suite_mean(summary, weights, "lf-x", "auc")
    assert res["comparisons"]["DPO"]["draws"] == ["1", "2", "3"]
    for who in ("DPO", "ORPO"):
        assert res["comparisons"][who]["p"] != res["comparisons"][who]["p"]   # NaN: no test
    text = "\n".join(headline.suite_markdown(res, "duo", "lf-x"))
    assert "no test vs DPO on the suite mean" in text and "none of these tests can pass" in text


def test_an_unfinished_row_or_an_old_report_is_refused_by_every_claim(tmp_path):
    """A row the report marks unfinished (draw 3 over 2 of its 3 seeds: its draw mean is not
    DPO's over the others' seeds), and a report from before rows said whether they are
    complete: the suite mean and the per-scenario lines both refuse, naming the row."""
    report, suite = _suite_files(tmp_path)
    sys.path.insert(0, str(REPO / "benchmarks"))
    import headline
    from lossforge.bench.suites import load_suite

    summary, comparisons = headline.load([report])
    dpo = next(e for e in summary if e["scenario"] == "hopper-padded-clean"
               and e["loss"].startswith("dpo"))
    dpo["missing"] = "draw 3: seeds 2 not run"
    for claim in (lambda: headline.suite_mean(summary, load_suite(suite).weights(), "lf-x",
                                              "auc"),
                  lambda: headline.rows(summary, comparisons, "lf-x", "auc")):
        with pytest.raises(headline.ConfigError, match="hopper-padded-clean: dpo.*: draw 3: "
                                                       "seeds 2 not run; finish the confirm"):
            claim()
    del dpo["missing"]
    with pytest.raises(headline.ConfigError, match="does not record whether its rows are "
                                                   "complete.*baselines.py report"):
        headline.rows(summary, comparisons, "lf-x", "auc")


def test_a_scenario_without_the_candidate_or_on_other_draws_is_refused(tmp_path):
    """A report scenario with no row of the candidate would drop out of the bar's count (1 of
    1 instead of 1 of 2): refused. Scenarios confirmed on different draws cannot be paired on
    the suite mean: refused (it used to take the draws they share)."""
    report, suite = _suite_files(tmp_path)
    sys.path.insert(0, str(REPO / "benchmarks"))
    import headline
    from lossforge.bench.suites import load_suite

    summary, comparisons = headline.load([report])
    without = [e for e in summary if not (e["scenario"] == "hopper-padded-noisy-0.1"
                                          and e["role"] == "candidate")]
    with pytest.raises(headline.ConfigError, match="hopper-padded-noisy-0.1 .full.: no row of "
                                                   "the candidate lf-x"):
        headline.rows(without, comparisons, "lf-x", "auc")
    for e in summary:
        if e["scenario"] == "hopper-padded-noisy-0.1":
            for m in ("auc", "final"):
                e[m]["per_draw"]["4"] = e[m]["per_draw"].pop("3")
    with pytest.raises(headline.ConfigError, match="confirmed on different draws"):
        headline.suite_mean(summary, load_suite(suite).weights(), "lf-x", "auc")


def test_sources_are_named_from_benchmarks_results_whichever_checkout_wrote_the_table(tmp_path):
    """A clone's job reads the main checkout's reports by absolute path: the table names them
    from benchmarks/results/ on, as a run in the main checkout would, so it does not change
    with where it was written from; a report elsewhere keeps its path."""
    results = tmp_path / "main" / "benchmarks" / "results"
    results.mkdir(parents=True)
    a = _report(results / "a.confirm.json", "llm:a/m", (0.001, 0.004, 0.03), 88.0)
    b = _report(tmp_path / "b.confirm.json", "llm:b/m", (0.002, 0.02, 0.5), 87.0)
    proc = subprocess.run([sys.executable, SCRIPT, a, b, "--candidate", "lf-x"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    sources = next(x for x in proc.stdout.splitlines() if x.startswith("Sources: "))
    assert sources.startswith(f"Sources: `benchmarks/results/a.confirm.json`, `{b}`. ")


def test_a_declared_stricter_level_changes_the_verdicts_and_says_so(tmp_path):
    """--alpha 0.01 (a secondary candidate's declared bar): the same Holm p-values as in the
    first test (ORPO 0.016, DPO 0.006 on scenario a) no longer make 'beats ORPO'."""
    a = _report(tmp_path / "a.confirm.json", "llm:a/m", (0.001, 0.004, 0.03), 88.0)
    b = _report(tmp_path / "b.confirm.json", "llm:b/m", (0.002, 0.02, 0.5), 87.0)
    proc = subprocess.run([sys.executable, SCRIPT, a, b, "--candidate", "lf-x", "--alpha",
                           "0.01"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    auc = proc.stdout.split("### lf-x, final")[0]
    line_a = next(x for x in auc.splitlines() if x.startswith("| llm:a/m "))
    assert "level with ORPO; beats DPO" in line_a
    assert "Beats ORPO and DPO (Holm p < 0.01 over all 6 comparisons of lf-x in auc): " \
           "0 of 2 scenarios" in auc
    bad = subprocess.run([sys.executable, SCRIPT, a, "--candidate", "lf-x", "--alpha", "5"],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --alpha must be in (0, 1), got 5.0"


def test_the_untrained_reference_is_the_bars_comparator_where_it_beats_every_tuned_row(tmp_path):
    """v2-plan.md, Session 22: the candidate (87) is above the best tuned baseline (ORPO 85: +2.0
    ± 2.0, lower end at zero, which passed before) but below the untrained reference (90: -3.0
    ± 2.0), so the scenario is not best-or-tied and the bar is not met."""
    a = Path(_report(tmp_path / "a.confirm.json", "llm:a/m", (0.5, 0.5, 0.5), 87.0))
    data = json.loads(a.read_text())
    ref = next(e for e in data["summary"] if e["loss"] == "reference (SFT base)")
    ref["auc"] = ref["final"] = {"per_draw": {"1": 90, "2": 90}, "mean": 90, "ci95": 1.0}
    data["comparisons"] += _comp("llm:a/m", "lf-x[lr=1e-05]", "reference (SFT base)", -3.0, 2.0,
                                 0.01)
    a.write_text(json.dumps(data))
    auc, (line,) = _auc_table(str(a))
    assert line.split(" | ")[1] == "reference (SFT base) 90.0 ± 1.0"
    assert "below the best tuned or reference (CI)" in line and "-3.0 ± 2.0" in line
    assert "not below zero): 0 of 1; issue 19's bar (at least 75% of the scenarios): not " \
           "met" in auc
    assert "The untrained reference is that comparator on 1 of 1 scenarios." in auc


def _shortcut_gains(cand, rows):
    """The candidate's suite gain over a row per draw, by hand: weights 1/4 and 3/4, scales 20
    (scenario a: ORPO 30 over the reference's 10) and 11 (b: DPO 61 over 50)."""
    return [0.25 * (cand[d][0] - rows[d][0]) / 20 + 0.75 * (cand[d][1] - rows[d][1]) / 11
            for d in (1, 2, 3)]


def test_the_suite_mean_against_the_shortcuts_is_a_family_of_three(tmp_path):
    """v2-plan.md, Session 22: SFT, the reference and BC-on-chosen on the suite mean, Holm over
    the three (by hand), and the requirement's line: SFT and the reference judged on AUC,
    BC-on-chosen on final."""
    from scipy import stats as sps

    report, suite = _suite_files(tmp_path)
    sys.path.insert(0, str(REPO / "benchmarks"))
    import headline
    from lossforge.bench.suites import load_suite

    summary, _ = headline.load([report])
    res = headline.suite_mean(summary, load_suite(suite).weights(), "lf-x", "auc",
                              rivals=tuple(headline.SHORTCUT_RIVALS))
    cand = {1: (28, 58), 2: (33, 63), 3: (30, 60)}
    rows = {"SFT": {1: (15, 52), 2: (16, 53), 3: (14, 51)},
            "reference": {1: (10, 50), 2: (10, 50), 3: (10, 50)},
            "BC-on-chosen": {1: (12, 49), 2: (9, 51), 3: (11, 50)}}
    gains = {who: _shortcut_gains(cand, r) for who, r in rows.items()}
    assert gains["SFT"] == pytest.approx([0.571591, 0.894318, 0.813636], abs=1e-6)
    ps = {who: sps.ttest_1samp(g, 0.0).pvalue for who, g in gains.items()}
    order = sorted(ps, key=ps.get)   # Holm by hand: (3, 2, 1) x p, kept monotone
    holm, run = {}, 0.0
    for k, who in enumerate(order):
        run = max(run, min(1.0, (3 - k) * ps[who]))
        holm[who] = run
    for who, g in gains.items():
        c = res["comparisons"][who]
        assert c["mean"] == pytest.approx(sum(g) / 3) and c["p"] == pytest.approx(ps[who])
        assert c["p_holm"] == pytest.approx(holm[who])
    assert all(h < 0.05 for h in holm.values())
    proc = subprocess.run([sys.executable, SCRIPT, report, "--candidate", "lf-x", "--suite",
                           suite], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "### Suite mean against the shortcuts (duo, 2 scenarios, weighted), auc" in proc.stdout
    assert ("Beats the shortcut baselines on the suite mean (SFT on AUC, reference on AUC, "
            "BC-on-chosen on final; Holm over the three, per metric; v2-plan.md, Session 22): "
            "met.") in proc.stdout
    # SFT above the candidate on scenario b (the heavy one; SFT is then b's best tuned, scale
    # 71 - 50 = 21): gains -0.27, -0.07, -0.23, not significant over three draws, so not met,
    # and the line names SFT
    data = json.loads(Path(report).read_text())
    for e in data["summary"]:
        if e["scenario"] == "hopper-padded-noisy-0.1" and e["loss"].startswith("sft"):
            for m in ("auc", "final"):
                e[m] = {"per_draw": {"1": 70, "2": 71, "3": 72}, "mean": 71, "ci95": 1.0}
    Path(report).write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, SCRIPT, report, "--candidate", "lf-x", "--suite",
                           suite], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "Session 22): not met: SFT (auc: level with SFT)." in proc.stdout


def test_the_shortcut_requirement_reads_bc_on_chosen_on_final_and_needs_every_row(tmp_path):
    """BC-on-chosen beats the candidate on AUC (its curve-free AUC is its final, set high here)
    but not on final: the requirement reads it on final, so that alone does not fail it. A suite
    report without BC-on-chosen (or SFT) rows is refused by name: the requirement cannot be
    judged without them. --alpha reaches the suite tables' words too."""
    report, suite = _suite_files(tmp_path)
    data = json.loads(Path(report).read_text())
    for e in data["summary"]:
        if e["loss"] == "bc-on-chosen":
            e["auc"] = {**e["auc"], "per_draw": {"1": 90.0, "2": 91.0, "3": 92.0}, "mean": 91.0}
    Path(report).write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, SCRIPT, report, "--candidate", "lf-x", "--suite",
                           suite], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    shortcuts_auc = proc.stdout.split("### Suite mean against the shortcuts")[1]
    assert "below BC-on-chosen on the suite mean" in shortcuts_auc.split("###")[0]
    assert "Session 22): met." in proc.stdout
    # at a stricter level the table words and the requirement line agree
    strict = subprocess.run([sys.executable, SCRIPT, report, "--candidate", "lf-x", "--suite",
                             suite, "--alpha", "0.001"], capture_output=True, text=True,
                            cwd=REPO)
    assert strict.returncode == 0, strict.stderr
    assert "beats SFT on the suite mean" not in strict.stdout
    assert "Session 22): not met: SFT (auc: level with SFT)" in strict.stdout
    data["summary"] = [e for e in data["summary"] if e["loss"] != "bc-on-chosen"]
    Path(report).write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, SCRIPT, report, "--candidate", "lf-x", "--suite",
                           suite], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "the reports have no BC-on-chosen row" in proc.stderr


def _headline(report, suite, *extra):
    proc = subprocess.run([sys.executable, SCRIPT, report, "--candidate", "lf-x", "--suite",
                           suite, *extra], capture_output=True, text=True, cwd=REPO)
    return proc


def _set_comps(report, mean, ci):
    """Every per-scenario comparison of lf-x at this mean ± CI (p 0.5: level, by Holm)."""
    data = json.loads(Path(report).read_text())
    for c in data["comparisons"]:
        c["mean"], c["ci95"] = mean, ci
    Path(report).write_text(json.dumps(data))


def _on_declared_draws(report):
    """Every row of the report also on draws 4 and 5 (draws 1 and 2's values again): --claim
    reads confirm's declared reporting draws 1-5 and no others."""
    data = json.loads(Path(report).read_text())
    for e in data["summary"]:
        for m in ("auc", "final"):
            per = e[m]["per_draw"]
            per["4"], per["5"] = per["1"], per["2"]
        e["seeds_per_draw"].update({"4": 3, "5": 3})
    Path(report).write_text(json.dumps(data))


def test_the_claim_comes_first_on_auc_with_final_beside_it(tmp_path):
    """v2-plan.md, Session 22, item 1: one verdict, on AUC, from the bar, the suite mean against
    DPO and ORPO and the shortcuts; final shown beside each part, deciding nothing."""
    report, suite = _suite_files(tmp_path, candidate_b=(70.0, 71.0, 72.0))
    _on_declared_draws(report)
    # every per-scenario difference to the best tuned row is +1 ± 2: the CI spans 0, so no
    # scenario counts for the bar (0 of 2), whatever the suite means say
    proc = _headline(report, suite, "--claim")
    assert proc.returncode == 0, proc.stderr
    head = proc.stdout.split("### lf-x, auc")[0]
    assert head.index("## The claim") < head.index("**AUC and final**")
    assert ("- **not met**: best-or-tied with the best tuned baseline or the reference on at "
            "least 75% of the scenarios: 0 of 2 (final: 0 of 2)") in head
    assert "- met: beats DPO on the suite mean: beats DPO (final: beats DPO)" in head
    assert "- met: beats ORPO on the suite mean: beats ORPO (final: beats ORPO)" in head
    assert "- met: beats the shortcut baselines on the suite mean (SFT on AUC, reference on " \
           "AUC, BC-on-chosen on final): yes" in head
    assert "**On AUC, the claim is not met** on these reports." in head
    # +3 ± 1 everywhere: best-or-tied on both scenarios (2 of 2 >= 75 %): the whole claim holds
    _set_comps(report, 3.0, 1.0)
    head = _headline(report, suite, "--claim").stdout.split("### lf-x, auc")[0]
    assert "- met: best-or-tied with the best tuned baseline or the reference on at least 75% " \
           "of the scenarios: 2 of 2 (final: 2 of 2)" in head
    assert "**On AUC, the claim is met** on these reports." in head
    assert "**AUC and final** give the same verdicts on every scenario." in head
    # a page without --claim (another candidate, or the train suite) judges the bar, and says
    # it is not the claim (v2-plan.md: only the declared winner, on the test suite, makes it)
    bar = _headline(report, suite).stdout.split("### lf-x, auc")[0]
    assert "## Issue 19's bar" in bar and "## The claim" not in bar
    assert "(not issue 19's claim, which only the suite search's declared winner makes" in bar
    assert "**On AUC, the bar is met** on these reports (not a claim)." in bar
    assert "the claim is" not in bar
    # --claim on a train-role suite, or without a suite, is refused
    Path(suite).write_text(Path(suite).read_text().replace('role = "test"', 'role = "train"'))
    train = _headline(report, suite, "--claim")
    assert train.returncode == 2 and "is a train suite; issue 19's claim is judged on the " \
        "test suite" in train.stderr
    # without --suite the suite-mean parts are not judged, and nothing is said met or not
    alone = subprocess.run([sys.executable, SCRIPT, report, "--candidate", "lf-x"],
                           capture_output=True, text=True, cwd=REPO).stdout
    assert "- not judged: the suite-mean tests" in alone and "**Not judged** (no --suite)." \
        in alone
    assert "the claim is" not in alone and "the bar is" not in alone


def test_where_auc_and_final_disagree_the_report_says_so(tmp_path):
    """A scenario whose final difference to the best tuned row is below zero while its AUC one
    is best-or-tied: named, with both verdicts."""
    report, suite = _suite_files(tmp_path, candidate_b=(70.0, 71.0, 72.0))
    _on_declared_draws(report)
    _set_comps(report, 3.0, 1.0)
    data = json.loads(Path(report).read_text())
    for c in data["comparisons"]:
        if c["scenario"] == "hopper-padded-clean" and c["metric"] == "final":
            c["mean"], c["ci95"] = -4.0, 1.0
    Path(report).write_text(json.dumps(data))
    head = _headline(report, suite, "--claim").stdout.split("### lf-x, auc")[0]
    assert ("**AUC and final** disagree on hopper-padded-clean (AUC best-or-tied with the best "
            "tuned or reference, final below the best tuned or reference (CI)).") in head
    # the claim is judged on AUC alone: still met, with final's 1 of 2 beside it
    assert "2 of 2 (final: 1 of 2)" in head and "**On AUC, the claim is met**" in head


def test_the_test_suite_carries_the_departure_label_and_the_dependence_note(tmp_path):
    """v2-plan.md, Session 22: reports on the test suite's rows carry the departure label
    (the test rates of the shortcut and the candidates); item 9: scenarios of one environment
    are not independent, said with the bar's count per environment."""
    report, suite = _suite_files(tmp_path, candidate_b=(70.0, 71.0, 72.0))
    _set_comps(report, 3.0, 1.0)
    out = _headline(report, suite).stdout
    assert "**A departure from the plan**" in out and "their test rates" in out
    assert ("**Scenarios are not independent** (v2-plan.md, Session 22, item 9): 2 of the 2 "
            "are Hopper-v5 (best-or-tied on AUC: 2)") in out
    Path(suite).write_text(Path(suite).read_text().replace('role = "test"', 'role = "train"'))
    out = _headline(report, suite).stdout.replace(str(tmp_path), "")   # the page names files
    assert "departure" not in out and "**Scenarios are not independent**" in out


@pytest.mark.parametrize("change,said", [
    # a stale pick left in the rows file: a second DPO row would become the comparator
    ("stale", "hopper-padded-clean (full): two rows of dpo (dpo[beta=2,lr=0.001] and "
              "dpo[beta=0.5,lr=0.001])"),
    # a scenario the suite does not list would count in the bar and in Holm's family
    ("extra", "hopper-padded-noisy-0.4: a scenario of the reports that"),
])
def test_a_stale_second_pick_or_a_scenario_outside_the_suite_is_refused(tmp_path, change, said):
    report, suite = _suite_files(tmp_path)
    data = json.loads(Path(report).read_text())
    first = data["summary"][1]     # scenario a's DPO row
    assert first["loss"] == "dpo[beta=2,lr=0.001]"
    if change == "stale":
        data["summary"].append({**first, "loss": "dpo[beta=0.5,lr=0.001]"})
    else:
        data["summary"] += [{**e, "scenario": "hopper-padded-noisy-0.4"}
                            for e in data["summary"] if e["scenario"] == first["scenario"]]
    Path(report).write_text(json.dumps(data))
    proc = _headline(report, suite)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert said in proc.stderr


def test_the_page_records_the_command_that_made_it(tmp_path):
    """A result page says how to make it again (a review found 45 pages that did not)."""
    a = _report(tmp_path / "a.confirm.json", "llm:a/m", (0.001, 0.004, 0.03), 88.0)
    out = tmp_path / "page.md"
    proc = subprocess.run([sys.executable, SCRIPT, a, "--candidate", "lf-x", "--alpha", "0.01",
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    last = out.read_text().rstrip("\n").splitlines()[-1]
    assert last == (f"Made by: `python benchmarks/headline.py {a} --candidate lf-x --alpha 0.01 "
                    f"--out {out}`")
