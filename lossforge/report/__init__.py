"""Self-contained HTML reports: one file per search run directory or ``benchmarks/baselines.py``
results file (a run table, a sweep or a confirmation), viewable offline (inline CSS, SVG charts
and MathML formulas; no script, nothing fetched).

    python -m lossforge.report runs/<run>                 # -> runs/<run>/report.html
    python -m lossforge.report --table benchmarks/results/baselines-hopper-full.jsonl

``run_report(path)`` and ``table_report(path)`` return the page as a string.
"""

from lossforge.report.page import run_report
from lossforge.report.table import table_report

__all__ = ["run_report", "table_report"]
