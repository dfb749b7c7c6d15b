"""The first run: `update` (and the update after `ingest`) on a terminal offers once to download
the default model; real processes on a pseudo-terminal, pulling from a local Hub stand-in."""

import os
import subprocess
import sys
import tomllib

import pytest
from chat_samples import gpt_conversation, gpt_node, write_json
from fake_engine import add_conversation
from hf_server import FakeHub, fake_gguf
from test_cli_profile import _run_in_pty

from pxprofile.cli.update import NO_MODEL_HINT
from pxprofile.models import get_model, local_path
from pxprofile.paths import config_path
from pxprofile.store import open_db

REPO, FILE = "Qwen/Qwen3-4B-GGUF", "Qwen3-4B-Q4_K_M.gguf"
QUESTION = "Download qwen3-4b (2.5 GB) from Hugging Face? [Y/n]"
DATA = fake_gguf(300_000)  # GGUF magic, no weights: llama.cpp refuses to load it afterwards


@pytest.fixture(autouse=True)
def sized_terminal(monkeypatch):
    """Give the pseudo-terminal a size (80x24) as a real one has: tqdm draws no bar in 0 columns."""
    import fcntl
    import pty
    import struct
    import termios

    real = pty.openpty

    def openpty():
        master, slave = real()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        return master, slave

    monkeypatch.setattr(pty, "openpty", openpty)


@pytest.fixture
def hub():
    with FakeHub({(REPO, FILE): DATA}) as hub:
        yield hub


@pytest.fixture
def pending(env_setup):
    db = open_db()
    add_conversation(db, "c1", [("user", "I prefer terse answers."), ("assistant", "OK.")])
    db.conn.close()


def _env(hub, **extra):
    return {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", **extra}


def _config() -> dict:
    path = config_path()
    return tomllib.loads(path.read_text()) if path.exists() else {}


def _downloads(hub) -> int:
    return sum(1 for method, path, _ in hub.requests if method == "GET" and path.endswith(FILE))


def test_yes_pulls_with_a_progress_bar_and_makes_it_the_default(hub, pending):
    code, out = _run_in_pty(["update"], _env(hub), answer_after=b"[Y/n]", answer=b"\n")
    assert QUESTION in out and out.count("[Y/n]") == 1
    assert "Pulling qwen3-4b from Qwen/Qwen3-4B-GGUF (Qwen3-4B-Q4_K_M.gguf)..." in out
    assert f"{FILE}: 100%" in out  # huggingface_hub's progress bar, on the terminal
    assert "qwen3-4b is ready." in out
    path = local_path(get_model("qwen3-4b"))
    assert path is not None and path.read_bytes() == DATA
    assert _config()["model"]["default"] == "qwen3-4b"
    # then the update goes on with it: this stand-in file has no weights, so loading fails cleanly
    assert code == 1 and "Error: " in out and "Traceback" not in out
    assert _downloads(hub) == 1


def test_no_is_remembered_and_the_hint_stays(hub, pending):
    code, out = _run_in_pty(["update"], _env(hub), answer_after=b"[Y/n]", answer=b"n\n")
    assert QUESTION in out
    assert "Not downloading; pxprofile will not ask again." in out
    assert "Error: Model qwen3-4b is not downloaded. Run `pxprofile model pull qwen3-4b`." in out
    assert code == 1
    assert _config() == {"model": {"offer_download": False}}
    code, out = _run_in_pty(["update"], _env(hub))
    assert "[Y/n]" not in out and code == 1
    assert "Error: Model qwen3-4b is not downloaded." in out
    assert _downloads(hub) == 0 and local_path(get_model("qwen3-4b")) is None


def test_the_update_after_ingest_asks_too(hub, env_setup, tmp_path):
    export = write_json(
        tmp_path / "conversations.json",
        [
            gpt_conversation(
                "conv-1",
                [
                    gpt_node(
                        "u1", "root", "user", "Please answer in metric units.", t=1714585031.1
                    ),
                    gpt_node("a1", "u1", "assistant", "Sure.", t=1714585032.1),
                ],
                "a1",
            )
        ],
    )
    code, out = _run_in_pty(
        ["ingest", str(export)], _env(hub), answer_after=b"[Y/n]", answer=b"y\n"
    )
    assert "Ingested conversations.json (chatgpt): 1 conversation, 2 messages added" in out
    assert QUESTION in out and "qwen3-4b is ready." in out
    assert "Warning: the profile was not updated:" in out  # no weights in the stand-in
    assert code == 0  # the ingest itself succeeded
    assert _config()["model"]["default"] == "qwen3-4b" and _downloads(hub) == 1


@pytest.mark.parametrize(
    "case", ["not a terminal", "offline", "quiet", "json", "nothing new", "server backend"]
)
def test_no_question(hub, env_setup, case):
    if case != "nothing new":
        db = open_db()
        add_conversation(db, "c1", [("user", "I prefer terse answers."), ("assistant", "OK.")])
        db.conn.close()
    args = {
        "quiet": ["update", "--quiet"],
        "json": ["update", "--json"],
        "server backend": ["update", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"],
    }.get(case, ["update"])
    env = _env(hub, **({"HF_HUB_OFFLINE": "1"} if case == "offline" else {}))
    if case == "not a terminal":
        r = subprocess.run(
            [sys.executable, "-m", "pxprofile", *args],
            capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        code, out = r.returncode, r.stdout + r.stderr
    else:
        code, out = _run_in_pty(args, env)
    assert "[Y/n]" not in out, out
    assert _downloads(hub) == 0 and "offer_download" not in _config().get("model", {})
    if case == "nothing new":
        assert code == 0
    elif case in ("not a terminal", "offline", "quiet"):
        assert code == 1 and "Model qwen3-4b is not downloaded" in out


def test_ingest_off_a_terminal_keeps_the_one_line_hint(hub, env_setup, tmp_path):
    export = write_json(
        tmp_path / "c.json",
        [gpt_conversation("c", [gpt_node("u1", "root", "user", "Hi, I like tea.", t=1.0)], "u1")],
    )
    r = subprocess.run(
        [sys.executable, "-m", "pxprofile", "ingest", str(export)],
        capture_output=True, text=True, env=_env(hub), timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 0
    assert " ".join(NO_MODEL_HINT.split()) in " ".join(r.stderr.split())
    assert "[Y/n]" not in r.stderr and _downloads(hub) == 0
