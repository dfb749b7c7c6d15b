"""Ingest chat exports into the store: detect, stream, normalize, write.

    ingest_path(db, path, *, format=None, progress=None) -> IngestSummary   ("-" reads stdin)
    ingest_stream(db, stream, *, name="<stdin>", format=None, progress=None) -> IngestSummary

Each source is one write transaction: a file that cannot be read changes nothing. A corrupt
conversation inside a good export is skipped and listed in IngestSummary.errors. Identity is
stable (format:conversation:message), so ingesting again adds only what is new; mutable fields
(title, updated_at, current_leaf, on_active_path) of rows already stored are updated.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import FormatError, PxprofileError
from .importers.common import (
    Conversation,
    Feedback,
    Limits,
    Pair,
    Skipped,
    clean,
    content_hash,
)
from .importers.detect import Opened, check_format, open_input
from .redact import configured_pii, count_invisible, redact
from .store import Database, translate_errors, write_tx
from .text import plural, utc_now

Progress = Callable[[int, int | None], None]
BATCH = 5000

_MESSAGE_COLS = (
    "id, conversation_id, native_id, parent_id, role, author_name, content_type, text, redacted, "
    "created_raw, created_at, hidden, on_active_path, status, model, seq, source_id, meta"
)
_INSERT_MESSAGE = f"INSERT OR IGNORE INTO messages ({_MESSAGE_COLS}) VALUES ({', '.join('?' * 18)})"
_UPSERT_CONVERSATION = """
INSERT INTO conversations (id, format, native_id, title, created_at, updated_at, created_raw,
                           current_leaf, source_id, meta)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET
  title = coalesce(excluded.title, title),
  created_at = CASE WHEN created_at IS NULL OR excluded.created_at < created_at
                    THEN coalesce(excluded.created_at, created_at) ELSE created_at END,
  updated_at = CASE WHEN updated_at IS NULL OR excluded.updated_at > updated_at
                    THEN coalesce(excluded.updated_at, updated_at) ELSE updated_at END,
  current_leaf = coalesce(excluded.current_leaf, current_leaf),
  meta = coalesce(excluded.meta, meta)
"""
_INSERT_PAIR = """
INSERT OR IGNORE INTO pairs (id, conversation_id, prompt_id, chosen_id, rejected_id, prompt_text,
                             chosen_text, rejected_text, origin, interrupted, created_at, source_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_INSERT_FEEDBACK = """
INSERT OR IGNORE INTO feedback
    (id, message_id, conversation_id, rating, text, created_at, origin, source_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""


@dataclass
class IngestSummary:
    path: str
    format: str
    conversations: int = 0
    messages: int = 0  # messages read from the source
    added: int = 0  # new messages stored
    skipped: int = 0  # messages already stored
    pairs: int = 0  # new preference pairs
    feedback: int = 0  # new feedback ratings
    errors: list[str] = field(default_factory=list)  # corrupt conversations skipped
    redacted: int = 0  # messages whose secrets/PII are replaced in what models see
    invisible: int = 0  # invisible characters (Unicode Tags, bidi, zero-width) stripped
    source_id: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        name = "stdin" if self.path in ("-", "<stdin>") else Path(self.path).name
        s = (
            f"Ingested {name} ({self.format}): {plural(self.conversations, 'conversation')}, "
            f"{plural(self.added, 'message')} added, {self.skipped} skipped, "
            f"{plural(self.pairs, 'pair')}"
        )
        if self.feedback:
            s += f", {self.feedback} feedback"
        if self.redacted:
            s += f"; secrets or personal data redacted in {plural(self.redacted, 'message')}"
        if self.invisible:
            s += f"; {plural(self.invisible, 'invisible character')} stripped"
        if self.errors:
            corrupt = plural(len(self.errors), "corrupt conversation")
            s += f"; {corrupt} not imported ({self.errors[0]})"
        return s + "."


@dataclass
class IngestRun:
    """Several files ingested in turn: one summary per file read, one message per file that
    failed (nothing of it stored)."""

    files: int
    summaries: list[IngestSummary] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    TOTALS = ("conversations", "messages", "added", "skipped", "pairs", "feedback")

    def totals(self) -> dict[str, int]:
        return {k: sum(getattr(s, k) for s in self.summaries) for k in self.TOTALS}

    def to_dict(self) -> dict:
        return {
            **self.totals(),
            "errors": [e for s in self.summaries for e in s.errors],
            "files": [s.to_dict() for s in self.summaries],
        }

    def total_line(self) -> str:
        t = self.totals()
        return (
            f"Total: {len(self.summaries)} of {self.files} files, "
            f"{plural(t['conversations'], 'conversation')}, {plural(t['added'], 'message')} "
            f"added, {t['skipped']} skipped, {plural(t['pairs'], 'pair')}."
        )


class IngestReport:
    """What ingest_files() tells as it goes; the command line subclasses it to show progress
    bars and lines on stderr. These defaults say nothing."""

    def progress(self, name: str) -> AbstractContextManager[Progress | None]:
        """A context around reading ``name`` that yields a byte-progress callback (or None)."""
        return nullcontext()

    def summary(self, summary: IngestSummary) -> None:
        """One file was read."""

    def failure(self, message: str) -> None:
        """One file (of several) could not be read: nothing of it was stored."""


def ingest_files(
    db: Database,
    names: list[str],
    *,
    format: str | None = None,
    redact_storage: bool = False,
    report: IngestReport | None = None,
) -> IngestRun:
    """ingest_path() for each file ("-": stdin) in turn. One file's error is raised; with
    several, a file that fails is reported (``report.failure``, one line) and the others go
    on. ``report`` sees each file's progress and summary as soon as they come."""
    check_format(format)  # a wrong --format is one usage error, not one per file
    report = report or IngestReport()
    run = IngestRun(files=len(names))
    for name in names:
        try:
            with report.progress(name) as bar:
                summary = ingest_path(
                    db, name, format=format, progress=bar, redact_storage=redact_storage
                )
        except PxprofileError as e:
            if len(names) == 1:
                raise
            run.failures.append(" ".join(str(e).split()))
            report.failure(run.failures[-1])
            continue
        run.summaries.append(summary)
        report.summary(summary)
    return run


def ingest_path(
    db: Database,
    path: str | Path,
    *,
    format: str | None = None,
    progress: Progress | None = None,
    limits: Limits | None = None,
    redact_storage: bool = False,
) -> IngestSummary:
    """Ingest one file (a zip, a JSON/JSONL export, an llm logs.db, a transcript); "-" is stdin.

    With ``redact_storage`` the database keeps only the redacted text (no original to search)."""
    if str(path) == "-":
        return ingest_stream(
            db,
            sys.stdin.buffer,
            format=format,
            progress=progress,
            limits=limits,
            redact_storage=redact_storage,
        )
    p = Path(path)
    size = p.stat().st_size if p.is_file() else None
    cb = (lambda n: progress(n, size)) if progress else None
    opened = open_input(p, name=str(path), format=format, progress=cb, limits=limits)
    return _route(db, opened, str(p.resolve()), str(path), redact_storage)


def ingest_stream(
    db: Database,
    stream: BinaryIO,
    *,
    name: str = "<stdin>",
    format: str | None = None,
    progress: Progress | None = None,
    limits: Limits | None = None,
    redact_storage: bool = False,
) -> IngestSummary:
    """Ingest from a binary stream (stdin): JSON, JSON Lines or a text transcript."""
    cb = (lambda n: progress(n, None)) if progress else None
    opened = open_input(None, stream, name=name, format=format, progress=cb, limits=limits)
    return _route(db, opened, name, name, redact_storage)


def _route(db, opened: Opened, stored_path: str, name: str, redact_storage: bool):
    """Memory files (and memories inside an export) become profile lines (issue 14)."""
    from .imported import ingest_opened

    return ingest_opened(db, opened, stored_path, name, redact_storage, _write)


def _write(
    db: Database,
    opened: Opened,
    stored_path: str,
    name: str,
    redact_storage: bool = False,
) -> IngestSummary:
    summary = IngestSummary(path=name, format=opened.format)
    if redact_storage:  # overwritten originals are zeroed in the file, not just unlinked
        db.conn.execute("PRAGMA secure_delete = ON")
    try:
        with write_tx(db):
            now = utc_now()
            cur = db.conn.execute(
                "INSERT INTO sources (path, sha256, format, size, first_imported_at, imported_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (stored_path, f"pending:{uuid.uuid4()}", opened.format, opened.size, now, now),
            )
            source_id = cur.lastrowid
            # full-text indexing of new rows is deferred: one insert per batch (migration m002)
            last_rowid = db.conn.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[
                0
            ]
            db.conn.execute("INSERT INTO fts_deferred (id) VALUES (1)")
            cache = db.conn.execute("PRAGMA cache_size").fetchone()[0]
            db.conn.execute("PRAGMA cache_size = -65536")  # 64 MB: index inserts stay in memory
            # a big file into a small database: rebuild the secondary indexes once at the end
            # instead of updating them row by row (about 2x faster inserts)
            rebuild = (
                _drop_indexes(db.conn) if _bulk(opened.size, last_rowid, redact_storage) else []
            )
            rebuild += _drop_insert_trigger(db.conn)
            writer = _Writer(db.conn, opened.format, source_id, summary)
            writer.redact_storage = redact_storage
            writer.indexed = last_rowid
            try:
                for rec in opened.records:
                    if isinstance(rec, Conversation):
                        writer.conversation(rec)
                    elif isinstance(rec, Skipped):
                        summary.errors.append(f"{rec.conversation}: {rec.reason}")
                    elif isinstance(rec, Pair):
                        writer.pair(rec, rec.conversation)
                    elif isinstance(rec, Feedback):
                        writer.feedback(rec)
                writer.flush()
            finally:
                writer.join()  # no indexing may run on into the commit or the rollback
            if not (summary.conversations or summary.feedback or writer.pairs_seen):
                first = f" ({summary.errors[0]})" if summary.errors else ""
                raise FormatError(
                    f"{name}: nothing could be imported{first}. Check that this is a complete "
                    f"{opened.format} export."
                )
            for sql in rebuild:
                db.conn.execute(sql)
            db.conn.execute("DELETE FROM fts_deferred")
            if writer.rewritten:  # merge the index so the originals' tokens leave it too
                db.conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
            db.conn.execute(f"PRAGMA cache_size = {int(cache)}")
            summary.source_id = _finish_source(db.conn, source_id, opened.sha256(), summary, now)
    except sqlite3.Error as e:
        raise translate_errors(e) from e
    return summary


BULK_MIN_BYTES = 8 * 1024**2


def _bulk(size: int | None, existing_rows: int, redact_storage: bool) -> bool:
    """Worth dropping and rebuilding the message indexes: the file may add (at about one message
    per 500 bytes) more rows than the table holds. Not with --redact-storage, whose per-
    conversation updates need the conversation_id index."""
    return (
        bool(size) and size >= BULK_MIN_BYTES and existing_rows < size // 500 and not redact_storage
    )


def _drop_indexes(conn: sqlite3.Connection) -> list[str]:
    """Drop the secondary indexes on messages (inside the transaction); return their SQL."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' "
        "AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in rows:
        conn.execute(f"DROP INDEX [{name}]")
    return [sql for _, sql in rows]


def _drop_insert_trigger(conn: sqlite3.Connection) -> list[str]:
    """Drop the full-text insert trigger on messages (inside the transaction); return its SQL.
    While fts_deferred holds a row the trigger does nothing, but SQLite still runs its WHEN
    clause for every row inserted: about a quarter of each insert's cost."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name = 'messages_ai'"
    ).fetchall()
    for name, _ in rows:
        conn.execute(f"DROP TRIGGER [{name}]")
    return [sql for _, sql in rows]


def _finish_source(conn, source_id: int, sha: str, s: IngestSummary, now: str) -> int:
    counts = (s.conversations, s.messages, s.skipped, s.pairs, s.feedback, len(s.errors))
    old = conn.execute("SELECT id FROM sources WHERE sha256 = ?", (sha,)).fetchone()
    if old is None:
        conn.execute(
            "UPDATE sources SET sha256 = ?, conversations = ?, messages = ?, skipped = ?, "
            "pairs = ?, "
            "feedback = ?, errors = ?, added = ? WHERE id = ?",
            (sha, *counts, s.added, source_id),
        )
        return source_id
    # the same bytes were ingested before: keep one row per file, move what this run added
    old_id = old[0]
    for table in ("messages", "conversations", "pairs", "feedback"):
        conn.execute(f"UPDATE {table} SET source_id = ? WHERE source_id = ?", (old_id, source_id))
    conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))
    conn.execute(
        "UPDATE sources SET imported_at = ?, conversations = ?, messages = ?, skipped = ?, "
        "pairs = ?, "
        "feedback = ?, errors = ?, added = coalesce(added, 0) + ? WHERE id = ?",
        (now, *counts, s.added, old_id),
    )
    return old_id


class _Writer:
    """Batched writes inside the source's transaction.

    New conversations and their messages are written once per BATCH messages, and nothing else
    touches the database in between: the full-text indexing of one batch (a single SQLite
    statement, which releases the GIL) runs in a thread while this one parses and redacts the next
    batch. Every use of the connection first waits for that thread (``_wait``), so the two never
    use the connection at the same time. A conversation stored before (a re-ingest) is written at
    once, as it needs its stored messages.
    """

    redact_storage = False  # store only the redacted text (ingest --redact-storage)
    rewritten = 0  # stored originals replaced by their redacted text
    indexed = 0  # the messages up to this rowid are in (or on their way into) the FTS index

    def __init__(self, conn: sqlite3.Connection, fmt: str, source_id: int, summary: IngestSummary):
        self.pii = configured_pii()  # read config.toml once per source, not once per message
        self.conn = conn
        self.fmt = fmt
        self.source_id = source_id
        self.s = summary
        self.rows: list[tuple] = []
        self.conv_rows: list[tuple] = []
        self.pair_rows: list[tuple] = []
        self.pairs_seen = 0
        self._indexing: threading.Thread | None = None
        self._index_error: BaseException | None = None
        # the conversations of this format already stored: no query per conversation
        self.known = {
            r[0]
            for r in conn.execute(
                "SELECT id FROM conversations WHERE id > ? AND id < ?", (f"{fmt}:", f"{fmt};")
            )
        }

    def conversation(self, conv: Conversation) -> None:
        cid = f"{self.fmt}:{conv.id}"
        existed = cid in self.known
        self.known.add(cid)
        self.conv_rows.append(self._conversation_row(conv, cid))
        self.s.conversations += 1
        self.s.messages += len(conv.messages)
        prefix = cid + ":"
        # messages stored before are not normalized, redacted or inserted again
        known = self._stored_ids(cid) if existed else set()
        for m in conv.messages:
            if known and prefix + m.id in known:
                self.s.skipped += 1
                continue
            self.rows.append(self._message_row(m, cid))
        if existed:
            self._refresh(conv, cid)
        elif len(self.rows) >= BATCH:
            self._flush_messages()
        for p in conv.pairs:
            self.pair(p, conv.id)

    def _conversation_row(self, conv: Conversation, cid: str) -> tuple:
        return (
            cid,
            self.fmt,
            conv.id,
            redact(clean(conv.title), pii=self.pii) if conv.title else None,  # shown in lists
            conv.created_at,
            conv.updated_at,
            conv.created_raw,
            f"{cid}:{conv.current_leaf}" if conv.current_leaf else None,
            self.source_id,
            json.dumps(conv.meta, ensure_ascii=False) if conv.meta else None,
        )

    def _stored_ids(self, cid: str) -> set[str]:
        """The ids of a conversation's messages already in the database."""
        self._flush_messages()  # what is pending (this conversation's row, maybe its rows)
        self._wait()
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM messages WHERE id > ? AND id < ?", (cid + ":", cid + ";")
            )
        }

    def _message_row(self, m, cid: str) -> tuple:
        """One new message as a row: the text cleaned, its redacted form beside it (or
        instead of it, with redact_storage)."""
        prefix = cid + ":"
        text = clean(m.text) if m.text else ""
        red = redact(text, pii=self.pii) if text else text
        if red != text:
            self.s.redacted += red.count("[REDACTED:") > text.count("[REDACTED:")
            self.s.invisible += count_invisible(text)
            if self.redact_storage:
                text = red
        return (
            prefix + m.id,
            cid,
            m.id,
            prefix + m.parent if m.parent is not None else None,
            m.role,
            m.author_name,
            m.content_type,
            text,
            red if red != text else None,
            m.created_raw,
            m.created_at,
            1 if m.hidden else 0,
            1 if m.on_active_path else 0,
            m.status,
            m.model,
            m.seq,
            self.source_id,
            json.dumps(m.meta, ensure_ascii=False) if m.meta else None,
        )

    def _refresh(self, conv: Conversation, cid: str) -> None:
        """A conversation seen before: its new messages written now, the active path as the
        export has it now, originals dropped with redact_storage."""
        prefix = cid + ":"
        self._flush_messages()
        self._wait()
        if self.redact_storage:  # drop originals kept by an earlier ingest without it
            self.rewritten += self.conn.execute(
                "UPDATE messages SET text = redacted, redacted = NULL "
                "WHERE conversation_id = ? AND redacted IS NOT NULL",
                (cid,),
            ).rowcount
        self._executemany(
            "UPDATE messages SET on_active_path = ? WHERE id = ? AND on_active_path IS NOT ?",
            [(int(m.on_active_path), prefix + m.id, int(m.on_active_path)) for m in conv.messages],
        )

    def pair(self, p: Pair, conv: str | None) -> None:
        self.pairs_seen += 1
        cid = f"{self.fmt}:{conv}" if conv else None

        def ref(x: str | None) -> str | None:
            return f"{cid}:{x}" if x is not None and cid else None

        if p.native_id:
            pid = f"{self.fmt}:{p.origin}:{p.native_id}"
        else:
            pid = f"{self.fmt}:{p.origin}:" + content_hash(
                cid, p.chosen, p.rejected, p.chosen_text, p.rejected_text
            )
        self.pair_rows.append(
            (
                pid,
                cid,
                ref(p.prompt),
                ref(p.chosen),
                ref(p.rejected),
                _c(p.prompt_text),
                _c(p.chosen_text),
                _c(p.rejected_text),
                p.origin,
                int(p.interrupted),
                p.created_at,
                self.source_id,
            )
        )

    def feedback(self, f: Feedback) -> None:
        cid = f"{self.fmt}:{f.conversation}" if f.conversation else None
        mid = f"{cid}:{f.message}" if cid and f.message else None
        rc = self._executemany(
            _INSERT_FEEDBACK,
            [
                (
                    f"{self.fmt}:{f.id}",
                    mid,
                    cid,
                    f.rating,
                    _c(f.text),
                    f.created_at,
                    f.origin,
                    self.source_id,
                )
            ],
        )
        self.s.feedback += rc

    def flush(self) -> None:
        self._flush_messages()
        self._wait()
        if self.pair_rows:
            self.s.pairs += self._executemany(_INSERT_PAIR, self.pair_rows)
            self.pair_rows = []

    def _flush_messages(self) -> None:
        """Write the pending conversations and messages; start indexing the new messages."""
        if self.conv_rows:
            self._executemany(_UPSERT_CONVERSATION, self.conv_rows)
            self.conv_rows = []
        if not self.rows:
            return
        added = self._executemany(_INSERT_MESSAGE, self.rows)
        self.s.added += added
        self.s.skipped += len(self.rows) - added
        self.rows = []
        if added:
            top = self.conn.execute("SELECT max(rowid) FROM messages").fetchone()[0]
            self._indexing = threading.Thread(
                target=self._index, args=(self.indexed, top), name="pxprofile-fts", daemon=True
            )
            self.indexed = top
            self._indexing.start()

    def _index(self, after: int, upto: int) -> None:
        try:
            self.conn.execute(
                "INSERT INTO messages_fts (rowid, text) "
                "SELECT rowid, text FROM messages WHERE rowid > ? AND rowid <= ?",
                (after, upto),
            )
        except BaseException as e:  # raised in the writer's thread by _wait()
            self._index_error = e

    def _wait(self) -> None:
        """Let the indexing of the last batch finish; raise what it raised."""
        self.join()
        if self._index_error is not None:
            error, self._index_error = self._index_error, None
            raise error

    def join(self) -> None:
        if self._indexing is not None:
            self._indexing.join()
            self._indexing = None

    def _executemany(self, sql: str, rows: list[tuple]) -> int:
        """executemany, returning how many rows changed. A lone surrogate in an id or a name
        (text is cleaned up front) fails the batch part-way: undo it, clean every string, retry."""
        self._wait()
        self.conn.execute("SAVEPOINT batch")
        try:
            n = self.conn.executemany(sql, rows).rowcount
        except UnicodeEncodeError:
            self.conn.execute("ROLLBACK TO batch")
            fixed = [tuple(clean(v) if isinstance(v, str) else v for v in r) for r in rows]
            n = self.conn.executemany(sql, fixed).rowcount
        self.conn.execute("RELEASE batch")
        return n


def _c(s: str | None) -> str | None:
    # pair and feedback texts go to the model as they are stored: store them redacted
    return redact(clean(s)) if s else s
