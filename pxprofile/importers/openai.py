"""OpenAI chat-completions messages and ShareGPT records.

OpenAI: a bare messages array (one conversation), {"messages": [...]} objects (one per record,
in an array or JSON Lines), and Batch lines ({"custom_id", "body": {"messages"}}).
ShareGPT: {"conversations": [{"from", "value"}]} records (array, JSON Lines or one object).
Neither has message ids: a message's key hashes its position-independent prefix (the previous
key plus role and text), and a conversation's key hashes all its messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from .common import Conversation, Message, Record, Skipped, content_hash, link_tree

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
    "function_call": "assistant",
}


def _is_message(m: Any) -> bool:
    return (
        isinstance(m, dict)
        and isinstance(m.get("role"), str)
        and ("content" in m or "tool_calls" in m)
    )


def _messages_of(rec: Any) -> list | None:
    if not isinstance(rec, dict):
        return None
    msgs = rec.get("messages")
    if msgs is None and isinstance(rec.get("body"), dict):
        msgs = rec["body"].get("messages")
    if isinstance(msgs, list) and msgs and all(_is_message(m) for m in msgs[:3]):
        return msgs
    return None


def matches(first: Any) -> bool:
    """A record with messages, or a bare message (then the whole array is one conversation)."""
    return _messages_of(first) is not None or _is_message(first)


def sharegpt_matches(first: Any) -> bool:
    convs = first.get("conversations") if isinstance(first, dict) else None
    return (
        isinstance(convs, list)
        and bool(convs)
        and all(isinstance(t, dict) and "from" in t and "value" in t for t in convs[:3])
    )


def records(items: Iterable[Any]) -> Iterator[Record]:
    it = iter(items)
    bare: list[dict] = []
    for i, rec in enumerate(it):
        if _is_message(rec):
            bare.append(rec)
            continue
        msgs = _messages_of(rec)
        if msgs is None:
            yield Skipped(f"#{i + 1}", "no messages list")
            continue
        yield _conversation(
            [_openai(m) for m in msgs], title=rec.get("title") if isinstance(rec, dict) else None
        )
    if bare:
        yield _conversation([_openai(m) for m in bare])


def sharegpt_records(items: Iterable[Any]) -> Iterator[Record]:
    for i, rec in enumerate(items):
        if not sharegpt_matches(rec):
            yield Skipped(f"#{i + 1}", "no conversations list of {from, value}")
            continue
        turns = []
        for t in rec["conversations"]:
            who = str(t.get("from") or "")
            role = SHAREGPT_ROLES.get(who.lower(), who or "unknown")
            turns.append(
                (
                    role,
                    _content_text(t.get("value")),
                    who if role not in ("user", "assistant") else None,
                )
            )
        native = rec.get("id")
        yield _conversation(turns, native_id=str(native) if native is not None else None)


def _openai(m: dict) -> tuple[str, str, str | None]:
    role = m.get("role") or "unknown"
    role = {"developer": "system", "function": "tool"}.get(role, role)
    text = _content_text(m.get("content"))
    name = m.get("name")
    calls = m.get("tool_calls")
    if calls and not text:
        text = "\n".join(
            f"{(c.get('function') or {}).get('name')}"
            f"({(c.get('function') or {}).get('arguments') or ''})"
            for c in calls
            if isinstance(c, dict)
        )
        return role, text, "tool_call"
    return role, text, name


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for p in content:
            if isinstance(p, str):
                out.append(p)
            elif isinstance(p, dict):
                if isinstance(p.get("text"), str):
                    out.append(p["text"])
                elif str(p.get("type", "")).startswith(("image", "input_image")):
                    out.append("[image]")
        return "\n".join(out)
    if content is None:
        return ""
    return json.dumps(content, ensure_ascii=False)


def _conversation(
    turns: list[tuple[str, str, str | None]],
    *,
    title: str | None = None,
    native_id: str | None = None,
) -> Conversation:
    messages = []
    prev = None
    for role, text, name in turns:
        key = content_hash(prev, role, text)
        messages.append(
            Message(
                id=key,
                role=role,
                text=text,
                parent=prev,
                author_name=name,
                content_type="tool_call" if name == "tool_call" else "text",
                hidden=role not in ("user", "assistant") or name == "tool_call" or not text.strip(),
            )
        )
        prev = key
    if len({m.id for m in messages}) != len(messages):  # impossible with chained hashes; be safe
        raise ValueError("duplicate message keys")
    link_tree(messages, prev)
    first_user = next((m.text for m in messages if m.role == "user" and m.text.strip()), "")
    return Conversation(
        id=native_id or content_hash([(m.role, m.text) for m in messages]),
        messages=messages,
        title=title or (first_user.strip().splitlines()[0][:80] if first_user.strip() else None),
        current_leaf=prev,
    )
