"""`pxprofile ingest --from AGENT` into a real database: where each agent keeps its sessions,
growing session files re-read idempotently, bad or truncated files refused with nothing
changed, --json and --redact-storage."""

from __future__ import annotations

import json
import sqlite3

import agent_samples
import pytest
from agent_samples import (
    AIDER,
    aider_repo,
    claude_code_lines,
    claude_home,
    codex_home,
    gemini_chat,
    gemini_home,
    write_jsonl,
)

from pxprofile.cli import app

home = agent_samples.home  # the shared temporary-HOME fixture


def db_rows(db, sql, *args):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_ingest_from_every_agent_where_it_keeps_its_files(runner, home, tmp_path):
    claude_home(home)
    codex_home(home / ".codex")
    gemini_home(home)
    aider_repo(home / "code" / "app")
    db = tmp_path / "px.db"
    for agent in ("claude-code", "codex", "gemini-cli"):
        r = runner.invoke(app, ["ingest", "--from", agent, "--no-update", "--db", str(db)])
        assert r.exit_code == 0, r.output
        assert f"({agent}): 1 conversation" in r.stderr
    r = runner.invoke(
        app, ["ingest", "--from", "aider", str(home / "code"), "--no-update", "--db", str(db)]
    )
    assert r.exit_code == 0 and "(aider): 2 conversations" in r.stderr
    formats = dict(db_rows(db, "SELECT format, count(*) FROM conversations GROUP BY format"))
    # the subagent transcript next to the Claude Code session is not read as a session
    assert formats == {"claude-code": 1, "codex": 1, "gemini-cli": 1, "aider": 2}
    origins = dict(db_rows(db, "SELECT origin, count(*) FROM feedback GROUP BY origin"))
    assert origins == {"agent-rejected": 5, "agent-interrupted": 4}
    # feedback points at a stored agent message
    assert db_rows(
        db,
        "SELECT count(*) FROM feedback f JOIN messages m ON m.id = f.message_id "
        "WHERE m.role = 'assistant'",
    ) == [(9,)]
    meta = db_rows(db, "SELECT meta FROM conversations WHERE format = 'codex'")[0][0]
    assert json.loads(meta)["cwd"] == "/home/dev/app"  # context, in conversations.meta


def test_aider_needs_a_folder(runner, home, tmp_path):
    r = runner.invoke(
        app, ["ingest", "--from", "aider", "--no-update", "--db", str(tmp_path / "px.db")]
    )
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: aider keeps its history in each repository")


def test_a_growing_session_adds_only_its_new_lines(runner, home, tmp_path):
    lines = claude_code_lines()
    path = claude_home(home, lines[:12])
    db = tmp_path / "px.db"
    args = ["ingest", "--from", "claude-code", "--no-update", "--db", str(db)]
    assert runner.invoke(app, args).exit_code == 0
    first = set(db_rows(db, "SELECT id, text FROM messages"))
    write_jsonl(path, lines)  # the agent appended the rest of the session
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    after = set(db_rows(db, "SELECT id, text FROM messages"))
    assert first < after  # the old rows are untouched, keys stable
    assert len(after) == 24
    # the lines read before are skipped, not added again
    assert f"{24 - len(first)} messages added, {len(first)} skipped" in r.stderr
    # the grown file is a new source (other bytes), not refused as a duplicate
    assert [r[0] for r in db_rows(db, "SELECT count(*) FROM sources")] == [2]
    r = runner.invoke(app, args)  # the same bytes again: nothing new, one source row
    assert "0 messages added, 24 skipped" in r.stderr
    assert db_rows(db, "SELECT count(*) FROM sources") == [(2,)]
    assert db_rows(db, "SELECT count(*) FROM feedback") == [(2,)]


def test_a_growing_aider_history_adds_only_new_turns(runner, home, tmp_path):
    repo = home / "code" / "app"
    half = AIDER[: AIDER.index("# aider chat started at 2024-06-02")]
    aider_repo(repo, half)
    db = tmp_path / "px.db"
    args = ["ingest", "--from", "aider", str(repo), "--no-update", "--db", str(db)]
    assert runner.invoke(app, args).exit_code == 0
    n = db_rows(db, "SELECT count(*) FROM messages")[0][0]
    aider_repo(repo, AIDER)
    r = runner.invoke(app, args)
    assert r.exit_code == 0
    assert f"{n} skipped" in r.stderr
    assert db_rows(db, "SELECT count(*) FROM conversations") == [(2,)]


def snapshot(db):
    return {
        t: db_rows(db, f"SELECT * FROM {t} ORDER BY 1")
        for t in ("sources", "conversations", "messages", "feedback", "pairs")
    }


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: p.write_text(p.read_text()[:-40]), "The file looks truncated"),
        (
            lambda p: p.write_text(
                p.read_text().replace('"type": "assistant"', '"type": assistant', 1)
            ),
            "invalid JSON",
        ),
        (lambda p: p.write_bytes(p.read_bytes() + b"\xff\xfe\n"), "not UTF-8"),
    ],
)
def test_bad_session_files_fail_cleanly_and_change_nothing(runner, home, tmp_path, make, problem):
    db = tmp_path / "px.db"
    codex_home(home / ".codex")
    assert (
        runner.invoke(app, ["ingest", "--from", "codex", "--no-update", "--db", str(db)]).exit_code
        == 0
    )
    before = snapshot(db)
    path = claude_home(home)
    make(path)
    r = runner.invoke(app, ["ingest", "--from", "claude-code", "--no-update", "--db", str(db)])
    assert r.exit_code == 1
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(f"Error: {path}: ") and problem in errors[0]
    assert "Traceback" not in r.output
    assert snapshot(db) == before
    # the same file named directly: one Error line, exit 1, nothing stored
    r = runner.invoke(app, ["ingest", str(path), "--no-update", "--db", str(db)])
    assert r.exit_code == 1 and r.stderr.startswith(f"Error: {path}: ")
    assert snapshot(db) == before


def test_truncated_gemini_chat_fails_cleanly(runner, home, tmp_path):
    db = tmp_path / "px.db"
    path = gemini_home(home)
    path.write_text(path.read_text()[:300])
    r = runner.invoke(app, ["ingest", "--from", "gemini-cli", "--no-update", "--db", str(db)])
    assert r.exit_code == 1 and "truncated" in r.stderr
    assert db_rows(db, "SELECT count(*) FROM messages") == [(0,)]


def test_ingest_from_with_json_and_redact_storage(runner, home, tmp_path):
    lines = claude_code_lines()
    secret = "AKIAIOSFODNN7EXAMPLE"
    lines[5]["message"]["content"] = f"deploy with key {secret} and keep it short"
    claude_home(home, lines)
    db = tmp_path / "px.db"
    r = runner.invoke(
        app,
        [
            "ingest",
            "--from",
            "claude-code",
            "--no-update",
            "--json",
            "--redact-storage",
            "--db",
            str(db),
        ],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert (data["agent"], data["files"], data["read"], data["added"], data["feedback"]) == (
        "claude-code",
        1,
        1,
        24,
        2,
    )
    assert r.stderr == ""
    texts = [t for (t,) in db_rows(db, "SELECT text FROM messages")]
    assert not any(secret in t for t in texts)  # --redact-storage reaches agent sessions
    assert any("[REDACTED:aws-access-key]" in t for t in texts)


def test_ingest_from_an_agent_with_no_sessions_says_where_it_looked(runner, home, tmp_path):
    r = runner.invoke(
        app, ["ingest", "--from", "codex", "--no-update", "--db", str(tmp_path / "px.db")]
    )
    assert r.exit_code == 1
    assert r.stderr == (
        f"Error: no codex session files under {home / '.codex' / 'sessions'}. Pass the folder "
        "where they are, e.g. `pxprofile ingest --from codex PATH`.\n"
    )
    r = runner.invoke(app, ["ingest", "--from", "cursor", "--no-update"])
    assert r.exit_code == 2


def test_gemini_cli_reply_still_running_is_read_once_it_finished(runner, home, tmp_path):
    """The CLI rewrites a reply in place while its tool calls run: a sync in the middle must
    not freeze the half-done reply (message keys are the CLI's ids, stored once)."""
    chat = gemini_chat()
    running = json.loads(json.dumps(chat))
    running["messages"] = running["messages"][:5]
    running["messages"][4]["toolCalls"][0]["status"] = "awaiting_approval"
    path = gemini_home(home, running)
    db = tmp_path / "px.db"
    args = ["ingest", "--from", "gemini-cli", "--no-update", "--db", str(db)]
    assert runner.invoke(app, args).exit_code == 0
    ids = {r[0].rsplit(":", 1)[1] for r in db_rows(db, "SELECT id FROM messages")}
    assert "g5" not in ids and "g5#call0" not in ids and "g4" in ids
    path.write_text(json.dumps(chat))  # the user declined the call; the session went on
    assert runner.invoke(app, args).exit_code == 0
    rows = db_rows(db, "SELECT origin FROM feedback WHERE message_id LIKE '%g5#call0'")
    assert sorted(rows) == [("agent-interrupted",), ("agent-rejected",)]
