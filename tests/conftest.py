import shutil
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """One content cache for the whole test session, never the user's runs/cache: chosen for the code the tests
    call (models.cache.using_cache_dir), and for the `submit` commands they start (SUBMIT_CACHE_DIR)."""
    from submit.models.cache import using_cache_dir

    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as env, using_cache_dir(cache):
        env.setenv("SUBMIT_CACHE_DIR", str(cache))
        yield


@pytest.fixture(scope="session", autouse=True)
def _offline_pip():
    """pip, where a command calls it (`submit package` fetching wheels), reads no index: the tests run offline,
    and a fetch that cannot be made is part of what they check."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PIP_NO_INDEX", "1")
        yield


@pytest.fixture(scope="session", autouse=True)
def _session_config(tmp_path_factory):
    """The index of described competitions (`submit init`) of the test session, never the user's: for the code
    the tests call and the `submit` commands they start (SUBMIT_CONFIG_DIR)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SUBMIT_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
        yield


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or a skip: a user's fresh clone has no shared folder beside it."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (it sits beside the repository in CI)")
    return path


@pytest.fixture(scope="session")
def wsdm_experiment(tmp_path_factory):
    """One quick WSDM experiment (LightGBM, `lgbm`) on the bundled sample, shared read-only: (runs folder, id).
    Tests that write to its store copy the folder first."""
    from submit.pipeline import run_competition

    runs = tmp_path_factory.mktemp("wsdm-runs")
    outcome = run_competition("wsdm", recipe="lgbm", overrides=["params.n_estimators=40", "params.encoder=null"],
                              runs_dir=runs)
    return runs, outcome.result.id


@pytest.fixture(scope="session")
def wsdm_ensembles(wsdm_experiment, tmp_path_factory):
    """That experiment and longer-wins blended by weights and by stacking, in a copy of its runs folder:
    (runs folder, {method: ensemble id}). Shared read-only too."""
    from submit.ensemble_cli import ensemble_competition
    from submit.pipeline import run_competition

    runs = tmp_path_factory.mktemp("wsdm-ensembles") / "runs"
    shutil.copytree(wsdm_experiment[0], runs)
    run_competition("wsdm", recipe="longer-wins", runs_dir=runs)
    return runs, {method: ensemble_competition("wsdm", method=method, runs_dir=runs).result.id
                  for method in ("weighted", "stack")}
