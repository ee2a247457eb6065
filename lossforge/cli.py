"""What every ``python -m lossforge.X`` command line shares."""

import argparse
import sys


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit code 2.

    argparse's own error prints the whole usage block first; with a dozen flags that buries the
    one line that says what was wrong. ``--help`` still prints everything.
    """

    def error(self, message):
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)
