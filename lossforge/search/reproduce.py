"""The command line that runs a search again, from its run directory's config.json: the
"Reproduce" command of the run's HTML page (``lossforge/report/page.py``).

``reproduce_command(start)`` gives a ``python -m lossforge.search`` command that the search
command line (``search/__main__.py``) accepts and that rebuilds the run's SearchConfig or
ESConfig (``__main__.config_from_args``), field for field, except the fields that cannot change
results. Options, in the command line's own spelling:

* always given, so the command pins them even if a default changes later: ``--method es``,
  ``--fitness``, ``--scenario`` (a ``--fitness llm`` run: ``--llm-task`` and ``--llm-variant``,
  which make its scenario ``task/variant``; a suite run: none, ``--suite`` replaces it and the
  run never reads the scenario), ``--budget``, ``--generations``, ``--population``,
  ``--seed``, ``--aggregation``; gp: ``--grammar``, ``--top-fraction``; es: ``--sigma0``,
  ``--hidden``;
* given when set, i.e. not at the command line's default: ``--link-grammar``,
  ``--imitation-grammar`` (gp and es), ``--beta``, ``--eval-timeout``; gp: ``--require``,
  ``--single-fidelity``, ``--suite`` and with it ``--suite-objective``, ``--suite-baselines``,
  ``--no-race``, ``--race-delta``; ``--allow-test`` when the command line would refuse the
  scenario or suite as test data without it (checked as it checks);
* never: ``--executor`` and ``--workers`` (how evaluations are spread over processes: every
  executor runs the same task on the same chunks and seeds, ``executors.py``, so the numbers do
  not depend on them), ``--runs-dir``, ``--ledger``, ``--purpose``, ``--quiet`` (where the run
  is written, logged and what is printed), ``--resume``. ``--eval-timeout`` is given: a timeout
  that fires records its loss as failed, which changes the results.

A config field that can change results but has no command-line flag (gp: ``immigrants``,
``max_height``, ``max_size``, ``operator_weights``, ``baselines``, ``check_time_limit_s``,
``hall_of_fame``, ``dedup``, ``metric``; es: ``l_range``, ``baselines``, ``hall_of_fame``,
``metric``) and is not at its default is never dropped silently: the command ends with a shell
comment that names each such field and its value as config.json has it, e.g.
``python -m lossforge.search ...  # NOT reproduced, no command-line flag (set them in
lossforge.search.SearchConfig): immigrants=0.2``. The shell ignores the comment, so the command
still runs; the comment says it runs with those fields at their defaults.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from lossforge.errors import LeaksTestSet, LossforgeError

#: Config fields the command leaves out: they cannot change a run's numbers (see above).
NO_RESULT_EFFECT = frozenset({"executor", "workers"})

#: (field, flag, kind) of each method: "pin": always given; "set": given when not at the
#: default (None: not set); "off": the bare flag when the field is False; "list": the items
#: joined by commas when there are any; "suite": as "set", and only in a suite run.
_FLAGS = {
    "gp": (("grammar", "--grammar", "pin"), ("link_grammar", "--link-grammar", "set"),
           ("imitation_grammar", "--imitation-grammar", "set"),
           ("require", "--require", "list"), ("budget", "--budget", "pin"),
           ("generations", "--generations", "pin"), ("population", "--population", "pin"),
           ("seed", "--seed", "pin"), ("eval_timeout", "--eval-timeout", "set"),
           ("top_fraction", "--top-fraction", "pin"),
           ("multi_fidelity", "--single-fidelity", "off"),
           ("aggregation", "--aggregation", "pin"), ("beta", "--beta", "set"),
           ("suite", "--suite", "set"), ("suite_objective", "--suite-objective", "suite"),
           ("suite_baselines", "--suite-baselines", "suite"), ("race", "--no-race", "suite"),
           ("race_delta", "--race-delta", "suite")),
    "es": (("link_grammar", "--link-grammar", "set"),
           ("imitation_grammar", "--imitation-grammar", "set"), ("budget", "--budget", "pin"),
           ("generations", "--generations", "pin"), ("population", "--population", "pin"),
           ("seed", "--seed", "pin"), ("eval_timeout", "--eval-timeout", "set"),
           ("aggregation", "--aggregation", "pin"), ("beta", "--beta", "set"),
           ("sigma0", "--sigma0", "pin"), ("hidden", "--hidden", "pin")),
}

_API = {"gp": "lossforge.search.SearchConfig", "es": "lossforge.search.es.ESConfig"}


def reproduce_command(start: dict) -> str:
    """The ``python -m lossforge.search`` command that runs this search again, from its
    config.json (``start``: ``{"config": {...}, "method": "gp" | "es", ...}``): one the command
    line accepts and that rebuilds the same config (the module docstring lists what is given
    and what is left out). Fields that change results but have no flag, when not at their
    default, follow as a shell comment ("NOT reproduced ...")."""
    c = dict(start.get("config") or {})
    method = start.get("method") or ("es" if "sigma0" in c else "gp")
    method = method if method in _FLAGS else "gp"
    d = _defaults(method, c)
    args = ["python", "-m", "lossforge.search"] + (["--method", "es"] if method == "es" else [])
    notes: dict = {}
    args += _option("--fitness", c.get("fitness", d["fitness"]))
    args += _scenario_options(c, d, notes, start.get("scenario_file"))
    for key, flag, kind in _FLAGS[method]:
        args += _options(key, flag, kind, c, d)
    if _is_test_data(c.get("scenario", d["scenario"]), c.get("suite")):
        args.append("--allow-test")
    done = NO_RESULT_EFFECT | {"method", "fitness", "scenario"} | {k for k, _, _ in _FLAGS[method]}
    notes.update({k: v for k, v in c.items() if k not in done and v != d.get(k, _MISSING)})
    command = " ".join(shlex.quote(a) for a in args)
    if notes:
        command += (f"  # NOT reproduced, no command-line flag (set them in {_API[method]}): "
                    + ", ".join(f"{_key(k)}={json.dumps(v, separators=(',', ':'))}"
                                for k, v in notes.items()))
    return command


_MISSING = object()


def _key(name) -> str:
    """A config field's name for the comment: as it is when a plain identifier, else as a JSON
    string (escaped: a newline in a hand-edited key would end the comment and start a shell
    command of the key's choosing)."""
    return name if isinstance(name, str) and name.isidentifier() else json.dumps(str(name))


def _defaults(method: str, c: dict) -> dict:
    """The config the command line makes with no options, as JSON (an ES run's default
    ``l_range`` follows its aggregation)."""
    if method == "es":
        from lossforge.objectives.neural import DEFAULT_L_RANGE
        from lossforge.search.es import ESConfig

        d = ESConfig().to_json()
        rng = DEFAULT_L_RANGE.get(c.get("aggregation", d["aggregation"]))
        d["l_range"] = [float(x) for x in rng] if rng else d["l_range"]
        return d
    from lossforge.search.engine import SearchConfig

    return SearchConfig().to_json()


def _scenario_options(c: dict, d: dict, notes: dict, scenario_file: str | None = None
                      ) -> list[str]:
    """--scenario; for --fitness llm, --llm-task and --llm-variant (the scenario is
    ``task/variant``); none for a suite run (``--suite`` replaces ``--scenario``, and a suite run
    never reads it: ``context.make_context``). A benchmark scenario is given as typed when that
    finds a file without ``$LOSSFORGE_SCENARIOS`` and from any directory (a shipped name, an
    absolute path), else as the file the run read (``scenario_file``, when it still exists): a
    name from one's own scenario folder, or a path relative to where the search ran, would not
    be found by the command elsewhere."""
    scenario = c.get("scenario", d["scenario"])
    if c.get("fitness") == "llm":
        task, sep, variant = str(scenario).partition("/")
        if not (sep and task and variant):   # not task/variant: no flags make it
            notes["scenario"] = scenario
            return []
        return _option("--llm-task", task) + _option("--llm-variant", variant)
    if c.get("suite"):
        return []
    if scenario_file and not _portable(scenario) and Path(scenario_file).is_file():
        return _option("--scenario", scenario_file)
    return _option("--scenario", scenario)


def _portable(scenario: str) -> bool:
    """Whether ``--scenario scenario`` finds a file without $LOSSFORGE_SCENARIOS, wherever the
    command runs: a name of the shipped folder, or an absolute path."""
    from lossforge.errors import ConfigError
    from lossforge.resources import data_candidates, data_dir, find_scenario, is_scenario_name

    if not is_scenario_name(scenario):   # absolute, or found under the checkout / package data
        p = Path(scenario)
        return p.is_file() if p.is_absolute() else any(c.is_file() for c in data_candidates(p))
    try:
        find_scenario(scenario, directory=data_dir("scenarios"))
    except ConfigError:
        return False
    return True


def _options(key: str, flag: str, kind: str, c: dict, d: dict) -> list[str]:
    """The option(s) of one config field (``_FLAGS``' kinds); a field the config lacks is at
    its default."""
    value = c.get(key, d.get(key))
    if kind == "suite":
        if not c.get("suite"):   # only read by suite runs; the command line refuses it without
            return []
        kind = "off" if flag == "--no-race" else "set"
    if kind == "pin":
        return [] if value is None else _option(flag, value)
    if kind == "set":
        return [] if value is None or value == d.get(key) else _option(flag, value)
    if kind == "off":
        return [flag] if value is False else []
    return _option(flag, ",".join(value)) if value else []


def _option(flag: str, value) -> list[str]:
    """``[flag, value]`` as the command line reads it (a float in its shortest exact form); a
    value that starts with "-" is joined to its flag, so argparse does not take it for one."""
    text = repr(value) if isinstance(value, float) else str(value)
    return [f"{flag}={text}"] if text.startswith("-") else [flag, text]


def _is_test_data(scenario: str, suite: str | None) -> bool:
    """Whether the command line refuses this scenario or suite without --allow-test (it checks
    both: ``__main__._refuse_test_data``)."""
    from lossforge.bench.suites import load_suite, refuse_test_scenario, refuse_test_suite
    from lossforge.search.suite_fitness import suite_file

    try:
        refuse_test_scenario(scenario)
        if suite:
            refuse_test_suite(load_suite(suite_file(suite)))
    except LeaksTestSet:
        return True
    except (LossforgeError, OSError):   # a missing or broken file: the command says nothing
        return False
    return False
