"""On the LLM test bed a row's "AUC" is its final score (the bed scores once, at the end of
training: ``cells.auc_is_final``). The HTML pages of ``python -m lossforge.report --table`` say
so as the confirmation report and the headline do: the note "AUC: not measured on this bed; the
score is final accuracy" and the final score alone, never an AUC column that repeats it as if it
were a mean over checkpoints. MuJoCo rows (a real curve) keep AUC and final; the detection is
the report's own rule (``confirmation.auc_final_groups``), not a second copy of it."""

from __future__ import annotations

import json
import math
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lossforge.report import table_report

NOTE = "AUC: not measured on this bed; the score is final accuracy"
AUC_DEFINED = "AUC: mean score over the training checkpoints"
#: Student t 0.975 quantile, 2 degrees of freedom (three draws)
T2 = 4.302652729911275
LLM, MUJOCO = "llm:sort/clean", "hopper-clean"
#: per row, its score on draws 1-3 (both seeds score the same): the candidate above both tuned
#: baselines, the untrained reference below them
SCORES = {("lf-x[lr=1e-05]", "candidate"): (80.0, 84.0, 83.0),
          ("dpo[beta=0.1,lr=1e-05]", "baseline"): (70.0, 73.0, 71.0),
          ("orpo[lam=0.5,lr=1e-05]", "baseline"): (75.0, 74.0, 79.0),
          ("reference (SFT base)", "fixed"): (60.0, 61.0, 59.0)}


def _benchmark(name: str):
    """benchmarks/<name>.py as the page imports it (its reader puts benchmarks/ on the path)."""
    from lossforge.report.table import _baselines_module

    _baselines_module()
    __import__(name)
    return sys.modules[name]


def _row(scenario, loss, role, draw, seed, x, auc_over="checkpoints"):
    """A row as run_cells writes it: on the LLM bed auc == final and no curve (committed rows
    say "checkpoints", new ones "final-only"); on MuJoCo a curve whose mean (the AUC) is 3
    below the final."""
    llm = scenario.startswith("llm:")
    curve = [] if llm or role == "fixed" else [[200, x - 6.0], [400, x]]
    return {"scenario": scenario, "draw": draw, "seed": seed, "budget": "full", "loss": loss,
            "role": role, "status": "ok", "score": x if not curve else x - 3.0, "final": x,
            "auc": x if not curve else x - 3.0, "curve": curve, "seconds": 1.0,
            "auc_over": "untrained" if role == "fixed" else auc_over,
            "command": "python benchmarks/baselines.py confirm x",
            **({"candidate": "lf-x"} if role == "candidate" else {})}


def _confirm_rows(scenario, scores=SCORES, auc_over="checkpoints") -> list[dict]:
    return [_row(scenario, loss, role, d, sd, xs[d - 1], auc_over)
            for (loss, role), xs in scores.items() for d in (1, 2, 3) for sd in (0, 1)]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


class _Page(HTMLParser):
    """The page's blocks in order: ("h2", text), ("p", class, data-metric, text) and ("table",
    attrs, rows of cell texts)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.blocks, self._open = [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.blocks.append(("table", a, []))
        elif tag == "tr" and self.blocks and self.blocks[-1][0] == "table":
            self.blocks[-1][2].append([])
        elif tag in ("td", "th") and self.blocks and self.blocks[-1][0] == "table":
            self.blocks[-1][2][-1].append("")
            self._open = "cell"
        elif tag == "h2":
            self.blocks.append(["h2", ""])
            self._open = "h2"
        elif tag == "p":
            self.blocks.append(["p", a.get("class"), a.get("data-metric"), ""])
            self._open = "p"

    def handle_endtag(self, tag):
        if tag in ("td", "th", "h2", "p"):
            self._open = None

    def handle_data(self, data):
        if self._open == "cell":
            self.blocks[-1][2][-1][-1] += data
        elif self._open in ("h2", "p"):
            self.blocks[-1][-1] += data

    def tables(self, cls: str) -> list[tuple[dict, list[list[str]]]]:
        return [(b[1], b[2]) for b in self.blocks if b[0] == "table" and b[1].get("class") == cls]

    def section(self, h2: str) -> list:
        """The blocks after the h2 whose text is ``h2``, up to the next h2."""
        i = next(k for k, b in enumerate(self.blocks) if b[0] == "h2" and b[1] == h2)
        end = next((k for k in range(i + 1, len(self.blocks)) if self.blocks[k][0] == "h2"),
                   len(self.blocks))
        return self.blocks[i + 1:end]


def _mean_ci(xs) -> str:
    mean = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
    return f"{mean:.1f} ± {T2 * sd / math.sqrt(len(xs)):.1f}"


def _cells(table) -> dict[str, list[str]]:
    return {r[0]: r[1:] for r in table[1][1:]}


# ---- the confirmation page -------------------------------------------------------------------

@pytest.mark.parametrize("auc_over", ["checkpoints", "final-only"])
def test_an_llm_confirmation_page_shows_final_alone_and_says_why(tmp_path, auc_over):
    page = _Page(table_report(_write(tmp_path / "c.jsonl", _confirm_rows(LLM, auc_over=auc_over))))
    legend = page.blocks[0]
    assert legend[0] == "p" and NOTE in legend[3] and AUC_DEFINED not in legend[3]
    (table,) = page.tables("confirmation")
    assert table[1][0] == ["row", "role", "final", "final vs best", "draws"]
    cells = _cells(table)
    # the final score over draws, by hand; vs best: minus ORPO (the best tuned), draw by draw
    assert cells["lf-x[lr=1e-05]"] == ["candidate", _mean_ci((80, 84, 83)),
                                       "+" + _mean_ci((5, 10, 4)), "3"]
    assert cells["orpo[lam=0.5,lr=1e-05]"][1:3] == [_mean_ci((75, 74, 79)), "best tuned"]
    assert cells["reference (SFT base)"][1] == _mean_ci((60, 61, 59))
    assert "AUC" not in json.dumps(table)
    # MuJoCo rows of the same shape but with a curve: AUC (3 below final) and final, no note
    page = _Page(table_report(_write(tmp_path / "m.jsonl", _confirm_rows(MUJOCO))))
    assert AUC_DEFINED in page.blocks[0][3] and NOTE not in json.dumps(page.blocks)
    (table,) = page.tables("confirmation")
    assert table[1][0] == ["row", "role", "AUC", "final", "AUC vs best", "final vs best",
                           "draws"]
    assert _cells(table)["lf-x[lr=1e-05]"][1:3] == [_mean_ci((77, 81, 80)),
                                                    _mean_ci((80, 84, 83))]


def test_a_page_of_both_beds_notes_the_llm_scenario_only(tmp_path):
    """One file, both beds: the legend keeps the AUC's definition (it holds for MuJoCo); the
    LLM scenario says under its heading that it has no AUC and shows final alone."""
    rows = _confirm_rows(MUJOCO) + _confirm_rows(LLM)
    page = _Page(table_report(_write(tmp_path / "c.jsonl", rows)))
    assert AUC_DEFINED in page.blocks[0][3] and NOTE not in page.blocks[0][3]
    llm = page.section(f"{LLM} (full budget)")
    assert llm[0][:3] == ["p", "meta", "final"] and llm[0][3].startswith(NOTE)
    assert llm[1][0] == "table" and llm[1][2][0] == ["row", "role", "final", "final vs best",
                                                     "draws"]
    hopper = page.section(f"{MUJOCO} (full budget)")
    assert hopper[0][0] == "table" and hopper[0][2][0][2:4] == ["AUC", "final"]
    assert NOTE not in json.dumps(hopper)


def test_the_reference_bar_note_is_given_on_final_alone(tmp_path):
    """The untrained reference above every tuned baseline: the page's note on the headline's
    bar is given once, on final (on MuJoCo: once per metric)."""
    high = {**SCORES, ("reference (SFT base)", "fixed"): (90.0, 91.0, 92.0)}
    html = table_report(_write(tmp_path / "c.jsonl", _confirm_rows(LLM, high)))
    notes = [b for b in _Page(html).blocks if b[0] == "p" and b[1] == "warn" and b[2]]
    assert [n[2] for n in notes] == ["final"]
    assert notes[0][3].startswith("final: the untrained reference (SFT base) scores above")
    mujoco = {**high, ("reference (BC)", "fixed"): high.pop(("reference (SFT base)", "fixed"))}
    html = table_report(_write(tmp_path / "m.jsonl", _confirm_rows(MUJOCO, mujoco)))
    assert [b[2] for b in _Page(html).blocks if b[0] == "p" and b[1] == "warn" and b[2]] == [
        "auc", "final"]


def test_the_page_asks_the_reports_rule(tmp_path, monkeypatch):
    """Whether a scenario shows final alone is ``confirmation.auc_final_groups``'s answer (its
    ``cells.auc_is_final``), the rule of ``baselines.py report`` and the headline."""
    confirmation = _benchmark("confirmation")
    path = _write(tmp_path / "c.jsonl", _confirm_rows(LLM))
    monkeypatch.setattr(confirmation, "auc_is_final", lambda rows: False)
    (table,) = _Page(table_report(path)).tables("confirmation")
    assert table[1][0][2:4] == ["AUC", "final"]
    monkeypatch.setattr(confirmation, "auc_is_final", lambda rows: True)
    path = _write(tmp_path / "m.jsonl", _confirm_rows(MUJOCO))
    (table,) = _Page(table_report(path)).tables("confirmation")
    assert table[1][0][2:] == ["final", "final vs best", "draws"]


# ---- the seeds' table (a run table or a sweep) ------------------------------------------------

def _table_rows(scenario, draw=0):
    """Draw-0 rows of two losses, three seeds (LLM: auc == final, no curve; MuJoCo: a curve)."""
    return [{k: v for k, v in _row(scenario, loss, "baseline", draw, seed, x).items()
             if k not in ("role", "candidate")}
            for loss, xs in (("dpo", (70.0, 72.0, 74.0)), ("orpo", (80.0, 81.0, 82.0)))
            for seed, x in enumerate(xs)]


@pytest.mark.parametrize("draw", [0, "t"])
def test_an_llm_seeds_table_says_its_score_is_the_final_one(tmp_path, draw):
    page = _Page(table_report(_write(tmp_path / "b.jsonl", _table_rows(LLM, draw))))
    full = page.section("full budget")
    assert full[0][:3] == ["p", "meta", "final"] and full[0][3].startswith(NOTE)
    (table,) = page.tables("baselines")
    assert _cells(table) == {"dpo": ["72.0 ± 5.0"], "orpo": ["81.0 ± 2.5"]}
    # MuJoCo: no note, the table as it was (the AUC, 3 below the final, as ever)
    page = _Page(table_report(_write(tmp_path / "m.jsonl", _table_rows(MUJOCO, draw))))
    assert NOTE not in json.dumps(page.blocks)
    assert _cells(page.tables("baselines")[0]) == {"dpo": ["69.0 ± 5.0"], "orpo": ["78.0 ± 2.5"]}
    # both beds in one table: the note names the LLM column
    page = _Page(table_report(_write(tmp_path / "x.jsonl", _table_rows(LLM, draw)
                                     + _table_rows(MUJOCO, draw))))
    (note,) = [b for b in page.blocks if b[0] == "p" and NOTE in b[3]]
    assert note[3].startswith(f"{LLM}: {NOTE}")
