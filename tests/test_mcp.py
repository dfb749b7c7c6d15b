"""`pxprofile mcp`: a real server subprocess, driven by the official SDK's client over stdio."""

import json
import os
import subprocess
import sys

import anyio
import pytest
from fake_engine import add_conversation

from pxprofile import profile as P
from pxprofile.cli import app
from pxprofile.profile import Change, apply_changes
from pxprofile.store import open_db

SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c"


@pytest.fixture
def seeded(env_setup):
    """A profile of three model lines resting on the user's messages (one holds a secret)."""
    db = open_db()
    add_conversation(
        db,
        "c1",
        [
            ("user", "Please keep answers short, I read them on my phone."),
            ("assistant", "Will do."),
            ("user", f"My key is {SECRET}, and shorter please", {"redacted": "My key is [SECRET], and shorter please"}),
            ("assistant", "OK."),
            ("user", "We love museums and quiet galleries when we travel."),
            ("assistant", "Noted."),
            ("user", "I write firmware in Rust for microcontrollers."),
        ],
        title="Trip planning",
    )  # fmt: skip
    apply_changes(
        db,
        [
            Change("add", "Prefers short answers", "Communication style", evidence=("c1:0", "c1:2")),
            Change("add", "Enjoys museums and galleries when travelling", "Interests", evidence=("c1:4",)),
            Change("add", "Writes Rust firmware for microcontrollers", "Expertise", evidence=("c1:6",)),
        ],
    )  # fmt: skip
    db.conn.close()
    return env_setup


def _session(home, calls, *, mode="auto", args=()):
    """Start `pxprofile mcp` as a client would (mcp.client.stdio) and run ``calls(client)``."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "pxprofile", "mcp", *args],
        env={
            "PXPROFILE_HOME": str(home),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "NO_COLOR": "1",
        },
    )

    async def main():
        async with Client(params, mode=mode, read_timeout_seconds=60) as client:
            return await calls(client)

    return anyio.run(main)


def _export(runner, *args) -> str:
    r = runner.invoke(app, ["export", *args])
    assert r.exit_code == 0, r.stderr
    return r.stdout


def test_resource_and_tools_match_export_and_why(runner, seeded):
    path = P.profile_file()
    before = path.read_bytes()
    versions = len(list(open_db()["profile_versions"].rows))

    async def calls(client):
        out = {"protocol": client.protocol_version}
        out["resources"] = (await client.list_resources()).resources
        out["resource"] = (await client.read_resource("pxprofile://profile")).contents
        out["tools"] = {t.name: t for t in (await client.list_tools()).tools}
        out["full"] = await client.call_tool("get_profile", {})
        out["task"] = await client.call_tool("get_profile", {"task": "plan a museum visit"})
        out["small"] = await client.call_tool("get_profile", {"max_chars": 400})
        out["why"] = await client.call_tool("why", {"text": "SHORT answers"})
        out["nowhy"] = await client.call_tool("why", {"text": "quantum"})
        out["bad"] = await client.call_tool("get_profile", {"max_tokens": 0})
        return out

    out = _session(seeded, calls)
    [res] = out["resources"]
    assert (str(res.uri), res.mime_type) == ("pxprofile://profile", "text/markdown")
    [content] = out["resource"]
    assert content.text == _export(runner, "--for", "markdown")
    assert "- Prefers short answers" in content.text

    tools = out["tools"]
    assert set(tools) == {"get_profile", "why"}
    for tool in tools.values():  # read-only, and says so
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
    assert set(tools["get_profile"].input_schema["properties"]) == {
        "task",
        "max_chars",
        "max_tokens",
    }

    def text(result):
        assert len(result.content) == 1
        return result.content[0].text

    assert not out["full"].is_error
    assert text(out["full"]) == _export(runner, "--for", "claude")
    assert "<user_preferences>" in text(out["full"])
    task_text = text(out["task"])
    assert task_text == _export(runner, "--for", "claude", "--task", "plan a museum visit")
    assert "museums" in task_text and "Rust" not in task_text
    assert "Rust" in text(out["full"])
    small = text(out["small"])
    assert small == _export(runner, "--for", "claude", "--max-chars", "400")
    assert len(small.rstrip("\n")) <= 400 and small != text(out["full"])

    assert not out["why"].is_error
    [item] = json.loads(text(out["why"]))["lines"]
    assert out["why"].structured_content == {"lines": [item]}
    assert item["text"] == "Prefers short answers" and item["author"] == "model"
    quotes = [e["quote"] for e in item["evidence"]]
    assert len(quotes) == 2 and any("[SECRET]" in q for q in quotes)
    assert SECRET not in text(out["why"])  # the redacted text, never the secret
    assert out["nowhy"].is_error
    assert "No line in the profile contains 'quantum'" in text(out["nowhy"])
    assert out["bad"].is_error and "max_tokens must be at least 1" in text(out["bad"])

    # read-only: no new version, the file untouched
    assert path.read_bytes() == before
    assert len(list(open_db()["profile_versions"].rows)) == versions


def test_a_legacy_client_sees_live_edits(seeded):
    """The initialize handshake (what Claude Desktop speaks); an edit made while the server runs
    shows in the next read."""
    path = P.profile_file()

    async def calls(client):
        first = (await client.read_resource("pxprofile://profile")).contents[0].text
        path.write_text(path.read_text() + "\n## Avoid\n\n- Emoji in answers\n")
        second = (await client.call_tool("get_profile", {})).content[0].text
        return first, second

    first, second = _session(seeded, calls, mode="legacy")
    assert "Emoji" not in first
    assert "- Emoji in answers" in second


def test_empty_profile_and_other_db(tmp_path, env_setup):
    db = tmp_path / "elsewhere.db"

    async def calls(client):
        return (await client.call_tool("get_profile", {"task": "anything"})).content[0].text

    text = _session(env_setup, calls, args=["--db", str(db)])
    assert text.startswith("The profile is empty: nothing to export.")
    assert db.is_file()


def test_bad_db_is_one_error_line_before_the_protocol(tmp_path):
    env = {**os.environ, "PXPROFILE_HOME": str(tmp_path / "px")}
    out = subprocess.run(
        [sys.executable, "-m", "pxprofile", "mcp", "--db", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == (
        f"Error: {tmp_path} is a directory, not a database file. Pass a file path to --db.\n"
    )


def test_help_does_not_import_the_sdk():
    code = "import sys, pxprofile.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'mcp'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout == "[]\n", out.stderr


def test_started_by_hand_it_says_what_it_is_and_ctrl_c_stops_it(tmp_path):
    import pty
    import select
    import signal
    import time

    master, slave = pty.openpty()
    env = {**os.environ, "PXPROFILE_HOME": str(tmp_path / "px")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pxprofile", "mcp"], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    out, deadline = b"", time.monotonic() + 60
    try:
        while b"Ctrl-C stops it." not in out and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                out += os.read(master, 4096)
        time.sleep(0.5)  # into the protocol loop
        proc.send_signal(signal.SIGINT)  # what Ctrl-C on its terminal sends
        assert proc.wait(timeout=30) == 130
        while select.select([master], [], [], 0.2)[0]:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    text = out.decode().replace("\r\n", "\n")
    assert text.startswith("pxprofile mcp speaks the Model Context Protocol on stdin/stdout")
    assert text.endswith("Interrupted.\n")
