"""Claude.ai data export: conversations.json (an array of conversations with chat_messages).

Content blocks are preferred over the flat `text`, which can hold a placeholder where thinking
or tool blocks were. With parent_message_uuid the messages form a tree (regenerations and
edits); without it they are one chain in array order. The export names no kept leaf, so the
newest leaf is taken as kept (chat-formats.md section 2.6).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from .common import (
    Conversation,
    CorruptConversation,
    Message,
    Record,
    Skipped,
    content_hash,
    raw_time,
    to_utc,
    tree_conversation,
)

FORMAT = "claude"
ROOT = "00000000-0000-4000-8000-000000000000"
PLACEHOLDER = "This block is not supported on your current device yet."
ROLES = {"human": "user", "user": "user", "assistant": "assistant"}


def matches(first: Any) -> bool:
    return isinstance(first, dict) and isinstance(first.get("chat_messages"), list)


def conversations_of(obj: Any) -> Iterable[Any] | None:
    return [obj] if matches(obj) else None


def records(items: Iterable[Any]) -> Iterator[Record]:
    for i, conv in enumerate(items):
        if conv is None:
            continue
        cid = (conv.get("uuid") if isinstance(conv, dict) else None) or f"#{i + 1}"
        try:
            if not matches(conv):
                raise CorruptConversation("no chat_messages list")
            yield parse_conversation(conv)
        except CorruptConversation as e:
            yield Skipped(cid, str(e))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            yield Skipped(cid, f"unexpected structure ({type(e).__name__}: {e})")


def parse_conversation(conv: dict) -> Conversation:
    raw = [m for m in conv["chat_messages"] if isinstance(m, dict)]
    cid = (
        conv.get("uuid")
        or conv.get("conversation_uuid")
        or "h"
        + content_hash(conv.get("name"), conv.get("created_at"), [m.get("text") for m in raw[:3]])
    )
    messages: list[Message] = []
    prev: str | None = None
    for idx, m in enumerate(raw):
        mid = m.get("uuid") or f"i{idx}-" + content_hash(
            m.get("sender"), m.get("text"), m.get("created_at")
        )
        if "parent_message_uuid" in m:
            parent = m["parent_message_uuid"]
            parent = None if parent in (None, "", ROOT) else parent
        else:
            parent = prev  # older exports: the list is the kept chain
        messages += _message(mid, m, parent)
        prev = mid
    return tree_conversation(
        cid,
        messages,
        title=conv.get("name") or conv.get("snapshot_name"),
        created=conv.get("created_at"),
        updated=conv.get("updated_at"),
        meta={"summary": conv["summary"]} if conv.get("summary") else None,
    )


def _message(mid: str, m: dict, parent: str | None) -> list[Message]:
    """One Claude message -> hidden messages for its thinking/tool blocks, then the visible one."""
    sender = str(m.get("sender") or "")
    role = ROLES.get(sender.lower(), sender or "unknown")
    created = m.get("created_at")
    out: list[Message] = []
    texts = []
    blocks = m.get("content") if isinstance(m.get("content"), list) else []
    for j, b in enumerate(blocks):
        if not isinstance(b, dict):
            continue
        kind = b.get("type")
        if kind == "text":
            if isinstance(b.get("text"), str) and b["text"].strip():
                texts.append(b["text"])
            continue
        hidden_text = _block_text(b)
        if not hidden_text:
            continue
        out.append(
            Message(
                id=f"{mid}#{j}",
                role="tool" if kind == "tool_result" else role,
                text=hidden_text,
                parent=out[-1].id if out else parent,
                author_name=b.get("name"),
                content_type=str(kind),
                created_raw=raw_time(b.get("start_timestamp") or created),
                created_at=to_utc(b.get("start_timestamp") or created),
                hidden=True,
            )
        )
    text = "\n\n".join(texts)
    flat = m.get("text") if isinstance(m.get("text"), str) else ""
    if not text and PLACEHOLDER not in flat:
        text = flat
    text = text.strip() if role == "assistant" else text
    meta = None
    names = [
        a.get("file_name")
        for a in (m.get("attachments") or []) + (m.get("files") or [])
        if isinstance(a, dict)
    ]
    if any(names):
        meta = {"files": [n for n in names if n]}
    out.append(
        Message(
            id=mid,
            role=role,
            text=text,
            parent=out[-1].id if out else parent,
            content_type="text",
            created_raw=raw_time(created),
            created_at=to_utc(created),
            hidden=role not in ("user", "assistant") or not text.strip(),
            meta=meta,
        )
    )
    return out


def _block_text(b: dict) -> str:
    kind = b.get("type")
    if kind == "thinking":
        return b.get("thinking") or ""
    if kind == "tool_use":
        inp = b.get("input")
        return f"{b.get('name') or 'tool'}({json.dumps(inp, ensure_ascii=False) if inp else ''})"
    if kind == "tool_result":
        parts = b.get("content")
        if isinstance(parts, str):
            return parts
        if isinstance(parts, list):
            return "\n".join(
                p.get("text") or p.get("title") or "" for p in parts if isinstance(p, dict)
            ).strip()
    return ""
