"""``benchmarks/baselines.py`` sweep / tuned / confirm / report, and both metrics in the tables:
picking against constructed rows, confirmation for real on the quick scenario (2 draws x 1
seed), the paired statistics against a hand computation, old rows still tabulating."""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from lossforge.errors import ConfigError
from lossforge.io import sha256_file

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "baselines.py")


def _benchmark(name: str):
    """benchmarks/<name>.py (cells, tuning, confirmation), imported as the scripts there import
    each other."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module(name)


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], check=check, capture_output=True,
                          text=True, cwd=REPO)


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_sweep_file_is_a_declared_grid(tmp_path):
    load_sweep = _benchmark("tuning").load_sweep
    f = tmp_path / "s.toml"
    f.write_text('lr = [1e-4, 1e-3]\n[baselines.dpo]\nbeta = [0.1, 2]\n'
                 '[baselines.orpo]\nlam = [0.5]\nlr = [3e-4]\n')
    assert load_sweep(f) == {
        "dpo": ["dpo:beta=0.1:lr=0.0001", "dpo:beta=0.1:lr=0.001",
                "dpo:beta=2.0:lr=0.0001", "dpo:beta=2.0:lr=0.001"],
        "orpo": ["orpo:lam=0.5:lr=0.0003"]}
    for text, field in (('[baselines.dpo]\nbeta = []\n', "baselines.dpo.beta"),
                        ('[baselines.dpo]\nbeta = ["a"]\n', "baselines.dpo.beta"),
                        ('lr = [1, 1]\n[baselines.dpo]\nbeta = [1]\n', "lr"),
                        ('betas = 1\n', "betas")):
        f.write_text(text)
        with pytest.raises(ConfigError, match=f"field '{field}'"):
            load_sweep(f)
    # the declared v2 sweep parses: every baseline the issue names, each with learning rates
    v2 = load_sweep(REPO / "benchmarks" / "sweeps" / "v2.toml")
    assert set(v2) == {"dpo", "ipo", "hinge", "simpo", "robust", "cdpo", "rpo", "orpo"}
    assert all(":lr=" in item for items in v2.values() for item in items)


def test_lr_is_a_per_loss_override():
    from lossforge.bench import fitness
    from lossforge.bench.scenarios import load_scenario

    scen = load_scenario("quick")
    (c,) = _benchmark("cells").configs_from_losses("dpo:beta=2:lr=0.001", scen)
    assert c.name == "dpo[beta=2,lr=0.001]" and c.lr == 0.001 and c.objective.spec.beta == 2
    (d,) = _benchmark("cells").configs_from_losses("dpo", scen)
    assert d.lr is None and d.objective.spec.beta == scen.beta
    with pytest.raises(ConfigError, match="lr must lie in"):
        _benchmark("cells").configs_from_losses("dpo:lr=2", scen)
    default = fitness.evaluate([d.objective], scen, "quick")[0].per_seed
    assert fitness.evaluate([d.objective], scen, "quick", lr=scen.quick.lr)[0].per_seed == default
    assert fitness.evaluate([d.objective], scen, "quick", lr=1e-2)[0].per_seed != default


def _sweep_rows(sweep_file: Path, table: dict[str, list[tuple[float, float] | None]]) -> list:
    """Rows as ``sweep`` writes them: label -> per tuning seed (auc, final), None = failed."""
    tag = {"file": str(sweep_file), "sha256": sha256_file(sweep_file)}
    rows = []
    for label, per_seed in table.items():
        for seed, v in zip((100, 101), per_seed):
            rows.append({"scenario": "quick", "draw": "t", "seed": seed, "budget": "quick",
                         "loss": label, "status": "ok" if v else "nonfinite at step 3",
                         "score": v[0] if v else None, "auc": v[0] if v else None,
                         "final": v[1] if v else None, "auc_over": "checkpoints",
                         "role": "sweep", "sweep": tag, "baseline": label.split("[")[0],
                         "command": "test"})
    return rows


def test_tuned_picks_the_highest_auc_and_refuses_an_unfinished_or_changed_sweep(tmp_path):
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text('lr = [0.0003]\n[baselines.dpo]\nbeta = [0.1, 2]\n'
                          '[baselines.orpo]\nlam = [0.1, 1]\n')
    rows = _sweep_rows(sweep_file, {
        "dpo[beta=0.1,lr=0.0003]": [(5, 40), (7, 40)],     # best final, not best AUC
        "dpo[beta=2,lr=0.0003]": [(8, 1), (9, 1)],         # AUC 8.5: the pick
        "orpo[lam=0.1,lr=0.0003]": [(50, 50), None],       # failed on one seed: never wins
        "orpo[lam=1,lr=0.0003]": [(3, 3), (4, 4)]})
    jsonl = tmp_path / "sweep.jsonl"
    _write(jsonl, rows)
    _cli("tuned", str(jsonl))
    frozen = json.loads((tmp_path / "sweep.tuned.json").read_text())
    dpo, orpo = frozen["scenarios"]["quick"]["dpo"], frozen["scenarios"]["quick"]["orpo"]
    assert dpo["loss"] == "dpo[beta=2,lr=0.0003]" and dpo["item"] == "dpo:beta=2.0:lr=0.0003"
    assert dpo["config"] == {"beta": 2.0, "lr": 0.0003} and dpo["auc"] == 8.5
    assert dpo["final"] == 1.0 and len(dpo["tried"]) == 2
    assert orpo["loss"] == "orpo[lam=1,lr=0.0003]"
    assert frozen["seeds"] == [100, 101] and frozen["budget"] == "quick"
    assert frozen["sweep_sha256"] == sha256_file(sweep_file) and frozen["metric"] == "auc"
    # one run missing: not finished
    _write(jsonl, rows[:-1])
    proc = _cli("tuned", str(jsonl), check=False)
    assert proc.returncode == 2 and "not finished: 1 runs missing" in proc.stderr
    # the sweep file edited after the sweep ran
    _write(jsonl, rows)
    sweep_file.write_text(sweep_file.read_text() + "\n")
    proc = _cli("tuned", str(jsonl), check=False)
    assert proc.returncode == 2 and "changed since the sweep ran" in proc.stderr


def test_confirm_on_quick_resumes_and_reports_paired_differences(tmp_path):
    from lossforge import objectives

    spec = objectives.get_spec("orpo", lam=0.5).to_json() | {"name": "cand"}
    (tmp_path / "cand.json").write_text(json.dumps({"spec": spec}))
    frozen = {"budget": "quick", "seeds": [100], "draw": "t", "scenarios": {"quick": {
        "dpo": {"item": "dpo:beta=2.0:lr=0.001", "loss": "dpo[beta=2,lr=0.001]",
                "config": {"beta": 2.0, "lr": 0.001}}}}}
    (tmp_path / "tuned.json").write_text(json.dumps(frozen))
    out = tmp_path / "confirm.jsonl"
    args = ["confirm", "--tuned", str(tmp_path / "tuned.json"), "--spec",
            str(tmp_path / "cand.json"), "--draws", "1-2", "--seeds", "0", "--no-fixed",
            "--workers", "1", "--out", str(out)]
    first = _cli(*args)
    assert "rows in the file 0, to run 4" in first.stdout
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted((r["draw"], r["loss"]) for r in rows) == [
        (1, "cand"), (1, "dpo[beta=2,lr=0.001]"), (2, "cand"), (2, "dpo[beta=2,lr=0.001]")]
    base = [r for r in rows if r["role"] == "baseline"]
    assert all(r["lr"] == 0.001 and r["baseline"] == "dpo" for r in base)
    assert all(r["seconds"] > 0 and r["batch_rows"] == 1 for r in rows)
    assert {(r["draw"], r["dataset_seed"]) for r in rows} == {(1, 1000), (2, 2000)}
    # run again: nothing trained, nothing appended
    before = out.read_text()
    assert "rows in the file 4, to run 0" in _cli(*args).stdout
    assert out.read_text() == before
    # the report's paired difference, by hand from the rows (two draws: t has 1 degree of
    # freedom, a Cauchy distribution: p = 1 - 2 atan(|t|) / pi)
    report = json.loads((tmp_path / "confirm.confirm.json").read_text())
    by = {(r["draw"], r["role"]): r for r in rows}
    for metric in ("auc", "final"):
        diffs = [by[(d, "candidate")][metric] - by[(d, "baseline")][metric] for d in (1, 2)]
        (comp,) = [c for c in report["comparisons"] if c["metric"] == metric]
        assert comp["candidate"] == "cand" and comp["baseline"] == "dpo[beta=2,lr=0.001]"
        assert comp["per_draw_diff"] == pytest.approx(diffs, abs=1e-12)
        mean = sum(diffs) / 2
        se = abs(diffs[0] - diffs[1]) / 2          # sd / sqrt 2 for two values
        assert comp["mean"] == pytest.approx(mean)
        assert comp["p"] == pytest.approx(1 - 2 * math.atan(abs(mean / se)) / math.pi)
        assert comp["p_holm"] == comp["p"] and comp["family_size"] == 1   # one comparison
    md = (tmp_path / "confirm.confirm.md").read_text()
    assert "| cand | candidate | auc |" in md and "| cand | candidate | final |" in md


def test_confirm_refuses_draw_zero_the_tuning_draw_and_tuning_seeds(tmp_path):
    import argparse

    frozen = {"budget": "quick", "seeds": [100], "scenarios": {"quick": {}}}
    (tmp_path / "tuned.json").write_text(json.dumps(frozen))
    out = tmp_path / "c.jsonl"
    defaults = dict(tuned=[str(tmp_path / "tuned.json")], spec=[], from_run=[], scenarios=None,
                    draws="1-5", seeds="0-2", budget=None, no_fixed=True, workers=1,
                    out=str(out))
    for extra, said in (({"draws": "0-2"}, "draw 0 is the data"),
                        ({"draws": "t"}, "draw 0 is the data"),
                        ({"seeds": "100"}, "overlaps the tuning seeds"),
                        ({"budget": "full"}, "was tuned at budget quick"),
                        ({"scenarios": "hopper-clean"}, "no tuned configs for hopper-clean")):
        with pytest.raises(ConfigError, match=said):
            _benchmark("confirmation").confirm(argparse.Namespace(**(defaults | extra)))
        assert not out.exists()
    # on the command line: one line, no traceback, nothing written
    proc = _cli("sweep", str(REPO / "benchmarks" / "sweeps" / "v2.toml"), "--scenarios",
                "quick", "--seeds", "0-2", "--out", str(out), check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --seeds 0-2: seeds [0, 1, 2] "
                                                           "are reporting seeds")
    assert "Traceback" not in proc.stderr and not out.exists()


def test_old_rows_still_tabulate_with_n_a_where_a_metric_is_missing(tmp_path):
    common = {"scenario": "hopper-clean", "budget": "full", "status": "ok", "command": "old"}
    old = [  # as wave 1 wrote them: no draw, no auc_over; BC-on-chosen's auc was its final
        {**common, "seed": 0, "loss": "bc-on-chosen", "score": 30.0, "final": 30.0, "auc": 30.0},
        {**common, "seed": 0, "loss": "reference (BC)", "score": 26.0, "final": 26.0,
         "auc": 26.0},
        {**common, "seed": 0, "loss": "dpo", "score": 20.0},          # score only
        {**common, "seed": 1, "loss": "dpo", "score": 22.0}]
    new = {**common, "seed": 1, "loss": "bc-on-chosen", "draw": 0, "score": 31.0,
           "final": 31.0, "auc": 25.0, "auc_over": "checkpoints"}
    path = tmp_path / "old.jsonl"
    _write(path, old + [new])
    md = _cli("table", str(path)).stdout
    assert "| full | hopper-clean | bc-on-chosen | 2 | n/a | n/a | 30.5 |" in md
    assert "| full | hopper-clean | reference (BC) | 1 | 26.0 | n/a | 26.0 | n/a |" in md
    assert "| full | hopper-clean | dpo | 2 | 21.0 | ±12.7 | n/a | n/a |" in md
    field = _cli("field", str(path), "--seeds-wanted", "2").stdout
    auc_part, final_part = field.split("### final")
    assert "| bc-on-chosen | n/a |" in auc_part and "| dpo | 21.0 ± 12.7 |" in auc_part
    assert "| bc-on-chosen | **30.5 ± 6.4** |" in final_part and "| dpo | n/a |" in final_part
    # the key: an old row is draw 0, so a draw-1 row of the same loss and seed is another row
    cells = _benchmark("cells")
    assert cells.missing({("s", 0, 0, "full", "dpo")}, "s", 0, "full", ["dpo"], draw=1) == ["dpo"]
    assert cells.missing({("s", 0, 0, "full", "dpo")}, "s", 0, "full", ["dpo"]) == []


def test_compare_can_judge_on_final_or_auc(tmp_path):
    """compare --metric final ranks on the final column: a candidate whose AUC loses to the
    baseline and whose final beats it gets the paired difference of the finals."""
    rows = []
    for seed in range(3):
        common = {"scenario": "s", "seed": seed, "budget": "full", "status": "ok",
                  "command": "t", "auc_over": "checkpoints"}
        rows += [{**common, "loss": "cand", "score": 1.0 + seed, "auc": 1.0 + seed,
                  "final": 10.0 + seed},
                 {**common, "loss": "dpo", "score": 5.0 + seed, "auc": 5.0 + seed,
                  "final": 4.0 + 2 * seed}]
    _write(tmp_path / "c.jsonl", rows)
    for metric, paired in (("auc", "-4.0 ± 0.0"), ("final", "+5.0 ± 2.5"),
                           ("score", "-4.0 ± 0.0")):
        _cli("compare", str(tmp_path / "c.jsonl"), "--baselines", str(tmp_path / "c.jsonl"),
             "--metric", metric)
        (row,) = json.loads((tmp_path / "c.compare.json").read_text())
        # final diffs 6, 5, 4: mean 5, sd 1, t(2) 4.303 / sqrt 3 = 2.48
        assert row["loss"] == "cand" and row["paired_vs_dpo"] == paired, metric


def test_every_row_is_compared_with_the_best_tuned_baseline_per_metric(tmp_path):
    """The report's "versus_best": the tuned baseline with the highest mean over the reporting
    draws (per metric), and every other row's paired difference to it, by hand. Baseline B
    leads on AUC (12 > 10) and A on final (9 > 8); the candidate has seed 1 on draw 1 only,
    which B lacks, so that seed is left out of the pairing there."""
    confirmation = _benchmark("confirmation")
    rows = []
    auc = {"A": (9, 10, 11), "B": (12, 11, 13), "cand": (13, 15, 14)}
    final = {"A": (9, 9, 9), "B": (8, 8, 8), "cand": (10, 7, 8)}
    role = {"A": "baseline", "B": "baseline", "cand": "candidate"}
    for name in auc:
        for i, d in enumerate((1, 2, 3)):
            rows.append({"scenario": "s", "draw": d, "seed": 0, "budget": "full", "loss": name,
                         "status": "ok", "score": auc[name][i], "auc": auc[name][i],
                         "final": final[name][i], "role": role[name]})
    rows.append({"scenario": "s", "draw": 1, "seed": 1, "budget": "full", "loss": "cand",
                 "status": "ok", "score": 100.0, "auc": 100.0, "final": 100.0,
                 "role": "candidate"})
    _write(tmp_path / "c.jsonl", rows)
    result = confirmation.report(tmp_path / "c.jsonl")
    vs = {(c["metric"], c["loss"]): c for c in result["versus_best"]}
    assert {c["best"] for c in result["versus_best"] if c["metric"] == "auc"} == {"B"}
    assert {c["best"] for c in result["versus_best"] if c["metric"] == "final"} == {"A"}
    assert set(vs) == {("auc", "A"), ("auc", "cand"), ("final", "B"), ("final", "cand")}
    assert vs["auc", "cand"]["per_draw_diff"] == [1, 4, 1]          # seed 1 of draw 1 left out
    assert vs["auc", "A"]["per_draw_diff"] == [-3, -1, -2]
    assert vs["final", "cand"]["per_draw_diff"] == [1, -2, -1]
    assert vs["final", "B"]["mean"] == pytest.approx(-1.0)
    # mean 2, sd sqrt(3), n 3: t = 2 / (sqrt(3) / sqrt(3)) = 2 on 2 degrees of freedom,
    # two-sided p = 1 - t / sqrt(t^2 + 2) = 1 - 2 / sqrt(6)
    assert vs["auc", "cand"]["mean"] == pytest.approx(2.0)
    assert vs["auc", "cand"]["p"] == pytest.approx(1 - 2 / math.sqrt(6), rel=1e-9)
    md = (tmp_path / "c.confirm.md").read_text()
    assert "Every row against the best tuned baseline" in md and "AUC B; final A" in md


def test_a_baseline_that_failed_on_one_draw_stays_the_best_and_that_draw_is_left_out(tmp_path):
    """B (AUC 12, failed, 13 on draws 1-3) still leads A (9, 10, 11): ranked on its finite
    draws, 12.5 > 10 (before, its NaN mean dropped it, or, listed first, made it a NaN "best"
    that left every comparison without a test). A baseline's comparison with B pairs draws 1
    and 3 only and names draw 2; so does one where A itself failed. The candidate failed on
    draw 2, where B failed too: its failure is not left out, so it has no p against B (nor
    against A)."""
    confirmation = _benchmark("confirmation")
    rows = []
    auc = {"B": (12, None, 13), "A": (9, 10, 11), "C": (8, None, 9), "cand": (13, None, 16)}
    role = {"A": "baseline", "B": "baseline", "C": "baseline", "cand": "candidate"}
    for name in auc:   # B first: a NaN-mean row listed first must not become the best
        for i, d in enumerate((1, 2, 3)):
            v = auc[name][i]
            rows.append({"scenario": "s", "draw": d, "seed": 0, "budget": "full", "loss": name,
                         "status": "ok" if v is not None else "nonfinite", "score": v,
                         "auc": v, "final": v, "role": role[name]})
    _write(tmp_path / "c.jsonl", rows)
    result = confirmation.report(tmp_path / "c.jsonl")
    vs = {c["loss"]: c for c in result["versus_best"] if c["metric"] == "auc"}
    assert {c["best"] for c in vs.values()} == {"B"}
    assert vs["A"]["draws"] == ["1", "3"] and vs["A"]["per_draw_diff"] == [-3, -2]
    assert vs["A"]["failed_draws"] == ["2"] and vs["A"]["p"] == vs["A"]["p"]
    assert vs["C"]["draws"] == ["1", "3"] and vs["C"]["per_draw_diff"] == [-4, -4]
    assert vs["cand"]["draws"] == ["1", "2", "3"] and vs["cand"]["p"] != vs["cand"]["p"]
    for base in ("A", "B"):
        comp = next(c for c in result["comparisons"]
                    if c["baseline"] == base and c["metric"] == "auc")
        assert comp["p"] != comp["p"]                    # the candidate's NaN stays: no test
    md = (tmp_path / "c.confirm.md").read_text()
    assert "A vs B draw 2" in md and "cand vs B draw 2" not in md


def test_the_report_says_what_each_row_lacks_and_holm_keeps_one_family_across_rates(tmp_path):
    """Each summary row records what it lacks of its scenario's grid: the draws and seeds any
    row there has, and at least MuJoCo's 5 draws x 3 seeds ("" when nothing; the claim tables
    refuse the rest). The candidate tuned to a different learning rate in each scenario is one
    Holm family across both scenarios (it used to be one family per rate: m 1 instead of 2)."""
    confirmation = _benchmark("confirmation")
    rows = []
    for scen, lr, diff in (("s1", "1e-05", (2, 3, 4, 3, 2)), ("s2", "3e-05", (1, 1, 2, 1, 3))):
        for d in range(1, 6):
            for seed in range(3):
                for name, role, v in (("dpo[beta=2]", "baseline", 10.0),
                                      (f"lf-x[lr={lr}]", "candidate", 10.0 + diff[d - 1])):
                    if (scen, name, d, seed) == ("s2", "dpo[beta=2]", 4, 2):
                        continue                                  # a run a killed job never made
                    rows.append({"scenario": scen, "draw": d, "seed": seed, "budget": "full",
                                 "loss": name, "status": "ok", "score": v, "auc": v,
                                 "final": v, "role": role})
    _write(tmp_path / "c.jsonl", rows)
    result = confirmation.report(tmp_path / "c.jsonl")
    missing = {(e["scenario"], e["loss"]): e["missing"] for e in result["summary"]}
    assert missing == {("s1", "dpo[beta=2]"): "", ("s1", "lf-x[lr=1e-05]"): "",
                       ("s2", "dpo[beta=2]"): "draw 4: seeds 2 not run",
                       ("s2", "lf-x[lr=3e-05]"): ""}
    assert "**Unfinished: not a claim**" in (tmp_path / "c.confirm.md").read_text()
    auc = {c["scenario"]: c for c in result["comparisons"] if c["metric"] == "auc"}
    assert auc["s1"]["family_size"] == auc["s2"]["family_size"] == 2
    # Holm over the two: the smaller p times 2, the larger kept (and at least the first)
    small, large = sorted((auc["s1"]["p"], auc["s2"]["p"]))
    assert sorted((auc["s1"]["p_holm"], auc["s2"]["p_holm"])) == pytest.approx(
        sorted((2 * small, max(2 * small, large))))
    # a scenario short of the grid marks every row: 4 draws of the 5 a confirmation needs
    _write(tmp_path / "c.jsonl", [r for r in rows if r["draw"] != 5])
    result = confirmation.report(tmp_path / "c.jsonl")
    assert all(e["missing"].startswith("the scenario has 4 draws x 3 seeds of the 5 x 3")
               for e in result["summary"])


def test_a_draw_whose_rows_trained_on_different_data_is_flagged(tmp_path):
    """v2-plan.md, Session 22: rows record their dataset's and reference's digests; where the
    rows of one draw disagree (draw 2's candidate row saw another reference), the report names
    that draw for every row of the scenario, its markdown says so, and headline.py warns. Rows
    without digests (written before they were recorded) flag nothing."""
    confirmation = _benchmark("confirmation")
    headline = _benchmark("headline")
    rows = []
    for name, role in (("dpo", "baseline"), ("cand", "candidate")):
        for d in (1, 2, 3):
            ref = "r2-other" if (name, d) == ("cand", 2) else f"r{d}"
            rows.append({"scenario": "s", "draw": d, "seed": 0, "budget": "full", "loss": name,
                         "status": "ok", "score": 10.0 + d, "auc": 10.0 + d, "final": 10.0 + d,
                         "role": role, "dataset_sha256": f"d{d}", "reference_sha256": ref})
    rows.append({"scenario": "s", "draw": 3, "seed": 1, "budget": "full", "loss": "dpo",
                 "status": "ok", "score": 1.0, "auc": 1.0, "final": 1.0, "role": "baseline"})
    _write(tmp_path / "c.jsonl", rows)
    result = confirmation.report(tmp_path / "c.jsonl")
    assert [e["data_split_draws"] for e in result["summary"]] == [["2"], ["2"]]
    assert "**Not clean pairs on draw(s) 2:**" in (tmp_path / "c.confirm.md").read_text()
    assert headline.split_note(result["summary"])[0].startswith(
        "**Not clean pairs:** rows of one draw trained on different datasets or references")
    assert "s draw 2." in headline.split_note(result["summary"])[0]
    for r in rows:
        r.pop("dataset_sha256", None), r.pop("reference_sha256", None)
    _write(tmp_path / "c.jsonl", rows)
    result = confirmation.report(tmp_path / "c.jsonl")
    assert {tuple(e["data_split_draws"]) for e in result["summary"]} == {()}
    assert headline.split_note(result["summary"]) == []
    # seed 1 of draw 3 ran on another build for every loss (a later session on another
    # machine): each seed's pair is clean, so draw 3 is not split, only said to pool two builds
    rows = [dict(r, dataset_sha256=f"d{r['draw']}", reference_sha256=f"r{r['draw']}")
            for r in rows]
    rows.append({**rows[-1], "loss": "cand", "role": "candidate"})
    for r in rows:
        if (r["draw"], r["seed"]) == (3, 1):
            r["dataset_sha256"] = "d3-rebuilt"
    _write(tmp_path / "c.jsonl", rows)
    result = confirmation.report(tmp_path / "c.jsonl")
    assert {(tuple(e["data_split_draws"]), tuple(e["rebuilt_draws"]))
            for e in result["summary"]} == {((), ("3",))}
    md = (tmp_path / "c.confirm.md").read_text()
    assert "**Draw(s) 3 pool two builds:**" in md and "Not clean pairs" not in md
    assert headline.split_note(result["summary"]) == [
        "**Draws that pool two builds** (seeds run on another machine; each seed's rows share "
        "one build, so every pair is clean): s draw 3.", ""]
    # ... and split when one loss's seed-1 row of draw 3 is on the other build alone
    rows[-1]["dataset_sha256"] = "d3"
    _write(tmp_path / "c.jsonl", rows)
    result = confirmation.report(tmp_path / "c.jsonl")
    assert {tuple(e["data_split_draws"]) for e in result["summary"]} == {("3",)}
    # and each row's machines (ablate.py's table compares an arm's with the loss's)
    for r in rows:
        r["machine"] = "m2" if (r["loss"], r["draw"]) == ("cand", 3) else "m1"
    _write(tmp_path / "c.jsonl", rows)
    result = confirmation.report(tmp_path / "c.jsonl")
    assert {e["loss"]: e["machines"] for e in result["summary"]} == {"dpo": ["m1"],
                                                                      "cand": ["m1", "m2"]}


def test_a_report_on_test_suite_rows_carries_the_departure_label(tmp_path):
    """v2-plan.md, Session 22: "Reports that use the test suite's rows carry this label": the
    confirmation report of a test-suite scenario opens with it and names the scenario; a
    report on other scenarios does not."""
    confirmation = _benchmark("confirmation")
    headline = _benchmark("headline")
    test_scenario = "halfcheetah-clean"            # in benchmarks/suites/test.toml
    assert f'name = "{test_scenario}"' in (REPO / "benchmarks/suites/test.toml").read_text()

    def rows(scenario):
        return [{"scenario": scenario, "draw": d, "seed": 0, "budget": "full", "loss": name,
                 "status": "ok", "score": s + d, "auc": s + d, "final": s + d, "role": role}
                for name, role, s in (("dpo", "baseline", 1.0), ("cand", "candidate", 2.0))
                for d in (1, 2)]

    _write(tmp_path / "t.jsonl", rows(test_scenario) + rows("s"))
    confirmation.report(tmp_path / "t.jsonl")
    md = (tmp_path / "t.confirm.md").read_text()
    assert md.index(headline.DEPARTURE) < md.index(f"## {test_scenario}")
    assert f"Test-suite scenarios in this report: {test_scenario}." in md
    _write(tmp_path / "o.jsonl", rows("s"))
    confirmation.report(tmp_path / "o.jsonl")
    assert "departure" not in (tmp_path / "o.confirm.md").read_text().replace(str(tmp_path), "")
