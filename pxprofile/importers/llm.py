"""simonw/llm's logs.db: the legacy `responses` table and the current content-addressed tables
(threads, turns, messages, parts). Both are read when present; the database is opened
read-only (chat-formats.md section 5).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from pxprofile.errors import FormatError

from .common import Conversation, Message, Record, Skipped, link_tree, to_utc

FORMAT = "llm"


def tables(path: Path) -> set[str]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return {
                r[0]
                for r in conn.execute(
                    "select name from sqlite_master where type in ('table','view')"
                )
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return set()


def matches(names: set[str]) -> bool:
    return "responses" in names or {"threads", "turns", "messages", "parts"} <= names


def records(path: Path, name: str) -> Iterator[Record]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise FormatError(
            f"{name}: cannot open the SQLite database ({e}). Check the file."
        ) from None
    conn.row_factory = sqlite3.Row
    try:
        names = {
            r[0]
            for r in conn.execute("select name from sqlite_master where type in ('table','view')")
        }
        if not matches(names):
            raise FormatError(
                f"{name}: a SQLite database, but not an llm logs.db (no responses or threads/turns "
                "tables). Pass llm's logs.db (see `llm logs path`)."
            )
        if "responses" in names:
            yield from _legacy(conn, names)
        if {"threads", "turns", "messages", "parts"} <= names:
            yield from _threads(conn, names)
    except sqlite3.DatabaseError as e:
        raise FormatError(f"{name}: cannot read the llm database ({e}). Check the file.") from None
    finally:
        conn.close()


def _cols(conn, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"pragma table_info([{table}])")}


def _legacy(conn: sqlite3.Connection, names: set[str]) -> Iterator[Record]:
    cols = _cols(conn, "responses")
    pick = [
        c
        for c in ("id", "model", "prompt", "system", "response", "conversation_id", "datetime_utc")
        if c in cols
    ]
    if not {"id", "prompt", "response"} <= set(pick):
        return
    titles = {}
    if "conversations" in names and {"id", "name"} <= _cols(conn, "conversations"):
        titles = {r[0]: r[1] for r in conn.execute("select id, name from conversations")}
    order = "conversation_id, " if "conversation_id" in pick else ""
    order += "datetime_utc, " if "datetime_utc" in pick else ""
    rows = conn.execute(f"select {', '.join(pick)} from responses order by {order}rowid")
    current: str | None = None
    batch: list[sqlite3.Row] = []
    for row in rows:
        cid = (row["conversation_id"] if "conversation_id" in pick else None) or f"r-{row['id']}"
        if cid != current and batch:
            yield _legacy_conv(current, batch, titles)
            batch = []
        current = cid
        batch.append(row)
    if batch:
        yield _legacy_conv(current, batch, titles)


def _legacy_conv(cid: str, rows: list[sqlite3.Row], titles: dict) -> Conversation:
    messages: list[Message] = []
    prev = None
    keys = rows[0].keys()
    for r in rows:
        when = r["datetime_utc"] if "datetime_utc" in keys else None
        model = r["model"] if "model" in keys else None
        system = r["system"] if "system" in keys else None
        rid = str(r["id"])
        if system:
            messages.append(
                Message(
                    f"{rid}:s",
                    "system",
                    system,
                    prev,
                    created_raw=when,
                    created_at=to_utc(when),
                    hidden=True,
                )
            )
            prev = messages[-1].id
        messages.append(
            Message(
                f"{rid}:p",
                "user",
                r["prompt"] or "",
                prev,
                created_raw=when,
                created_at=to_utc(when),
                hidden=not (r["prompt"] or "").strip(),
            )
        )
        prev = messages[-1].id
        messages.append(
            Message(
                f"{rid}:r",
                "assistant",
                r["response"] or "",
                prev,
                created_raw=when,
                created_at=to_utc(when),
                model=model,
                hidden=not (r["response"] or "").strip(),
            )
        )
        prev = messages[-1].id
    link_tree(messages, prev)
    first = rows[0]
    return Conversation(
        id=cid,
        messages=messages,
        title=titles.get(cid)
        or ((first["prompt"] or "").strip().splitlines() or [""])[0][:80]
        or None,
        created_raw=messages[0].created_raw,
        created_at=messages[0].created_at,
        updated_at=messages[-1].created_at,
        current_leaf=prev,
    )


def _threads(conn: sqlite3.Connection, names: set[str]) -> Iterator[Record]:
    fragments = {}
    if "fragments" in names and {"id", "content"} <= _cols(conn, "fragments"):
        fragments = {r[0]: r[1] for r in conn.execute("select id, content from fragments")}
    tcols = _cols(conn, "threads")
    turn_cols = _cols(conn, "turns")
    for thread in conn.execute("select * from threads order by rowid"):
        tid = str(thread["id"])
        try:
            yield _thread(conn, thread, tcols, turn_cols, fragments)
        except (KeyError, TypeError, ValueError, IndexError, sqlite3.Error) as e:
            yield Skipped(tid, f"unexpected structure ({type(e).__name__}: {e})")


def _thread(conn, thread, tcols, turn_cols, fragments) -> Conversation:
    tid = str(thread["id"])
    tip = thread["tip_message_hash"] if "tip_message_hash" in tcols else None
    turns = conn.execute(
        "select * from turns where thread_id = ? order by datetime_utc, rowid", (tid,)
    ).fetchall()
    tips = [
        t["tip_message_hash"]
        for t in turns
        if "tip_message_hash" in turn_cols and t["tip_message_hash"]
    ]
    when: dict[str, str] = {}
    model: dict[str, str] = {}
    for t in turns:
        h = t["tip_message_hash"] if "tip_message_hash" in turn_cols else None
        if h and h not in when:
            when[h] = t["datetime_utc"] if "datetime_utc" in turn_cols else None
            model[h] = t["model"] if "model" in turn_cols else None
        ph = t["parent_message_hash"] if "parent_message_hash" in turn_cols else None
        if ph and ph not in when and "datetime_utc" in turn_cols:
            when[ph] = t["datetime_utc"]
    rows: dict[str, sqlite3.Row] = {}
    for start in ([tip] if tip else []) + tips:
        h = start
        while h and h not in rows:
            row = conn.execute("select * from messages where hash = ?", (h,)).fetchone()
            if row is None:
                break
            rows[h] = row
            h = row["parent_hash"]
    messages = []
    for h, row in rows.items():
        parts = conn.execute(
            "select * from parts where message_hash = ? order by position", (h,)
        ).fetchall()
        texts, other, kinds = [], [], []
        for p in parts:
            text = p["text"] if "text" in p.keys() else None
            if text is None and "payload" in p.keys() and p["payload"]:
                text = _payload_text(p["payload"], fragments)
            kinds.append(p["type"])
            (texts if p["type"] == "text" else other).append(text or "")
        role = row["role"] or "unknown"
        body = "\n".join(t for t in texts if t)
        hidden = role not in ("user", "assistant") or not body.strip()
        messages.append(
            Message(
                id=h,
                role=role,
                text=body or "\n".join(t for t in other if t),
                parent=row["parent_hash"] if row["parent_hash"] in rows else None,
                content_type="text" if texts or not kinds else kinds[0],
                created_raw=when.get(h),
                created_at=to_utc(when.get(h)),
                hidden=hidden,
                model=model.get(h),
            )
        )
    leaf = tip or (tips[-1] if tips else None)
    used = link_tree(messages, leaf)
    title = thread["name"] if "name" in tcols else None
    first_user = next(
        (
            m.text
            for m in sorted(messages, key=lambda m: m.seq)
            if m.role == "user" and m.text.strip()
        ),
        "",
    )
    return Conversation(
        id=tid,
        messages=messages,
        title=title or (first_user.strip().splitlines()[0][:80] if first_user.strip() else None),
        created_raw=thread["datetime_utc"] if "datetime_utc" in tcols else None,
        created_at=to_utc(thread["datetime_utc"]) if "datetime_utc" in tcols else None,
        current_leaf=used,
    )


def _payload_text(payload: str, fragments: dict) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    if isinstance(data.get("text"), str):
        return data["text"]
    out = []
    for ref in data.get("text_ref") or []:
        if isinstance(ref, dict):
            if "literal" in ref:
                out.append(str(ref["literal"]))
            elif "fragment" in ref:
                out.append(str(fragments.get(ref["fragment"], "")))
    if out:
        return "".join(out)
    for key in ("arguments", "output", "name"):
        if key in data:
            return (
                json.dumps(data[key], ensure_ascii=False)
                if not isinstance(data[key], str)
                else data[key]
            )
    return ""
