"""The SQLite store: open_db() applies migrations and sets WAL; write_tx() is BEGIN IMMEDIATE.

Every read-then-write transaction goes through write_tx(): a deferred BEGIN can fail with
"database is locked" when another process upgrades first, and busy_timeout does not cover
lock upgrades (see ../shared/research/reliability.md section 3.2).
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils  # numpy and pandas stay unloaded: see pxprofile/__init__.py
from sqlite_utils import Database as Database  # for annotations elsewhere

from .errors import StoreError
from .fileio import NETWORK_FILESYSTEMS, filesystem_type, mount_type  # noqa: F401 (public here)
from .paths import db_path

BUSY_TIMEOUT_MS = 30_000


def open_db(path: str | Path | None = None, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the pxprofile database, in WAL mode, with migrations applied."""
    from .migrations import migrations

    path = Path(path) if path else db_path()
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file. Pass a file path to --db.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create {path.parent}: {e.strerror}. Check the path.") from e
    fs = filesystem_type(path.parent)
    if fs in NETWORK_FILESYSTEMS:
        raise StoreError(
            f"{path} is on a network filesystem ({fs}); SQLite's WAL mode, which pxprofile relies "
            "on, needs a local disk. Set PXPROFILE_HOME or --db to a local path."
        )
    try:
        # check_same_thread=False: ingest indexes one batch in a helper thread while it parses
        # the next; it never lets two threads use the connection at once (ingest._Writer)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        # execute_plugins=False: no sqlite-utils plugins on our connection (and no entry-point
        # scan of every installed package on each start)
        db = sqlite_utils.Database(conn, execute_plugins=False)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            with _retry_locked():
                db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        if migrate and migrations.pending(db):
            with write_tx(db):
                migrations.apply(db)
    except sqlite3.DatabaseError as e:
        # The header is checked by SQLite itself, never by open()ing the file: a plain
        # open()/close() drops every POSIX lock this process holds on it (howtocorrupt.html 2.2).
        if "not a database" in str(e):
            raise StoreError(f"{path} is not a SQLite database. Pass another path to --db.") from e
        if "readonly" in str(e) or "unable to open" in str(e):
            raise StoreError(
                f"cannot write the database {path}: {e}. Check the file's and folder's permissions."
            ) from e
        raise StoreError(
            f"cannot open database {path}: {e}. Check the path and free disk space."
        ) from e
    return db


@contextlib.contextmanager
def _retry_locked(attempts: int = 50) -> Iterator[None]:
    for i in range(attempts):
        try:
            yield
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or i == attempts - 1:
                raise
            time.sleep(0.05 + random.random() * 0.1)


@contextlib.contextmanager
def write_tx(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction started with BEGIN IMMEDIATE (retried with jitter while locked).

    Nested use falls back to db.atomic() savepoints. SQLITE_FULL and friends become StoreError.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000 * 2
    while True:
        try:
            db.conn.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise StoreError(f"cannot write to the database: {e}.") from e
            if time.monotonic() > deadline:
                raise StoreError(
                    "the database is busy (another pxprofile is writing). Try again in a moment."
                ) from e
            time.sleep(0.05 + random.random() * 0.2)
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    try:
        db.conn.execute("COMMIT")
    except sqlite3.OperationalError as e:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise _store_error(e) from e


def _store_error(e: sqlite3.Error) -> StoreError:
    msg = str(e)
    if "full" in msg:
        return StoreError(
            "the disk (or database size limit) is full; nothing was saved. Free space and retry."
        )
    if "readonly" in msg or "read-only" in msg:
        return StoreError(
            "the database is read-only; nothing was saved. Check the file's permissions."
        )
    if "disk I/O error" in msg:
        return StoreError(
            "the database could not be written (disk I/O error: the disk may be full); nothing was "
            "saved. Free space and retry."
        )
    return StoreError(f"database error: {msg}.")


def translate_errors(e: sqlite3.Error) -> StoreError:
    """Public: turn a sqlite3 error raised mid-transaction into a user-facing StoreError."""
    return _store_error(e)
