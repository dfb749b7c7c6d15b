"""DeepSeek export (chat.deepseek.com, Settings -> Data management -> Export): conversations.json,
an array of ``{id, title, inserted_at, updated_at, mapping}``.

``mapping`` is a tree like ChatGPT's, rooted at the fixed key "root" (``message: null``), with
nodes ``{id, parent, children, message}``; ``message = {inserted_at, model, files, fragments}``
and each fragment ``{type, content}`` says who speaks: REQUEST is the user, RESPONSE the
assistant, THINK its reasoning (stored hidden), SEARCH and others tool output (hidden). The
export names no kept leaf: the newest leaf is taken as kept. See chat-formats.md section 6.1.
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
    link_tree,
    raw_time,
    to_utc,
)

FORMAT = "deepseek"
VISIBLE = {"REQUEST": "user", "RESPONSE": "assistant"}


def matches(first: Any) -> bool:
    return (
        isinstance(first, dict)
        and isinstance(first.get("mapping"), dict)
        and "inserted_at" in first
        and "current_node" not in first
    )


def records(items: Iterable[Any]) -> Iterator[Record]:
    for i, conv in enumerate(items):
        if conv is None:
            continue
        cid = str(conv.get("id") or f"#{i + 1}") if isinstance(conv, dict) else f"#{i + 1}"
        try:
            if not matches(conv):
                raise CorruptConversation("no mapping")
            yield _conversation(cid, conv)
        except CorruptConversation as e:
            yield Skipped(cid, str(e))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            yield Skipped(cid, f"unexpected structure ({type(e).__name__}: {e})")


def _conversation(cid: str, conv: dict) -> Conversation:
    messages: list[Message] = []
    mapping = conv["mapping"]
    for key, node in mapping.items():
        if not isinstance(node, dict):
            raise CorruptConversation(f"node {key!r} is not an object")
        msg = node.get("message")
        if not isinstance(msg, dict):
            continue  # the root
        parent = node.get("parent")
        up = mapping.get(parent) if isinstance(parent, str) else None
        if isinstance(up, dict) and not isinstance(up.get("message"), dict):
            parent = None  # the message-less "root" node is no message of its own
        messages += _node(str(node.get("id") or key), msg, str(parent) if parent else None)
    if not messages:
        raise CorruptConversation("no messages")
    link_tree(messages, None)
    return Conversation(
        id=cid,
        messages=messages,
        title=conv.get("title"),
        created_raw=raw_time(conv.get("inserted_at")),
        created_at=to_utc(conv.get("inserted_at")),
        updated_at=to_utc(conv.get("updated_at")),
        pairs=branch_pairs(messages),
    )


def _node(nid: str, msg: dict, parent: str | None) -> list[Message]:
    """One node -> hidden messages for its THINK/SEARCH fragments, then the visible one."""
    when = msg.get("inserted_at")
    raw, created = raw_time(when), to_utc(when)
    frags = [f for f in msg.get("fragments") or [] if isinstance(f, dict)]
    out: list[Message] = []
    role, texts = None, []
    for j, f in enumerate(frags):
        kind = str(f.get("type") or "").upper()
        content = f.get("content") if isinstance(f.get("content"), str) else ""
        if kind in VISIBLE:
            role = role or VISIBLE[kind]
            texts.append(content)
            continue
        if not content.strip():
            continue
        out.append(
            Message(
                id=f"{nid}#{j}",
                role="assistant" if kind == "THINK" else "tool",
                text=content,
                parent=out[-1].id if out else parent,
                content_type=kind.lower() or "fragment",
                created_raw=raw,
                created_at=created,
                hidden=True,
                model=msg.get("model"),
            )
        )
    if role is None and isinstance(msg.get("content"), str):  # an older, fragment-less shape
        role, texts = str(msg.get("role") or "unknown"), [msg["content"]]
    text = "\n\n".join(t for t in texts if t)
    role = role or "assistant"
    files = [f.get("file_name") for f in msg.get("files") or [] if isinstance(f, dict)]
    out.append(
        Message(
            id=nid,
            role=role,
            text=text.strip() if role == "assistant" else text,
            parent=out[-1].id if out else parent,
            created_raw=raw,
            created_at=created,
            hidden=role not in ("user", "assistant") or not text.strip(),
            model=msg.get("model"),
            meta={"files": [f for f in files if f]} if any(files) else None,
        )
    )
    return out
