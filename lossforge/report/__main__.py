"""``python -m lossforge.report``: a search run directory, or a ``benchmarks/baselines.py``
results file (a run table, a sweep or a confirmation), as one self-contained HTML file.

    python -m lossforge.report runs/<run>                        # writes runs/<run>/report.html
    python -m lossforge.report runs/<run> -o /tmp/run.html
    python -m lossforge.report --table benchmarks/results/baselines-hopper-full.jsonl
                                                                 # writes ...-hopper-full.html
    python -m lossforge.report --table benchmarks/results/confirm-<name>.jsonl -o /tmp/c.html

Without ``-o`` the page goes beside its input, as the README shows (``report.html`` in the run
directory; the results file's name with ``.html``, which ``.gitignore`` ignores under
benchmarks/results/); the path written is printed either way.

The page has the Pareto front, one card per loss of the hall of fame and the front (formulas
as MathML, properties, scores against every baseline with paired differences and a verdict,
training curves), rejection counts and the command that reproduces the run. Run directories
and tables are read as JSON only; a run's result files as ``search show`` and ``export`` read
them (one edited or damaged after the run is refused by its checksum). Exit code 2 on bad input,
with a one-line message.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lossforge.cli import Parser, run_main
from lossforge.errors import CheckpointError, LossforgeError
from lossforge.io import atomic_write_text



def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m lossforge.report",
                 description="Write a self-contained HTML report (no network needed to view it) "
                             "of a search run directory or of a benchmarks/baselines.py results "
                             "file. Prints the path written.")
    ap.add_argument("run", nargs="?", metavar="RUN_DIR", help="a search run directory")
    ap.add_argument("--table", metavar="FILE.jsonl",
                    help="instead of a run directory: a benchmarks/baselines.py results file "
                         "(JSON lines), whichever command wrote it: a run table "
                         "(baselines-*.jsonl of 'run'), a sweep (sweep-*.jsonl of 'sweep': its "
                         "tuning draw and tuned picks) or a confirmation (confirm-*.jsonl of "
                         "'confirm': fresh draws, vs the best tuned baseline); not the "
                         ".confirm.json/.md 'report' writes from it")
    ap.add_argument("-o", "--output", metavar="FILE.html",
                    help="where to write (default: beside the input: RUN_DIR/report.html, or "
                         "the results file's path with .html)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if (args.run is None) == (args.table is None):
        ap.error("give exactly one of RUN_DIR and --table FILE")
    try:
        if args.table is not None:
            from lossforge.report.table import table_report

            html = table_report(args.table)
            out = Path(args.output or Path(args.table).with_suffix(".html"))
        else:
            from lossforge.report.page import read_run, run_page, unchecked_note

            run = read_run(args.run)    # a result file edited after the run: refused here
            try:
                html = run_page(run)
            except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
                # JSON of the wrong shape: a field missing, a string where a number should be
                raise CheckpointError(f"{args.run}: not a run directory this version can read "
                                      f"({type(exc).__name__}: {exc})") from None
            note = unchecked_note(run)
            if note:
                print(note, file=sys.stderr)
            out = Path(args.output or Path(args.run) / "report.html")
        atomic_write_text(out, html)
    except LossforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    run_main(main)
