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
from itertools import chain
from typing import Any

from .agentlog import Session, describe_call, is_bare_command
from .common import Record, Skipped, content_hash

FORMAT = "gemini-cli"
DECLINED = ("cancelled", "canceled", "rejected")
FINISHED = ("success", "error", *DECLINED)  # a call in any other state is still running
CANCELLED = "Request cancelled"


def matches(obj: Any) -> bool:
    """A chat (one JSON document), or the first line of a session kept as JSON Lines."""
    if not isinstance(obj, dict) or "sessionId" not in obj:
        return False
    if isinstance(obj.get("messages"), list):
        return "projectHash" in obj or "startTime" in obj
    return "projectHash" in obj and "type" not in obj


def records(items: Iterable[Any]) -> Iterator[Record]:
    it = iter(items)
    first = next(it, None)
    if matches(first) and not isinstance(first.get("messages"), list):
        it = iter([_assemble(first, it)])  # JSON Lines: metadata, then one message a line
    else:
        it = chain([first], it)
    for i, chat in enumerate(it):
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


def _assemble(meta: dict, lines: Iterable[Any]) -> dict:
    """The JSON Lines layout (reported, gemini-cli#23749) as one chat: ``{"$set": {...}}`` lines
    update the metadata; ``{"$rewindTo": id}`` is kept as a marker for _chat."""
    chat = {**meta, "messages": []}
    for line in lines:
        if not isinstance(line, dict):
            continue
        if isinstance(line.get("$set"), dict):
            chat.update({k: v for k, v in line["$set"].items() if k != "messages"})
        elif "$rewindTo" in line or "type" in line:
            chat["messages"].append(line)
    return chat


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
    sub = chat.get("kind") == "subagent"  # a subagent's own session: not the user's voice
    for i, m in enumerate(chat["messages"]):
        if not isinstance(m, dict):
            continue
        if _running(m):
            break  # the CLI rewrites this message as its calls finish: read it next time
        if "$rewindTo" in m:  # the user went back: what follows branches before that message
            back = next((x for x in s.messages if x.id == str(m["$rewindTo"])), None)
            s.last = back.parent if back is not None else s.last
            continue
        mid = str(m.get("id") or f"h{content_hash(m.get('timestamp'), m.get('type'), i)}")
        t, at, text = m.get("type"), m.get("timestamp"), _text(m.get("content"))
        if t == "user" and is_bare_command(text):
            s.add(mid, "user", text, hidden=True, kind="command", at=at)
        elif t == "user":
            s.add(mid, "user", text, hidden=sub, at=at)
        elif t in ("gemini", "model"):
            _reply(s, mid, m, text, at, sub)
        else:
            s.add(mid, "system", text, hidden=True, kind=str(t or "info"), at=at)
            if t == "info" and text.strip().startswith(CANCELLED):
                s.interrupt(s.nearest(s.last), at, key=mid)
    return s.finish(), [] if sub else s.feedback


def _running(m: dict) -> bool:
    calls = m.get("toolCalls") if isinstance(m.get("toolCalls"), list) else []
    return any(
        isinstance(c, dict) and c.get("status") and str(c["status"]).lower() not in FINISHED
        for c in calls
    )


def _reply(s: Session, mid: str, m: dict, text: str, at: Any, sub: bool = False) -> None:
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
    s.add(mid, "assistant", text.strip(), hidden=sub, at=at, model=model)
