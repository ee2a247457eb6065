"""Shortcut audit of a scenario: can a label be predicted without learning from preferences?

On Hopper and Ant an episode ends when the robot falls, segments stop there, and a segment's
return is mostly its survival time: the longer segment of a pair is nearly always the chosen one,
and summed log-probs carry the length too (benchmark.md, "What wave 1's tables taught"). A loss
can then win by filtering on length, or on |l|, without using the preference. This module
measures how far a scenario allows that, and says when a shortcut baseline tops a table.

Label predictors (each picks, for every pair, the side with the larger score):

* ``length``      score = segment length (valid steps). Among pairs of unequal length its
                  accuracy is P(chosen longer).
* ``|l_ref| sum`` score = -l_ref, the summed log-prob of the segment under the scenario's BC
                  reference (a longer segment sums more negative terms).
* ``l_ref mean``  score = the reference's mean log-prob per step (the chosen side is predicted
                  to be the one the reference finds more likely per step).

The log-probs are the ones the losses see (``fitness.training_data``): with a length-controlled
scenario (absorbing padding) they include the padded steps. The length predictor reads the
true valid lengths, which a length-controlled scenario hides from the losses (the table says
whether the length is visible).

Ties (equal scores) are reported apart: ``accuracy`` is over the pairs the predictor separates,
``accuracy_coin`` over every labelled pair with a tie counted as 1/2 (the expected accuracy of a
fair coin on ties; no random draw). Below 50 % the predictor leaks the other way. Pairs whose
label is a tie (a soft label of 1/2) have no chosen side and are left out of every count.

Shortcut flag: ``shortcut_flag`` reads a table's scores (mean and 95 % CI half-width per row) and
says whether a shortcut baseline (``SHORTCUT_ROWS``) is best ("shortcut best": its interval lies
above every other row's) or level with the best ("shortcut level with best": its interval
overlaps the best non-shortcut row's). ``python benchmarks/audit.py`` is the command line.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from lossforge.bench.result import BC_ON_CHOSEN, LLM_REFERENCE, REFERENCE
from lossforge.objectives.zoo import SHORTCUTS

#: Rows of a benchmark table that are shortcut baselines: the zoo's (trained like every loss)
#: and the fixed policies baselines.py scores next to them.
SHORTCUT_ROWS = frozenset(SHORTCUTS) | {REFERENCE, BC_ON_CHOSEN,
                                        LLM_REFERENCE, "sft-on-chosen"}  # (LLM bed, old rows)

#: The losses ``audit`` trains next to the shortcuts when a budget is given.
PREFERENCE_LOSSES = ("dpo", "orpo", "cdpo")


def is_shortcut(row: str) -> bool:
    """True for a shortcut baseline's row name, with or without parameters
    (``length_sft[c=90]``)."""
    return row in SHORTCUT_ROWS or row.split("[", 1)[0] in SHORTCUT_ROWS


# ----------------------------------------------------------------------------------------------
# Label predictors
# ----------------------------------------------------------------------------------------------

def labelled_pairs(dataset) -> np.ndarray:
    """bool [N]: pairs with a chosen side (a soft label of 1/2, the "equal" teacher's tie, has
    none). Every pair of a dataset without soft labels."""
    prob = getattr(dataset, "label_prob", None)
    n = len(dataset.chosen)
    return np.ones(n, bool) if prob is None else np.asarray(prob) != 0.5


def pair_accuracy(score: np.ndarray, chosen: np.ndarray) -> dict:
    """How well "chosen = the side with the larger score" predicts ``chosen``.

    score [N, 2], chosen [N] in {0, 1}. Returns pairs, tied (share of pairs with equal scores),
    accuracy (over the untied pairs; NaN if every pair ties) and accuracy_coin (over all pairs,
    a tie counting 1/2)."""
    score = np.asarray(score, dtype=np.float64)
    c = np.asarray(chosen).astype(np.int64)
    if score.ndim != 2 or score.shape[1] != 2 or score.shape[0] != c.shape[0]:
        raise ValueError(f"score must be [N, 2] with N = len(chosen), got {score.shape}")
    i = np.arange(len(c))
    s_c, s_r = score[i, c], score[i, 1 - c]
    tie = s_c == s_r
    hits = s_c > s_r
    n = len(c)
    untied = int((~tie).sum())
    return {"pairs": n,
            "tied": float(tie.mean()) if n else float("nan"),
            "accuracy": float(hits[~tie].mean()) if untied else float("nan"),
            "accuracy_coin": float((hits.sum() + 0.5 * tie.sum()) / n) if n else float("nan")}


def predictor_scores(lengths: np.ndarray, ref_sum: np.ndarray,
                     ref_mean: np.ndarray) -> dict[str, np.ndarray]:
    """The three label predictors' scores ([N, 2] each; see the module docstring)."""
    return {"length": np.asarray(lengths, dtype=np.float64),
            "|l_ref| sum": -np.asarray(ref_sum, dtype=np.float64),
            "l_ref mean": np.asarray(ref_mean, dtype=np.float64)}


def level_stats(dataset, names: Sequence[str], ref_sum: np.ndarray,
                ref_mean: np.ndarray | None = None) -> list[dict]:
    """Per zoo level that produced segments: how many, mean length, return, return per step,
    share of its segments that were chosen, and the reference's summed (and, if given, mean)
    log-prob of them. ``ref_sum``/``ref_mean`` are [N, 2] like ``dataset.lengths``."""
    chosen_side = np.zeros(dataset.sources.shape, bool)
    chosen_side[np.arange(len(dataset.chosen)), np.asarray(dataset.chosen).astype(np.int64)] = True
    rows = []
    for s in np.unique(dataset.sources):
        m = dataset.sources == s
        row = {"level": names[int(s)], "segments": int(m.sum()),
               "length": float(dataset.lengths[m].mean()),
               "return": float(dataset.returns[m].mean()),
               "return_per_step": float((dataset.returns[m] / dataset.lengths[m]).mean()),
               "chosen_share": float(chosen_side[m].mean()),
               "ref_sum_logp": float(ref_sum[m].mean()),
               "ref_sum_logp_sd": float(ref_sum[m].std())}
        if ref_mean is not None:
            row["ref_mean_logp"] = float(ref_mean[m].mean())
        rows.append(row)
    return rows


def label_stats(dataset, ref_sum: np.ndarray, ref_mean: np.ndarray) -> dict:
    """The leak statistics of a dataset: share of labelled pairs with unequal lengths,
    P(chosen longer) among them, and every predictor's ``pair_accuracy``. ``ref_sum`` and
    ``ref_mean`` [N, 2]: the reference's summed and per-step log-prob of each segment."""
    keep = labelled_pairs(dataset)
    scores = predictor_scores(dataset.lengths, ref_sum, ref_mean)
    chosen = np.asarray(dataset.chosen)[keep]
    preds = {name: pair_accuracy(score[keep], chosen) for name, score in scores.items()}
    return {"labelled_pairs": int(keep.sum()),
            "unlabelled_pairs": int((~keep).sum()),
            "unequal_lengths": 1.0 - preds["length"]["tied"],
            "p_chosen_longer": preds["length"]["accuracy"],
            "predictors": preds}


# ----------------------------------------------------------------------------------------------
# The shortcut flag
# ----------------------------------------------------------------------------------------------

def shortcut_flag(scores: Mapping[str, "tuple[float, float] | object"],
                  shortcuts=is_shortcut) -> str | None:
    """"shortcut best", "shortcut level with best" or None for one scenario's table.

    ``scores`` maps a row name to (mean, 95 % CI half-width), or to anything with ``score`` and
    ``ci95`` attributes (a ``fitness.Fitness``). Rows with a non-finite mean (failed runs) are
    left out. ``shortcuts`` says which rows are shortcut baselines (default ``is_shortcut``).

    * "shortcut best": a shortcut row's mean is the highest and its interval lies above every
      other row's interval (lower bound above each upper bound).
    * "shortcut level with best": otherwise, a shortcut row's interval overlaps the interval of
      the best row that is not a shortcut, or a shortcut has the highest mean but its interval
      is not apart from every other row's.
    * None: every shortcut row lies below the best non-shortcut row, CIs apart; or the table
      has no shortcut row or no other row.

    A missing CI (NaN: one seed) counts as a point, so at one seed a shortcut with the highest
    mean is "shortcut best", and two points are level only if equal.
    """
    rows = {}
    for name, value in scores.items():
        mean, ci = ((value.score, value.ci95) if hasattr(value, "score") else value)
        mean = float(mean)
        if not np.isfinite(mean):
            continue
        ci = float(ci) if ci is not None and np.isfinite(float(ci)) else 0.0
        rows[name] = (mean - ci, mean, mean + ci)
    short = {k: v for k, v in rows.items() if shortcuts(k)}
    other = {k: v for k, v in rows.items() if not shortcuts(k)}
    if not short or not other:
        return None
    top = max(short, key=lambda k: short[k][1])
    lo, mean, _ = short[top]
    if mean > max(v[1] for v in other.values()) and all(lo > v[2] for v in other.values()):
        return "shortcut best"
    best_other = max(other.values(), key=lambda v: v[1])
    if any(v[0] <= best_other[2] and best_other[0] <= v[2] for v in short.values()):
        return "shortcut level with best"
    if mean > best_other[1]:
        return "shortcut level with best"  # highest mean, not separated by its interval
    return None


# ----------------------------------------------------------------------------------------------
# A scenario's audit
# ----------------------------------------------------------------------------------------------

# The functions below import the benchmark harness when called, so that a table that only needs
# ``shortcut_flag`` does not load MuJoCo and the trainer.

def dataset_cache_file(scenario, seed: int | None = None) -> Path:
    """Where ``build_dataset(scenario, seed)`` caches its segments (the file may not exist):
    the same key and hash, computed without rolling anything out."""
    from lossforge.io import canonical_json
    from lossforge.bench.cache import cache_root
    from lossforge.bench.datasets import _spec_for, segment_key
    from lossforge.bench.zoo import load_zoo

    zoo = load_zoo(scenario.env_id)
    spec = _spec_for(scenario, zoo, scenario.dataset_seed if seed is None else int(seed))
    key = segment_key(spec, zoo.fingerprint(), zoo.level_names)
    digest = hashlib.sha256(canonical_json(key).encode()).hexdigest()[:32]
    return cache_root() / "datasets" / f"{digest}.npz"


def audit_scenario(scenario, workers: int | None = 1) -> dict:
    """The statistics part of the audit (no loss is trained; the BC reference is, once, if the
    cache lacks it): ``label_stats`` and ``level_stats`` of the scenario's dataset."""
    from lossforge.bench.fitness import reference_policy, training_data
    from lossforge.bench.zoo import load_zoo

    dataset, _ = reference_policy(scenario, workers=workers)
    ref = training_data(scenario, workers=workers).ref_logps
    ref_sum, ref_mean = ref["sum"].numpy(), ref["mean"].numpy()
    names = list(load_zoo(scenario.env_id).level_names)
    return {"scenario": scenario.name, "env_id": scenario.env_id, "horizon": scenario.horizon,
            "pairs": len(dataset), "dataset_seed": dataset.meta.get("seed"),
            "length_control": getattr(dataset, "length_control", "none"),
            **label_stats(dataset, ref_sum, ref_mean),
            "levels": level_stats(dataset, names, ref_sum, ref_mean)}


def score_shortcuts(scenario, budget: str, seeds: Sequence[int] | None = None,
                    losses: Sequence[str] = PREFERENCE_LOSSES, workers: int | None = None,
                    metric: str = "auc") -> dict:
    """Train the shortcut baselines next to ``losses`` (zoo names, scenario defaults: beta,
    length_sft's c) and score them all with ``fitness.evaluate``; rows and the flag."""
    from lossforge.bench.losses import build_objectives
    from lossforge.bench.fitness import evaluate

    objs = build_objectives(",".join(list(losses) + list(SHORTCUTS)), scenario)
    results = evaluate(objs, scenario, budget, seeds=seeds, metric=metric, workers=workers)
    rows = []
    for obj, r in zip(objs, results):
        rows.append({"loss": r.name, "shortcut": is_shortcut(r.name), "status": r.status,
                     "score": r.score, "ci95": r.ci95, "per_seed": list(r.per_seed),
                     "auc": r.auc, "final": r.final, "curve": [list(p) for p in r.curve],
                     "params": dict(obj.spec.params), "beta": obj.spec.beta})
    return {"budget": budget, "metric": metric, "seeds": list(seeds) if seeds is not None
            else list(scenario.budget(budget).seeds),
            "seconds": results[0].seconds if results else 0.0, "rows": rows,
            "flag": shortcut_flag({r["loss"]: (r["score"], r["ci95"]) for r in rows})}


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------

def _pct(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


def _num(x, fmt=".1f") -> str:
    return "-" if x is None or not np.isfinite(x) else format(x, fmt)


def markdown(audits: Sequence[dict], command: str,
             skipped: Mapping[str, str] | None = None) -> str:
    """The audit as Markdown: one leak table over scenarios, then per scenario its zoo levels
    and (if scored) its shortcut baselines with the flag."""
    out = ["# Shortcut audit", "", f"    {command}", "",
           "Label predictors pick the side with the larger score: length (valid steps), "
           "|l_ref| summed over the segment, or the reference's mean log-prob per step. "
           "Accuracy is over the pairs a predictor separates (ties apart; the next column "
           "counts a tie as 1/2); 50 % = no leak, below 50 % = a leak the other way. "
           "P(chosen longer) is the length predictor's accuracy among pairs of unequal length. "
           "Length visible: whether losses see the segment length (length_control none).", "",
           "| scenario | pairs | H | unequal lengths | P(chosen longer) | length acc (ties 1/2) "
           "| \\|l_ref\\| sum acc | l_ref mean acc | length visible |",
           "|---|---|---|---|---|---|---|---|---|"]
    for a in audits:
        p = a["predictors"]
        control = a["length_control"]
        visible = "yes" if control == "none" else f"no ({control})"
        out.append(f"| {a['scenario']} | {a['labelled_pairs']} | {a['horizon']} "
                   f"| {_pct(a['unequal_lengths'])} | {_pct(a['p_chosen_longer'])} "
                   f"| {_pct(p['length']['accuracy_coin'])} "
                   f"| {_pct(p['|l_ref| sum']['accuracy'])} | {_pct(p['l_ref mean']['accuracy'])} "
                   f"| {visible} |")
    if skipped:
        out += ["", "Not audited: " + "; ".join(f"{name} ({why})"
                                              for name, why in skipped.items()) + "."]
    for a in audits:
        out += ["", f"## {a['scenario']}", "",
                "| level | segments | length | return | return/step | chosen | l_ref sum "
                "| l_ref/step |", "|---|---|---|---|---|---|---|---|"]
        for lv in a["levels"]:
            out.append(f"| {lv['level']} | {lv['segments']} | {lv['length']:.1f} "
                       f"| {lv['return']:.1f} | {lv['return_per_step']:.2f} "
                       f"| {_pct(lv['chosen_share'])} | {lv['ref_sum_logp']:.1f} "
                       f"| {_num(lv.get('ref_mean_logp'), '.3f')} |")
        sc = a.get("shortcuts")
        if sc:
            out += ["", f"Shortcut baselines at budget `{sc['budget']}`, seeds "
                        f"{','.join(map(str, sc['seeds']))}, metric {sc['metric']} "
                        f"({sc['seconds']:.0f} s): **{sc['flag'] or 'no shortcut flag'}**", "",
                    "| loss | shortcut | score | 95 % CI | AUC | final | parameters |",
                    "|---|---|---|---|---|---|---|"]
            for r in sc["rows"]:
                params = ", ".join(f"{k}={v:g}" for k, v in r["params"].items())
                out.append(f"| {r['loss']} | {'yes' if r['shortcut'] else ''} "
                           f"| {_num(r['score'])} | {_num(r['ci95'])} | {_num(r['auc'])} "
                           f"| {_num(r['final'])} | {params} |"
                           + ("" if r["status"] == "ok" else f" {r['status']}"))
    return "\n".join(out) + "\n"
