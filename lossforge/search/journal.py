"""The evaluation journal: every finished fitness evaluation of a run, appended as it lands.

A checkpoint is written after each generation, so a run killed mid-generation (kill -9, a
session that ends) resumes at the start of that generation. Without the journal it would train
again everything that generation had already finished: at the ``screen`` and ``full`` budgets
that is tens of minutes. With it, the resumed generation takes those results from
``<run>/evaluations.jsonl`` and trains only what was still running. Results are the same either
way (the fitness is a deterministic function of the objective, the budget and the seeds), so a
resumed run still ends exactly as an uninterrupted one.

One line per evaluation: ``{"key", "fitness", "sha"}``. ``key`` hashes everything the result
depends on (fitness function, scenario, rung, metric, the objective's spec); ``sha`` checks the
line. A torn last line (a kill during the write) or a line that fails its check is ignored and
that evaluation simply runs again: the journal can lose time, never correctness.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from lossforge.io import append_lines, read_lines

FILE = "evaluations.jsonl"


def _sha(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def evaluation_key(fitness: str, scenario: str, rung: str, metric: str, spec: dict) -> str:
    return _sha(json.dumps([fitness, scenario, rung, metric, spec], sort_keys=True))


class Journal:
    """``key in journal``, ``journal[key]``, ``journal.add(key, fitness)`` (fsynced)."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / FILE
        self._done: dict[str, dict] = {}
        self.ignored = 0  # torn or corrupted lines (their evaluations run again)
        if self.path.exists():
            records, self.ignored = read_lines(self.path)
            for rec in records:
                try:
                    body = json.dumps([rec["key"], rec["fitness"]], sort_keys=True)
                    ok = rec["sha"] == _sha(body)
                except (KeyError, TypeError):
                    ok = False
                if ok:
                    self._done[rec["key"]] = rec["fitness"]
                else:
                    self.ignored += 1

    def __contains__(self, key: str) -> bool:
        return key in self._done

    def __getitem__(self, key: str) -> dict:
        return self._done[key]

    def __len__(self) -> int:
        return len(self._done)

    def results(self) -> list[dict]:
        """Every journaled fitness dict (one per evaluation), in the order they landed."""
        return list(self._done.values())

    def calls(self) -> dict[float, list[dict]]:
        """The journaled evaluations grouped by the worker call that made them, keyed by its
        wall seconds. A call trains every loss of its chunk on one unit at once (a stacked
        population) and stamps its wall time on each of their results, so each call counts
        once in a sum of costs (summing every line counts a call once per loss in it). Two
        calls with the same float seconds would merge: their costs are then one call's."""
        out: dict[float, list[dict]] = {}
        for f in self._done.values():
            out.setdefault(float(f.get("seconds") or 0.0), []).append(f)
        return out

    def add(self, key: str, fitness: dict) -> None:
        body = json.dumps([key, fitness], sort_keys=True)
        line = json.dumps({"key": key, "fitness": fitness, "sha": _sha(body)}, sort_keys=True)
        append_lines(self.path, [line])
        self._done[key] = fitness
