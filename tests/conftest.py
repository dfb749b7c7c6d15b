import os
import socket
import subprocess
import sys
import time
import urllib.request

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """A real `python -m llama_cpp.server` serving gemma3-270m on 127.0.0.1 (n_ctx 1024, one
    thread), for the tests of the openai backend; its URL."""
    from pxprofile.models import resolve_path

    port = _free_port()
    log = open(tmp_path_factory.mktemp("server") / "server.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(resolve_path("gemma3-270m")),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", "1"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "/models", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.seek(0)
                pytest.fail("llama_cpp.server did not start:\n" + log.read()[-3000:])
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
