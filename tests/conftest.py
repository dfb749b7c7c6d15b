import os

import pytest


@pytest.fixture(autouse=True)
def env_setup(tmp_path, monkeypatch):
    """No test touches the real home: PXPROFILE_HOME points at a fresh tmp dir."""
    home = tmp_path / "pxhome"
    monkeypatch.setenv("PXPROFILE_HOME", str(home))
    monkeypatch.delenv("PXPROFILE_MODEL", raising=False)
    monkeypatch.delenv("PXPROFILE_RAISE_ERRORS", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return home


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


@pytest.fixture
def fixtures_dir():
    """Real export samples (MIT-licensed copies of ../shared/fixtures; see fixtures/README.md)."""
    return FIXTURES
