from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own content cache, shared by the tests within it."""
    monkeypatch.setenv("SUBMIT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or a skip: a user's fresh clone has no shared folder beside it."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (it sits beside the repository in CI)")
    return path


