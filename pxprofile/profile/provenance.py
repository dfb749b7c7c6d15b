"""Provenance: why a line is in the profile. The messages behind it, quoted around the words
that matter, the earlier wordings it replaced and what superseded it."""

from __future__ import annotations

import re

from pxprofile.text import normalize, profile_name, squash

from .edits import locked_sync

QUOTE_WIDTH = 160  # characters of a message shown around the words that matter
KEY_STEM = 5  # a line's words match a message's by their first five letters ("prefer" ~ "prefers")
EARLIER_DEPTH = 5  # how many earlier wordings back `why` follows

_LINE_COLUMNS = (
    "select l.*, v.created_at as created_at, rv.created_at as retired_at, rv.kind as "
    "retired_kind from profile_lines l left join profile_versions v on v.id = l.created_version "
    "left join profile_versions rv on rv.id = l.retired_version "
)


def quote(message: str, line: str, width: int = QUOTE_WIDTH) -> str:
    """The message's words around the part most related to ``line``, trimmed with ellipses."""
    msg = squash(message)
    if len(msg) <= width:
        return msg
    keys = {w[:KEY_STEM] for w in normalize(line).split() if len(w) > 3}
    probe = max(40, width // 3)
    best, best_start = 0, 0
    for m in re.finditer(r"(?:^|\s)(\S)", msg):
        s = m.start(1)
        words = normalize(msg[s : s + probe]).split()
        score = sum(1 for k in keys if any(w.startswith(k) for w in words))
        if score > best:
            best, best_start = score, s
    start = max(0, best_start - width // 4)
    if start:
        start = msg.rfind(" ", 0, start) + 1
    end = min(len(msg), start + width)
    if end < len(msg):
        cut = msg.rfind(" ", start, end)
        end = cut if cut > start else end
    return ("…" if start else "") + msg[start:end].strip() + ("…" if end < len(msg) else "")


def evidence(db, line_id: int, line_text: str, role: str = "support") -> list[dict]:
    """The messages recorded for a line (``role`` "support" or "retire"), oldest first."""
    return [
        {
            "message_id": r["message_id"],
            "found": r["found"] is not None,
            "conversation_id": r["conversation_id"],
            "conversation_title": r["title"],
            "created_at": r["created_at"],
            "role": r["role"],
            "quote": quote(r["text"] or "", line_text) if r["found"] else None,
        }
        for r in db.query(
            "select e.message_id, m.id as found, coalesce(m.redacted, m.text) as text, m.role, "
            "m.created_at, c.title, c.id as conversation_id from profile_evidence e "
            "left join messages m on m.id = e.message_id "
            "left join conversations c on c.id = m.conversation_id "
            "where e.line_id = ? and e.role = ? order by m.created_at, e.rowid",
            [line_id, role],
        )
    ]


def why(db, text: str, profile: str | None = None, limit: int = 5) -> list[dict]:
    """Lines containing ``text`` (case-insensitive), active ones first, each with its evidence,
    the earlier wordings it replaced, and (for retired lines) what superseded it."""
    locked_sync(db, profile)
    needle = text.casefold().strip()
    rows = [
        dict(r)
        for r in db.query(
            _LINE_COLUMNS + "where l.profile = ? order by l.status = 'active' desc, l.id desc",
            [profile_name(profile)],
        )
        if needle in r["text"].casefold() or needle in squash(r["text"]).casefold()
    ][:limit]
    return [_describe(db, r) for r in rows]


def _describe(db, r: dict, depth: int = 0) -> dict:
    item = {
        "id": r["id"],
        "section": r["section"],
        "text": r["text"],
        "author": r["author"],
        "status": r["status"],
        "created_at": r.get("created_at"),
        "retired_at": r.get("retired_at"),
        "first_supported": r["first_supported"],
        "last_supported": r["last_supported"],
        "evidence": evidence(db, r["id"], r["text"]),
        "retired_by_evidence": evidence(db, r["id"], r["text"], role="retire"),
        "superseded_by": None,
        "earlier": [],
    }
    if r["superseded_by"]:
        (s,) = db.query("select text, author from profile_lines where id = ?", [r["superseded_by"]])
        item["superseded_by"] = {"id": r["superseded_by"], "text": s["text"], "author": s["author"]}
    if depth < EARLIER_DEPTH:
        for prev in db.query(_LINE_COLUMNS + "where l.superseded_by = ?", [r["id"]]):
            item["earlier"].append(_describe(db, dict(prev), depth + 1))
    return item
