"""What a run's scores mean, in words: ``auc`` and ``final`` under each fitness (the MuJoCo
benchmark, the probe, the LLM test bed, a user's own), a chart axis's name, and a suite run's
score (-100 x regret). ``summary.py`` (the terminal) and ``report/page.py`` (the HTML page) both
read them from here, so the two say the same thing.
"""

from __future__ import annotations


#: What each fitness metric is, in words.
METRIC_WORDS = {
    "auc": "auc = the normalised return (0 = a random policy, 100 = the zoo's expert) averaged "
           "over the checkpoints of training: the area under the learning curve",
    "final": "final = the normalised return (0 = a random policy, 100 = the zoo's expert) of "
             "the policy at the end of training",
}
#: ... and with the probe fitness, which is not the benchmark
_PROBE = ("; the probe (--fitness probe) is a synthetic stand-in for smoke runs and says "
          "nothing about MuJoCo returns")
PROBE_WORDS = {
    "auc": "auc = the probe fitness's score averaged over its training steps" + _PROBE,
    "final": "final = the probe fitness's score after its last training step" + _PROBE,
}
#: ... with the LLM test bed (lossforge/llm/fitness.py), which measures once, at the end
_LLM = ("exact-match accuracy (%) of greedy decoding on the task's eval prompts after training "
        "at the rate whose model decodes the most dev prompts right (measured once, at the "
        "end: auc = final)")
LLM_WORDS = {"auc": "auc = " + _LLM, "final": "final = " + _LLM}
#: ... and with a user's own fitness (--fitness MODULE:FUNCTION)
USER_WORDS = {m: f"{m} = the score your fitness function returns as {m}"
              for m in ("auc", "final")}


def metric_words(fitness: str | None) -> dict[str, str]:
    """What auc and final mean under a run's fitness (its config's ``fitness``)."""
    kind = fitness or "bench"
    return {"bench": METRIC_WORDS, "probe": PROBE_WORDS, "llm": LLM_WORDS}.get(kind, USER_WORDS)


def score_axis(fitness: str | None, suite: str | None = None) -> str:
    """A chart axis's name for a run's scores (its config's ``fitness`` and ``suite``)."""
    if suite:
        return "suite score (-100 x regret)"
    return {"bench": "normalised score", "probe": "probe score (synthetic)",
            "llm": "accuracy (%)"}.get(fitness or "bench", "score (your fitness)")


def suite_words(cfg: dict) -> str:
    """What a suite run's score is (``suite_fitness``: score = -100 x the aggregate regret)."""
    from lossforge.search.suite_fitness import SCALE_FLOOR as FLOOR

    m, agg = cfg["metric"], "largest" if cfg.get("suite_objective") == "worst" else "weighted mean"
    return (f"score = the suite score, not the {m} itself: -100 x the {agg} over the scenarios "
            f"of {cfg['suite']} of the regret (B_s - y_s) / max(B_s - R_s, {FLOOR:g}), y_s the "
            f"loss's {m} on scenario s, B_s the best baseline's, R_s the reference's (0: level "
            "with the best baseline of each scenario; -100: no better than the reference; above "
            "0: better than the best baseline, 100: by its whole gain over the reference)")
