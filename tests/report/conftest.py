import pytest


@pytest.fixture(scope="session")
def probe_run(tmp_path_factory):
    """A real search run directory (probe fitness: seconds) with two budget rungs, so the full
    budget has two seeds and a paired interval."""
    from lossforge.search import SearchConfig, run_search

    cfg = SearchConfig(scenario="quick", population=10, generations=3, seed=2, fitness="probe",
                       workers=1, budget="full")
    return run_search(cfg, runs_root=tmp_path_factory.mktemp("runs"), quiet=True)
