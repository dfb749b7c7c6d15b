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
