"""SillyTavern chats (.jsonl): a header line ``{user_name, character_name, create_date,
chat_metadata}``, then one message per line ``{name, is_user, is_system, send_date, mes, swipes?,
swipe_id?}``.

``is_user`` marks the user's turns; ``is_system`` lines are hidden (never sent to the model).
``swipes`` are alternative replies of which ``swipe_id`` is shown: the others are stored as
siblings off the kept path, so the shown one is chosen over each of them (a preference pair).
``send_date`` is epoch ms or a humanized local time ("2024-1-5 @14h 30m 12s 123ms").
See chat-formats.md section 4.5.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from .common import (
    Conversation,
    Message,
    Record,
    Skipped,
    branch_pairs,
    content_hash,
    link_tree,
    raw_time,
    to_utc,
)

FORMAT = "sillytavern"
_HUMANIZED = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2}) @(\d{1,2})h (\d{1,2})m (\d{1,2})s(?: (\d+)ms)?$"
)


def matches(first: Any) -> bool:
    return isinstance(first, dict) and "user_name" in first and "character_name" in first


def when(value: Any) -> str | None:
    """epoch ms, ISO, or SillyTavern's humanized local time (kept as written, like naive ISO)."""
    if isinstance(value, str):
        m = _HUMANIZED.match(value.strip())
        if m:
            y, mo, d, h, mi, s, ms = (int(x) if x else 0 for x in m.groups())
            return to_utc(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{ms:03d}")
    return to_utc(value)


def records(items: Iterable[Any]) -> Iterator[Record]:
    it = iter(items)
    header = next(it, None)
    if not matches(header):
        yield Skipped("chat", "the first line is not a SillyTavern header")
        return
    meta = header.get("chat_metadata") if isinstance(header.get("chat_metadata"), dict) else {}
    messages: list[Message] = []
    prev: str | None = None
    for line in it:
        if not isinstance(line, dict) or not isinstance(line.get("mes"), str):
            continue
        shown = _message(line, prev)
        messages.append(shown)
        messages += _swipes(line, shown)
        prev = shown.id
    if not messages:
        yield Skipped(str(header.get("character_name") or "chat"), "a chat with no messages")
        return
    link_tree(messages, prev)
    cid = meta.get("integrity") or content_hash(
        header.get("character_name"), header.get("create_date"), messages[0].id
    )
    yield Conversation(
        id=str(cid),
        messages=messages,
        title=str(header.get("character_name") or "") or None,
        created_raw=raw_time(header.get("create_date")),
        created_at=when(header.get("create_date")),
        current_leaf=prev,
        pairs=branch_pairs(messages),
    )


def _role(line: dict) -> str:
    if line.get("is_user"):
        return "user"
    return "system" if line.get("is_system") else "assistant"


def _message(line: dict, prev: str | None) -> Message:
    role = _role(line)
    text = line["mes"]
    key = content_hash(prev, role, text, line.get("send_date"))
    return Message(
        key,
        role,
        text.strip() if role == "assistant" else text,
        prev,
        author_name=line.get("name"),
        created_raw=raw_time(line.get("send_date")),
        created_at=when(line.get("send_date")),
        hidden=bool(line.get("is_system")) or not text.strip(),
    )


def _swipes(line: dict, shown: Message) -> list[Message]:
    """The alternative replies the user swiped past, as siblings of the shown one."""
    swipes = line.get("swipes")
    if shown.role != "assistant" or not isinstance(swipes, list) or len(swipes) < 2:
        return []
    out = []
    for k, alt in enumerate(swipes):
        if not isinstance(alt, str) or alt.strip() == shown.text or k == line.get("swipe_id"):
            continue
        out.append(
            Message(
                f"{shown.id}~{k}",
                "assistant",
                alt.strip(),
                shown.parent,
                author_name=shown.author_name,
                content_type="swipe",
                hidden=not alt.strip(),
            )
        )
    return out
