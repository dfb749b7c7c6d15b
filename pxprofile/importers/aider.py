"""aider's ``.aider.chat.history.md`` (agent-formats.md section 4).

Each run starts with ``# aider chat started at YYYY-MM-DD HH:MM:SS``: one conversation per run.
What the user typed is a run of ``#### <line>`` lines; ``> `` lines (ending in two spaces) are
aider's own status output (tokens, "Applied edit to ...", y/n questions) and are stored hidden;
everything else is the model's reply. Slash commands are stored hidden (``/code msg`` and
``/ask msg`` re-log ``msg`` as its own block, counted there).

The file only grows, so a message's key is its position in its run: re-reading a grown file
adds only the new turns.

Signals: ``/undo`` (the user threw away the last edit), a "no" to aider's offer to edit a file or
run a command, and ``^C KeyboardInterrupt`` become feedback -1 on the reply concerned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .agentlog import Session, short
from .common import Record, Skipped, content_hash

FORMAT = "aider"
HEADER = "# aider chat started at"
_HEADER_RE = re.compile(r"^# aider chat started at (.+?)\s*$")
_ANSWER_NO = re.compile(
    r"(edit|create new file|run shell command|apply)[^\n]*\[(?:yes|no)\]:\s*(n|no)\s*$", re.I
)


def matches(head: str) -> bool:
    """The text starts (after blank lines) with aider's session header."""
    return head.lstrip("\ufeff \t\r\n").startswith(HEADER)


def records(text: str) -> Iterator[Record]:
    runs: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        m = _HEADER_RE.match(line)
        if m:
            runs.append((m.group(1), []))
        elif runs:
            runs[-1][1].append(line)
    seen: dict[str, int] = {}
    found = False
    for started, lines in runs:
        n = seen[started] = seen.get(started, 0) + 1
        sid = "run-" + content_hash(started, n)
        session = Session(sid, FORMAT)
        conv = _run(session, started, lines)
        if conv is not None:
            found = True
            yield conv
            yield from session.feedback
    if not found:
        yield Skipped(None, "an empty session (no messages yet)")


def _blocks(lines: list[str]) -> list[tuple[str, str]]:
    """[("user" | "status" | "reply", text)] in file order."""
    out: list[tuple[str, list[str]]] = []
    kind: str | None = None
    open_status = False  # a multi-line status: only its last line ends in two spaces
    for line in lines:
        if open_status and line.strip() and not line.startswith(("#", ">")):
            k, body = "status", line.strip()
        elif line.startswith("####"):
            k, body = "user", line[4:].removeprefix(" ").rstrip()
        elif _status(line, kind):
            k, body = "status", line[1:].strip()
        elif not line.strip() and kind in ("user", "status"):
            kind, open_status = None, False
            continue
        else:
            k, body = "reply", line
        open_status = k == "status" and not line.endswith("  ") and line.strip() != ">"
        if k != kind:
            out.append((k, []))
            kind = k
        out[-1][1].append(body)
    return [(k, "\n".join(body).strip()) for k, body in out]


def _status(line: str, kind: str | None) -> bool:
    """aider's own output: '> ' lines (ending in two spaces when aider wrote them). Inside a
    reply, a quote or a '>>>>>>> REPLACE' fence line stays part of the reply."""
    if not line.startswith(">") or line.startswith(">>>>>>>"):
        return False
    return line.endswith("  ") or line.strip() == ">" or kind != "reply"


def _run(s: Session, started: str, lines: list[str]):
    s.meta["started"] = started
    blocks = _blocks(lines)
    for i, (kind, text) in enumerate(blocks):
        mid = f"n{i}"
        if not text:
            continue
        if kind == "user" and text.startswith("/"):
            s.add(mid, "user", text, hidden=True, kind="command", at=started)
            if text.split()[0] == "/undo":
                target = s.nearest(s.last)
                s.reject(target, _what(s, target, "the last edit"), started, key=mid)
        elif kind == "user":
            s.add(mid, "user", text, hidden=False, at=started)
        elif kind == "status":
            s.add(mid, "tool", text, hidden=True, kind="status", at=started)
            _status_signals(s, mid, text, started)
        else:
            s.add(mid, "assistant", text, hidden=False, at=started)
            before = blocks[i - 1] if i else ("", "")
            if before[0] == "status" and "^C" in before[1] and "Tokens:" not in before[1]:
                s.interrupt(mid, started, key=mid)  # ^C while it streamed: this reply was cut
    return s.finish()


def _what(s: Session, target: str | None, default: str) -> str:
    m = next((m for m in s.messages if m.id == target), None)
    return f"{default}: {short(m.text, 120)}" if m else default


def _status_signals(s: Session, mid: str, text: str, at: str) -> None:
    prev = s.messages[-2] if len(s.messages) > 1 else None
    for line in text.splitlines():
        if "^C" in line and "Tokens:" not in text:
            # ^C right after a reply that never finished (no "Tokens:" line): it was cut
            if prev is not None and prev.role == "assistant":
                s.interrupt(prev.id, at, key=mid)
            return
        m = _ANSWER_NO.search(line)
        if m:
            target = s.nearest(mid)
            s.reject(target, _what(s, target, short(line, 120)), at, key=mid)
            return
