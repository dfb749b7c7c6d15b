"""Grok (xAI) export: prod-grok-backend.json, one object
``{"conversations": [{"conversation": {...}, "responses": [{"response": {...}}]}], ...}``.

The top-level key is the one a wrapped ChatGPT export uses; what tells them apart is the entry
shape (``conversation`` + ``responses`` here, ``mapping`` there). Responses form a tree through
``parent_response_id`` (absent on first turns; a retry of the opening prompt is a second root);
the file is not in order, so time orders it. ``sender`` is "human" for the user and anything else
("assistant", "ASSISTANT", a model name) for Grok. Times are MongoDB extended JSON
(``{"$date": {"$numberLong": ms}}`` or ``{"$date": ISO}``). See chat-formats.md section 6.2.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .common import (
    Conversation,
    CorruptConversation,
    Message,
    Record,
    Skipped,
    branch_pairs,
    content_hash,
    link_tree,
    raw_time,
    to_utc,
)

FORMAT = "grok"


def _is_entry(e: Any) -> bool:
    return (
        isinstance(e, dict)
        and isinstance(e.get("conversation"), dict)
        and isinstance(e.get("responses"), list)
    )


def matches(obj: Any) -> bool:
    """A root object whose conversations are {conversation, responses} entries."""
    convs = obj.get("conversations") if isinstance(obj, dict) else None
    if not isinstance(convs, list) or not convs:
        return False
    return _is_entry(next((c for c in convs if c is not None), None))


def conversations_of(obj: Any) -> list[Any]:
    return obj["conversations"] if matches(obj) else []


def records(items: Iterable[Any]) -> Iterator[Record]:
    for i, entry in enumerate(items):
        if entry is None:
            continue
        conv = entry.get("conversation") if isinstance(entry, dict) else None
        cid = (conv.get("id") if isinstance(conv, dict) else None) or f"#{i + 1}"
        try:
            if not _is_entry(entry):
                raise CorruptConversation("not a {conversation, responses} entry")
            yield _conversation(str(cid), entry["conversation"], entry["responses"])
        except CorruptConversation as e:
            yield Skipped(str(cid), str(e))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            yield Skipped(str(cid), f"unexpected structure ({type(e).__name__}: {e})")


def _conversation(cid: str, conv: dict, responses: list) -> Conversation:
    rows = [r.get("response") if isinstance(r, dict) and "response" in r else r for r in responses]
    rows = [r for r in rows if isinstance(r, dict)]
    if not rows:
        raise CorruptConversation("no responses")
    rows.sort(key=lambda r: to_utc(r.get("create_time")) or "")
    linked = any("parent_response_id" in r for r in rows)
    messages: list[Message] = []
    prev: str | None = None
    for r in rows:
        rid = str(r.get("_id") or "h" + content_hash(r.get("sender"), r.get("message"), prev))
        parent = r.get("parent_response_id") if linked else prev
        messages += _messages(rid, r, str(parent) if parent else None)
        prev = rid
    link_tree(messages, None)
    return Conversation(
        id=cid,
        messages=messages,
        title=conv.get("title"),
        created_raw=raw_time(conv.get("create_time")),
        created_at=to_utc(conv.get("create_time")),
        updated_at=to_utc(conv.get("modify_time")),
        meta={"summary": conv["summary"]} if conv.get("summary") else None,
        pairs=branch_pairs(messages),
    )


def _messages(rid: str, r: dict, parent: str | None) -> list[Message]:
    """A response -> its hidden thinking trace (if any), then the visible message."""
    sender = str(r.get("sender") or "")
    role = "user" if sender.lower() in ("human", "user") else "assistant"
    when = r.get("create_time")
    raw, created = raw_time(when), to_utc(when)
    out: list[Message] = []
    trace = r.get("thinking_trace")
    if isinstance(trace, str) and trace.strip():
        out.append(
            Message(
                id=f"{rid}#thinking",
                role=role,
                text=trace,
                parent=parent,
                content_type="thinking",
                created_raw=raw,
                created_at=created,
                hidden=True,
            )
        )
    text = r.get("message") if isinstance(r.get("message"), str) else ""
    partial = bool(r.get("partial"))
    out.append(
        Message(
            id=rid,
            role=role,
            text=text.strip() if role == "assistant" else text,
            parent=out[-1].id if out else parent,
            created_raw=raw,
            created_at=created,
            hidden=not text.strip(),
            status="interrupted" if partial else None,
            model=r.get("model") or None,
        )
    )
    return out
