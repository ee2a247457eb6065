"""One exception hierarchy for everything lossforge reports to a user.

Every message names the thing at fault (file and line, formula, field) so a user can fix it
without reading a traceback. CLIs catch ``LossforgeError`` and exit with code 2.
"""


class LossforgeError(Exception):
    """Base class of every error lossforge raises on purpose."""


class FormulaError(LossforgeError):
    """A user formula is malformed, unsafe, or uses something outside the op table."""


class GrammarError(LossforgeError):
    """A grammar file is malformed or cannot generate trees."""


class CheckError(LossforgeError):
    """A mirror map failed a validity check where validity was required."""


class ConfigError(LossforgeError):
    """A scenario, budget or run configuration is malformed."""


class LeaksTestSet(ConfigError):
    """A search would select on test-suite data without --allow-test
    (``bench.suites.refuse_test_scenario`` and ``refuse_test_suite``)."""


class CheckpointError(LossforgeError):
    """A checkpoint or run directory is missing, corrupted or from another run."""
