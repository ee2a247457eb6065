import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # search_helpers: stand-in fitness functions for the engine
    sys.path.insert(0, str(HERE))

import shutil  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def probe_run(tmp_path_factory):
    """A finished one-generation probe search (scenario quick, population 4, seed 0, one
    worker), shared by the tests that read a run directory; a test that changes it takes
    ``probe_run_copy``."""
    from lossforge.search import SearchConfig, run_search

    cfg = SearchConfig(scenario="quick", fitness="probe", generations=1, population=4,
                       workers=1)
    return run_search(cfg, runs_root=tmp_path_factory.mktemp("probe-run"), quiet=True)


@pytest.fixture
def probe_run_copy(probe_run, tmp_path):
    """A copy of ``probe_run`` of this test's own, under the same directory name."""
    return shutil.copytree(probe_run, tmp_path / probe_run.name)
