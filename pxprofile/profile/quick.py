"""Read the profile's lines without sqlite-utils, when there is nothing to record (`export`).

Most exports find the file exactly as pxprofile last wrote it. Then the lines, with their
provenance, are read over a read-only sqlite3 connection: no file lock, no write transaction,
no migrations, and no import of sqlite-utils (about a third of `export`'s start-up). Whenever
anything would need recording (no database yet, a migration not applied, a pending write, an
edited, new or missing file), ``read_lines`` returns None and the caller takes the full path
(``edits.current_lines``), which records it first.
"""

from __future__ import annotations

import re
import sqlite3
from functools import cache
from pathlib import Path
from urllib.parse import quote

from pxprofile import fileio
from pxprofile.profile import records
from pxprofile.profile.lines import Line, check_text, profile_file, read_file
from pxprofile.text import profile_name


@cache
def migration_names() -> frozenset[str]:
    """The migrations pxprofile/migrations.py registers, read from its source (importing it would
    import sqlite-utils). tests/test_profile_quick.py checks this against the real list."""
    from importlib.util import find_spec

    spec = find_spec("pxprofile.migrations")
    source = Path(spec.origin).read_text(encoding="utf-8")
    found = re.findall(r"^@migrations\(([^)]*)\)\s*\ndef (\w+)", source, re.M)
    names = set()
    for args, func in found:
        named = re.search(r"name\s*=\s*['\"]([^'\"]+)['\"]", args)
        names.add(named.group(1) if named else func)
    return frozenset(names)


class _Reader:
    """The one method of sqlite_utils.Database that records.latest and lines_for use."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def query(self, sql: str, params=()):
        cur = self.conn.execute(sql, params)
        cols = [c[0] for c in cur.description]
        for row in cur:
            yield dict(zip(cols, row, strict=True))


def read_lines(db_path: str | Path | None, profile: str | None = None) -> list[Line] | None:
    """The active lines in file order, or None when the full (recording) read is needed."""
    from pxprofile.paths import db_path as default_db_path

    path = Path(db_path) if db_path else default_db_path()
    if not path.is_file() or fileio.filesystem_type(path.parent) in fileio.NETWORK_FILESYSTEMS:
        return None  # the full path creates the database, or refuses a network filesystem
    text, sha = read_file(fileio.target(profile_file(profile)))
    if text is None:
        return None
    check_text(text, fileio.target(profile_file(profile)))  # the same error the full read raises
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        with conn:  # one read transaction: a consistent snapshot
            conn.execute("BEGIN")
            return _read(_Reader(conn), profile_name(profile), sha)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _read(db: _Reader, name: str, sha: str) -> list[Line] | None:
    applied = {
        r["name"]
        for r in db.query(
            "select name from _sqlite_migrations where migration_set = ?", ["pxprofile"]
        )
    }
    if not migration_names() <= applied:
        return None
    pending = next(
        db.query("select 1 from profile_versions where profile = ? and pending = 1", [name]), None
    )
    latest = records.latest(db, name)
    if pending or latest is None or latest["sha256"] != sha:
        return None
    import json

    return records.lines_for(db, json.loads(latest["line_ids"] or "[]"))
