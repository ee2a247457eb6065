"""The HTML page of a baselines table: a ``benchmarks/results/baselines-*.jsonl`` file as
``benchmarks/baselines.py run`` writes it, as mean ± 95 % t-interval over seeds per scenario and
loss (losses down, scenarios across, one table per budget), with a chart per scenario.

The rows are read by ``benchmarks/baselines.py``'s own reader (torn lines skipped, rows two jobs
both wrote counted once, disagreeing copies refused), and the interval is the benchmark's
``ci95_halfwidth``: the numbers are those of ``baselines.py table``.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import sys
from collections import defaultdict
from html import escape
from pathlib import Path

from lossforge.bench.fitness import ci95_halfwidth
from lossforge.errors import ConfigError
from lossforge.report.page import page
from lossforge.report.svg import COLOURS, Series, chart

#: Row order of the README's tables; other losses follow, sorted.
KNOWN = ("reference (BC)", "bc-on-chosen", "dpo", "dpo[beta=0.5]", "dpo[beta=2]", "orpo", "ipo",
         "robust", "hinge")


@functools.cache
def _baselines_module():
    """benchmarks/baselines.py of this checkout (the table's reader lives there)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "baselines.py"
    if not path.exists():
        raise ConfigError(f"{path}: missing; --table needs lossforge's source checkout "
                          "(benchmarks/ is not installed with the package)")
    if str(path.parent) not in sys.path:   # its modules (cells.py, ...), as when run as a script
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("lossforge_benchmarks_baselines", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses in it look their module up there
    spec.loader.exec_module(module)
    return module


def summarise(path: str | Path) -> tuple[list[dict], list[str]]:
    """One dict per (budget, scenario, loss): seeds, per-seed scores, mean and 95 % CI; and
    the commands that wrote the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such results file")
    baselines = _baselines_module()
    try:
        cells = baselines._summary(path)
        commands = sorted({str(r.get("command", "")) for r in baselines.records(path)} - {""})
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: not a baselines.py results file (row field {exc})") from None
    except SystemExit as exc:          # the reader refuses disagreeing copies of a row
        raise ConfigError(str(exc.code)) from None
    out = []
    for (budget, scenario, loss), xs in sorted(cells.items()):
        scores = [float(v) for _, v in sorted(xs)]
        out.append({"budget": budget, "scenario": scenario, "loss": loss,
                    "seeds": [s for s, _ in sorted(xs)], "per_seed": scores,
                    "mean": sum(scores) / len(scores), "ci95": ci95_halfwidth(scores)})
    if not out:
        raise ConfigError(f"{path}: no result rows")
    return out, commands


def _cell(r: dict, best: bool, most: int) -> str:
    txt = f"{r['mean']:.1f}" if math.isfinite(r["mean"]) else "failed"
    if math.isfinite(r["ci95"]):
        txt += f" ± {r['ci95']:.1f}"
    if len(r["per_seed"]) < most:
        txt += f" [{len(r['per_seed'])}]"
    txt = escape(txt)
    return f"<td class=\"best\"><b>{txt}</b></td>" if best else f"<td>{txt}</td>"


def table_report(path: str | Path) -> str:
    """The whole HTML page of one baselines JSONL file."""
    rows, commands = summarise(path)
    by_budget: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_budget[r["budget"]].append(r)
    parts = [f"<h1>Baselines: <code>{escape(Path(path).name)}</code></h1>"
             "<p class=\"meta\">Normalised score (100 = expert, 0 = random policy), mean ± 95 % "
             "t-interval over training seeds; [n]: fewer seeds than the most in this table; "
             "the best mean of each scenario in bold.</p>"]
    for budget, rs in sorted(by_budget.items()):
        scenarios = sorted({r["scenario"] for r in rs})
        found = {r["loss"] for r in rs}
        losses = [n for n in KNOWN if n in found] + sorted(found - set(KNOWN))
        cell = {(r["scenario"], r["loss"]): r for r in rs}
        most = max(len(r["per_seed"]) for r in rs)
        best = {s: max((cell[(s, n)]["mean"] for n in losses if (s, n) in cell
                        and math.isfinite(cell[(s, n)]["mean"])), default=math.nan)
                for s in scenarios}
        head = "".join(f"<th>{escape(s)}</th>" for s in scenarios)
        body = []
        for n in losses:
            tds = "".join(_cell(cell[(s, n)], cell[(s, n)]["mean"] == best[s], most)
                          if (s, n) in cell else "<td></td>" for s in scenarios)
            body.append(f"<tr data-loss=\"{escape(n)}\"><td class=\"l\">{escape(n)}</td>{tds}"
                        "</tr>")
        parts.append(f"<h2>{escape(budget)} budget</h2><table class=\"baselines\" "
                     f"data-budget=\"{escape(budget)}\"><tr><th class=\"l\">loss</th>{head}</tr>"
                     f"{''.join(body)}</table>")
        for s in scenarios:
            series = []
            for k, n in enumerate(n for n in losses if (s, n) in cell):
                r = cell[(s, n)]
                series.append(Series(n, [(float(seed), v) for seed, v in
                                         zip(r["seeds"], r["per_seed"])],
                                     COLOURS[k % len(COLOURS)], kind="points",
                                     tips=[f"{n}, seed {seed}: {v:.1f}" for seed, v in
                                           zip(r["seeds"], r["per_seed"])]))
            parts.append(chart(series, title=f"{s} ({budget}): score per training seed",
                               xlabel="training seed", ylabel="normalised score", width=640,
                               height=300, integer_x=True))
    if commands:
        parts.append("<h2>Made by</h2><pre id=\"command\">" + escape("\n".join(commands))
                     + "</pre>")
    return page(f"baselines {Path(path).name}", "".join(parts))
