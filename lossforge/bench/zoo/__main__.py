"""``python -m lossforge.bench.zoo``: see lossforge/bench/zoo/cli.py."""

import sys

from lossforge.bench.zoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
