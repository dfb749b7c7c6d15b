import sqlite3

from pxprofile.migrations import m001_chats, migrations
from pxprofile.store import Database, open_db, write_tx


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


# What m001_chats created before its body was split into helpers (sqlite_master in creation order,
# recorded from the original function). m001 is already applied in users' databases: a change to
# it would leave old and new databases with different schemas.
M001_SCHEMA = [
    (
        "table",
        "sources",
        """CREATE TABLE "sources" (
   "id" INTEGER PRIMARY KEY,
   "path" TEXT,
   "sha256" TEXT,
   "format" TEXT,
   "size" INTEGER,
   "first_imported_at" TEXT,
   "imported_at" TEXT,
   "conversations" INTEGER,
   "messages" INTEGER,
   "added" INTEGER,
   "skipped" INTEGER,
   "pairs" INTEGER,
   "feedback" INTEGER,
   "errors" INTEGER
)""",
    ),
    (
        "index",
        "idx_sources_sha256",
        """CREATE UNIQUE INDEX "idx_sources_sha256"
    ON "sources" ("sha256")""",
    ),
    (
        "table",
        "conversations",
        """CREATE TABLE "conversations" (
   "id" TEXT PRIMARY KEY,
   "format" TEXT,
   "native_id" TEXT,
   "title" TEXT,
   "created_at" TEXT,
   "updated_at" TEXT,
   "created_raw" TEXT,
   "current_leaf" TEXT,
   "source_id" INTEGER,
   "meta" TEXT
)""",
    ),
    ("index", "sqlite_autoindex_conversations_1", None),
    (
        "table",
        "messages",
        """CREATE TABLE "messages" (
   "id" TEXT PRIMARY KEY,
   "conversation_id" TEXT,
   "native_id" TEXT,
   "parent_id" TEXT,
   "role" TEXT,
   "author_name" TEXT,
   "content_type" TEXT,
   "text" TEXT,
   "redacted" TEXT,
   "created_raw" TEXT,
   "created_at" TEXT,
   "hidden" INTEGER,
   "on_active_path" INTEGER,
   "status" TEXT,
   "model" TEXT,
   "seq" INTEGER,
   "source_id" INTEGER,
   "meta" TEXT
)""",
    ),
    ("index", "sqlite_autoindex_messages_1", None),
    (
        "index",
        "idx_messages_conversation_id",
        """CREATE INDEX "idx_messages_conversation_id"
    ON "messages" ("conversation_id")""",
    ),
    (
        "index",
        "idx_messages_parent_id",
        """CREATE INDEX "idx_messages_parent_id"
    ON "messages" ("parent_id")""",
    ),
    (
        "index",
        "idx_messages_role_hidden",
        """CREATE INDEX "idx_messages_role_hidden"
    ON "messages" ("role", "hidden")""",
    ),
    (
        "table",
        "feedback",
        """CREATE TABLE "feedback" (
   "id" TEXT PRIMARY KEY,
   "message_id" TEXT,
   "conversation_id" TEXT,
   "rating" INTEGER,
   "text" TEXT,
   "created_at" TEXT,
   "origin" TEXT,
   "source_id" INTEGER
)""",
    ),
    ("index", "sqlite_autoindex_feedback_1", None),
    (
        "index",
        "idx_feedback_message_id",
        """CREATE INDEX "idx_feedback_message_id"
    ON "feedback" ("message_id")""",
    ),
    (
        "table",
        "pairs",
        """CREATE TABLE "pairs" (
   "id" TEXT PRIMARY KEY,
   "conversation_id" TEXT,
   "prompt_id" TEXT,
   "chosen_id" TEXT,
   "rejected_id" TEXT,
   "prompt_text" TEXT,
   "chosen_text" TEXT,
   "rejected_text" TEXT,
   "origin" TEXT,
   "interrupted" INTEGER,
   "created_at" TEXT,
   "source_id" INTEGER
)""",
    ),
    ("index", "sqlite_autoindex_pairs_1", None),
    (
        "index",
        "idx_pairs_conversation_id",
        """CREATE INDEX "idx_pairs_conversation_id"
    ON "pairs" ("conversation_id")""",
    ),
    (
        "table",
        "messages_fts",
        """CREATE VIRTUAL TABLE "messages_fts" USING FTS5 (
    "text",
    tokenize='porter',
    content="messages"
)""",
    ),
    (
        "table",
        "messages_fts_data",
        "CREATE TABLE 'messages_fts_data'(id INTEGER PRIMARY KEY, block BLOB)",
    ),
    (
        "table",
        "messages_fts_idx",
        "CREATE TABLE 'messages_fts_idx'(segid, term, pgno, PRIMARY KEY(segid, term)) WITHOUT ROWID",
    ),
    (
        "table",
        "messages_fts_docsize",
        "CREATE TABLE 'messages_fts_docsize'(id INTEGER PRIMARY KEY, sz BLOB)",
    ),
    (
        "table",
        "messages_fts_config",
        "CREATE TABLE 'messages_fts_config'(k PRIMARY KEY, v) WITHOUT ROWID",
    ),
    (
        "trigger",
        "messages_ai",
        """CREATE TRIGGER "messages_ai" AFTER INSERT ON "messages" BEGIN
  INSERT INTO "messages_fts" (rowid, "text") VALUES (new.rowid, new."text");
END""",
    ),
    (
        "trigger",
        "messages_ad",
        """CREATE TRIGGER "messages_ad" AFTER DELETE ON "messages" BEGIN
  INSERT INTO "messages_fts" ("messages_fts", rowid, "text") VALUES('delete', old.rowid, old."text");
END""",
    ),
    (
        "trigger",
        "messages_au",
        """CREATE TRIGGER "messages_au" AFTER UPDATE ON "messages" BEGIN
  INSERT INTO "messages_fts" ("messages_fts", rowid, "text") VALUES('delete', old.rowid, old."text");
  INSERT INTO "messages_fts" (rowid, "text") VALUES (new.rowid, new."text");
END""",
    ),
]


def test_m001_creates_the_recorded_schema():
    db = Database(memory=True)
    m001_chats(db)
    rows = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY rowid").fetchall()
    assert rows == M001_SCHEMA


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


MOUNTINFO = """\
27 1 254:1 / / rw,relatime - ext4 /dev/vda rw
40 27 0:45 / /home/me/shared rw,relatime - nfs4 server:/export rw,vers=4.2
41 27 0:46 / /home/me/my\\040docs rw,relatime - cifs //nas/docs rw
"""


def test_mount_type_picks_the_longest_containing_mount_point():
    from pxprofile.store import mount_type

    assert mount_type(MOUNTINFO, "/home/me") == "ext4"
    assert mount_type(MOUNTINFO, "/home/me/shared/px") == "nfs4"
    assert mount_type(MOUNTINFO, "/home/me/shared") == "nfs4"
    assert mount_type(MOUNTINFO, "/home/me/sharedness") == "ext4"
    assert mount_type(MOUNTINFO, "/home/me/my docs/px") == "cifs"


def test_database_on_a_network_filesystem_is_refused(tmp_path, monkeypatch, runner):
    from pxprofile import store
    from pxprofile.cli import app
    from pxprofile.errors import StoreError

    assert store.filesystem_type(tmp_path) not in store.NETWORK_FILESYSTEMS  # the real check
    monkeypatch.setattr(store, "filesystem_type", lambda directory: "nfs4")
    try:
        open_db(tmp_path / "a.db")
        raise AssertionError("opened a database on NFS")
    except StoreError as e:
        assert "network filesystem (nfs4)" in str(e)
    assert not (tmp_path / "a.db").exists()
    result = runner.invoke(app, ["stats", "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "needs a local disk" in result.stderr


def test_no_fork_with_an_open_connection_and_no_raw_open_of_the_database():
    """howtocorrupt.html 2.2 and 2.7: a forked child must not inherit a connection, and a plain
    open()/close() of the database file drops this process's POSIX locks on it. pxprofile never
    forks (subprocesses are exec'd) and never opens the database file except through SQLite."""
    import re
    from pathlib import Path

    import pxprofile

    root = Path(pxprofile.__file__).parent
    for source in root.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"\bimport multiprocessing\b|\bos\.fork\(", text), source
        assert not re.search(r"open\([^)]*db_path\(", text), source


def test_m051_tells_added_lines_from_linked_ones_in_older_records(tmp_path):
    # before m051 a record did not say whether its import added the line or found it there
    db = open_db(tmp_path / "a.db", migrate=False)
    migrations.apply(db, stop_before="m051_imported_line_state")

    def version(vid, at):
        db["profile_versions"].insert({"id": vid, "profile": "default", "created_at": at})

    def line(lid, text, vid):
        db["profile_lines"].insert(
            {"id": lid, "profile": "default", "text": text, "created_version": vid}
        )

    def record(rid, lid, text, at):
        db["imported_lines"].insert(
            {"id": rid, "profile": "default", "line_id": lid, "key": f"k{rid}", "text": text,
             "imported_at": at}
        )  # fmt: skip

    version(1, "2026-01-01T00:00:00Z")
    line(1, "Use metric units.", 1)  # written by the user
    version(2, "2026-01-02T00:00:00Z")  # the import's write
    line(2, "Lives in Porto", 2)
    line(3, "Lives in Porto, near the river", 2)  # since reworded in place
    record(1, 1, "Use metric units", "2026-01-02T00:00:01Z")
    record(2, 2, "Lives in Porto", "2026-01-02T00:00:01Z")
    record(3, 3, "Lives in Porto", "2026-01-02T00:00:01Z")
    record(4, 99, "Gone", "2026-01-02T00:00:01Z")  # its line is no longer recorded
    version(3, "2026-01-03T00:00:00Z")
    line(4, "Has a dog", 3)  # the same words, written after the import
    record(5, 4, "Has a dog", "2026-01-02T00:00:01Z")
    migrations.apply(db)
    rows = db.execute("select id, added, status from imported_lines order by id").fetchall()
    assert rows == [(1, 0, None), (2, 1, None), (3, 0, None), (4, 0, None), (5, 0, None)]
