"""Schema migrations (sqlite-utils Migrations). Append-only: never edit an applied migration.

They run in the order they stand in this file (sqlite-utils records each applied name, so a
name can never change). Numbered by area, so work on different areas never collides:
  m001-m009 chats store (sources, conversations, messages, feedback, pairs, FTS)
  m010-m019 profile (versions, lines, provenance, deletions)
  m020-m029 inference (updates, digested messages)
  m030-m039 forgetting
  m040-m049 reading (observations per conversation)
  m050-m059 lines imported from other tools' memories
  m080-m089 privacy and safety (redaction)
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("pxprofile")


@migrations()
def m001_chats(db):
    # Why: the spine. Message ids are stable across re-exports ("format:conversation:message" or a
    # content hash where a format has no ids), so re-ingest is INSERT OR IGNORE.
    # Applied in users' databases: the helpers below keep its statements and their order
    # (tests/test_store.py holds the schema it creates).
    _m001_sources(db)
    _m001_conversations(db)
    _m001_messages(db)
    _m001_signals(db)
    db["messages"].enable_fts(["text"], create_triggers=True, tokenize="porter")


def _m001_sources(db):
    db["sources"].create(
        {
            "id": int,
            "path": str,
            "sha256": str,
            "format": str,
            "size": int,
            "first_imported_at": str,
            "imported_at": str,
            "conversations": int,
            "messages": int,
            "added": int,
            "skipped": int,
            "pairs": int,
            "feedback": int,
            "errors": int,
        },
        pk="id",
    )
    db["sources"].create_index(["sha256"], unique=True)


def _m001_conversations(db):
    db["conversations"].create(
        {
            "id": str,
            "format": str,
            "native_id": str,
            "title": str,
            "created_at": str,
            "updated_at": str,
            "created_raw": str,
            "current_leaf": str,
            "source_id": int,
            "meta": str,
        },
        pk="id",
    )


def _m001_messages(db):
    db["messages"].create(
        {
            "id": str,
            "conversation_id": str,
            "native_id": str,
            "parent_id": str,
            "role": str,  # user | assistant | system | tool
            "author_name": str,  # tool name, "custom_instructions", model label, ...
            "content_type": str,  # text | multimodal_text | code | thoughts | ...
            "text": str,  # as exported (kept local; --redact-storage replaces it)
            "redacted": str,  # text with secrets/PII replaced by placeholders; None if none found
            "created_raw": str,
            "created_at": str,  # UTC ISO 8601, or None
            "hidden": int,  # 1 = not part of what the user saw (system, tool, reasoning, ...)
            "on_active_path": int,  # 1 = on the branch the user kept
            "status": str,  # finished | interrupted | ...
            "model": str,
            "seq": int,  # depth in the tree / order in a linear chat
            "source_id": int,
            "meta": str,
        },
        pk="id",
    )
    db["messages"].create_index(["conversation_id"])
    db["messages"].create_index(["parent_id"])
    db["messages"].create_index(["role", "hidden"])


def _m001_signals(db):
    # the user's feedback on replies and the chosen/rejected reply pairs
    db["feedback"].create(
        {
            "id": str,
            "message_id": str,
            "conversation_id": str,
            "rating": int,  # +1 thumbs up, -1 thumbs down
            "text": str,
            "created_at": str,
            "origin": str,
            "source_id": int,
        },
        pk="id",
    )
    db["feedback"].create_index(["message_id"])
    db["pairs"].create(
        {
            "id": str,
            "conversation_id": str,
            "prompt_id": str,  # the user message both replies answer (may be None)
            "chosen_id": str,
            "rejected_id": str,
            "prompt_text": str,  # only when the messages are not in `messages` (model_comparisons)
            "chosen_text": str,
            "rejected_text": str,
            "origin": str,  # branch | comparison | regeneration
            "interrupted": int,
            "created_at": str,
            "source_id": int,
        },
        pk="id",
    )
    db["pairs"].create_index(["conversation_id"])


@migrations()
def m020_updates(db):
    # Why: every inference run is recorded (tokens, coverage, rejected operations), and each
    # message is digested exactly once per profile, so an update's cost follows what is new.
    db["updates"].create(
        {
            "id": int,
            "profile": str,
            "started_at": str,
            "finished_at": str,
            "model": str,
            "mode": str,  # default | alignxplore
            "status": str,  # running | ok | noop | failed | conflict
            "prompt_tokens": int,
            "completion_tokens": int,
            "batches": int,
            "evidence": int,
            "messages_read": int,
            "messages_available": int,
            "applied": int,
            "rejected": str,  # JSON list of {"op": ..., "reason": ...}
            "version": int,  # the profile version the update wrote, if any
            "error": str,
        },
        pk="id",
    )
    db["digested"].create(
        {"message_id": str, "profile": str, "update_id": int},
        pk=("profile", "message_id"),
    )
    db["digested"].create_index(["update_id"])
    # pairs and feedback rows are signals of their own (a later export can add a thumbs-down or
    # a regeneration to a message that was already digested)
    db["digested_signals"].create(
        {"signal_id": str, "profile": str, "update_id": int},
        pk=("profile", "signal_id"),
    )


@migrations()
def m010_profile(db):
    # Why: the profile file is the user's; SQLite keeps what pxprofile last wrote (base for the
    # three-way merge), every version, per-line provenance and the lines the user deleted.
    db["profile_versions"].create(
        {
            "id": int,
            "profile": str,  # "default" or the --profile NAME
            "created_at": str,
            "kind": str,  # init | update | edit | revert
            "text": str,  # the full file text of this version
            "sha256": str,
            "line_ids": str,  # JSON: profile_lines ids of the bullets in file order
            "note": str,
            "update_id": int,
            "pending": int,  # 1 while the file write is in flight (resolved on the next read)
        },
        pk="id",
    )
    db["profile_versions"].create_index(["profile", "id"])
    db["profile_lines"].create(
        {
            "id": int,
            "profile": str,
            "section": str,
            "text": str,
            "author": str,  # user | model
            "status": str,  # active | retired | deleted
            "created_version": int,
            "retired_version": int,
            "first_supported": str,
            "last_supported": str,
            "superseded_by": int,
        },
        pk="id",
    )
    db["profile_lines"].create_index(["profile", "status"])
    db["profile_evidence"].create(
        {
            "line_id": int,
            "message_id": str,
            "role": str,  # support | retire (the evidence that retired the line)
            "version_id": int,
        },
        pk=("line_id", "message_id", "role"),
    )
    db["profile_evidence"].create_index(["message_id"])
    db["profile_deletions"].create(
        {
            "id": int,
            "profile": str,
            "text": str,
            "norm": str,  # normalized: lower case, no punctuation, single spaces
            "line_id": int,
            "version_id": int,
        },
        pk="id",
    )
    db["profile_deletions"].create_index(["profile"])


@migrations()
def m002_fts_bulk(db):
    # Why: per-row FTS5 trigger inserts made ingest ~4x slower (100k messages: 10.6 s vs 2.7 s).
    # While a row exists in fts_deferred (only inside an ingest transaction) the insert trigger is
    # off and ingest indexes the source's new rows in one INSERT ... SELECT; any other insert is
    # still indexed by the trigger. The update trigger fires only when `text` changes.
    db.execute("CREATE TABLE fts_deferred (id INTEGER PRIMARY KEY)")
    db.execute("DROP TRIGGER IF EXISTS [messages_ai]")
    db.execute("DROP TRIGGER IF EXISTS [messages_au]")
    db.execute(
        "CREATE TRIGGER [messages_ai] AFTER INSERT ON [messages] "
        "WHEN NOT EXISTS (SELECT 1 FROM fts_deferred) BEGIN "
        "INSERT INTO [messages_fts] (rowid, [text]) VALUES (new.rowid, new.[text]); END"
    )
    db.execute(
        "CREATE TRIGGER [messages_au] AFTER UPDATE OF [text] ON [messages] BEGIN "
        "INSERT INTO [messages_fts] ([messages_fts], rowid, [text]) "
        "VALUES ('delete', old.rowid, old.[text]); "
        "INSERT INTO [messages_fts] (rowid, [text]) VALUES (new.rowid, new.[text]); END"
    )


@migrations()
def m030_forget_log(db):
    # Why: `pxprofile forget` records what it deleted (kind, ids, counts), never the search query
    # or any text, so the user can see that a forget happened without the log keeping the secret.
    db["forget_log"].create(
        {"id": int, "at": str, "kind": str, "target": str, "counts": str},
        pk="id",
    )


@migrations()
def m040_readings(db):
    # Why: issue 11 reads in two steps. A reading step turns one conversation's unread turns into
    # short observations (with the message ids behind them); they are stored so the same
    # conversation is never read twice by the same model, and so an interrupted update keeps what
    # it read. A merge step turns observations into profile operations; merged_readings records,
    # per profile, which readings have reached the profile.
    db["readings"].create(
        {
            "id": int,
            "model": str,
            "unit_key": str,  # hash of the messages and signals the reading covered
            "conversation_id": str,
            "message_ids": str,  # JSON: every message the reading covered (context included)
            "voice_ids": str,  # JSON: the user's own messages among them
            "signal_ids": str,  # JSON: pair:/feedback: ids
            "observations": str,  # JSON: [{"kind", "text", "message_ids"}]
            "prompt_tokens": int,
            "completion_tokens": int,
            "created_at": str,
            "update_id": int,
        },
        pk="id",
    )
    db["readings"].create_index(["model", "unit_key"], unique=True)
    db["readings"].create_index(["conversation_id"])
    db["merged_readings"].create(
        {"profile": str, "reading_id": int, "update_id": int},
        pk=("profile", "reading_id"),
    )
    # how an update read: reading steps, observations, the user's messages it covered
    for column in ("readings", "observations", "user_messages_read", "user_messages_available"):
        db["updates"].add_column(column, int)


@migrations()
def m050_imported_lines(db):
    # Why: memories imported from other tools (Claude memories.json, ChatGPT memories and custom
    # instructions, Portable AI Memory files) become profile lines the user owns. This table keeps
    # where each such line came from (origin, file, date, native id and PAM provenance), so `why`
    # can say so, a PAM export can carry the provenance on, and re-importing adds nothing twice.
    db["imported_lines"].create(
        {
            "id": int,
            "profile": str,
            "line_id": int,  # profile_lines.id the memory became (or was found as)
            "key": str,  # PAM content hash of the text: sha256 of the normalized statement
            "text": str,
            "section": str,
            "origin": str,  # "Claude memories", "ChatGPT custom instructions", ...
            "platform": str,  # claude | chatgpt | a PAM provenance platform
            "ref": str,  # the native id (PAM memory id, ChatGPT memory id), when there is one
            "source_path": str,
            "source_sha256": str,
            "imported_at": str,
            "created_at": str,  # the memory's own date, when the file gives one
            "provenance": str,  # JSON: the PAM provenance block, carried to the next PAM export
        },
        pk="id",
    )
    db["imported_lines"].create_index(["profile", "key"], unique=True)
    db["imported_lines"].create_index(["line_id"])


@migrations()
def m080_redact_titles(db):
    # Why: conversation titles are shown by `chats list` and `why` and kept even with
    # --redact-storage, and a title can hold a pasted key ("fix auth with sk-..."). Ingest now
    # stores titles redacted; this redacts the titles of databases ingested before.
    from .redact import redact

    rows = db.execute("SELECT id, title FROM conversations WHERE title IS NOT NULL").fetchall()
    changed = [(red, cid) for cid, title in rows if (red := redact(title)) != title]
    if changed:
        db.conn.executemany("UPDATE conversations SET title = ? WHERE id = ?", changed)


@migrations()
def m051_imported_line_state(db):
    # Why: issue 14's follow-ups. `forget --source` removes the lines an import added, never a line
    # the user had written before it (an import only links those), so each record says which it
    # is (added). A memory a later PAM file retracts, supersedes or archives removes the line it
    # added, and the record keeps that status (PAM 16.3: retracted memories are kept, marked), so
    # the same file read again changes nothing. Records made before this migration did not say
    # whether they added their line: a line with the memory's exact words, created by the version
    # recorded last when the memory was imported, was added by it.
    db["imported_lines"].add_column("added", int)
    db["imported_lines"].add_column("status", str)  # None: the memory is active
    db.execute(
        """
        UPDATE imported_lines SET added = coalesce((
          SELECT l.text = imported_lines.text AND l.created_version = (
            SELECT max(v.id) FROM profile_versions v
            WHERE v.profile = imported_lines.profile AND coalesce(v.pending, 0) = 0
              AND v.created_at <= imported_lines.imported_at)
          FROM profile_lines l WHERE l.id = imported_lines.line_id), 0)
        """
    )
