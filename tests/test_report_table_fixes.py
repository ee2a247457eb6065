"""Readability of the table pages (``python -m lossforge.report --table``) and of beta in the
formulas: every table names its metric and its seeds, bc-on-chosen's final is marked and not
ranked against the losses' AUC, a cell with failed seeds says so, an unfinished confirmation
says what it lacks once, the words are explained in a glossary, a sweep too large to plot
lists every seed's score, and a float beta prints as a short decimal, not a 17-digit fraction.
"""

from __future__ import annotations

import json
import math
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lossforge.report import table_report

REPO = Path(__file__).resolve().parents[1]
#: Student t 0.975 quantiles by degrees of freedom
T975 = {2: 4.302652729911275, 7: 2.364624251592785}


class _Node:
    def __init__(self, tag: str, attrs: dict):
        self.tag, self.attrs, self.children = tag, attrs, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def all(self, tag: str, **attrs) -> list["_Node"]:
        out = []
        for c in self.children:
            if isinstance(c, _Node):
                if c.tag == tag and all(c.attrs.get(k.rstrip("_")) == v for k, v in
                                        attrs.items()):
                    out.append(c)
                out += c.all(tag, **attrs)
        return out


class _Tree(HTMLParser):
    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {})
        self.stack = [self.root]
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        node = _Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for k in range(len(self.stack) - 1, 0, -1):
            if self.stack[k].tag == tag:
                del self.stack[k:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def _page(path: Path) -> _Node:
    return _Tree(table_report(path)).root


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _run_row(scenario, loss, seed, x, status="ok", draw=0):
    """A row as run_cells writes it: ``x`` its score (a loss's AUC; the reference's and
    bc-on-chosen's final); on MuJoCo a trained row has a curve, on the LLM bed none."""
    ok = status == "ok"
    x = x if ok else 0.0
    trained = loss != "reference (BC)" and not scenario.startswith("llm:")
    bc = loss == "bc-on-chosen"
    auc, final = (x - 3.0, x) if bc else (x, x + 1.0) if trained else (x, x)
    curve = ([[300 if bc else 200, auc - 1.0], [600 if bc else 400, auc + 1.0]] if trained
             else [])
    return {"scenario": scenario, "draw": draw, "seed": seed, "budget": "full", "loss": loss,
            "status": status, "score": x if ok else None, "final": final if ok else None,
            "auc": auc if ok else None, "curve": curve if ok else [], "seconds": 1.0,
            **({"auc_over": "checkpoints"} if bc else {}),
            "command": "python benchmarks/baselines.py run x"}


def _cells(table: _Node) -> dict[str, list[_Node]]:
    return {tr.attrs["data-loss"]: tr.all("td")[1:] for tr in table.all("tr")
            if "data-loss" in tr.attrs}


def _mean_ci(xs, t) -> str:
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
    return f"{m:.1f} ± {t * sd / math.sqrt(len(xs)):.1f}"


def _benchmark(name: str):
    from lossforge.report.table import _baselines_module

    _baselines_module()
    __import__(name)
    return sys.modules[name]


# ---- run tables and sweeps --------------------------------------------------------------------

def _run_file(tmp_path: Path) -> Path:
    """Three seeds of dpo and orpo, bc-on-chosen's finals above both, and the reference."""
    rows = [_run_row("hopper-clean", loss, seed, x)
            for loss, xs in (("reference (BC)", (20.0, 20.0, 20.0)),
                             ("bc-on-chosen", (40.0, 41.0, 42.0)),
                             ("dpo", (10.0, 12.0, 14.0)), ("orpo", (30.0, 31.0, 32.0)))
            for seed, x in enumerate(xs)]
    return _write(tmp_path / "baselines-x.jsonl", rows)


def test_a_run_table_names_its_metric_and_seeds_in_its_caption(tmp_path):
    """Items 1 and 3: the caption says AUC (what it is) and the seeds per cell."""
    root = _page(_run_file(tmp_path))
    (table,) = root.all("table", class_="baselines")
    (cap,) = table.all("caption")
    assert "AUC (mean score over the training checkpoints)" in cap.text()
    assert "3 training seeds per cell" in cap.text()
    assert _cells(table)["dpo"][0].text() == _mean_ci((10, 12, 14), T975[2])
    # a cell with fewer seeds: the caption says so, and the cell gives its count
    path = _write(tmp_path / "b.jsonl", [json.loads(x) for x in _run_file(tmp_path)
                                         .read_text().splitlines()][:-1])   # orpo seed 2 gone
    (table,) = _page(path).all("table", class_="baselines")
    assert "3 training seeds per cell, fewer where [n] says" in table.all("caption")[0].text()
    assert _cells(table)["orpo"][0].text().endswith(" [2]")


def test_bc_on_chosen_is_marked_final_and_not_ranked_against_auc(tmp_path):
    """Item 2: its number is its final (baselines.py's score for it, the headline's metric for
    it): marked final†, explained under the table, shown, never bold against the AUCs."""
    root = _page(_run_file(tmp_path))
    (table,) = root.all("table", class_="baselines")
    cells = _cells(table)
    bc = cells["bc-on-chosen"][0]
    assert bc.text() == _mean_ci((40, 41, 42), T975[2])            # still shown
    assert "best" not in bc.attrs.get("class", "") and not bc.all("b")
    assert [td.text() for td in table.all("td", class_="best")] == [cells["orpo"][0].text()]
    label = [tr for tr in table.all("tr") if tr.attrs.get("data-loss") == "bc-on-chosen"]
    assert "final†" in label[0].all("td")[0].text()
    assert "bc-on-chosen: final†" in table.all("caption")[0].text()
    (note,) = root.all("p", **{"data-note": "bc-on-chosen"})
    assert note.text().startswith("† bc-on-chosen: its final score")
    # consistent with the rest of the project: the headline judges it on final, the audit
    # counts it a shortcut, baselines.py's score of it is its final
    headline = _benchmark("headline")
    from lossforge.bench.audit import is_shortcut

    assert headline.SHORTCUT_RIVALS["BC-on-chosen"] == "final" and is_shortcut("bc-on-chosen")


def test_a_cell_with_failed_seeds_says_how_many_and_whose_mean(tmp_path):
    """Item 4: 2 of 10 seeds failed: the count, and the mean ± CI of the 8 that ran, said to
    be theirs; not bold (it is not a mean over every seed); every seed failed: said so."""
    xs = [22.0, 23.0, 24.0, 23.5, 22.5, 23.0, 24.5, 21.5]
    rows = [_run_row("hopper-clean", "dpo", seed, xs[seed] if seed < 8 else None,
                     "ok" if seed < 8 else "failed") for seed in range(10)]
    rows += [_run_row("hopper-clean", "orpo", seed, 5.0 + seed % 2) for seed in range(10)]
    rows += [_run_row("hopper-clean", "ipo", seed, None, "failed") for seed in range(10)]
    (table,) = _page(_write(tmp_path / "f.jsonl", rows)).all("table", class_="baselines")
    cells = _cells(table)
    assert cells["dpo"][0].text() == f"8 ok, 2 failed: {_mean_ci(xs, T975[7])} (8 seeds)"
    assert "failed" in cells["dpo"][0].attrs["class"] and not cells["dpo"][0].all("b")
    assert cells["ipo"][0].text() == "all 10 failed"
    assert [td.text() for td in table.all("td", class_="best")] == [cells["orpo"][0].text()]


def test_an_llm_seeds_table_names_final_as_its_metric(tmp_path):
    """Item 1 where the AUC is only the final score: the caption says final."""
    rows = [_run_row("llm:sort/clean", loss, seed, x) for loss, xs in
            (("dpo", (70.0, 72.0, 74.0)), ("orpo", (80.0, 81.0, 82.0))) for seed, x in
            enumerate(xs)]
    (table,) = _page(_write(tmp_path / "l.jsonl", rows)).all("table", class_="baselines")
    cap = table.all("caption")[0].text()
    assert cap.startswith("Final score") and "AUC (mean" not in cap


def test_a_sweep_too_large_to_plot_says_why_and_lists_every_seed(tmp_path):
    """Item 7: more losses than the chart's colours: the note says why there is no chart and
    where the numbers are; every seed's score is listed in a collapsed table."""
    from lossforge.report.svg import COLOURS

    rows = [_run_row("hopper-clean", f"dpo[lr={k}e-05]", seed, float(k + seed), draw="t")
            for k in range(1, 12) for seed in ((100, 101, 102) if k == 1 else (100,))]
    root = _page(_write(tmp_path / "sweep-x.jsonl", rows))
    assert not root.all("svg", class_="chart")
    (note,) = root.all("p", **{"data-note": "no-chart"})
    assert f"11 losses, more than a chart can tell apart (it has {len(COLOURS)} colours)" in \
        note.text() and "in the list below" in note.text()
    (details,) = root.all("details", class_="per-seed")
    (listed,) = details.all("table", class_="per-seed")
    got = {tr.all("td")[0].text(): [td.text() for td in tr.all("td")[1:]]
           for tr in listed.all("tr")[1:]}
    assert got["dpo[lr=1e-05]"] == ["101.0", "102.0", "103.0"]
    assert got["dpo[lr=5e-05]"] == ["105.0", "", ""]
    (table,) = root.all("table", class_="baselines")
    assert "AUC" in table.all("caption")[0].text()           # item 1 on a sweep too


@pytest.mark.parametrize("kind", ["run", "confirm"])
def test_the_glossary_explains_the_words_and_agrees_with_the_code(tmp_path, kind):
    """Item 6: a collapsed glossary on both kinds of page, its numbers those of the code."""
    path = _run_file(tmp_path) if kind == "run" else _confirm_file(tmp_path)
    root = _page(path)
    (details,) = root.all("details", class_="glossary")
    terms = [dt.text() for dt in details.all("dt")]
    for term in ("draw 0", "tuning draw (t)", "BC", "bc-on-chosen", "AUC", "final", "Holm"):
        assert term in terms, term
    text = details.text()
    from lossforge.bench.draws import TUNING

    tuning = _benchmark("tuning")
    cells = _benchmark("cells")
    assert TUNING == "t" and f"tuning seeds ({tuning.TUNING_SEEDS})" in text
    assert cells.FIXED == ("reference (BC)", "bc-on-chosen")
    assert "judges it on final" in text


# ---- confirmations ----------------------------------------------------------------------------

def _confirm_row(loss, role, draw, seed, x, curve=None):
    steps = (300, 600) if loss == "bc-on-chosen" else (200, 400)
    curve = [[steps[0], x - 2], [steps[1], x + 2]] if curve is None else curve
    return {"scenario": "hopper-clean", "draw": draw, "seed": seed, "budget": "full",
            "loss": loss, "role": role, "status": "ok", "score": x, "final": x + 1, "auc": x,
            "auc_over": "untrained" if loss == "reference (BC)" else "checkpoints",
            "curve": curve, "seconds": 1.0, "command": "python benchmarks/baselines.py confirm x",
            **({"candidate": "lf-x"} if role == "candidate" else
               {"baseline": loss.split("[")[0]} if role == "baseline" else {})}


def _confirm_file(tmp_path: Path, lacking=("lf-x[lr=0.001]", "dpo[beta=0.1,lr=0.001]")) -> Path:
    """Draws 1-5 x seeds 0-2 (MuJoCo's least grid), but the ``lacking`` rows miss seed 2 of
    draw 3; bc-on-chosen's AUC (over its own BC steps) above every other row's."""
    rows = []
    for loss, role, base in (("lf-x[lr=0.001]", "candidate", 30.0),
                             ("dpo[beta=0.1,lr=0.001]", "baseline", 25.0),
                             ("orpo[lam=0.5,lr=0.001]", "baseline", 27.0),
                             ("reference (BC)", "fixed", 20.0), ("bc-on-chosen", "fixed", 50.0)):
        for d in range(1, 6):
            for sd in range(3):
                if loss in lacking and (d, sd) == (3, 2):
                    continue
                rows.append(_confirm_row(loss, role, d, sd, base + d + sd / 2,
                                         curve=[] if loss == "reference (BC)" else None))
    return _write(tmp_path / "confirm-x.jsonl", rows)


def test_an_unfinished_confirmation_says_once_what_it_lacks(tmp_path):
    """Item 5: one note for the page, naming the draws and seeds missing and the rows; those
    rows marked ‡ in the table; the warning in a styled box, not body text."""
    html = table_report(_confirm_file(tmp_path))
    root = _Tree(html).root
    assert html.count("Unfinished, not a claim") == 1
    assert len(root.all("p", id="unfinished")) == 1
    boxes = [d for d in root.all("div", class_="warnbox") if d.all("p", id="unfinished")]
    assert len(boxes) == 1     # styled by the page's one style sheet
    assert re.search(r"\.warnbox\{background:[^}]+\}", html)
    text = boxes[0].text()
    assert ("lf-x[lr=0.001], dpo[beta=0.1,lr=0.001]: seed 2 not run on draw 3" in text
            and text.count("seed 2 not run") == 1 and "runs so far on draws 1-5 x seeds 0-2"
            in text)
    (table,) = root.all("table", class_="confirmation")
    marked = {tr.attrs["data-loss"] for tr in table.all("tr") if tr.all("sup", class_="uf")}
    assert marked == {"lf-x[lr=0.001]", "dpo[beta=0.1,lr=0.001]"}
    # every row lacking the same: said once, "every row", the caption says it, no marks
    everyone = ("lf-x[lr=0.001]", "dpo[beta=0.1,lr=0.001]", "orpo[lam=0.5,lr=0.001]",
                "reference (BC)", "bc-on-chosen")
    root = _page(_confirm_file(tmp_path, everyone))
    text = root.all("p", id="unfinished")[0].text() + root.all("div", class_="warnbox")[0].text()
    assert "every row (5): seed 2 not run on draw 3" in text
    (table,) = root.all("table", class_="confirmation")
    assert "Unfinished: every row" in table.all("caption")[0].text()
    assert not table.all("sup", class_="uf")


def test_a_confirmation_names_metric_and_seeds_and_keeps_bc_apart(tmp_path):
    """Items 1-3 and 5 on a confirmation: the caption names AUC and final and the draws and
    seeds per draw; bc-on-chosen's AUC (its own BC steps) is marked † and not bold; its curve
    has its own chart, on an axis of BC steps, not on the losses' training steps."""
    root = _page(_confirm_file(tmp_path, lacking=()))
    (table,) = root.all("table", class_="confirmation")
    cap = table.all("caption")[0].text()
    assert "AUC (mean score over the training checkpoints) and final" in cap
    assert "over 5 draws" in cap and "3 seeds per draw" in cap
    bc_auc = _cells(table)["bc-on-chosen"][1]
    assert bc_auc.text().endswith("†") and not bc_auc.all("b")
    best = table.all("td", class_="best")
    assert best[0].text() == _cells(table)["lf-x[lr=0.001]"][1].text()
    charts = root.all("svg", class_="chart")
    assert len(charts) == 2
    legends = [[t.text() for t in c.all("text", class_="lg")] for c in charts]
    axes = [[t.text() for t in c.all("text", class_="ax")] for c in charts]
    assert "bc-on-chosen" not in legends[0] and "bc-on-chosen" in legends[1]
    assert any("BC training step" in a for a in axes[1])
    assert not any("BC training step" in a for a in axes[0])


# ---- beta in the formulas ---------------------------------------------------------------------

def test_a_float_beta_prints_as_a_short_decimal_in_latex_and_mathml():
    """Item 8: beta = 3.7568966218677904 (a distilled ES winner) printed 2348060388667369/
    625000000000000; now 3.7569, as the terminal's loss line; 0.1 stays 1/10."""
    from lossforge.export import export
    from lossforge.objectives.mpo import MPOSpec, Objective
    from lossforge.report.mathml import objective_equations

    # the spec of benchmarks/results/winners/es-mq-net-distilled-phi.json
    obj = Objective(MPOSpec("es-mq-net-distilled-phi", "softplus(l/2 + 430)",
                            3.7568966218677904, aggregation="sum"))
    latex = export(obj, "latex")
    margin = dict(objective_equations(obj))["margin"]
    for text in (latex, margin):
        assert "625000000000000" not in text and "2348060388667369" not in text
    assert r"r_\theta(x,y) &= 3.7569\left[" in latex
    assert "<mn>3.7569</mn>" in margin
    simple = Objective(MPOSpec("y", "p*log(p)", 0.1))
    assert r"&= \frac{1}{10}\left[" in simple.latex()
    assert "<mfrac><mn>1</mn><mn>10</mn></mfrac>" in dict(objective_equations(simple))["margin"]


def test_report_html_in_committed_run_directories_is_ignored():
    """Item 9: ``python -m lossforge.report RUN`` writes RUN/report.html; under
    benchmarks/results that page is not to be committed."""
    lines = (REPO / ".gitignore").read_text().splitlines()
    assert "benchmarks/results/**/report.html" in lines
