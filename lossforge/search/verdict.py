"""Is a discovered loss better than a baseline? The paired verdict over per-seed scores.

Every candidate and every baseline of a run is trained on the same fitness seeds at a given
budget (common random numbers: same data order, same initialisation, same evaluation episodes),
so seed i of the candidate and seed i of the baseline form a pair. The verdict is on the mean of
the per-seed differences d_i = candidate_i - baseline_i with its 95 % Student-t interval
(mean(d) +- t_{0.975, n-1} * sd(d) / sqrt(n)):

    better   the whole interval lies above 0
    worse    the whole interval lies below 0
    level      the interval contains 0 (the seeds cannot separate the two)
    undecided  one seed: no interval exists (infinite half-width), so no verdict; a single pair
               cannot separate two losses, however large its difference, and "level" would
               claim the seeds had been looked at and found no difference

In a suite run the pairs are (scenario, seed) units, matched by name (``paired_scores``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from lossforge.bench.fitness import ci95_halfwidth

WORDS = ("better", "level", "worse", "undecided")


@dataclass(frozen=True)
class Verdict:
    word: str          # better | level | worse | undecided (one seed)
    diff: float        # mean per-seed difference, candidate - baseline
    halfwidth: float   # of its 95 % t-interval (inf with one seed)
    n: int             # seeds (pairs) it rests on


def paired_verdict(candidate: Sequence[float], baseline: Sequence[float]) -> Verdict:
    """The verdict of ``candidate`` against ``baseline`` from their scores on the same seeds,
    in the same order (module docstring). ``ValueError`` if the lists differ in length, are
    empty or hold a non-finite score."""
    if len(candidate) != len(baseline) or not candidate:
        raise ValueError(f"paired scores need the same seeds: {len(candidate)} candidate and "
                         f"{len(baseline)} baseline scores")
    d = [float(c) - float(b) for c, b in zip(candidate, baseline)]
    if not all(math.isfinite(x) for x in d):
        raise ValueError("paired scores must be finite numbers")
    mean = sum(d) / len(d)
    half = ci95_halfwidth(d) if len(d) > 1 else math.inf
    word = ("undecided" if len(d) == 1 else "better" if mean - half > 0
            else "worse" if mean + half < 0 else "level")
    return Verdict(word, mean, half, len(d))


def verdict_text(label: str, word: str, diff: float, halfwidth: float, units: str) -> str:
    """One verdict line's text, "BETTER than DPO (beta 0.1): +3.32 ± 2.84, paired over 5
    seeds" (``units``: "5 seeds", "35 units"), as the search and its confirmation print it."""
    if math.isinf(halfwidth):
        text = f"{diff:+.2f} on {units}, no interval (one seed cannot separate two losses)"
    else:
        text = f"{diff:+.2f} ± {halfwidth:.2f}, paired over {units}"
    head = {"better": "BETTER than", "worse": "WORSE than", "level": "LEVEL with",
            "undecided": "UNDECIDED against"}[word]
    return f"{head} {label}: {text}"


def optimism_note(run: str) -> str:
    """What the search's verdict adds outside a suite run, terminal and page alike: its seeds
    picked the loss, and the command that judges it on fresh ones (``confirm.py``)."""
    return (f"These are the seeds the search picked the loss on, so the verdict is optimistic "
            f"(the best of many on them): python -m lossforge.search confirm {run} trains it "
            f"and the baselines on fresh seeds (on the MuJoCo bench new minibatch orders only; "
            f"benchmarks/baselines.py confirm draws fresh data and evaluation episodes).")


def paired_scores(a: dict, b: dict) -> tuple[list, list]:
    """Two fitness records' per-seed scores, paired: by unit name in a suite run (a loss raced
    out early has fewer units: those it shares with ``b``), else by seed position."""
    ua, ub = (a.get("suite") or {}).get("unit_scores"), (b.get("suite") or {}).get("unit_scores")
    if ua is None or ub is None:
        return list(a.get("per_seed") or []), list(b.get("per_seed") or [])
    common = [k for k in ub if k in ua]
    return [ua[k] for k in common], [ub[k] for k in common]


def baseline_label(spec: dict) -> str:
    """A baseline as the verdict names it: its name with the beta it was trained at and its
    named parameters, "DPO (beta 0.1)", "ORPO (beta 1, lam 0.1)" (the bare name where the spec
    has neither). The terminal's verdict (``summary.verdict_lines``) and the page's
    (``report/page.py``) name baselines with it."""
    parts = [f"beta {spec['beta']:g}"] if isinstance(spec.get("beta"), (int, float)) else []
    parts += [f"{k} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}"
              for k, v in sorted((spec.get("params") or {}).items())]
    name = str(spec.get("name", "baseline")).upper()
    return f"{name} ({', '.join(parts)})" if parts else name


def known_verdict_note(row: dict, baselines: list[dict]) -> str | None:
    """Beside the verdict, when the best loss is a zoo member at another beta (``known_text``):
    that, and which baselines are that same member at their own beta (the verdict against them
    compares two betas of one loss); None otherwise."""
    from lossforge.objectives.zoo import known_as
    from lossforge.search.summary import known_text

    text = known_text(row)
    hit = known_as(row["spec"]) if text else None    # (zoo name, beta), as known_text found it
    if not hit:
        return f"{row['name']} {text}" if text else None
    name, beta = hit
    same = [_same_member(name, beta, b["spec"]) for b in baselines
            if str(b["spec"].get("name", "")).lower() == name]
    return f"{row['name']} {text}" + "".join(same)


def _same_member(name: str, beta: float, spec: dict) -> str:
    """What the verdict against the baseline ``spec``, the zoo member ``name`` the best loss is
    at ``beta``, compares: two betas of one loss, or the baseline with itself."""
    theirs = spec.get("beta")
    if not isinstance(theirs, (int, float)):
        return f"; the verdict against {baseline_label(spec)} compares it with itself"
    if math.isclose(beta, theirs, rel_tol=1e-9):
        return (f"; it is the {baseline_label(spec)} baseline itself, so that verdict compares "
                "one loss with itself")
    return (f"; the verdict against {baseline_label(spec)} compares {name.upper()} at beta "
            f"{beta:g} with {name.upper()} at beta {theirs:g}")
