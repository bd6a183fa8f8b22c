import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """One content cache for the whole test session, never the user's runs/cache."""
    previous = os.environ.get("SUBMIT_CACHE_DIR")
    os.environ["SUBMIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("SUBMIT_CACHE_DIR", None)
    else:
        os.environ["SUBMIT_CACHE_DIR"] = previous


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or a skip: a user's fresh clone has no shared folder beside it."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (it sits beside the repository in CI)")
    return path


@pytest.fixture(scope="session")
def wsdm_experiment(tmp_path_factory):
    """One quick WSDM experiment on the bundled sample, shared read-only: (runs folder, experiment id).
    Tests that write to its store copy the folder first."""
    from submit.pipeline import run_competition

    runs = tmp_path_factory.mktemp("wsdm-runs")
    outcome = run_competition("wsdm", overrides=["params.n_estimators=40", "params.encoder=null"], runs_dir=runs)
    return runs, outcome.result.id
