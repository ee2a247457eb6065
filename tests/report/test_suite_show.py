"""A suite search whose regret's reference came from --suite-baselines (no baseline trained in
the run): ``search show`` prints what the run printed at its end (the verdict against the best
baseline of each scenario, the reference under "Baselines in this run", what the score is), and
the HTML page of the run has the same verdict, units where it said seeds and the score's name.
The run is a real one on the probe fitness (seconds)."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from lossforge.report import run_report
from lossforge.search import SearchConfig, run_search
from lossforge.search.summary import show

TRAIN = "benchmarks/suites/train.toml"
RUNG = "screen"                      # two seeds a scenario: 14 units
#: the best baseline of each scenario (B_s) per seed, and the reference (R_s), as
#: ``benchmarks/baselines.py suite-reference`` writes them
SCENARIOS = ("hopper-padded-clean", "hopper-padded-noisy-0.1", "hopper-padded-noisy-0.2",
             "hopper-padded-noisy-0.3", "hopper-padded-noisy-0.4", "hopper-padded-ambiguous",
             "hopper-padded-mixed-quality")
TABLE = {RUNG: {s: {"best": 10.0 + i, "reference": 2.0, "baseline": "sft[lr=0.001]",
                    "per_seed": {"0": 9.0 + i, "1": 11.0 + i}}
                for i, s in enumerate(SCENARIOS)}}


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """(run directory, what the run printed at its end)."""
    tmp = tmp_path_factory.mktemp("suite-show")
    (tmp / "tuned.json").write_text(json.dumps(TABLE))
    cfg = SearchConfig(suite=TRAIN, grammar="grammars/mirror_map_dcp.toml", population=6,
                       generations=1, seed=4, budget=RUNG, multi_fidelity=False,
                       fitness="probe", workers=1, suite_baselines=str(tmp / "tuned.json"))
    out = io.StringIO()
    run_dir = run_search(cfg, runs_root=tmp / "runs", console=Console(file=out, width=200))
    return run_dir, out.getvalue()


def _report(text: str) -> str:
    """The report a search prints at its end (``print_front``), as ``show`` prints it again."""
    return text[text.rindex("\nPareto front"):]


def _best_diff(run_dir: Path) -> float:
    """The best loss's auc minus the best baseline's, per unit, averaged (the verdict's)."""
    hof = json.loads((run_dir / "hall_of_fame.json").read_text())
    scored = [r for r in hof["hall_of_fame"] if r.get(RUNG) and r[RUNG]["score"] is not None
              and not r[RUNG]["suite"]["raced_out"]]
    units = max(scored, key=lambda r: r[RUNG]["score"])[RUNG]["suite"]["unit_scores"]
    assert len(units) == 14
    diffs = [v - TABLE[RUNG][scen]["per_seed"][seed]            # units: "<scenario>#seed<n>"
             for u, v in units.items() for scen, seed in [u.split("#seed")]]
    return sum(diffs) / len(diffs)


def test_show_prints_what_the_run_printed(suite):
    run_dir, live = suite
    out = io.StringIO()
    show(run_dir, console=Console(file=out, width=200))
    shown = out.getvalue()
    assert _report(shown) == _report(live)
    # the verdict against the best baseline of each scenario, paired unit by unit
    [line] = [x for x in shown.splitlines() if "BEST BASELINE OF EACH SCENARIO (sft[lr=0.001]): "
              in x]
    assert f"SCENARIO (sft[lr=0.001]): {_best_diff(run_dir):+.2f} ± " in line
    assert "paired over 14 units (scenario x seed)" in line
    # under "Baselines in this run": where the reference is from, and each scenario's B_s, R_s
    block = shown[shown.index("Baselines in this run:"):shown.index("What the words mean")]
    assert "none trained in this run" in block and "--suite-baselines" in block
    for i, s in enumerate(SCENARIOS):
        assert f"    {s}: best baseline sft[lr=0.001] {10.0 + i:.2f}, reference 2.00" in block


def test_the_words_say_what_the_suite_score_is(suite):
    """The score is -100 x the regret, not the metric: the words say so, with the units."""
    run_dir, _ = suite
    out = io.StringIO()
    show(run_dir, console=Console(file=out, width=200))
    words = next(x for x in out.getvalue().splitlines() if x.startswith("What the words mean"))
    assert words.startswith("What the words mean: score = the suite score, not the auc itself: "
                            f"-100 x the weighted mean over the scenarios of {TRAIN} of the "
                            "regret (B_s - y_s) / max(B_s - R_s, 3)")
    assert "per unit (one scenario, one training seed), auc = the probe" in words
    assert f"{RUNG} = the budget every loss is trained at (14 units (scenario x seed))" in words


class _Text(HTMLParser):
    """Each element's text by its id, and every <li> of the verdict list."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[str | None] = []
        self.by_id: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag not in ("meta", "br", "line", "circle", "path", "polyline", "rect"):
            self.stack.append(dict(attrs).get("id"))

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        for i in self.stack:
            if i:
                self.by_id[i] = self.by_id.get(i, "") + data


def test_the_page_has_the_verdict_the_units_and_the_scores_name(suite):
    run_dir, _ = suite
    html = run_report(run_dir)
    text = _Text(html).by_id
    verdict = re.sub(r"\s+", " ", text["verdict-list"])
    assert " the best baseline of each scenario (suite score 0.00 (14 units)): paired " \
           f"difference in auc per unit {_best_diff(run_dir):+.2f} ± " in verdict
    assert "seeds)" not in html                   # a suite run's unit is (scenario, seed)
    assert "suite score (-100 x mean regret of auc) at the screen budget" in html
    assert "auc score at the" not in html
    assert text["words"].startswith("What the words mean: score = the suite score")
    assert all(f"{s}: best baseline sft[lr=0.001]" in text["suite-reference"]
               for s in SCENARIOS)
    command = text["command"]
    assert f"--suite {TRAIN}" in command and "--suite-baselines " in command
