"""`python -m lossforge.report`: the page of a real run directory, checked against the run's own
JSON (parsed with html.parser), the paired verdict against the t table, and the baselines table
against the README's numbers."""

from __future__ import annotations

import json
import math
import re
import shlex
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from sympy.printing.mathml import mathml

from lossforge.report import run_report, table_report
from lossforge.report.__main__ import main
from lossforge.symbolic.mirror_map import MirrorMap

REPO = Path(__file__).resolve().parents[2]
#: Student t 0.975 quantiles by degrees of freedom (printed tables; scipy.stats.t.ppf agrees)
T975 = {1: 12.706204736174698, 2: 4.302652729911275, 3: 3.182446305284263}


class Node:
    def __init__(self, tag: str, attrs: dict, parent: "Node | None"):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list["Node | str"] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag: str | None = None, **attrs) -> list["Node"]:
        out = []
        for c in self.children:
            if isinstance(c, Node):
                if (tag is None or c.tag == tag) and all(c.attrs.get(k.rstrip("_")) == v
                                                         for k, v in attrs.items()):
                    out.append(c)
                out += c.find_all(tag, **attrs)
        return out


VOID = {"meta", "br", "img", "input", "link", "hr"}


class Tree(HTMLParser):
    """The page as a tree; also every (tag, attrs) seen, for the URL checks."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.cur)
        self.tags.append((tag, node.attrs))
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.cur)
        self.tags.append((tag, node.attrs))
        self.cur.children.append(node)

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        assert n is not None, f"unbalanced </{tag}>"
        self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def _squash(text: str) -> str:
    return re.sub(r"[\s\u2062]+", "", text)


def _json(run: Path, name: str) -> dict:
    return json.loads((run / name).read_text())


def _rewrite(run: Path, name: str, doc: dict) -> None:
    """A result file edited as the search would have written it (a fresh checksum): what the
    page does with its content, not the checksum's refusal."""
    from lossforge.runfiles import CHECKSUM, write_checked

    write_checked(run / name, {k: v for k, v in doc.items() if k != CHECKSUM})


@pytest.fixture(scope="module")
def page(probe_run):
    return Tree(run_report(probe_run))


def test_one_card_per_loss_with_its_formula_as_mathml(probe_run, page):
    hof = _json(probe_run, "hall_of_fame.json")["hall_of_fame"]
    front = _json(probe_run, "pareto.json")["pareto"]
    expected = [r["name"] for r in hof] + [r["name"] for r in front
                                           if r["name"] not in {h["name"] for h in hof}]
    cards = page.root.find_all("article", class_="card")
    assert [c.attrs["data-loss"] for c in cards] == expected and len(hof) >= 2
    rows = {r["name"]: r for r in hof + front}
    for card in cards:
        row = rows[card.attrs["data-loss"]]
        maths = card.find_all("math")
        assert len(maths) == 5          # h, h', phi~, the margin, the loss
        # the mirror map, as SymPy's own presentation-MathML printer writes h of the spec
        h = MirrorMap.from_formula(row["spec"]["mirror_map"]).h
        want = Tree(mathml(h, printer="presentation")).root.text()
        assert _squash(maths[0].text()) == _squash("h(p)=" + want)
        assert maths[0].find_all("mi") and not card.find_all("mfenced")   # MathML Core only
        # the loss line of the default DPO link: L = -log sigma(Delta)
        assert _squash(maths[4].text()) == "ℒ=-logσ(Δ)"
        assert row["loss"] in card.text()


def test_scores_and_paired_verdicts_match_the_run(probe_run, page):
    """Every (budget, baseline) row of a card: the loss's and the baseline's scores from the JSON,
    and the paired difference and verdict recomputed here from the t table."""
    hof = _json(probe_run, "hall_of_fame.json")
    baselines = {b["spec"]["name"]: b for b in hof["baselines"]}
    checked = 0
    for row in hof["hall_of_fame"]:
        card = page.root.find_all("article", id=f"loss-{row['name']}")[0]
        table = card.find_all("table", class_="scores")[0]
        for tr in table.find_all("tr")[1:]:
            rung, mine, base, base_score, diff, verdict = [td.text() for td in tr.find_all("td")]
            assert mine.startswith(f"{row[rung]['score']:.2f}")
            spec = baselines[base.split(" (")[0].lower()]["spec"]   # "DPO (beta 0.1)"
            assert base.startswith(f"{spec['name'].upper()} (beta {spec['beta']:g}")
            b = baselines[spec["name"]][rung]
            assert base_score.startswith(f"{b['score']:.2f}")
            d = np.array(row[rung]["per_seed"]) - np.array(b["per_seed"])
            if len(d) < 2:     # the search's rule: one pair gives no interval, no verdict
                assert verdict == "undecided (1 seed: no interval)" and diff == f"{d[0]:+.2f}"
                continue
            half = T975[len(d) - 1] * d.std(ddof=1) / math.sqrt(len(d))
            assert diff == f"{d.mean():+.2f} ± {half:.2f}"
            assert verdict == ("better" if d.mean() - half > 0 else
                               "worse" if d.mean() + half < 0 else "level")
            checked += 1
    assert checked >= 2


def test_cards_state_the_properties_of_the_loss(probe_run, page):
    """Each card lists the checked properties stored in the hall of fame (issue 19's
    ranking-preserving, bounded gradient, tails, reference, length), status by status."""
    hof = _json(probe_run, "hall_of_fame.json")
    for row in hof["hall_of_fame"]:
        card = page.root.find_all("article", id=f"loss-{row['name']}")[0]
        text = card.text()
        p = row["properties"]
        assert f"ranking-preserving {p['ranking']['status']}" in text
        assert ("reference: needed" in text) == p["reference"]
        assert ("length: unused" in text) == (not p["length"])
        assert (": not redescending" in text) == (not p["redescending"]["holds"])


def test_no_external_urls_and_no_script(page):
    for tag, attrs in page.tags:
        assert tag not in ("script", "link", "iframe", "img"), tag
        for key in ("src", "href", "xlink:href", "action"):
            value = attrs.get(key) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, key, value)
    style = "".join(n.text() for n in page.root.find_all("style"))
    assert "url(" not in style and "@import" not in style


def test_rejections_front_and_command(probe_run, page):
    hof = _json(probe_run, "hall_of_fame.json")
    rej = hof["counters"]["rejected"]
    table = page.root.find_all("table", id="rejections")[0]
    shown = {tr.find_all("td")[0].text(): int(tr.find_all("td")[1].text())
             for tr in table.find_all("tr")[1:]}
    assert shown == rej and sum(rej.values()) > 0
    # the front: one linked point per front loss, at its card
    svg = page.root.find_all("svg", id="front")[0]
    links = [a.attrs["href"] for a in svg.find_all("a")]
    front = _json(probe_run, "pareto.json")["pareto"]
    names = {r["name"] for r in front} | {r["name"] for r in hof["hall_of_fame"]}
    assert sorted(links) == sorted(f"#loss-{n}" for n in names)
    # the command parses back into this run's configuration
    from lossforge.search.__main__ import build_parser

    argv = shlex.split(page.root.find_all("pre", id="command")[0].text())
    assert argv[:3] == ["python", "-m", "lossforge.search"]
    args = build_parser().parse_args(argv[3:])
    cfg = _json(probe_run, "config.json")["config"]
    for key in ("scenario", "grammar", "budget", "generations", "population", "seed", "fitness",
                "top_fraction", "aggregation"):
        assert getattr(args, key) == cfg[key], key
    assert args.single_fidelity == (not cfg["multi_fidelity"])


def test_axes_name_the_runs_own_score(probe_run, page):
    """A probe run's charts say "probe score", not the benchmark's "normalised score"; a run's
    axis follows its fitness (words.score_axis)."""
    axes = {t.text() for svg in page.root.find_all("svg") for t in svg.find_all("text")
            if t.attrs.get("class") == "ax"}
    assert "probe score (synthetic) (auc)" in axes
    assert not any("normalised" in a for a in axes)
    from lossforge.search.words import score_axis

    assert score_axis("bench") == score_axis(None) == "normalised score"
    assert score_axis("llm") == "accuracy (%)"
    assert score_axis("mypkg.fit:evaluate") == "score (your fitness)"
    assert score_axis("probe", suite="benchmarks/suites/train.toml").startswith("suite score")


def test_curves_and_hostile_names(probe_run, tmp_path):
    """A training curve in the JSON becomes a line of as many points; a loss name full of markup
    stays text; a failed seed (null) leaves no paired difference and no verdict."""
    run = tmp_path / "run"
    shutil.copytree(probe_run, run)
    hof = _json(run, "hall_of_fame.json")
    evil = '<script>alert("x")</script>&'
    curve = [[0, 1.0], [10, 2.5], [20, 3.0], [30, None], [40, 4.0]]
    hof["hall_of_fame"][0]["full"]["curve"] = curve
    hof["hall_of_fame"][1]["name"] = evil
    hof["hall_of_fame"][2]["full"]["per_seed"][0] = None       # a seed that failed: no verdict
    _rewrite(run, "hall_of_fame.json", hof)
    html = run_report(run)
    tree = Tree(html)
    assert not any(tag == "script" for tag, _ in tree.tags)
    assert evil not in html and "&lt;script&gt;" in html
    first = tree.root.find_all("article", class_="card")[0]
    lines = first.find_all("polyline")
    assert len(lines) == 1 and len(lines[0].attrs["points"].split()) == 4   # null left out
    assert [c.attrs["data-loss"] for c in tree.root.find_all("article")][1] == evil
    third = tree.root.find_all("article", class_="card")[2]
    full_rows = [[td.text() for td in tr.find_all("td")] for tr in third.find_all("tr")[1:]
                 if tr.find_all("td")[0].text() == "full"]
    assert full_rows and all(r[4] == "–" and r[5] == "n/a (a seed has no score)" for r in full_rows)


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:          # argparse's usage errors
        return exc.code


def test_cli_writes_the_page_and_rejects_bad_input(probe_run, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main([str(probe_run), "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    capsys.readouterr()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    odd = tmp_path / "odd"
    shutil.copytree(probe_run, odd)
    hof = _json(odd, "hall_of_fame.json")
    del hof["hall_of_fame"][0]["name"]
    _rewrite(odd, "hall_of_fame.json", hof)
    for argv, says in (([str(tmp_path / "nope")], "not a run directory"),
                       ([str(tmp_path)], "config.json: missing"),
                       ([str(bad)], "config.json: malformed JSON"),
                       ([str(odd)], "not a run directory this version can read"),
                       ([], "exactly one of RUN_DIR and --table"),
                       ([str(probe_run), "--table", "x.jsonl"], "exactly one"),
                       (["--table", str(tmp_path / "nope.jsonl")], "no such results file")):
        assert _exit_code(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and says in err, (argv, err)


def test_baselines_table_by_hand(tmp_path):
    rows = []
    scores = {("hopper-clean", "dpo"): [10.0, 12.0, 14.0],
              ("hopper-clean", "orpo"): [20.0, 21.0, 22.0],
              ("hopper-noisy-0.3", "dpo"): [5.0, 7.0]}
    for (scen, loss), xs in scores.items():
        for seed, x in enumerate(xs):
            rows.append({"scenario": scen, "seed": seed, "budget": "full", "loss": loss,
                         "status": "ok", "score": x, "final": x, "auc": x, "curve": [],
                         "seconds": 1.0, "command": "python benchmarks/baselines.py run x"})
    path = tmp_path / "baselines-test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn')
    tree = Tree(table_report(path))
    table = tree.root.find_all("table", class_="baselines")[0]
    head = [th.text() for th in table.find_all("th")]
    assert head == ["loss", "hopper-clean", "hopper-noisy-0.3"]
    cells = {tr.attrs["data-loss"]: [td.text() for td in tr.find_all("td")][1:]
             for tr in table.find_all("tr")[1:]}
    t2, t1 = T975[2], T975[1]
    assert cells["dpo"] == [f"12.0 ± {t2 * 2 / math.sqrt(3):.1f}",
                            f"6.0 ± {t1 * math.sqrt(2) / math.sqrt(2):.1f} [2]"]
    assert cells["orpo"] == [f"21.0 ± {t2 * 1 / math.sqrt(3):.1f}", ""]
    best = [td.text() for td in table.find_all("td", class_="best")]   # best of each column
    assert best == [cells["dpo"][1], cells["orpo"][0]]
    made_by = tree.root.find_all("pre", id="command")[0].text()
    assert made_by == "python benchmarks/baselines.py run x"
    axes = [t.text() for t in tree.root.find_all("text") if t.attrs.get("class") == "ax"]
    assert axes.count("normalised score") == 2     # one seeds chart per MuJoCo scenario
    # the LLM test bed's scores are accuracies, and its chart says so
    for r in rows:
        r["scenario"] = "llm:" + r["scenario"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tree = Tree(table_report(path))
    axes = [t.text() for t in tree.root.find_all("text") if t.attrs.get("class") == "ax"]
    assert axes.count("accuracy (%)") == 2 and "normalised score" not in axes


def _confirm_row(loss, role, draw, seed, auc, status="ok", curve=None, **extra):
    return {"scenario": "hopper-clean", "draw": draw, "seed": seed, "budget": "full",
            "loss": loss, "role": role, "status": status, "score": auc, "final": auc + 1,
            "auc": auc, "auc_over": "checkpoints" if curve is None else "untrained",
            "curve": [[200, auc - 2], [400, auc + 2]] if curve is None else curve,
            "seconds": 1.0, "command": "python benchmarks/baselines.py confirm x", **extra}


def test_a_confirmation_page_by_hand(tmp_path):
    """A confirm file: per draw the mean over seeds, then mean ± t-CI over draws; the paired
    difference to the best tuned baseline; the mean curves (a failed run left out); and a chart
    of the candidate, the best tuned baseline, DPO/ORPO/SFT and the reference only."""
    from lossforge.report.table import mean_curves

    aucs = {("lf-x[lr=0.001]", "candidate", ""): [(30, 32), (28, 30), (34, 36)],
            ("simpo[beta=2,lr=0.001]", "baseline", "simpo"): [(27, 27), (26, 28), (30, 30)],
            ("dpo[beta=0.1,lr=0.001]", "baseline", "dpo"): [(20, 22), (21, 21), (25, None)],
            ("ipo[beta=1,lr=0.001]", "baseline", "ipo"): [(10, 10)] * 3}
    rows = []
    for (loss, role, base), per_draw in aucs.items():
        for draw, xs in enumerate(per_draw, start=1):
            for seed, x in enumerate(xs):
                extra = {"baseline": base} if base else {"candidate": "lf-x"}
                rows.append(_confirm_row(loss, role, draw, seed, x, **extra) if x is not None
                            else _confirm_row(loss, role, draw, seed, float("nan"),
                                              status="failed", **extra))
    rows += [_confirm_row("reference (BC)", "fixed", d, sd, 13.0 + d, curve=[])
             for d in (1, 2, 3) for sd in (0, 1)]
    path = tmp_path / "confirm-test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "winners").mkdir()                        # where the repository keeps specs
    (tmp_path / "winners" / "lf-x.json").write_text(json.dumps(
        {"spec": {"name": "lf-x", "mirror_map": "exp(p)", "beta": 0.1, "reference": True,
                  "link": "-logsigmoid(D)", "aggregation": "mean"}}))

    tree = Tree(table_report(path))
    formulas = [li.text() for li in tree.root.find_all("ul", id="candidates")[0].find_all("li")]
    assert formulas == ["lf-x: h(p) = exp(p);  L = -logsigmoid(D),  D = 0.1 * [(phi~(l_w) - "
                        "phi~(l_ref,w)) - (phi~(l_l) - phi~(l_ref,l))],  l = mean log-prob"]
    table = tree.root.find_all("table", class_="confirmation")[0]
    assert [th.text() for th in table.find_all("th")] == [
        "row", "role", "AUC", "final", "AUC vs best", "final vs best", "draws"]
    cells = {tr.attrs["data-loss"]: [td.text() for td in tr.find_all("td")][1:]
             for tr in table.find_all("tr")[1:]}
    # candidates first, then baselines by mean AUC (DPO's failed draw makes its mean n/a: last)
    assert list(cells) == ["lf-x[lr=0.001]", "simpo[beta=2,lr=0.001]", "ipo[beta=1,lr=0.001]",
                           "dpo[beta=0.1,lr=0.001]", "reference (BC)"]
    t2 = T975[2]
    draw_means = [31.0, 29.0, 35.0]                 # lf-x: each draw's mean over its two seeds
    sd = math.sqrt(sum((x - 31 - 2 / 3) ** 2 for x in draw_means) / 2)
    diffs = [31.0 - 27.0, 29.0 - 27.0, 35.0 - 30.0]  # minus simpo, the best tuned baseline
    sd_diff = math.sqrt(sum((x - 11 / 3) ** 2 for x in diffs) / 2)
    assert cells["lf-x[lr=0.001]"] == [
        "candidate", f"31.7 ± {t2 * sd / math.sqrt(3):.1f}", f"32.7 ± {t2 * sd / math.sqrt(3):.1f}",
        f"+3.7 ± {t2 * sd_diff / math.sqrt(3):.1f}", f"+3.7 ± {t2 * sd_diff / math.sqrt(3):.1f}",
        "3"]
    assert cells["simpo[beta=2,lr=0.001]"][3:5] == ["best tuned", "best tuned"]
    assert cells["dpo[beta=0.1,lr=0.001]"][1] == "n/a ± n/a"
    assert [td.text() for td in table.find_all("td", class_="best")] == cells["lf-x[lr=0.001]"][1:3]

    # the curves: by hand; DPO's draw 3 is its seed 0 alone (seed 1 failed)
    curves = mean_curves([json.loads(x) for x in path.read_text().splitlines()])
    def same(got, want):        # [(step, value)]: the steps exact, the values to rounding
        return [s for s, _ in got] == [s for s, _ in want] and all(
            v == pytest.approx(w) for (_, v), (_, w) in zip(got, want))

    assert same(curves[("full", "hopper-clean", "lf-x[lr=0.001]")],
                [(200, 29 + 2 / 3), (400, 33 + 2 / 3)])
    assert same(curves[("full", "hopper-clean", "dpo[beta=0.1,lr=0.001]")],
                [(200, (19 + 19 + 23) / 3), (400, (23 + 23 + 27) / 3)])
    assert ("full", "hopper-clean", "reference (BC)") not in curves   # it does not train
    svg = tree.root.find_all("svg", class_="chart")[0]
    legend = [t.text() for t in svg.find_all("text", class_="lg")]
    assert legend == ["lf-x[lr=0.001]", "simpo[beta=2,lr=0.001] (best tuned)",
                      "dpo[beta=0.1,lr=0.001]", "reference (BC)"]        # not IPO
    assert len(svg.find_all("polyline")) == 3            # the three trained rows' curves
    assert [t.text() for ln in svg.find_all("line") for t in ln.find_all("title")] == [
        "reference (BC): 15.00"]                          # a flat line at its mean AUC
    assert tree.root.find_all("pre", id="command")[0].text() == (
        "python benchmarks/baselines.py confirm x")


def test_mean_curves_keep_the_steps_every_seed_and_draw_has():
    """A seed that skipped a checkpoint: that step is left out of its draw's mean, and so of the
    mean over draws (steps of one draw only never show)."""
    from lossforge.report.table import mean_curves

    def row(draw, seed, curve):
        return _confirm_row("lf-x", "candidate", draw, seed, 0.0) | {"curve": curve}

    rows = [row(1, 0, [[200, 10.0], [400, 20.0], [600, 30.0]]),
            row(1, 1, [[200, 12.0], [600, 34.0]]),
            row(2, 0, [[200, 2.0], [400, 4.0], [600, 6.0], [800, 8.0]])]
    assert mean_curves(rows) == {("full", "hopper-clean", "lf-x"): [(200, (11 + 2) / 2),
                                                                    (600, (32 + 6) / 2)]}


@pytest.mark.parametrize("bad", ['{"x": 1}\n[1, 2]\n', "CURVE"])
def test_a_results_file_of_the_wrong_shape_is_one_line(tmp_path, capsys, bad):
    """A line that is not a row, or a confirm row whose curve is malformed: exit 2 and one
    line naming the file, no traceback."""
    path = tmp_path / "bad.jsonl"
    if bad == "CURVE":
        rows = [_confirm_row("dpo", "baseline", d, 0, 10.0 + d) for d in (1, 2)]
        rows[1]["curve"] = [[200, None]]
        bad = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(bad)
    assert _exit_code(["--table", str(path), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and err.count("\n") == 1, err


def test_a_sweep_file_shows_its_tuning_draw_and_its_picks(tmp_path):
    """A sweep's rows sit on the tuning draw: its page is the seeds' table of that draw, the
    config its tuned.json froze marked; a grid of more losses than colours gets no chart."""
    def row(loss, seed, x):
        return {"scenario": "hopper-clean", "draw": "t", "seed": seed, "budget": "full",
                "loss": loss, "status": "ok", "score": x, "final": x, "auc": x, "curve": [],
                "seconds": 1.0, "command": "python benchmarks/baselines.py sweep x"}

    rows = [row("dpo[lr=0.001]", seed, x) for seed, x in ((100, 10.0), (101, 14.0))]
    rows.append(row("dpo[lr=0.0001]", 100, 5.0))
    path = tmp_path / "sweep-test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    path.with_suffix(".tuned.json").write_text(json.dumps(
        {"scenarios": {"hopper-clean": {"dpo": {"loss": "dpo[lr=0.001]", "auc": 12.0}}}}))
    tree = Tree(table_report(path))
    assert "on the tuning draw (a sweep)" in tree.root.find_all("p", class_="meta")[0].text()
    table = tree.root.find_all("table", class_="baselines")[0]
    cells = {tr.attrs["data-loss"]: [td.text() for td in tr.find_all("td")][1]
             for tr in table.find_all("tr")[1:]}
    assert cells == {"dpo[lr=0.001]": f"12.0 ± {T975[1] * math.sqrt(8) / math.sqrt(2):.1f} (pick)",
                     "dpo[lr=0.0001]": "5.0 [1]"}
    assert len(tree.root.find_all("svg", class_="chart")) == 1       # two losses: plotted
    rows += [row(f"dpo[lr={k}e-05]", 100, float(k)) for k in range(1, 10)]   # 11 losses
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tree = Tree(table_report(path))
    assert not tree.root.find_all("svg", class_="chart")
    assert "11 losses, more than a chart can tell apart" in tree.root.text()


def test_baselines_table_of_the_shipped_results_matches_the_readme():
    """The README's state of the field: Hopper noisy-0.3, DPO 29.7 ± 0.8, ORPO 27.1 ± 0.3."""
    tree = Tree(table_report(REPO / "benchmarks" / "results" / "baselines-hopper-full.jsonl"))
    table = tree.root.find_all("table", class_="baselines")[0]
    head = [th.text() for th in table.find_all("th")]
    col = head.index("hopper-noisy-0.3")
    cells = {tr.attrs["data-loss"]: [td.text() for td in tr.find_all("td")]
             for tr in table.find_all("tr")[1:]}
    assert cells["dpo"][col] == "29.7 ± 0.8" and cells["orpo"][col] == "27.1 ± 0.3"


def test_module_runs_as_a_command(probe_run, tmp_path):
    out = tmp_path / "cli.html"
    proc = subprocess.run([sys.executable, "-m", "lossforge.report", str(probe_run), "-o",
                           str(out)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out) and out.stat().st_size > 1000


def test_an_es_run_has_cards_without_formulas_and_its_own_command(tmp_path):
    """A neural phi~ has no closed form: its card shows the loss text, no MathML; the command
    is --method es with the run's settings."""
    from lossforge.search import run_search
    from lossforge.search.__main__ import build_parser
    from lossforge.search.es import ESConfig

    cfg = ESConfig(scenario="quick", generations=1, population=4, seed=1, fitness="probe",
                   workers=1)
    run = run_search(cfg, runs_root=tmp_path, quiet=True)
    tree = Tree(run_report(run))
    hof = _json(run, "hall_of_fame.json")["hall_of_fame"]
    cards = tree.root.find_all("article", class_="card")
    assert {c.attrs["data-loss"] for c in cards} >= {r["name"] for r in hof}
    assert all(not c.find_all("math") and "neural phi~" in c.text() for c in cards)
    args = build_parser().parse_args(
        shlex.split(tree.root.find_all("pre", id="command")[0].text())[3:])
    assert (args.method, args.generations, args.population, args.seed, args.sigma0,
            args.hidden, args.budget) == ("es", 1, 4, 1, cfg.sigma0, cfg.hidden, cfg.budget)


def test_a_confirmation_page_says_which_draws_pool_two_builds_and_which_are_split(tmp_path):
    """Seed 1 of draw 2 rebuilt for every loss (a later session on another machine): each pair
    is clean, and the page says the draw pools two builds; one loss alone on the other build
    makes the draw's pairs unclean, which the page warns of."""
    rows = [_confirm_row(loss, role, d, sd, 20.0 + d + sd, dataset_sha256=f"d{d}",
                         reference_sha256=f"r{d}", **({"candidate": "lf-x"} if role ==
                                                      "candidate" else {"baseline": "dpo"}))
            for loss, role in (("lf-x[lr=0.001]", "candidate"), ("dpo[beta=0.1,lr=0.001]",
                                                                  "baseline"))
            for d in (1, 2, 3) for sd in (0, 1)]
    for r in rows:
        if (r["draw"], r["seed"]) == (2, 1):
            r["dataset_sha256"] = "d2-rebuilt"
    path = tmp_path / "confirm-builds.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = Tree(table_report(path)).root.text()
    assert "Draw(s) 2 pool two builds" in text and "Not clean pairs" not in text
    # dpo's draw 2 seed 1 back on the first build: that seed's pair mixes two builds
    next(r for r in rows if (r["loss"], r["draw"], r["seed"]) ==
         ("dpo[beta=0.1,lr=0.001]", 2, 1))["dataset_sha256"] = "d2"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = Tree(table_report(path)).root.text()
    assert "Not clean pairs on draw(s) 2:" in text and "pool two builds" not in text


def test_an_edited_result_file_is_refused_as_show_refuses_it(probe_run, tmp_path, capsys):
    """A score edited by hand in hall_of_fame.json (or pareto.json) after the run: the checksum
    refuses it, one line and exit 2, the same line as ``search show``; nothing is written."""
    from lossforge.search.__main__ import main as search_main

    for name, key in (("hall_of_fame.json", "hall_of_fame"), ("pareto.json", "pareto")):
        run = tmp_path / f"edited-{key}"
        shutil.copytree(probe_run, run)
        doc = _json(run, name)
        doc[key][0]["full"]["score"] = 99.0                     # the old checksum stays
        (run / name).write_text(json.dumps(doc))
        out = tmp_path / f"{key}.html"
        capsys.readouterr()
        assert _exit_code([str(run), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err == f"error: {run / name}: " + err.split(": ", 2)[2] and err.count("\n") == 1
        assert "checksum mismatch" in err and "nothing read from it" in err, err
        assert not out.exists()
        assert search_main(["show", str(run)]) == 2
        assert capsys.readouterr().err == err


@pytest.mark.parametrize("name,field", [("hall_of_fame.json", "score"),
                                        ("hall_of_fame.json", "curve"),
                                        ("hall_of_fame.json", "baseline"),
                                        ("pareto.json", "complexity"), ("pareto.json", "row")])
def test_a_string_where_a_number_should_be_is_one_line(probe_run, tmp_path, capsys, name, field):
    """Content of the wrong type under a valid checksum (or none): exit 2 and one line, never a
    traceback."""
    run = tmp_path / "run"
    shutil.copytree(probe_run, run)
    doc = _json(run, name)
    rows = doc["hall_of_fame" if name == "hall_of_fame.json" else "pareto"]
    if field == "row":
        rows[0] = "lf-x"
    elif field == "complexity":
        rows[0]["complexity"] = "five"
    elif field == "curve":
        rows[0]["full"]["curve"] = [["a", "b"]]
    elif field == "baseline":
        doc["baselines"][0]["full"]["score"] = "12.5"
    else:
        rows[0]["full"]["score"] = "12.5"
    _rewrite(run, name, doc)
    assert _exit_code([str(run), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run}: not a run directory this version can read (") \
        and err.count("\n") == 1, err


def test_results_without_a_checksum_are_read_and_said_unchecked(probe_run, tmp_path, capsys):
    """A run directory from before results were checksummed: its page is made, with the same
    note as ``search show`` and ``export`` give, on stderr and on the page."""
    run = tmp_path / "old"
    shutil.copytree(probe_run, run)
    doc = _json(run, "pareto.json")
    del doc["sha256"]
    (run / "pareto.json").write_text(json.dumps(doc))
    out = tmp_path / "old.html"
    assert main([str(run), "-o", str(out)]) == 0
    from lossforge.objectives.run import load_run
    from lossforge.runfiles import unchecked_note

    note = unchecked_note(load_run(run))
    assert "pareto.json" in note and "hall_of_fame" not in note
    assert capsys.readouterr().err == note + "\n"
    assert Tree(out.read_text()).root.find_all("p", id="unchecked")[0].text() == note


def test_cards_and_verdict_say_when_a_loss_is_dpo_at_another_beta(probe_run, page, tmp_path):
    """The statement ``search show`` prints under a loss whose phi~ is linear in l
    (``summary.known_text``): on that loss's card, and in the verdict for the best loss."""
    from lossforge.objectives.zoo import known_as

    hof = _json(probe_run, "hall_of_fame.json")["hall_of_fame"]
    front = _json(probe_run, "pareto.json")["pareto"]
    rows = {r["name"]: r for r in hof + front}
    said = 0
    for card in page.root.find_all("article", class_="card"):
        hit = known_as(rows[card.attrs["data-loss"]]["spec"])
        known = card.find_all("p", class_="known")
        if hit is None:
            assert not known and "not a new loss" not in card.text()
            continue
        assert hit[0] == "dpo"
        assert [p.text() for p in known] == [
            f"= DPO at beta {hit[1]:g}, exactly (phi~ is linear in l): not a new loss"]
        said += 1
    assert said >= 1            # this run found DPO itself (and 2 p log p: DPO at beta 0.2)
    best = hof[0]
    verdict = page.root.find_all("section", id="verdict")[0]
    assert bool(verdict.find_all("p", id="verdict-known")) == (known_as(best["spec"]) is not None)
    # a best loss that is DPO at beta 1.8 (18 p log p), edited in with a fresh checksum
    run = tmp_path / "run"
    shutil.copytree(probe_run, run)
    doc = _json(run, "hall_of_fame.json")
    doc["hall_of_fame"][0]["spec"] = {**best["spec"], "mirror_map": "18*p*log(p)", "beta": 0.1}
    _rewrite(run, "hall_of_fame.json", doc)
    tree = Tree(run_report(run))
    known = tree.root.find_all("p", id="verdict-known")
    assert [p.text() for p in known] == [
        f"{best['name']} = DPO at beta 1.8, exactly (phi~ is linear in l): not a new loss; the "
        "verdict against DPO (beta 0.1) compares DPO at beta 1.8 with DPO at beta 0.1"]
    card = tree.root.find_all("article", id=f"loss-{best['name']}")[0]
    assert "= DPO at beta 1.8, exactly" in card.find_all("p", class_="known")[0].text()


def test_a_damaged_generations_log_keeps_its_good_lines(probe_run, tmp_path):
    """generations.jsonl with a line that is not UTF-8 (damage) and a torn last line: the page
    reads every good line and skips those two; the bytes used to stop it with a traceback."""
    from lossforge.report.page import read_run

    run = tmp_path / "damaged-generations"
    shutil.copytree(probe_run, run)
    log = run / "generations.jsonl"
    good = [json.loads(line) for line in log.read_text().splitlines()]
    log.write_bytes(log.read_bytes() + b"\x80\x04garbage\n" + b'{"torn')
    assert good and read_run(run)["generations"] == good
