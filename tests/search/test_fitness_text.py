"""One formatter for a fitness record in every report (search's summary, show, distill's
re-score line), so the same record reads the same everywhere."""

from lossforge.search.summary import fitness_text


def test_fitness_text_by_hand():
    assert fitness_text(None) == "-"
    assert fitness_text({"status": "ok", "score": 12.3, "ci95": 1.2}) == "12.30 ± 1.20"
    assert fitness_text({"status": "ok", "score": 12.3, "ci95": None}) == "12.30 ± n/a (1 seed)"
    suite = {"status": "ok", "score": -3.0, "ci95": None, "suite": {"units": 4, "of_units": 6}}
    assert fitness_text(suite) == "-3.00 ± n/a (suite, 4/6 units)"
    assert fitness_text({"status": "nonfinite", "score": None}) == "failed (nonfinite)"

