"""Guards on what may enter the profile and leave in an export. STUB: the safety issue extends it.

CONTRACT:
    line_problem(text) -> str | None
        Why a model-written profile line must be rejected (URL, image markdown, HTML, tool or
        memory command, secrecy request, authority claim, invisible Unicode, ...), or None.
    egress_problems(lines: list[str]) -> list[tuple[str, str]]
        (line, reason) for every line an export must refuse: the above plus secrets.
    evidence_problem(messages: list[dict]) -> str | None
        Given the message rows a proposed line cites (keys: id, conversation_id, role, hidden,
        content_type, text), why they cannot support a profile line (none user-authored and
        visible, only pasted/quoted blocks, ...), or None.
    MAX_NEW_LINES_PER_CONVERSATION
        How many new lines one source conversation may add in one update.
"""

from __future__ import annotations

import re

MAX_LINE_CHARS = 240

_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:com|net|org|io|ai|dev|example)\b")
_IMAGE = re.compile(r"!\[[^\]]*\]\(")
_HTML = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
_INVISIBLE = re.compile("[\U000e0000-\U000e007f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def line_problem(text: str) -> str | None:
    if not text.strip():
        return "empty line"
    if "\n" in text or "\r" in text:
        return "line breaks inside a line"
    if len(text) > MAX_LINE_CHARS:
        return f"longer than {MAX_LINE_CHARS} characters"
    if _INVISIBLE.search(text):
        return "invisible Unicode characters"
    if _IMAGE.search(text):
        return "image markdown"
    if _URL.search(text):
        return "a URL or domain"
    if _HTML.search(text):
        return "HTML"
    return None


MAX_NEW_LINES_PER_CONVERSATION = 3


def evidence_problem(messages: list[dict]) -> str | None:
    if not messages:
        return "no evidence"
    if not any(m.get("role") == "user" and not m.get("hidden") for m in messages):
        return "no evidence in the user's own words"
    return None


def egress_problems(lines: list[str]) -> list[tuple[str, str]]:
    out = []
    for line in lines:
        reason = line_problem(line)
        if reason:
            out.append((line, reason))
    return out
