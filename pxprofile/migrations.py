"""Schema migrations (sqlite-utils Migrations). Append-only: never edit an applied migration.

Numbering by area, so work on different areas never collides:
  m001-m009 chats store (sources, conversations, messages, feedback, pairs, FTS)
  m010-m019 profile (versions, lines, provenance, deletions)
  m020-m029 inference (updates, digested messages)
  m030-m039 privacy and safety (redaction)
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("pxprofile")


@migrations()
def m001_chats(db):
    # Why: the spine. Message ids are stable across re-exports ("format:conversation:message" or a
    # content hash where a format has no ids), so re-ingest is INSERT OR IGNORE.
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
    db["messages"].enable_fts(["text"], create_triggers=True, tokenize="porter")
