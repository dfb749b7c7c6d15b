"""Gemini CLI chats: ``~/.gemini/tmp/<projectHash>/chats/session-*.json``
(agent-formats.md section 3).

One JSON object ``{sessionId, projectHash, startTime, lastUpdated, messages[]}``; messages are
``user`` (the human's text) or ``gemini`` (reply text, ``thoughts`` and ``toolCalls`` whose results
live inside the call). ``info``/``error``/``warning`` messages are the CLI's own and stored hidden.
The file is rewritten as the session grows; message ids are the CLI's own, so re-reading it adds
only what is new. ``logs.json`` (the prompt log) holds the same prompts and is not read.

Signals: a tool call the user declined (status ``cancelled``) is a rejected call, and the CLI's
"Request cancelled." info message an interrupted turn (feedback -1).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from .agentlog import Session, describe_call
from .common import Record, Skipped, content_hash

FORMAT = "gemini-cli"
DECLINED = ("cancelled", "canceled", "rejected")
CANCELLED = "Request cancelled"


def matches(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("messages"), list)
        and "sessionId" in obj
        and ("projectHash" in obj or "startTime" in obj)
    )


def records(items: Iterable[Any]) -> Iterator[Record]:
    for i, chat in enumerate(items):
        if not matches(chat):
            yield Skipped(f"#{i + 1}", "not a Gemini CLI chat (no sessionId and messages)")
            continue
        try:
            conv, feedback = _chat(chat)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            yield Skipped(str(chat.get("sessionId")), f"unexpected structure ({e})")
            continue
        if conv is None:
            yield Skipped(str(chat.get("sessionId")), "an empty session (no messages yet)")
            continue
        yield conv
        yield from feedback


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # newer CLIs: a list of parts
        return "\n".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _chat(chat: dict):
    s = Session(str(chat["sessionId"]), FORMAT)
    s.meta["project_hash"] = chat.get("projectHash")
    for i, m in enumerate(chat["messages"]):
        if not isinstance(m, dict):
            continue
        mid = str(m.get("id") or f"h{content_hash(m.get('timestamp'), m.get('type'), i)}")
        t, at, text = m.get("type"), m.get("timestamp"), _text(m.get("content"))
        if t == "user":
            s.add(mid, "user", text, hidden=False, at=at)
        elif t == "gemini":
            _reply(s, mid, m, text, at)
        else:
            s.add(mid, "system", text, hidden=True, kind=str(t or "info"), at=at)
            if t == "info" and text.strip().startswith(CANCELLED):
                s.interrupt(s.nearest(s.last), at, key=mid)
    return s.finish(), s.feedback


def _reply(s: Session, mid: str, m: dict, text: str, at: Any) -> None:
    model = m.get("model") if isinstance(m.get("model"), str) else None
    thoughts = [
        f"{t.get('subject') or ''}: {t.get('description') or ''}".strip(": ")
        for t in m.get("thoughts") or []
        if isinstance(t, dict)
    ]
    if thoughts:
        s.add(
            f"{mid}#thoughts",
            "assistant",
            "\n".join(thoughts),
            hidden=True,
            kind="thoughts",
            at=at,
            model=model,
        )
    for j, call in enumerate(m.get("toolCalls") or []):
        if not isinstance(call, dict):
            continue
        cid = f"{mid}#call{j}"
        what = describe_call(call.get("name"), call.get("args"))
        s.add(
            cid,
            "assistant",
            what,
            hidden=True,
            kind="tool_use",
            at=at,
            model=model,
            name=call.get("name"),
            status=call.get("status"),
        )
        result = call.get("resultDisplay") or call.get("result")
        body = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        body = "" if result is None else body
        status = str(call.get("status") or "").lower()
        declined = status in DECLINED
        s.add(
            f"{cid}#result",
            "tool",
            body or "",
            hidden=True,
            kind="rejected" if declined else "tool_result",
            at=at,
        )
        if declined:
            s.reject(cid, what, at, key=cid)
    s.add(mid, "assistant", text.strip(), hidden=False, at=at, model=model)
