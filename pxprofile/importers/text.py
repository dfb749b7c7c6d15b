"""Plain text / Markdown transcripts: lines starting with a speaker label (User:, Assistant:,
Human:, AI:, **User:**, ### Assistant, ...). The whole text is one conversation keyed by its hash.

Transcripts as people paste them from the chat apps are labels too: ChatGPT's copy of a chat
("You said:" / "ChatGPT said:", each on its own line), ">> USER:" / ">> ASSISTANT:" quote
prefixes, "Me:" and the assistants' own names (Claude, Gemini, Grok, DeepSeek, Copilot, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .common import Conversation, Message, Record, content_hash, link_tree

FORMAT = "text"

SPEAKERS = {
    "user": "user",
    "human": "user",
    "you": "user",
    "me": "user",
    "q": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "bot": "assistant",
    "chatgpt": "assistant",
    "gpt": "assistant",
    "claude": "assistant",
    "gemini": "assistant",
    "model": "assistant",
    "a": "assistant",
    # issue 14: the names pasted transcripts use for the assistant
    "grok": "assistant",
    "deepseek": "assistant",
    "copilot": "assistant",
    "bard": "assistant",
    "mistral": "assistant",
    "llama": "assistant",
    "perplexity": "assistant",
    "chatbot": "assistant",
    "system": "system",
}
_NAMES = "|".join(sorted(SPEAKERS, key=len, reverse=True))
# "**User:**", ">> USER:", "You said:" (ChatGPT's copy of a chat), "Claude said:"
_SAID = r"(?:\s+(?:said|wrote|asked|replied))?"
_QUOTE = r"(?:>{1,2}\s*)?"  # ">> USER:"
_LABEL = re.compile(
    rf"^\s{{0,3}}{_QUOTE}(?:\*\*|__)?({_NAMES}){_SAID}(?:\*\*|__)?\s*:(?:\*\*|__)?[ \t]?(.*)$",
    re.I,
)
_HEADING = re.compile(
    rf"^\s{{0,3}}#{{1,6}}\s*(?:\*\*|__)?({_NAMES}){_SAID}(?:\*\*|__)?\s*:?\s*$", re.I
)


def split_turns(text: str) -> list[tuple[str, str]]:
    turns: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        m = _LABEL.match(line) or _HEADING.match(line)
        if m:
            first = m.group(2) if m.re is _LABEL else ""
            turns.append((SPEAKERS[m.group(1).lower()], [first] if first else []))
        elif turns:
            turns[-1][1].append(line)
    return [(role, "\n".join(lines).strip()) for role, lines in turns]


def matches(text: str) -> bool:
    """At least one user turn and one assistant turn."""
    roles = {r for r, _ in split_turns(text[:200_000])}
    return "user" in roles and "assistant" in roles


def records(text: str) -> Iterator[Record]:
    turns = [(r, t) for r, t in split_turns(text) if t]
    messages = []
    prev = None
    for role, body in turns:
        key = content_hash(prev, role, body)
        messages.append(
            Message(key, role, body, prev, hidden=role != "user" and role != "assistant")
        )
        prev = key
    if not messages:
        return
    link_tree(messages, prev)
    first_user = next((m.text for m in messages if m.role == "user"), "")
    yield Conversation(
        id=content_hash([(m.role, m.text) for m in messages]),
        messages=messages,
        title=first_user.splitlines()[0][:80] if first_user else None,
        current_leaf=prev,
    )
