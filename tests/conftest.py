"""Suite-wide settings: no test writes into the repository's selection ledger
(benchmarks/results/ledger.jsonl). Set at import, so subprocesses the tests start inherit it;
a test that checks the ledger points LOSSFORGE_LEDGER (or --ledger) at a temporary file.

Settings of the shell that runs the suite do not reach the tests either: a CI's colour and width
(rich treats even a StringIO console as a terminal under FORCE_COLOR), a user's own scenario,
suite and zoo folders, and a benchmark job's variables (``benchmarks/v2_mujoco.sh`` reads
RESULTS, WORKERS, TASKS and NICE; RESULTS pointed its script tests at the real result files; a
touched LOSSFORGE_DRAIN file stops every ``baselines.py`` run with exit 3).
LOSSFORGE_CACHE is kept: CI points it at an empty cache on purpose."""

import os

os.environ["LOSSFORGE_LEDGER"] = "off"

for _var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR", "COLUMNS", "LINES",
             "LOSSFORGE_DRAIN", "LOSSFORGE_SCENARIOS", "LOSSFORGE_SUITES", "LOSSFORGE_ZOO",
             "LOSSFORGE_ZOO_WORK", "RESULTS", "WORKERS", "TASKS", "NICE"):
    os.environ.pop(_var, None)
