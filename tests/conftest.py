"""Suite-wide settings: no test writes into the repository's selection ledger
(benchmarks/results/ledger.jsonl). Set at import, so subprocesses the tests start inherit it;
a test that checks the ledger points LOSSFORGE_LEDGER (or --ledger) at a temporary file."""

import os

os.environ["LOSSFORGE_LEDGER"] = "off"
