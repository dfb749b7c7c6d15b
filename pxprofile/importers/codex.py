"""OpenAI Codex CLI rollouts: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl``
(agent-formats.md section 2).

Lines are ``{timestamp, type, payload}``. Every prompt is written twice (a ``response_item``
user message and an ``event_msg`` ``user_message``): the response item is counted, the event only
where no response item holds the same text (publishers and the Desktop app drop some line
types). Injected user-role parts (``# AGENTS.md instructions``, ``<environment_context>``,
``<user_instructions>``, ...) and developer messages are stored hidden; an IDE's
``## My request for Codex:`` wrapper is cut down to the request. A line has no id, so its key is
a hash of the line: stable while the file grows.

Signals: a call whose output is "exec command rejected by user" / "patch rejected by user" is a
rejected tool call, and a ``turn_aborted`` event an interrupted turn (feedback -1).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from .agentlog import Session, describe_call, is_bare_command
from .common import Record, Skipped, content_hash

FORMAT = "codex"
LINE_TYPES = frozenset({"session_meta", "turn_context", "response_item", "event_msg", "compacted"})
INJECTED = (
    "# AGENTS.md instructions",
    "<environment_context>",
    "<user_instructions>",
    "<INSTRUCTIONS>",
    "<permissions instructions>",
    "<collaboration_mode>",
    "<skills_instructions>",
    "<plugins_instructions>",
    "<turn_aborted>",
    "<user_shell_command>",
)
IDE_REQUEST = "## My request for Codex:"
CALLS = ("function_call", "custom_tool_call", "local_shell_call")
OUTPUTS = ("function_call_output", "custom_tool_call_output")


def matches(first: Any) -> bool:
    return (
        isinstance(first, dict)
        and isinstance(first.get("type"), str)
        and first["type"] in LINE_TYPES
        and isinstance(first.get("payload"), dict)
    )


def records(items: Iterable[Any]) -> Iterator[Record]:
    lines = [x for x in items if isinstance(x, dict) and isinstance(x.get("payload"), dict)]
    meta = next((x["payload"] for x in lines if x.get("type") == "session_meta"), None)
    sid = (meta or {}).get("id") or ("h" + content_hash(lines[:3]) if lines else None)
    if not sid:
        yield Skipped(None, "an empty session (no messages yet)")
        return
    b = _Builder(Session(str(sid), FORMAT), lines)
    for x in lines:
        try:
            b.line(x)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            yield Skipped(str(sid), f"unexpected line ({type(e).__name__}: {e})")
            return
    conv = b.s.finish()
    if conv is None:
        yield Skipped(str(sid), "an empty session (no messages yet)")
        return
    yield conv
    yield from b.s.feedback


def _norm(text: str) -> str:
    if IDE_REQUEST in text:
        text = text.split(IDE_REQUEST, 1)[1]
    return " ".join(text.split())


def _parts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [
        p["text"] for p in content or [] if isinstance(p, dict) and isinstance(p.get("text"), str)
    ]


class _Builder:
    def __init__(self, session: Session, lines: list[dict]):
        self.s = session
        self.model: str | None = None
        self.calls: dict[str, tuple[str, str]] = {}  # call_id -> (message id, description)
        self.prompts: set[str] = set()  # user texts held by response items
        self.turns: list[str] = []  # the user message that starts each turn
        self.has_replies = False
        for x in lines:
            p = x["payload"]
            if x.get("type") != "response_item" or p.get("type") != "message":
                continue
            if p.get("role") == "user":
                self.prompts |= {
                    _norm(t)
                    for t in _parts(p.get("content"))
                    if not t.lstrip().startswith(INJECTED)
                }
            elif p.get("role") == "assistant":
                self.has_replies = True

    def line(self, x: dict) -> None:
        kind, p, at = x.get("type"), x["payload"], x.get("timestamp")
        key = content_hash(kind, at, p)
        if kind == "session_meta":
            self._meta(p)
            for t in _parts(p.get("instructions")):
                self.s.add(key, "system", t, hidden=True, kind="instructions", at=at)
        elif kind == "turn_context":
            self.model = p.get("model") if isinstance(p.get("model"), str) else self.model
            self._meta(p)
        elif kind == "compacted":
            self.s.add(
                key, "system", str(p.get("message") or ""), hidden=True, kind="compaction", at=at
            )
        elif kind == "response_item":
            self._item(key, p, at)
        elif kind == "event_msg":
            self._event(key, p, at)

    def _meta(self, p: dict) -> None:
        for k in ("cwd", "originator", "cli_version", "source"):
            if isinstance(p.get(k), str):
                self.s.meta[k] = p[k]
        git = p.get("git")
        if isinstance(git, dict) and isinstance(git.get("branch"), str):
            self.s.meta["git_branch"] = git["branch"]

    def _item(self, key: str, p: dict, at: Any) -> None:
        t, s = p.get("type"), self.s
        if t == "message":
            role = p.get("role")
            for j, text in enumerate(_parts(p.get("content"))):
                mid = key if j == 0 else f"{key}#{j}"
                if role == "user" and not text.lstrip().startswith(INJECTED):
                    words = text.split(IDE_REQUEST, 1)[1].strip() if IDE_REQUEST in text else text
                    self._prompt(mid, words, at)
                elif role == "user":
                    s.add(mid, "system", text, hidden=True, kind="context", at=at)
                elif role == "assistant":
                    s.add(mid, "assistant", text.strip(), hidden=False, at=at, model=self.model)
                else:
                    s.add(mid, "system", text, hidden=True, kind=str(role), at=at)
        elif t == "reasoning":
            summary = "\n".join(_parts(p.get("summary")))
            s.add(key, "assistant", summary, hidden=True, kind="thoughts", at=at)
        elif t in CALLS:
            args = p.get("arguments") if "arguments" in p else p.get("input") or p.get("action")
            name = p.get("name") or t
            if t == "custom_tool_call" and isinstance(args, str):
                args = {"input": args}
            what = describe_call(name, args)
            s.add(key, "assistant", what, hidden=True, kind="tool_use", at=at, name=name)
            if isinstance(p.get("call_id"), str):
                self.calls[p["call_id"]] = (key, what)
        elif t in OUTPUTS:
            out = p.get("output")
            if isinstance(out, dict):
                out = out.get("content") or out.get("output") or json.dumps(out)
            out = out if isinstance(out, str) else json.dumps(out)
            rejected = "rejected by user" in out[:200]
            s.add(
                key, "tool", out, hidden=True, kind="rejected" if rejected else "tool_result", at=at
            )
            if rejected:
                call = self.calls.get(str(p.get("call_id")))
                s.reject(call[0] if call else None, call[1] if call else "a tool call", at, key=key)

    def _event(self, key: str, p: dict, at: Any) -> None:
        t = p.get("type")
        text = p.get("message") if isinstance(p.get("message"), str) else ""
        if t == "user_message" and text.strip() and _norm(text) not in self.prompts:
            words = text.split(IDE_REQUEST, 1)[1].strip() if IDE_REQUEST in text else text
            self._prompt(key, words, at)
            self.prompts.add(_norm(text))
        elif t == "agent_message" and text.strip() and not self.has_replies:
            self.s.add(key, "assistant", text.strip(), hidden=False, at=at, model=self.model)
        elif t == "thread_rolled_back":
            self._rollback(p.get("num_turns"))
        elif t == "turn_aborted":
            self.s.add(
                key,
                "user",
                f"[turn aborted: {p.get('reason') or 'interrupted'}]",
                hidden=True,
                kind="interrupt",
                at=at,
            )
            self.s.interrupt(self.s.nearest(self.s.last), at, key=key)

    def _prompt(self, mid: str, text: str, at: Any) -> None:
        if is_bare_command(text):  # a turn boundary (for rollbacks) but not the user's voice
            m = self.s.add(mid, "user", text, hidden=True, kind="command", at=at)
        else:
            m = self.s.add(mid, "user", text, hidden=False, at=at)
        if m is not None:
            self.turns.append(mid)

    def _rollback(self, n: Any) -> None:
        """The user backtracked: the last ``n`` turns stay stored, off the kept path; what
        follows branches from the message before them."""
        if not isinstance(n, int) or n < 1 or not self.turns:
            return
        first = self.turns[-min(n, len(self.turns))]
        del self.turns[-min(n, len(self.turns)) :]
        start = next(m for m in self.s.messages if m.id == first)
        self.s.last = start.parent
