"""Read what was recorded: list, show and search conversations, and count everything.

Plain functions over the store; the CLI (cli/chats.py) renders their results.
"""

from __future__ import annotations

import sqlite3

from .errors import InputError
from .store import Database


def list_conversations(
    db: Database, *, limit: int | None = 50, format: str | None = None
) -> list[dict]:
    """Conversations, newest first, with their message counts."""
    where, params = ("WHERE c.format = ?", [format]) if format else ("", [])
    sql = f"""
        SELECT c.id, c.format, c.title, c.created_at, c.updated_at,
               (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS messages
        FROM conversations c {where}
        ORDER BY coalesce(c.updated_at, c.created_at) DESC, c.id
    """
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    return [dict(r) for r in db.query(sql, params)]


def resolve_conversation(db: Database, ref: str) -> dict:
    """A conversation by id, native id, or a unique part of its id."""
    rows = list(db.query("SELECT * FROM conversations WHERE id = ?", [ref]))
    if not rows:
        rows = list(db.query("SELECT * FROM conversations WHERE native_id = ? LIMIT 2", [ref]))
    if not rows:
        pattern = "%" + ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = list(
            db.query("SELECT * FROM conversations WHERE id LIKE ? ESCAPE '\\' LIMIT 2", [pattern])
        )
    if not rows:
        raise InputError(f"no conversation {ref!r}. Run `pxprofile chats list` to see the ids.")
    if len(rows) > 1:
        raise InputError(f"{ref!r} matches more than one conversation. Give more of the id.")
    return rows[0]


def show_conversation(
    db: Database, ref: str, *, all_branches: bool = False, hidden: bool = False
) -> dict:
    """A conversation with its messages in reading order (depth-first through the tree).

    By default only the kept path and visible messages; all_branches adds the others, each
    with its `depth` (how many branch points deep it sits off the kept path).
    """
    conv = resolve_conversation(db, ref)
    rows = [
        dict(r)
        for r in db.query(
            "SELECT id, parent_id, role, author_name, content_type, "
            "coalesce(redacted, text) AS text, "
            "created_at, hidden, on_active_path, status, model, seq FROM messages "
            "WHERE conversation_id = ?",
            [conv["id"]],
        )
    ]
    ids = {r["id"] for r in rows}
    children: dict[str | None, list[dict]] = {}
    for r in rows:
        parent = r["parent_id"] if r["parent_id"] in ids else None
        children.setdefault(parent, []).append(r)
    for kids in children.values():
        # kept branch first, then by time
        kids.sort(key=lambda r: (not r["on_active_path"], r["created_at"] or "", r["seq"], r["id"]))
    out = []
    stack = [(r, 0) for r in reversed(children.get(None, []))]
    seen = set()
    while stack:
        r, depth = stack.pop()
        if r["id"] in seen:
            continue
        seen.add(r["id"])
        off = 0 if r["on_active_path"] else 1
        if all_branches or r["on_active_path"]:
            if hidden or not r["hidden"]:
                out.append({**r, "depth": depth + off if all_branches else 0})
            for c in reversed(children.get(r["id"], [])):
                stack.append((c, depth + off if not r["on_active_path"] else depth))
    for r in out:
        r["hidden"] = bool(r["hidden"])
        r["on_active_path"] = bool(r["on_active_path"])
        del r["seq"]
    return {
        "id": conv["id"],
        "format": conv["format"],
        "title": conv["title"],
        "created_at": conv["created_at"],
        "updated_at": conv["updated_at"],
        "messages": out,
    }


def search_messages(
    db: Database, query: str, *, limit: int = 20, hidden: bool = False
) -> list[dict]:
    """Full-text search over message text; the query's words are matched as words (quoted)."""
    if not query.strip():
        raise InputError("the search query is empty. Give one or more words.")
    sql = f"""
        SELECT m.conversation_id, m.id AS message_id, m.role, m.created_at,
               snippet(messages_fts, 0, '[', ']', '…', 12) AS snippet
        FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid
        WHERE messages_fts MATCH ? {"" if hidden else "AND m.hidden = 0"}
        ORDER BY rank LIMIT ?
    """
    try:
        return [dict(r) for r in db.query(sql, [db.quote_fts(query), limit])]
    except sqlite3.OperationalError as e:
        raise InputError(f"cannot search for {query!r} ({e}). Use plain words.") from None


def stats(db: Database) -> dict:
    """Counts of everything recorded (all integer values, plus per-format conversation counts)."""

    def one(sql: str) -> int:
        return db.execute(sql).fetchone()[0]

    return {
        "sources": one("SELECT count(*) FROM sources"),
        "conversations": one("SELECT count(*) FROM conversations"),
        "messages": one("SELECT count(*) FROM messages"),
        "user_messages": one("SELECT count(*) FROM messages WHERE role = 'user' AND hidden = 0"),
        "hidden_messages": one("SELECT count(*) FROM messages WHERE hidden = 1"),
        "pairs": one("SELECT count(*) FROM pairs"),
        "feedback": one("SELECT count(*) FROM feedback"),
        "formats": {
            r[0]: r[1]
            for r in db.execute(
                "SELECT format, count(*) FROM conversations GROUP BY format ORDER BY format"
            )
        },
    }
