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
        "kept": 0,
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
        "kept": [],
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


# -- memories: imports that brought profile lines, with or without chats -------------------------


def _bullets(text: str) -> list[str]:
    return [ln[2:] for ln in text.splitlines() if ln.startswith("- ")]


def test_forget_source_of_a_memory_file_retires_the_lines_you_left_alone(
    runner, tmp_path, env_setup
):
    from samples14 import claude_memories

    env_setup.mkdir(parents=True, exist_ok=True)
    path = profile.profile_file()
    path.write_text("# Preference profile\n\n## Communication style\n\n- Use metric units.\n")
    mem = tmp_path / "memories.json"
    mem.write_text(json.dumps(claude_memories()))
    r = runner.invoke(app, ["ingest", str(mem), "--no-update"])
    assert "7 profile lines added as yours from 8 memories, 1 already in the profile" in r.stderr
    # the file changes and is ingested again: a second import of the same path
    newer = claude_memories()
    newer[0]["conversations_memory"] += "- Sails on weekends\n"
    mem.write_text(json.dumps(newer))
    r = runner.invoke(app, ["ingest", str(mem), "--no-update"])
    assert "1 profile line added as yours from 9 memories, 8 already" in r.stderr
    # the user rewords one imported line and moves another to a section of their own
    text = path.read_text()
    text = text.replace("- Lives in Porto\n", "- Lives in Porto, near the river\n")
    text = text.replace("- Started learning Portuguese.\n", "")
    path.write_text(text + "\n## Learning\n\n- Started learning Portuguese.\n")

    r = runner.invoke(app, ["forget", "--source", str(mem), "--yes"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith(
        "Will delete 0 messages and the record of 2 imported files. 6 profile lines imported "
        "from it will be retired. 3 lines imported from it that you changed or had before will "
        "stay.\n--- profile.md\n"
    )
    assert "\n-- Has a dog named Biscuit\n" in r.stderr  # the diff
    assert r.stderr.endswith(
        "Deleted 0 messages (0 conversations, 0 pairs, 0 feedback) and the record of 2 imported "
        "files; retired 6 profile lines. Kept 3 imported lines you changed or had before.\n"
    )
    assert _bullets(path.read_text()) == [
        "Use metric units.",  # yours before the import
        "Lives in Porto, near the river",  # reworded
        "Started learning Portuguese.",  # moved
    ]
    db = open_db()
    assert count(db, "select count(*) from sources") == 0
    assert count(db, "select count(*) from imported_lines") == 0
    assert count(db, "select count(*) from profile_lines where status = 'retired'") == 7
    [log] = db.query("select * from forget_log")
    assert log["kind"] == "source" and json.loads(log["counts"])["lines_retired"] == 6
    why = runner.invoke(app, ["why", "metric"])
    assert "Imported from" not in why.stdout
    # forgetting is not deleting: the file ingested again brings its lines back
    r = runner.invoke(app, ["ingest", str(mem), "--no-update"])
    assert "6 profile lines added as yours from 9 memories, 2 already in the profile, 1 you " in (
        r.stderr
    )


def test_forget_source_of_a_claude_export_with_memories(runner, tmp_path, env_setup):
    from chat_samples import claude_export
    from samples14 import claude_zip

    z = claude_zip(tmp_path / "claude.zip", claude_export())
    r = runner.invoke(app, ["ingest", str(z), "--no-update", "--json"])
    assert r.exit_code == 0, r.stderr
    sid = json.loads(r.stdout)["files"][0]["source_id"]
    db = open_db()
    before = (
        count(db, "select count(*) from messages"),
        count(db, "select count(*) from conversations"),
    )
    text = profile.profile_file().read_text()
    assert len(_bullets(text)) == 8
    r = runner.invoke(app, ["forget", "--source", str(sid), "--dry-run", "--json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["deleted"], out["sources"], out["lines_retired"], out["kept"]) == (
        False,
        1,
        8,
        [],
    )
    assert (out["messages"], out["conversations"]) == before
    assert profile.profile_file().read_text() == text
    assert count(db, "select count(*) from imported_lines") == 8

    r = runner.invoke(app, ["forget", "--source", str(sid), "--yes", "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["lines_retired"] == 8
    assert _bullets(profile.profile_file().read_text()) == []
    for table in ("messages", "conversations", "sources", "imported_lines"):
        assert count(db, f"select count(*) from {table}") == 0, table


def test_forget_a_memory_file_never_ingested_changes_nothing(runner, tmp_path, env_setup):
    from samples14 import claude_memories

    mem = tmp_path / "memories.json"
    mem.write_text(json.dumps(claude_memories()))
    assert runner.invoke(app, ["ingest", str(mem), "--no-update"]).exit_code == 0
    other = tmp_path / "other-memories.json"
    other.write_text(json.dumps(claude_memories()))
    db_path = env_setup / "pxprofile.db"
    tables = ("sources", "imported_lines", "profile_lines", "profile_versions", "forget_log")

    def state():
        conn = sqlite3.connect(db_path)
        rows = {t: conn.execute(f"select * from {t}").fetchall() for t in tables}
        conn.close()
        return rows, profile.profile_file().read_bytes()

    before = state()
    r = runner.invoke(app, ["forget", "--source", str(other), "--yes"])
    assert r.exit_code == 1
    assert r.stderr == (
        f"Error: no imported file {str(other)!r}. Give the path you ingested, or its source id.\n"
    )
    assert state() == before
