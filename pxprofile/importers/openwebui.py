"""Open WebUI export: an array of chats, each with a chat.history.messages tree and currentId.

Assistant content embeds reasoning and tool results as <details type="..."> blocks; they are
split off into hidden messages ahead of the visible reply (chat-formats.md section 4.3).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from typing import Any

from .common import (
    Conversation,
    CorruptConversation,
    Message,
    Record,
    Skipped,
    raw_time,
    to_utc,
    tree_conversation,
)

FORMAT = "openwebui"
_DETAILS = re.compile(r'<details\b[^>]*?type="([^"]*)"[^>]*>(.*?)</details>', re.S | re.I)
_SUMMARY = re.compile(r"<summary>.*?</summary>", re.S | re.I)


def _history(chat: Any) -> dict | None:
    if not isinstance(chat, dict):
        return None
    inner = chat.get("chat") if isinstance(chat.get("chat"), dict) else chat
    hist = inner.get("history")
    return hist if isinstance(hist, dict) and isinstance(hist.get("messages"), dict) else None


def matches(first: Any) -> bool:
    return _history(first) is not None


def conversations_of(obj: Any) -> Iterable[Any] | None:
    return [obj] if matches(obj) else None


def records(items: Iterable[Any]) -> Iterator[Record]:
    for i, chat in enumerate(items):
        cid = str(chat.get("id")) if isinstance(chat, dict) and chat.get("id") else f"#{i + 1}"
        try:
            hist = _history(chat)
            if hist is None:
                raise CorruptConversation("no chat.history.messages")
            yield _conversation(cid, chat, hist)
        except CorruptConversation as e:
            yield Skipped(cid, str(e))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            yield Skipped(cid, f"unexpected structure ({type(e).__name__}: {e})")


def _conversation(cid: str, chat: dict, hist: dict) -> Conversation:
    messages: list[Message] = []
    for key, m in hist["messages"].items():
        if not isinstance(m, dict):
            raise CorruptConversation(f"message {key!r} is not an object")
        messages += _split(str(key), m)
    leaf = hist.get("currentId")
    inner = chat.get("chat") if isinstance(chat.get("chat"), dict) else {}
    return tree_conversation(
        cid,
        messages,
        title=chat.get("title") or inner.get("title"),
        created=chat.get("created_at"),
        updated=chat.get("updated_at"),
        leaf=leaf,
    )


def _split(key: str, m: dict) -> list[Message]:
    role = str(m.get("role") or "unknown")
    content = m.get("content") if isinstance(m.get("content"), str) else ""
    when = m.get("timestamp")
    parent = m.get("parentId")
    out: list[Message] = []
    for j, block in enumerate(_DETAILS.finditer(content)):
        kind, body = block.group(1), html.unescape(_SUMMARY.sub("", block.group(2))).strip()
        out.append(
            Message(
                id=f"{key}#{j}",
                role="tool" if "tool" in kind else role,
                text=body,
                parent=out[-1].id if out else parent,
                content_type=kind or "details",
                created_raw=raw_time(when),
                created_at=to_utc(when),
                hidden=True,
                model=m.get("model"),
            )
        )
    text = _DETAILS.sub("", content).strip() if out else content
    status = None if m.get("done", True) else "interrupted"
    out.append(
        Message(
            id=key,
            role=role,
            text=text,
            parent=out[-1].id if out else parent,
            created_raw=raw_time(when),
            created_at=to_utc(when),
            hidden=role not in ("user", "assistant") or not text.strip(),
            status=status,
            model=m.get("model"),
        )
    )
    return out
