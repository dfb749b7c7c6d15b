"""Memory files: statements about the user that the user already approved in another tool. They
become profile lines of the user's own (pxprofile.imported), not chats.

    claude-memories   Claude's memories.json (alone or in the Claude export zip):
                      ``[{"conversations_memory": "**Work context**\\n\\n...", "project_memories":
                      {uuid: text}, "account_uuid"}]``. The account memory is split into one line
                      per statement under its bold headings; project memories describe a Claude
                      project, not the user, and are left out (counted).
    chatgpt-memories  ChatGPT's saved memories (``{"memories": [{"id", "content", ...}], ...}``
                      from /backend-api/memories, or the "# ChatGPT Memory Export" Markdown list
                      that migration bookmarklets write) and custom instructions
                      (``user_system_message_detail``: about_user_message, about_model_message,
                      ...; bare or wrapped as ``{"data": {"custom_instructions": ...}}``).
    pam               Portable AI Memory v1.0 (pxprofile.pam).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pxprofile.choices import MEMORY_FORMATS
from pxprofile.text import plural

FORMATS = MEMORY_FORMATS
ABOUT = "About me"
STYLE = "Communication style"
CHATGPT_MD_HEADER = "# ChatGPT Memory Export"
CI_FIELDS = {  # custom-instruction field -> profile section
    "name_user_message": ABOUT,
    "role_user_message": ABOUT,
    "about_user_message": ABOUT,
    "other_user_message": ABOUT,
    "traits_model_message": STYLE,
    "about_model_message": STYLE,
}


@dataclass(slots=True)
class Memory:
    """One statement to adopt as a user line."""

    text: str
    section: str
    origin: str  # what the user would call the source: "Claude memories", ...
    platform: str  # claude | chatgpt | the PAM provenance platform
    ref: str | None = None  # the native id (PAM memory id, ChatGPT memory id)
    created_at: str | None = None
    provenance: dict | None = None  # PAM provenance (carried to the next PAM export)
    kind: str | None = None  # PAM memory type


@dataclass(slots=True)
class LeftOut:
    """Memory content not adopted, with why (reported, never an error)."""

    what: str
    reason: str


@dataclass(slots=True)
class Withdrawn(LeftOut):
    """A memory the file marks as no longer active (a PAM memory retracted, superseded, archived
    or past its validity): left out, and the line an earlier import made of it is removed."""

    text: str
    ref: str | None
    platform: str
    status: str  # retracted | superseded | archived | expired


# -- detection -------------------------------------------------------------------------------


def claude_matches(first: Any) -> bool:
    return isinstance(first, dict) and (
        isinstance(first.get("conversations_memory"), str)
        or isinstance(first.get("project_memories"), dict)
    )


def chatgpt_matches(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    mems = obj.get("memories")
    if isinstance(mems, list) and ("memory_max_tokens" in obj or _all_content(mems)):
        return bool(mems) or "memory_max_tokens" in obj
    return _instructions(obj) is not None


def _all_content(mems: list) -> bool:
    return bool(mems) and all(isinstance(m, dict) and "content" in m for m in mems[:3])


def _instructions(obj: dict) -> dict | None:
    data = obj.get("data") if isinstance(obj.get("data"), dict) else None
    ci = data.get("custom_instructions") if data else obj
    if isinstance(ci, dict) and (
        ci.get("object") == "user_system_message_detail" or any(k in ci for k in CI_FIELDS)
    ):
        return ci
    return None


def text_matches(text: str) -> bool:
    return (
        text.lstrip("\ufeff").lstrip().startswith(CHATGPT_MD_HEADER) or _ci_label(text) is not None
    )


# ChatGPT's custom-instruction field labels (the 2023 pair, the 2024 personalization fields, and
# the pair `pxprofile export --for chatgpt` writes), with the section their answers go to.
CI_LABELS = {
    "what would you like chatgpt to know about you to provide better responses?": ABOUT,
    "how would you like chatgpt to respond?": STYLE,
    "what should chatgpt call you?": ABOUT,
    "what do you do?": ABOUT,
    "what traits should chatgpt have?": STYLE,
    "anything else chatgpt should know about you?": ABOUT,
    "what should chatgpt know about you?": ABOUT,
    "how should chatgpt respond?": STYLE,
}


def _label_of(line: str) -> str | None:
    key = " ".join(line.strip().lstrip("#").replace("**", "").split()).lower()
    return CI_LABELS.get(key)


def _ci_label(text: str) -> str | None:
    """The section of the custom-instruction label the text starts with, if it starts with one
    (only the first line counts: "What do you do?" inside a transcript is a question)."""
    first = next((ln for ln in text.lstrip("\ufeff").splitlines()[:40] if ln.strip()), "")
    return _label_of(first)


# -- statements ------------------------------------------------------------------------------

_BOLD_HEADING = re.compile(r"^\*\*(.+?)\*\*:?$")
_ITALIC_HEADING = re.compile(r"^[*_]([^*_].*?)[*_]:?$")
_MD_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_LABEL = re.compile(r"^([^\s.!?:][^.!?:]{0,40}):$")  # "Communication style:" (at most 5 words)
_ITEM = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s+(.*)$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|(?<=[。！？])")


def statements(text: str) -> Iterator[tuple[str | None, str]]:
    """(heading, statement) for each list item and each sentence of each paragraph."""
    heading: str | None = None
    para: list[str] = []

    def flush() -> Iterator[tuple[str | None, str]]:
        joined = " ".join(para)
        para.clear()
        for s in _SENTENCE_END.split(joined):
            s = _plain(s)
            if s:
                yield heading, s

    for raw in text.splitlines():
        line = raw.strip()
        head = _BOLD_HEADING.match(line) or _MD_HEADING.match(line)
        label = _LABEL.match(line)
        if label and len(label.group(1).split()) <= 5:
            head = label
        if not line or line in ("---", "***") or head or _ITALIC_HEADING.match(line):
            yield from flush()
            if head:
                heading = _plain(head.group(1))
            continue
        item = _ITEM.match(line)
        if item:
            yield from flush()
            if _plain(item.group(1)):
                yield heading, _plain(item.group(1))
            continue
        para.append(line)
    yield from flush()


def _plain(s: str) -> str:
    return " ".join(s.replace("**", "").split()).strip()


def section_for(heading: str | None) -> str:
    """A profile section for a memory heading ("Work context", "Other instructions", ...)."""
    from pxprofile.document import DEFAULT_SECTIONS

    h = (heading or "").lower()
    same = next((s for s in (*DEFAULT_SECTIONS, ABOUT) if s.lower() == h.strip()), None)
    if same is not None:
        return same
    if any(w in h for w in ("instruction", "preference", "style", "respond", "tone", "format")):
        return STYLE
    if any(w in h for w in ("skill", "expertise", "knowledge")):
        return "Expertise"
    if "interest" in h or "hobb" in h:
        return "Interests"
    if "avoid" in h:
        return "Avoid"
    return ABOUT


# -- records ---------------------------------------------------------------------------------


def claude_records(items: Iterable[Any]) -> Iterator[Memory | LeftOut]:
    for entry in items:
        if not claude_matches(entry):
            continue
        text = entry.get("conversations_memory")
        if isinstance(text, str):
            for heading, s in statements(text):
                yield Memory(s, section_for(heading), "Claude memories", "claude")
        projects = entry.get("project_memories")
        if isinstance(projects, dict) and projects:
            yield LeftOut(
                plural(len(projects), "project memory", "project memories"),
                "they describe Claude projects, not you",
            )
        files = entry.get("memory_files")
        if isinstance(files, list) and files:  # a newer form, seen only in synthetic samples
            yield LeftOut(f"{len(files)} memory file(s)", "this form is not read yet")


def chatgpt_records(obj: Any) -> Iterator[Memory | LeftOut]:
    if not isinstance(obj, dict):
        return
    mems = obj.get("memories")
    if isinstance(mems, list):
        for m in mems:
            if not isinstance(m, dict) or not isinstance(m.get("content"), str):
                continue
            if str(m.get("status") or "enabled").lower() not in ("enabled", "active", "warm"):
                yield LeftOut("a memory", f"its status is {m.get('status')!r}")
                continue
            for _h, s in statements(m["content"]):
                yield Memory(
                    s,
                    ABOUT,
                    "ChatGPT memories",
                    "chatgpt",
                    ref=str(m["id"]) if m.get("id") else None,
                    created_at=_time(m.get("created_timestamp") or m.get("updated_at")),
                )
    ci = _instructions(obj)
    if ci is not None:
        for key, section in CI_FIELDS.items():
            value = ci.get(key)
            if isinstance(value, str):
                for _h, s in statements(value):
                    yield Memory(s, section, "ChatGPT custom instructions", "chatgpt", ref=key)


def chatgpt_text_records(text: str) -> Iterator[Memory]:
    """The Markdown list: header lines ("# ..."), then "1. memory" per line (a line without a
    list marker is one memory too: what the user copied from the Saved memories page); or
    custom instructions copied with their field labels."""
    if _ci_label(text) is not None:
        yield from _ci_text_records(text)
        return
    for line in text.lstrip("\ufeff").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        item = _ITEM.match(line)
        for _h, s in statements(item.group(1) if item else line):
            yield Memory(s, ABOUT, "ChatGPT memories", "chatgpt")


def _ci_text_records(text: str) -> Iterator[Memory]:
    field_section: str | None = None
    block: list[str] = []

    def flush() -> Iterator[Memory]:
        body = "\n".join(block)
        block.clear()
        if field_section is None:
            return
        for heading, s in statements(body):
            named = section_for(heading)  # "Avoid:" inside the respond field stays Avoid
            section = named if heading and named != ABOUT else field_section
            yield Memory(s, section, "ChatGPT custom instructions", "chatgpt")

    for line in text.lstrip("\ufeff").splitlines():
        label = _label_of(line)
        if label is not None:
            yield from flush()
            field_section = label
            continue
        block.append(line)
    yield from flush()


def _time(value: Any) -> str | None:
    from .common import to_utc

    return to_utc(value)
