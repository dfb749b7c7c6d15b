"""What the four coding-agent importers share (agent-formats.md): describing a tool call in one
short line, the feedback rows for a rejected call or an interrupted turn, and the builder that
turns an append-only session log into one Conversation whose message keys stay stable while the
file grows (an id per line, never a position that can shift).

Everything an agent or its harness wrote (tool calls and results, command output, injected
context) is stored hidden; only what the human typed is a visible user message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .common import Conversation, Feedback, Message, link_tree, to_utc

REJECTED = "agent-rejected"
INTERRUPTED = "agent-interrupted"
SUMMARY_CHARS = 160

# input keys that say what a tool call does, most telling first
_KEYS = ("command", "cmd", "file_path", "path", "absolute_path", "pattern", "query", "url")


_BARE_COMMAND = re.compile(r"/[A-Za-z][\w:-]*")


def is_bare_command(text: str) -> bool:
    """'/usage', '/compress': a slash command on its own, for the CLI rather than the model."""
    return bool(_BARE_COMMAND.fullmatch(text.strip()))


def short(text: str, n: int = SUMMARY_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def describe_call(name: str | None, args: Any) -> str:
    """'Edit src/app.py: "old" -> "new"', 'Bash: pytest -q', ... (one line, bounded)."""
    name = name or "tool"
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return short(f"{name}: {args}")
    if not isinstance(args, dict):
        return name
    what = next((args[k] for k in _KEYS if isinstance(args.get(k), (str, list))), None)
    if isinstance(what, list):
        what = " ".join(map(str, what))
    head = f"{name} {what}" if what else name
    old, new = args.get("old_string"), args.get("new_string")
    if isinstance(old, str) and isinstance(new, str):
        return short(f"{head}: {short(old, 50)!r} -> {short(new, 50)!r}")
    if isinstance(args.get("content"), str):
        return short(f"{head}: {short(args['content'], 80)!r}")
    if isinstance(args.get("input"), str):  # codex apply_patch
        return short(f"{head}: {args['input']}")
    return short(head)


@dataclass
class Session:
    """An agent session being built line by line. ``add`` links each message to the previous
    one unless a parent is given; ``finish`` validates the tree and returns the Conversation."""

    id: str
    agent: str
    messages: list[Message] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    title: str | None = None
    ids: set[str] = field(default_factory=set)
    last: str | None = None
    actions: list[str] = field(default_factory=list)  # tool calls since the user last spoke

    def add(
        self,
        mid: str,
        role: str,
        text: str,
        *,
        hidden: bool,
        parent: str | None | bool = False,
        kind: str = "text",
        at: Any = None,
        model: str | None = None,
        name: str | None = None,
        status: str | None = None,
    ) -> Message | None:
        if mid in self.ids:  # a line written twice (resume, or a re-logged event)
            return None
        self.ids.add(mid)
        m = Message(
            id=mid,
            role=role,
            text=text,
            parent=self.last if parent is False else parent,
            author_name=name,
            content_type=kind,
            created_raw=at if isinstance(at, str) else None,
            created_at=to_utc(at),
            hidden=hidden or not text.strip(),
            model=model,
            status=status,
        )
        self.messages.append(m)
        self.last = mid
        if kind == "tool_use":
            self.actions.append(text)
        elif role == "user" and not m.hidden:
            # what the agent did just before: a correction right after an action reads with it
            if self.actions:
                m.meta = {"after_actions": self.actions[-5:]}
            self.actions = []
        return m

    def reject(self, message: str | None, what: str, at: Any = None, *, key: str) -> None:
        self._feedback(REJECTED, message, f"rejected {what}", at, key)

    def interrupt(self, message: str | None, at: Any = None, *, key: str) -> None:
        target = next((m for m in self.messages if m.id == message), None)
        doing = f" while it was doing: {short(target.text, 120)}" if target else ""
        self._feedback(INTERRUPTED, message, f"interrupted the agent{doing}", at, key)

    def _feedback(self, origin, message, text, at, key) -> None:
        self.feedback.append(
            Feedback(
                id=f"{self.id}:{key}:{origin}",
                rating=-1,
                conversation=self.id,
                message=message,
                text=text,
                created_at=to_utc(at),
                origin=origin,
            )
        )

    def finish(self, leaf: str | None = None) -> Conversation | None:
        if not self.messages:
            return None
        link_tree(self.messages, leaf or self.last)
        dated = [m.created_at for m in self.messages if m.created_at]
        first_user = next(
            (m.text for m in self.messages if m.role == "user" and not m.hidden), None
        )
        title = self.title or (short(first_user.splitlines()[0], 80) if first_user else None)
        return Conversation(
            id=self.id,
            messages=self.messages,
            title=title,
            created_at=min(dated) if dated else None,
            updated_at=max(dated) if dated else None,
            current_leaf=leaf or self.last,
            meta={"agent": self.agent, **{k: v for k, v in self.meta.items() if v}},
        )

    def nearest(self, mid: str | None, role: str = "assistant") -> str | None:
        """The closest message of ``role`` at or above ``mid`` (walking parents)."""
        by_id = {m.id: m for m in self.messages}
        node = by_id.get(mid) if mid else None
        guard = 0
        while node is not None and guard < 100_000:
            if node.role == role and node.text.strip():
                return node.id
            node = by_id.get(node.parent) if node.parent else None
            guard += 1
        return None
