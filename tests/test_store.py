import sqlite3

from pxprofile.migrations import migrations
from pxprofile.store import open_db, write_tx


def test_migrations_apply_and_are_idempotent(tmp_path):
    path = tmp_path / "a.db"
    db = open_db(path)
    assert {"sources", "conversations", "messages", "feedback", "pairs", "messages_fts"} <= set(
        db.table_names()
    )
    assert {
        "id",
        "conversation_id",
        "parent_id",
        "role",
        "text",
        "redacted",
        "hidden",
        "on_active_path",
        "created_at",
        "created_raw",
    } <= set(db["messages"].columns_dict)
    schema = db.schema
    applied = [m.name for m in migrations.applied(db)]
    db.close()
    db = open_db(path)
    assert db.schema == schema
    assert [m.name for m in migrations.applied(db)] == applied
    assert not migrations.pending(db)


def test_wal_and_busy_timeout(tmp_path):
    db = open_db(tmp_path / "a.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_write_tx_is_immediate_and_rolls_back(tmp_path):
    path = tmp_path / "a.db"
    db = open_db(path)
    other = sqlite3.connect(path, timeout=0)
    try:
        with write_tx(db):
            db["sources"].insert({"id": 1, "path": "x", "sha256": "s"})
            # BEGIN IMMEDIATE holds the write lock from the start: a second writer must wait
            try:
                other.execute("BEGIN IMMEDIATE")
                raise AssertionError("second writer got the lock")
            except sqlite3.OperationalError as e:
                assert "locked" in str(e)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert db["sources"].count == 0


def test_fts_follows_messages(tmp_path):
    db = open_db(tmp_path / "a.db")
    with write_tx(db):
        db["messages"].insert(
            {"id": "m1", "conversation_id": "c", "role": "user", "text": "I prefer tabs"}
        )
    assert [r["id"] for r in db["messages"].search("tabs")] == ["m1"]
