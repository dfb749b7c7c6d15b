"""Detection and dispatch for the formats added in issue 14, called from detect.py's hooks.

Chats: grok, deepseek, aistudio (Google AI Studio prompt files), sillytavern. Memory files (they
become profile lines, see pxprofile.imported): claude-memories, chatgpt-memories, pam.
Each rule looks at content only (chat-formats.md section 7).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from . import aistudio, deepseek, grok, memories, sillytavern

CHAT_FORMATS = ("grok", "deepseek", "aistudio", "sillytavern")
FORMATS = CHAT_FORMATS + memories.FORMATS


def detect_element(first: Any) -> str | None:
    """The format of an array whose first element is ``first`` (or of JSON Lines)."""
    if deepseek.matches(first):
        return "deepseek"
    if sillytavern.matches(first):
        return "sillytavern"
    if memories.claude_matches(first):
        return "claude-memories"
    return None


def detect_object(obj: Any) -> str | None:
    """The format of a file holding one JSON object."""
    from pxprofile import pam

    if pam.matches(obj):
        return "pam"
    if grok.matches(obj):  # before ChatGPT: both wrap their list in "conversations"
        return "grok"
    if aistudio.matches(obj):
        return "aistudio"
    if sillytavern.matches(obj):
        return "sillytavern"
    if memories.claude_matches(obj):
        return "claude-memories"
    if memories.chatgpt_matches(obj):
        return "chatgpt-memories"
    return None


def unwrap(fmt: str, obj: Any) -> Iterable[Any]:
    if fmt == "grok":
        return grok.conversations_of(obj)
    return [obj]


def dispatch(fmt: str, first: Any, items: Iterable[Any], name: str) -> Iterator[Any]:
    if fmt == "grok":
        return grok.records(_entries(first, items))
    if fmt == "deepseek":
        return deepseek.records(items)
    if fmt == "aistudio":
        return aistudio.records(items)
    if fmt == "sillytavern":
        return sillytavern.records(items)
    if fmt == "claude-memories":
        return memories.claude_records(items)
    if fmt == "chatgpt-memories":
        return _each(items, memories.chatgpt_records)
    from pxprofile import pam

    return _each(items, lambda obj: pam.records(obj, name))


def _entries(first: Any, items: Iterable[Any]) -> Iterable[Any]:
    """A Grok root object (unwrapped already) or its entries (forced from a list)."""
    return grok.conversations_of(first) if grok.matches(first) else items


def _each(items: Iterable[Any], parse) -> Iterator[Any]:
    for obj in items:
        yield from parse(obj)


def text_format(text: str, forced: str | None = None) -> str | None:
    """A text file that is not a transcript: ChatGPT's memory list as migration tools save it
    (or any list of memories, one per line, with --format chatgpt-memories)."""
    if forced == "chatgpt-memories" or (forced is None and memories.text_matches(text)):
        return "chatgpt-memories"
    return None


def text_records(fmt: str, text: str) -> Iterator[Any]:
    if fmt == "chatgpt-memories":
        return memories.chatgpt_text_records(text)
    raise ValueError(fmt)


def zip_main(names: list[str]) -> str | None:
    """The member holding the chats of an export zip this module knows (Grok's)."""
    hits = [n for n in names if n.replace("\\", "/").lower().endswith("/prod-grok-backend.json")]
    hits += [n for n in names if n.lower() == "prod-grok-backend.json"]
    return min(hits, key=lambda n: n.count("/")) if hits else None


def zip_companions(found: str) -> dict[str, str]:
    """Members read after the main one, by base name, with the format they are read as."""
    return {"memories.json": "claude-memories"} if found == "claude" else {}
