"""Suite-wide settings: no test writes into the repository's selection ledger
(benchmarks/results/ledger.jsonl). Set at import, so subprocesses the tests start inherit it;
a test that checks the ledger points LOSSFORGE_LEDGER (or --ledger) at a temporary file.

Settings of the shell that runs the suite do not reach the tests either: a CI's colour and width
(rich treats even a StringIO console as a terminal under FORCE_COLOR), a user's own scenario,
suite and zoo folders, and a benchmark job's variables (``benchmarks/v2_mujoco.sh`` reads
RESULTS, WORKERS, TASKS and NICE; RESULTS pointed its script tests at the real result files; a
touched LOSSFORGE_DRAIN file stops every ``baselines.py`` run with exit 3).
LOSSFORGE_CACHE is kept: CI points it at an empty cache on purpose.

OpenMP threads wait passively (as ``benchmarks/cells.py`` has them): BC trains with two torch
threads, and with the default spinning wait a thread waiting for its partner holds a core that
another process needs. Beside a two-worker benchmark job, tests/bench/test_fitness.py took 158 s
spinning and 68 s passive, with the same floats (``benchmarks/results/test-runs.md``). It only
works before torch loads, which no test module does before this file; a shell's own setting wins."""

import os
import sys

os.environ["LOSSFORGE_LEDGER"] = "off"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if "torch" in sys.modules:  # a plugin loaded it first: the setting above came too late
    print("tests/conftest.py: torch was imported before OMP_WAIT_POLICY was set; "
          "the suite runs slower beside other jobs", file=sys.stderr)

for _var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR", "COLUMNS", "LINES",
             "LOSSFORGE_DRAIN", "LOSSFORGE_SCENARIOS", "LOSSFORGE_SUITES", "LOSSFORGE_ZOO",
             "LOSSFORGE_ZOO_WORK", "RESULTS", "WORKERS", "TASKS", "NICE"):
    os.environ.pop(_var, None)
