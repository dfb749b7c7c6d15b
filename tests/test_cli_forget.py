"""`pxprofile forget`: nothing of a forgotten chat remains in tables, FTS index or file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pxprofile import profile
from pxprofile.cli import app
from pxprofile.profile import Change
from pxprofile.store import open_db

CANARY = "zxqv7788"  # one token: porter stemming leaves it as it is
SECRET = "hunter2secret"


def conv(cid: str, turns: list[tuple[str, str]]) -> dict:
    mapping, parent = {}, None
    for n, (role, text) in enumerate(turns):
        mid = f"{cid}-{n}"
        mapping[mid] = {
            "id": mid,
            "parent": parent,
            "children": [],
            "message": {
                "id": mid,
                "author": {"role": role},
                "create_time": 1_700_000_000 + n,
                "content": {"content_type": "text", "parts": [text]},
            },
        }
        if parent:
            mapping[parent]["children"].append(mid)
        parent = mid
    return {
        "id": cid,
        "title": f"title {cid}",
        "create_time": 1_700_000_000,
        "mapping": mapping,
        "current_node": parent,
    }


@pytest.fixture
def setup(tmp_path, runner, env_setup):
    a = tmp_path / "a.json"
    a.write_text(
        json.dumps(
            [
                conv(
                    "A",
                    [
                        ("user", f"I prefer answers about {CANARY} with tables."),
                        ("assistant", "ok"),
                    ],
                ),
                conv(
                    "B",
                    [
                        ("user", f"I like Go. My password is {SECRET}."),
                        ("assistant", "noted"),
                        ("user", "I prefer short answers."),
                    ],
                ),
            ]
        )
    )
    b = tmp_path / "b.json"
    b.write_text(json.dumps([conv("C", [("user", "I work in Rust."), ("assistant", "ok")])]))
    for f in (a, b):
        r = runner.invoke(app, ["ingest", str(f), "--no-update"])
        assert r.exit_code == 0, r.stderr
    db = open_db()
    path = profile.profile_file()
    path.write_text("# Preference profile\n\n## Communication style\n\n- Uses British spelling\n")
    profile.current_lines(db)
    res = profile.apply_changes(
        db,
        [
            Change("add", "Likes tables", "Communication style", evidence=("chatgpt:A:A-0",)),
            Change(
                "add",
                "Prefers short answers",
                "Communication style",
                evidence=("chatgpt:A:A-0", "chatgpt:B:B-2"),
            ),
            Change("add", "Works with Go", "Expertise", evidence=("chatgpt:B:B-0",)),
            Change("add", "Works with Rust", "Expertise", evidence=("chatgpt:C:C-0",)),
        ],
    )
    assert len(res.applied) == 4
    db.conn.close()
    return {"a": a, "b": b, "db": env_setup / "pxprofile.db"}


def raw_bytes(db_path: Path) -> bytes:
    data = db_path.read_bytes()
    for suffix in ("-wal", "-shm"):
        p = Path(str(db_path) + suffix)
        if p.exists():
            data += p.read_bytes()
    return data


def count(db, sql, args=()) -> int:
    return db.execute(sql, args).fetchone()[0]


def test_forget_needs_confirmation_off_a_terminal(setup, runner):
    r = runner.invoke(app, ["forget", "--conversation", "chatgpt:A"])
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr == (
        "Will delete 1 conversation, 2 messages. 1 profile line rests only on them and will be "
        "retired.\n"
        "  - title A\n--- profile.md\n+++ profile.md\n@@ -3,7 +3,6 @@\n ## Communication style\n \n"
        " - Uses British spelling\n-- Likes tables\n - Prefers short answers\n \n ## Expertise\n"
        "Error: refusing to delete without confirmation. Pass --yes to delete.\n"
    )
    db = open_db()
    assert count(db, "select count(*) from messages where conversation_id = 'chatgpt:A'") == 2
    assert "- Likes tables\n" in profile.profile_file().read_text()


def test_forget_conversation_leaves_no_trace(setup, runner):
    db_path = setup["db"]
    assert CANARY.encode() in raw_bytes(db_path)
    r = runner.invoke(app, ["forget", "--conversation", "chatgpt:A", "--yes"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    assert "\n-- Likes tables\n" in r.stderr  # the diff was shown
    assert r.stderr.endswith(
        "Deleted 2 messages (1 conversation, 0 pairs, 0 feedback); retired 1 profile line.\n"
    )
    text = profile.profile_file().read_text()
    assert "Likes tables" not in text
    for kept in (
        "- Uses British spelling\n",
        "- Prefers short answers\n",
        "- Works with Go\n",
        "- Works with Rust\n",
    ):
        assert kept in text
    db = open_db()
    assert count(db, "select count(*) from conversations where id = 'chatgpt:A'") == 0
    assert count(db, "select count(*) from messages where conversation_id = 'chatgpt:A'") == 0
    assert count(db, "select count(*) from messages_fts where messages_fts match ?", [CANARY]) == 0
    assert (
        count(db, "select count(*) from profile_evidence where message_id like 'chatgpt:A:%'") == 0
    )
    assert count(db, "select count(*) from messages") == 5
    # "Prefers short answers" keeps its other evidence
    [line] = [ln for ln in profile.current_lines(db) if ln.text == "Prefers short answers"]
    assert line.evidence == ["chatgpt:B:B-2"]
    [log] = db.query("select * from forget_log")
    assert log["kind"] == "conversation" and json.loads(log["counts"])["messages"] == 2
    # nothing of it in any table, the FTS shadow tables, the file, the WAL
    for table in (
        "messages_fts_data",
        "messages_fts_idx",
        "messages_fts_docsize",
        "messages_fts_config",
    ):
        for row in db.execute(f"select * from {table}"):
            assert not any(
                CANARY.encode() in (v if isinstance(v, bytes) else str(v).encode())
                for v in row
                if v is not None
            )
    db.conn.close()
    assert CANARY.encode() not in raw_bytes(db_path)
    assert sqlite3.connect(db_path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_forget_search_removes_a_secret_and_never_logs_the_query(setup, runner):
    r = runner.invoke(app, ["forget", "--search", SECRET, "--yes", "--json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out == {
        "deleted": True,
        "conversations": 0,
        "messages": 1,
        "pairs": 0,
        "feedback": 0,
        "sources": 0,
        "lines_retired": 1,
        "version": out["version"],
    }
    db = open_db()
    assert count(db, "select count(*) from messages where instr(text, ?) > 0", [SECRET]) == 0
    assert count(db, "select count(*) from messages where conversation_id = 'chatgpt:B'") == 2
    assert "Works with Go" not in profile.profile_file().read_text()
    assert SECRET not in json.dumps([dict(r) for r in db.query("select * from forget_log")])
    db.conn.close()
    assert SECRET.encode() not in raw_bytes(setup["db"])


def test_forget_source_by_path(setup, runner):
    r = runner.invoke(app, ["forget", "--source", str(setup["b"]), "--yes"])
    assert r.exit_code == 0, r.stderr
    assert "Works with Rust" not in profile.profile_file().read_text()
    db = open_db()
    assert count(db, "select count(*) from conversations where id = 'chatgpt:C'") == 0
    assert count(db, "select count(*) from sources") == 1
    assert count(db, "select count(*) from messages") == 5


def test_dry_run_and_errors(setup, runner):
    r = runner.invoke(app, ["forget", "--search", CANARY, "--dry-run", "--json"])
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {
        "deleted": False,
        "conversations": 0,
        "messages": 1,
        "pairs": 0,
        "feedback": 0,
        "sources": 0,
        "lines_retired": 1,
        "lines": ["Likes tables"],
    }
    assert count(open_db(), "select count(*) from messages") == 7
    r = runner.invoke(app, ["forget", "--search", "nosuchwordanywhere", "--yes"])
    assert r.exit_code == 1
    assert r.stderr == (
        "Error: nothing matches: no message, conversation or file to forget. "
        "Check the id or words.\n"
    )
    r = runner.invoke(app, ["forget", "--source", "/nowhere.json", "--yes"])
    assert r.exit_code == 1
    assert (
        r.stderr == "Error: no imported file '/nowhere.json'. "
        "Give the path you ingested, or its source id.\n"
    )
    r = runner.invoke(app, ["forget", "--yes"])
    assert r.exit_code == 2
    assert "give exactly one of --conversation, --source or --search" in r.stderr
