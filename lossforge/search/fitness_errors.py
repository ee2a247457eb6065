"""What happens when a fitness raises: the failure a result records, where the traceback goes,
and when the run stops instead (``executors.py`` calls the fitness; ``engine.run_jobs`` decides).

A fitness that raises on an objective does not stop the run: that objective's result is a
failure whose status names the exception (``error: ValueError: ...``, ``error_to_dict``), and
its traceback goes to the run directory's ``fitness_errors.log`` (``take_errors``). A fitness
that is broken rather than troubled by one candidate stops the run (``FitnessRaised``, raised
by ``stop_if_broken``). An evaluation stopped by ``--eval-timeout`` is such a failure too
(``error: TimeoutError: ...``).

A baseline the fitness scores "ok" with a NaN or infinite score (status ``NONFINITE``) stops
the run too, in one line (``stop_if_unscored``), and is evaluated again on resume; a
candidate's stays a recorded failure.
"""

from __future__ import annotations

import sys
import sysconfig
import time
import traceback
from pathlib import Path
from typing import Callable

from lossforge.errors import ConfigError
from lossforge.io import append_lines


#: how a result the fitness raised on starts its status: "error: ValueError: <message>"
RAISED = "error: "
#: where a run directory keeps the tracebacks of its fitness's exceptions (``take_errors``)
ERRORS_LOG = "fitness_errors.log"
#: the status of a result whose fitness said "ok" with a NaN or infinite score
#: (``executors.fitness_to_dict``): the fitness broke its interface (``stop_if_unscored``)
NONFINITE = "nonfinite"


def raised(f: dict) -> bool:
    """Whether a fitness dict records an evaluation its fitness raised on."""
    return str(f.get("status", "")).startswith(RAISED)


def ask_again(f: dict, strict: bool) -> bool:
    """Whether a journaled result is evaluated again rather than reused (``engine.run_jobs``):
    one the fitness raised on, and in a ``strict`` call (the baselines') one scored
    ``NONFINITE``, which stopped the run (``stop_if_unscored``): a fitness fixed since scores
    it. A candidate's ``NONFINITE`` stands, as its other failures do: the fitness is a
    deterministic function of the loss, and a loss that comes out NaN is an ordinary one."""
    return raised(f) or (strict and f.get("status") == NONFINITE)


def stop_if_unscored(fitness: str, results: list[dict], places: list[str], rung: str) -> None:
    """Stop the run (``BaselineUnscored``, one line) if a baseline's result (``results``, a
    strict call's, at ``places``) is ``NONFINITE``, as one the fitness raised on stops it
    (``stop_if_broken``, checked first): every loss is judged against the baselines.

    Only that status: it is lossforge's, for a result whose fitness said "ok" with a NaN or
    infinite score (``executors.fitness_to_dict``), which breaks the fitness interface, as a
    score of the wrong type does (``check_results``: the same ConfigError, exit 2). Any other
    failure is a status of the fitness's own ("nonfinite at step 12", the LLM's "training
    failed ...", a plug-in's reason): the fitness telling that the loss failed to train there,
    deterministically; the run goes on and the verdict says that baseline has no score."""
    bad = [(f, place) for f, place in zip(results, places) if f.get("status") == NONFINITE]
    if bad:
        raise BaselineUnscored(fitness, rung, bad)


class BaselineUnscored(ConfigError):
    """A baseline the fitness scored "ok" with a NaN or infinite score (``stop_if_unscored``).
    A ConfigError: the command line prints it in one line, with the run directory to --resume
    (exit 2); the resume evaluates the baseline again (``ask_again``)."""

    def __init__(self, fitness: str, rung: str, bad: list[tuple[dict, str]]):
        (f, place), more = bad[0], [f["name"] for f, _ in bad[1:]]
        others = f" (and {', '.join(more)})" if more else ""
        super().__init__(
            f"the fitness {fitness!r} scored baseline {f['name']}{others} at the {rung} budget "
            f"on {place} \"ok\" with a NaN or infinite score (status {f['status']!r}); every "
            "loss is judged against the baselines, so the fitness must score them")


def error_to_dict(name: str, exc: BaseException, seconds: float) -> dict:
    """The fitness dict of an objective the fitness raised on: a failure (score null) whose
    status names the exception, ``error: <Type>: <its message's first line>`` (at most 200
    characters, as other failures say theirs: "nonfinite", the LLM's "training failed ..."),
    and an ``error`` entry (type, message, ``at``: its last frame outside Python's library and
    installed packages, the traceback) that the engine moves to the run's ``ERRORS_LOG``
    before anything keeps the result (``take_errors``): journal and checkpoint keep the status."""
    lines = str(exc).strip().splitlines()
    status = f"{RAISED}{type(exc).__name__}" + (f": {lines[0]}" if lines else "")
    frames = traceback.extract_tb(exc.__traceback__)
    # the last frame in code of one's own, not in an installed library or Python's
    lib = (sysconfig.get_paths()["stdlib"], "site-packages", "dist-packages")
    own = [fr for fr in frames if not any(x in fr.filename for x in lib)] or frames
    at = f"{Path(own[-1].filename).name}:{own[-1].lineno} in {own[-1].name}" if own else "?"
    return {"name": name, "status": status[:200], "score": None, "ci95": None, "per_seed": [],
            "final": None, "auc": None, "seconds": float(seconds),
            "error": {"type": type(exc).__name__, "message": str(exc), "at": at,
                      "traceback": "".join(traceback.format_exception(exc))}}


def take_errors(results: list[dict], rung: str, places: list[str], log: Path | None, *,
                say: bool = True) -> list[dict]:
    """The ``error`` entries of ``results`` (each with the result's name, its ``place``, the
    scenario or suite unit, and ``rung``), taken out of them: what is left is what the journal
    and the state keep. Each traceback is appended to ``log`` (None: no run directory), and
    with ``say`` one line on stderr names the round's first failure and how many there were:
    a long search that meets a few bad candidates says so without a traceback per candidate."""
    errors = [dict(f.pop("error"), name=f["name"], place=place, rung=rung)
              for f, place in zip(results, places) if "error" in f]
    if errors and log is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        append_lines(log, [f"--- {stamp} {e['name']}, {rung} budget, {e['place']}: "
                           f"{e['type']} at {e['at']}\n{e['traceback'].rstrip()}"
                           for e in errors])
    if errors and say:
        e = errors[0]
        first = (e["message"].strip().splitlines() or [""])[0][:120]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        print(f"fitness raised on {len(errors)} of {len(results)} evaluations at the {rung} "
              f"budget: {e['name']} on {e['place']}: {e['type']}: {first} at {e['at']}{more}; "
              f"recorded as failed" + (f", tracebacks in {log}" if log is not None else ""),
              file=sys.stderr)
    return errors


def stop_if_broken(ask: Callable, failed: list[int], where: list, rung: str, strict: bool,
                   baseline: dict) -> None:
    """Stop the run (``FitnessRaised``) after a call (``engine.run_jobs``) whose jobs ``failed``
    (indices; ``where``: their places) raised, if the fitness raises again where it must not:
    in a ``strict`` call (the baselines, every loss is judged against them) on the first that
    raised, asked again (the journal keeps no traceback); else, when every job of the call
    raised, on ``baseline`` (the run's first) at each place of the call, asked fresh. ``ask``:
    (job indices, specs in their place or None, say) -> (results, errors), lazily, so it asks
    no further than the first that raises. A fitness that scores them goes on: its candidates'
    failures stand. Decided on whole calls, whose jobs are a function of the seed, so the
    worker count and a resume in between do not change whether a run stops.

    Why this rule: a count of failures in a row cannot tell a fitness with a bug from a run of
    candidates that share a bad subtree (a GP's offspring do), and a late generation may have
    one new loss: stopping on it would stop a long search for one candidate again; never
    stopping would record a broken fitness's whole generations as failed, in the checkpoint,
    where no --resume reaches them. One more evaluation, only after a call that raised
    throughout, asks the question directly."""
    if strict:
        why = "the fitness raised on a baseline, a loss any fitness must score"
        errors = (ask([i], None, False)[1] for i in failed[:1])
    else:
        why = (f"the fitness raised on every evaluation of a call ({len(failed)} at the {rung} "
               f"budget) and on {baseline['name']}, a baseline any fitness must score: the "
               "fitness is broken, not the candidates")
        first = [i for k, i in enumerate(failed) if where[k] not in where[:k]]  # one a place
        errors = (ask([i], [baseline], False)[1] for i in first)
    for errs in errors:
        if errs and errs[0]["type"] == "TimeoutError" and "--eval-timeout" in errs[0]["message"]:
            raise FitnessRaised(errs[0], "a baseline had no result within --eval-timeout: give "
                                         "it more time (--eval-timeout may be set on --resume)")
        if errs:
            raise FitnessRaised(errs[0], why)


class FitnessRaised(Exception):
    """A fitness that is broken, not troubled by one candidate, stops the run: it raised on
    every evaluation of a round and then on a baseline too (``engine.run_jobs``). It carries
    the fitness's own exception as text (it may have been raised in a worker process):
    ``kind`` its type's name, ``str()`` its message, ``details`` its traceback, ``why`` what
    was seen; the CLI prints the traceback and one line with ``--resume``."""

    def __init__(self, error: dict, why: str):
        super().__init__(error["message"])
        self.kind, self.details, self.why = error["type"], error["traceback"], why
