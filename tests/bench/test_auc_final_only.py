"""On the LLM bed the "AUC" is the final score: the bed scores once, at the end of training
(``lossforge/llm/fitness.py``: ``final`` and ``auc`` are the same accuracy, the curve empty).
New rows say so (``"auc_over": "final-only"``), and the confirmation report and the headline
page detect such rows, also the committed ones that still say "checkpoints" (auc == final and
no curve), and show one table under a plain note instead of an AUC table that repeats the
final one. Rows with a real curve (MuJoCo) keep both metrics."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTE = "AUC: not measured on this bed; the score is final accuracy"
OLD_HEADER = "AUC: mean score over the training checkpoints"


def _benchmark(name: str):
    sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module(name)


# ---- rows: what run_cells records ------------------------------------------------------------

def test_auc_over_names_what_the_auc_is_per_bed_and_row():
    cells = _benchmark("cells")
    assert cells.auc_over("llm:sort/clean", "dpo[beta=0.1,lr=1e-05]") == "final-only"
    assert cells.auc_over("llm:sort/clean", "reference (SFT base)") == "untrained"
    assert cells.auc_over("hopper-clean", "dpo") == "checkpoints"
    assert cells.auc_over("hopper-clean", "reference (BC)") == "untrained"
    assert cells.auc_over("hopper-clean", "bc-on-chosen") == "checkpoints"


class _Bed:
    """A stand-in test bed: no training; the numbers of lossforge.llm.fitness's shape (final
    and auc one accuracy, no curve)."""

    def __init__(self):
        from lossforge.bench.result import Fitness

        self.Fitness = Fitness

    def warm_up(self, *a, **k):
        return None

    def evaluate(self, objectives, *a, **k):
        return [self.Fitness(o.name, "ok", 81.0, float("nan"), (81.0,), 81.0, 81.0, 0.1)
                for o in objectives]

    def fixed_policies(self, scenario, budget, seed, *, names=(), **k):
        return {n: self.Fitness(n, "ok", 70.0, float("nan"), (70.0,), 70.0, 70.0, 0.1)
                for n in names}


@pytest.mark.parametrize("scenario,fixed,loss_says", [
    ("llm:sort/clean", "reference (SFT base)", "final-only"),
    ("hopper-clean", "reference (BC)", "checkpoints")])
def test_run_cells_records_final_only_on_the_llm_bed(tmp_path, monkeypatch, scenario, fixed,
                                                     loss_says):
    cells = _benchmark("cells")
    monkeypatch.setattr(cells, "fitness_of", lambda name: _Bed())
    monkeypatch.setattr(cells, "fixed_of", lambda name: (fixed,))
    scen = SimpleNamespace(dataset_seed=0, budget=lambda rung: SimpleNamespace(lr=None))
    cfg = cells.Config(SimpleNamespace(name="dpo[lr=1e-05]"), 1e-5, {"role": "baseline"})
    out = tmp_path / "rows.jsonl"
    cells.run_cells(out, {scenario: scen}, {scenario: [cfg]}, draws=(1,), seeds=[0],
                    budget="quick", workers=1, fixed=True, command="test", quiet=True)
    rows = {r["loss"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["dpo[lr=1e-05]"]["auc_over"] == loss_says
    assert rows[fixed]["auc_over"] == "untrained"
    assert all(r["curve"] == [] and r["auc"] == r["final"] for r in rows.values())


def test_auc_is_final_reads_the_new_value_and_the_committed_rows():
    cells = _benchmark("cells")
    ref = {"status": "ok", "auc": 70.0, "final": 70.0, "auc_over": "untrained", "curve": []}
    old = {"status": "ok", "auc": 81.0, "final": 81.0, "auc_over": "checkpoints", "curve": []}
    new = {**old, "auc_over": "final-only"}
    curve = {"status": "ok", "auc": 50.0, "final": 50.0, "auc_over": "checkpoints",
             "curve": [[100, 40.0], [200, 60.0]]}      # a real curve whose mean is its end
    failed = {"status": "nonfinite", "auc": float("nan"), "final": float("nan")}
    assert cells.auc_is_final([ref, old]) and cells.auc_is_final([ref, new, failed])
    # a row without a "curve" field predates curves: its auc == final proves nothing
    assert not cells.auc_is_final([{k: v for k, v in old.items() if k != "curve"}])
    assert not cells.auc_is_final([ref, old, curve])
    assert not cells.auc_is_final([ref, {**old, "auc": 79.0}])   # an AUC that is not the final
    assert not cells.auc_is_final([{"status": "ok", "score": 20.0}])   # wave-1 row: score only
    assert not cells.auc_is_final([failed]) and not cells.auc_is_final([])


# ---- the confirmation report -------------------------------------------------------------------

LLM_SCORES = {"reference (SFT base)": (60, "fixed"), "dpo[lr=1e-05]": (80, "baseline"),
              "orpo[lr=1e-05]": (85, "baseline"), "sft[lr=1e-05]": (90, "baseline"),
              "lf-x[lr=1e-05]": (88, "candidate")}


def _llm_rows(scenario="llm:sort/clean", auc_over="checkpoints"):
    """A finished LLM confirmation (8 draws x seed 0) as the committed rows are written: auc ==
    final, no curve, and "checkpoints" (``auc_over``) on the trained rows."""
    rows = []
    for draw in range(1, 9):
        for loss, (mean, role) in LLM_SCORES.items():
            x = mean + (draw % 3) - 1 + (0.5 if role == "candidate" and draw % 2 else 0)
            rows.append({"scenario": scenario, "draw": draw, "seed": 0, "budget": "full",
                         "loss": loss, "role": role, "status": "ok", "score": x, "final": x,
                         "auc": x, "curve": [], "seconds": 1.0, "command": "t",
                         "auc_over": "untrained" if role == "fixed" else auc_over})
    return rows


def _mujoco_rows():
    """A MuJoCo confirmation (5 draws x 3 seeds) with curves: its AUC is not its final."""
    rows = []
    for draw in range(1, 6):
        for seed in range(3):
            for loss, mean, role in (("reference (BC)", 30, "fixed"), ("dpo", 50, "baseline"),
                                     ("lf-x", 55, "candidate")):
                end = mean + draw + seed
                curve = [] if role == "fixed" else [[100, end - 10.0], [200, end]]
                rows.append({"scenario": "hopper-clean", "draw": draw, "seed": seed,
                             "budget": "full", "loss": loss, "role": role, "status": "ok",
                             "score": end - 5.0 * bool(curve), "final": float(end),
                             "auc": end - 5.0 * bool(curve), "curve": curve, "seconds": 1.0,
                             "command": "t",
                             "auc_over": "untrained" if role == "fixed" else "checkpoints"})
    return rows


def _report(tmp_path, rows) -> str:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return _benchmark("confirmation").analyse(path)[1]


def _tables(md: str, head: str) -> list[list[list[str]]]:
    """The body rows (cells) of every table of ``md`` whose header line starts with ``head``."""
    out, lines = [], md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(head):
            body = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                body.append([c.strip() for c in row.strip("|").split("|")])
            out.append(body)
    return out


@pytest.mark.parametrize("auc_over", ["checkpoints", "final-only"])
def test_an_llm_report_says_auc_was_not_measured_and_shows_final_once(tmp_path, auc_over):
    md = _report(tmp_path, _llm_rows(auc_over=auc_over))
    header = md.split("\n## ")[0]
    assert NOTE in header and OLD_HEADER not in md
    (rows,) = _tables(md, "| row | role | metric | draw 1 |")
    # one line per row, its final; the draws' values by hand: mean + (draw % 3) - 1
    assert [(r[0], r[2]) for r in rows] == [(loss, "final") for loss in LLM_SCORES]
    assert rows[1][3:11] == ["80.0", "81.0", "79.0", "80.0", "81.0", "79.0", "80.0", "81.0"]
    (comps,) = _tables(md, "| candidate | baseline | metric |")
    assert [(c[0], c[1], c[2]) for c in comps] == [
        ("lf-x[lr=1e-05]", b, "final") for b in list(LLM_SCORES)[:4]]
    (versus,) = _tables(md, "| row | role | metric | draws |")
    assert [(v[0], v[2]) for v in versus] == [
        (n, "final") for n in LLM_SCORES if n != "sft[lr=1e-05]"]
    assert "per metric: final sft[lr=1e-05];" in md
    # sft, a shortcut, is best: flagged once, on final
    flag = next(x for x in md.splitlines() if x.startswith("Shortcut flag"))
    assert flag.endswith("overlapping): final: **shortcut best**.")


def test_a_mujoco_report_keeps_both_metrics_and_a_mixed_one_notes_the_llm_group(tmp_path):
    md = _report(tmp_path, _mujoco_rows())
    assert OLD_HEADER in md and NOTE not in md
    assert "| lf-x | candidate | auc | " in md and "| lf-x | candidate | final | " in md
    # one report, both beds: the header keeps the AUC's definition (it holds for MuJoCo), the
    # LLM group says under its heading that it has none
    mixed = _report(tmp_path, _mujoco_rows() + _llm_rows())
    assert OLD_HEADER in mixed.split("\n## ")[0]
    llm = mixed.split("## llm:sort/clean (full budget)")[1].split("\n## ")[0]
    hopper = mixed.split("## hopper-clean (full budget)")[1].split("\n## ")[0]
    assert llm.lstrip().startswith(NOTE) and "| auc |" not in llm
    assert NOTE not in hopper and "| lf-x | candidate | auc | " in hopper


# ---- the headline page -------------------------------------------------------------------------

def _headline(tmp_path, rows, name) -> str:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _benchmark("confirmation").report(path)           # writes <stem>.confirm.{md,json}
    report = str(tmp_path / f"{name}.confirm.json")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "headline.py"), report,
                           "--candidate", "lf-x"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.replace(str(tmp_path), "TMP")


def test_the_headline_shows_one_table_where_auc_is_the_final_score(tmp_path, capsys):
    page = _headline(tmp_path, _llm_rows(), "llm")
    assert "### lf-x, final" in page and "### lf-x, auc" not in page
    assert "give the same verdicts" not in page and "**AUC and final**" not in page
    assert f"**{NOTE}**" in page
    assert "judged on final accuracy" in page and "judged on AUC" not in page
    assert "(final: " not in page                   # nothing to set beside the score
    # with a curve the page is the two-metric one
    page = _headline(tmp_path, _mujoco_rows(), "mujoco")
    assert "### lf-x, auc" in page and "### lf-x, final" in page and NOTE not in page
    assert "**AUC and final** " in page and "judged on AUC, the primary metric" in page


def test_the_headline_without_the_rows_file_keeps_both_metrics(tmp_path, capsys):
    """A report whose rows file is not beside it: the report keeps no curve, so nothing says
    the AUC is the final score, and the page stays as it was."""
    _headline(tmp_path, _llm_rows(), "llm")
    (tmp_path / "llm.jsonl").unlink()
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "headline.py"),
                           str(tmp_path / "llm.confirm.json"), "--candidate", "lf-x"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "### lf-x, auc" in proc.stdout and NOTE not in proc.stdout


def _seed_table(tmp_path, rows) -> str:
    """``baselines.py table`` of ``rows``: its markdown, as written beside the rows file."""
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _benchmark("baselines").table(SimpleNamespace(jsonl=str(path)))
    return path.with_suffix(".md").read_text()


def test_the_seed_table_shows_final_alone_on_the_llm_bed_and_both_on_mujoco(tmp_path, capsys):
    """``baselines.py table`` (seeds, per draw): on LLM rows one final column under the note,
    with the rows' own numbers; on MuJoCo rows AUC and final as ever."""
    llm = _seed_table(tmp_path, _llm_rows())
    head = llm.splitlines()[0]
    assert head == "| budget | scenario | loss | seeds | final (mean) | 95 % CI |"
    assert NOTE in llm and OLD_HEADER not in llm
    row = next(r for r in _llm_rows() if r["draw"] == 2 and r["role"] == "candidate")
    assert f"| full | llm:sort/clean (draw 2) | {row['loss']} | 1 | {row['final']:.1f} | n/a |" \
        in llm.splitlines()
    assert "(full, AUC)" not in llm
    mujoco = _seed_table(tmp_path, _mujoco_rows())
    assert mujoco.splitlines()[0] == ("| budget | scenario | loss | seeds | AUC (mean) | 95 % CI "
                                      "| final (mean) | 95 % CI |")
    assert OLD_HEADER in mujoco and NOTE not in mujoco
