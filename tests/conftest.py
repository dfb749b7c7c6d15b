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


@pytest.fixture(scope="session")
def gemma_engine(tmp_path_factory):
    """The real Gemma 3 270M GGUF through llama.cpp, loaded once per session (n_ctx 2048).

    One thread: on a shared 2-core machine, llama.cpp's threads spin-wait on each other and two
    run several times slower than one. load_engine caches by arguments, so
    load_engine("gemma3-270m", n_ctx=2048, n_threads=1, gpu_layers=0) returns this same engine.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PXPROFILE_HOME", str(tmp_path_factory.mktemp("engine-home")))
        from pxprofile.engine import load_engine

        return load_engine("gemma3-270m", n_ctx=2048, n_threads=1, gpu_layers=0)


@pytest.fixture(scope="session")
def local_gemma(tmp_path_factory):
    """The same Gemma 3 270M loaded in the test process itself (pxprofile.llamacpp), for checks
    that read token ids and llama.cpp's vocabulary directly. load_engine runs models in a child."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PXPROFILE_HOME", str(tmp_path_factory.mktemp("local-home")))
        from pxprofile.llamacpp import load_local

        return load_local("gemma3-270m", n_ctx=2048, n_threads=1)


@pytest.fixture(scope="session")
def smollm2_engine(tmp_path_factory):
    """The real SmolLM2 135M Instruct GGUF (a chat template), through load_engine, once per
    session (n_ctx 2048, one thread, CPU)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PXPROFILE_HOME", str(tmp_path_factory.mktemp("smollm2-home")))
        from pxprofile.engine import load_engine

        return load_engine("smollm2-135m", n_ctx=2048, n_threads=1, gpu_layers=0)
