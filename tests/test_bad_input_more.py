"""Bad input of the formats added in issue 14 (truncated, wrong types, empty): one line
`Error: <file>: <problem>. <what to do>`, exit 1, and nothing changes: every table and the
profile file are compared before and after."""

from __future__ import annotations

import json
import sqlite3

import pytest
from samples14 import (
    aistudio_prompt,
    chatgpt_memories,
    claude_memories,
    deepseek_export,
    grok_export,
    sillytavern_lines,
)

from pxprofile import pam
from pxprofile.cli import app

TABLES = (
    "sources",
    "conversations",
    "messages",
    "pairs",
    "feedback",
    "profile_versions",
    "profile_lines",
    "profile_deletions",
    "imported_lines",
)


@pytest.fixture
def dbfile(tmp_path, runner, fixtures_dir):
    """A database with chats and imported lines, so 'unchanged' is checked against real rows."""
    path = tmp_path / "px.db"
    mem = tmp_path / "memories.json"
    mem.write_text(json.dumps(claude_memories()))
    for f in (f"{fixtures_dir}/chatgpt/branches-regenerate-edit.json", str(mem)):
        r = runner.invoke(app, ["ingest", f, "--no-update", "--db", str(path)])
        assert r.exit_code == 0, r.stderr
    return path


def snapshot(path, home):
    conn = sqlite3.connect(path)
    try:
        rows = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    finally:
        conn.close()
    return rows, (home / "profile.md").read_bytes()


def fails(runner, dbfile, env_setup, target, expected):
    before = snapshot(dbfile, env_setup)
    assert before[0]["imported_lines"]  # the fixture holds imported lines to lose
    r = runner.invoke(app, ["ingest", str(target), "--no-update", "--db", str(dbfile)])
    assert r.exit_code == 1, r.output
    assert r.stdout == ""
    assert r.stderr == f"Error: {target}: {expected}\n"
    assert snapshot(dbfile, env_setup) == before


def truncated(data) -> str:
    text = json.dumps(data)
    return text[: len(text) * 2 // 3]


UNKNOWN = "unknown format ({seen}). Pass --format (one of {formats}) if you know what it is, or check that this is a chat export."


def unknown(seen: str) -> str:
    from pxprofile.importers.detect import FORMATS

    return UNKNOWN.format(seen=seen, formats=", ".join(FORMATS))


CASES = {
    # Grok
    "grok-truncated": (lambda: truncated(grok_export()), None),
    "grok-wrong-types": (
        lambda: json.dumps({"conversations": [{"conversation": {"id": "g"}, "responses": "x"}]}),
        unknown("objects with keys conversation, responses"),
    ),
    "grok-empty": (
        lambda: json.dumps({"conversations": [{"conversation": {"id": "g"}, "responses": []}]}),
        "nothing could be imported (g: no responses). Check that this is a complete grok export.",
    ),
    # DeepSeek
    "deepseek-truncated": (lambda: truncated(deepseek_export()), None),
    "deepseek-wrong-types": (
        lambda: json.dumps([{"id": "d", "inserted_at": "x", "mapping": {"root": "x"}}]),
        "nothing could be imported (d: node 'root' is not an object). Check that this is a "
        "complete deepseek export.",
    ),
    "deepseek-empty": (
        lambda: json.dumps([{"id": "d", "inserted_at": "x", "mapping": {}}]),
        "nothing could be imported (d: no messages). Check that this is a complete deepseek "
        "export.",
    ),
    # Google AI Studio
    "aistudio-truncated": (lambda: truncated(aistudio_prompt()), None),
    "aistudio-wrong-types": (
        lambda: json.dumps({"runSettings": {}, "chunkedPrompt": {"chunks": "hello"}}),
        unknown("objects with keys chunkedPrompt, runSettings"),
    ),
    "aistudio-empty": (
        lambda: json.dumps({"runSettings": {}, "chunkedPrompt": {"chunks": []}}),
        "nothing could be imported (#1: no chunk holds text). Check that this is a complete "
        "aistudio export.",
    ),
    # SillyTavern
    "sillytavern-truncated": (
        lambda: "\n".join(json.dumps(r) for r in sillytavern_lines())[:-20],
        None,
    ),
    "sillytavern-wrong-types": (
        lambda: "\n".join(
            json.dumps(r)
            for r in [sillytavern_lines()[0], {"name": "Sam", "is_user": True, "mes": 5}]
        ),
        "nothing could be imported (Aqua: a chat with no messages). Check that this is a "
        "complete sillytavern export.",
    ),
    "sillytavern-empty": (
        lambda: json.dumps(sillytavern_lines()[0]) + "\n",
        "nothing could be imported (Aqua: a chat with no messages). Check that this is a "
        "complete sillytavern export.",
    ),
    # Claude memories.json
    "claude-memories-truncated": (lambda: truncated(claude_memories()), None),
    "claude-memories-wrong-types": (
        lambda: json.dumps([{"conversations_memory": 42, "account_uuid": "a"}]),
        unknown("objects with keys account_uuid, conversations_memory"),
    ),
    "claude-memories-empty": (
        lambda: json.dumps([{"conversations_memory": "", "project_memories": {}}]),
        "no memories in it. Check that this is the memories file.",
    ),
    # ChatGPT memories
    "chatgpt-memories-truncated": (lambda: truncated(chatgpt_memories()), None),
    "chatgpt-memories-wrong-types": (
        lambda: json.dumps({"memories": [{"id": "m", "content": 5}], "memory_max_tokens": 9}),
        "no memories in it. Check that this is the memories file.",
    ),
    "chatgpt-memories-empty": (
        lambda: json.dumps({"memories": [], "memory_max_tokens": 10000}),
        "no memories in it. Check that this is the memories file.",
    ),
}


def _pam(memories, **over):
    doc = {
        "schema": "portable-ai-memory",
        "schema_version": "1.0",
        "owner": {"id": "u"},
        "memories": memories,
    }
    doc.update(over)
    return json.dumps(doc)


GOOD = {
    "id": "m1",
    "type": "preference",
    "content": "Prefers tea",
    "content_hash": pam.content_hash("Prefers tea"),
    "temporal": {"created_at": "2026-01-01T00:00:00Z"},
    "provenance": {"platform": "claude"},
}
CASES.update(
    {
        "pam-truncated": (lambda: _pam([GOOD])[:-30], None),
        "pam-wrong-types": (
            lambda: _pam([{**GOOD, "content": 5}]),
            "PAM memory #1 has no content text. Export the file again.",
        ),
        "pam-not-a-list": (
            lambda: _pam("nope"),
            "a PAM file without a memories list. Export it again.",
        ),
        "pam-empty": (
            lambda: _pam([]),
            "no memories in it. Check that this is the memories file.",
        ),
        "pam-checksum": (
            lambda: _pam([GOOD], integrity={"checksum": "sha256:" + "0" * 64, "total_memories": 1}),
            "the PAM integrity checksum does not match its memories. The file is damaged or was "
            "edited; export it again.",
        ),
        "pam-version": (
            lambda: _pam([GOOD], schema_version="2.0"),
            "PAM schema_version '2.0' is not supported (pxprofile reads 1.x).",
        ),
    }
)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_changes_nothing(runner, dbfile, env_setup, tmp_path, case):
    make, expected = CASES[case]
    target = tmp_path / f"{case}.json"
    target.write_text(make(), encoding="utf-8")
    if expected is None:  # truncated: the JSON reader names the place
        before = snapshot(dbfile, env_setup)
        r = runner.invoke(app, ["ingest", str(target), "--no-update", "--db", str(dbfile)])
        assert r.exit_code == 1, r.output
        assert r.stderr.startswith(f"Error: {target}: invalid JSON")
        assert "looks truncated; download the export again." in r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.output
        assert snapshot(dbfile, env_setup) == before
        return
    fails(runner, dbfile, env_setup, target, expected)


def test_a_damaged_memories_json_in_the_claude_zip_changes_nothing(
    runner, dbfile, env_setup, tmp_path
):
    import zipfile

    from chat_samples import claude_export

    target = tmp_path / "claude.zip"
    with zipfile.ZipFile(target, "w") as z:
        z.writestr("conversations.json", json.dumps(claude_export()))
        z.writestr("users.json", "[]")
        z.writestr("memories.json", truncated(claude_memories()))
    before = snapshot(dbfile, env_setup)
    r = runner.invoke(app, ["ingest", str(target), "--no-update", "--db", str(dbfile)])
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith(f"Error: {target}:memories.json: invalid JSON, unexpected end")
    assert r.stderr.count("\n") == 1
    assert snapshot(dbfile, env_setup) == before  # the chats of the zip were not kept either
