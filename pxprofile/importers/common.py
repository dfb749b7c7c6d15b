"""What every importer shares: normalized records, safety limits, a streaming JSON reader,
timestamp and text helpers, and the tree logic (active path, preference pairs).

Importers turn an export into a stream of records (Conversation, Feedback, Pair, Skipped);
pxprofile.ingest writes them. Native ids stay native here; ingest builds the stored keys
("format:conversation:message").
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

from pxprofile.errors import FormatError, TooLargeError

# -- limits ------------------------------------------------------------------------------------


@dataclass
class Limits:
    """Safety limits for untrusted input. Tests override them (see ``LIMITS``)."""

    max_file_bytes: int = 16 * 1024**3  # one input file (or stdin)
    max_element_chars: int = 512 * 1024**2  # one conversation (one top-level JSON element)
    max_nodes: int = 200_000  # messages in one conversation
    max_zip_members: int = 10_000
    max_zip_total_bytes: int = 16 * 1024**3  # declared uncompressed size of all members
    max_zip_ratio: int = 200  # uncompressed / compressed, per member (zip bombs)
    # JSON nesting depth is bounded by the interpreter's recursion limit (about 1,000 levels):
    # the C scanner raises RecursionError, reported as "too deeply nested".


LIMITS = Limits()

READ_CHUNK = 1 << 20


# -- records -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Message:
    id: str  # native id, unique within its conversation
    role: str  # user | assistant | system | tool (never guessed: unknown roles kept, hidden)
    text: str
    parent: str | None = None  # native id of the parent message
    author_name: str | None = None
    content_type: str = "text"
    created_raw: str | None = None
    created_at: str | None = None
    hidden: bool = False
    status: str | None = None  # finished | interrupted | in_progress | ...
    model: str | None = None
    meta: dict | None = None
    on_active_path: bool = True
    seq: int = 0


@dataclass(slots=True)
class Pair:
    """A preference: chosen over rejected. Message refs are native ids in the same conversation."""

    chosen: str | None
    rejected: str | None
    prompt: str | None = None
    origin: str = "branch"  # branch | comparison | regeneration
    interrupted: bool = False
    prompt_text: str | None = None
    chosen_text: str | None = None
    rejected_text: str | None = None
    native_id: str | None = None
    conversation: str | None = None  # only for pairs emitted outside a Conversation
    created_at: str | None = None


@dataclass(slots=True)
class Conversation:
    id: str  # native id
    messages: list[Message]
    title: str | None = None
    created_raw: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    current_leaf: str | None = None  # native id, None when the export does not say
    meta: dict | None = None
    pairs: list[Pair] = field(default_factory=list)


@dataclass(slots=True)
class Feedback:
    id: str
    rating: int  # +1 / -1
    conversation: str | None = None  # native conversation id
    message: str | None = None  # native message id
    text: str | None = None
    created_at: str | None = None
    origin: str = "message_feedback"


@dataclass(slots=True)
class Skipped:
    """A corrupt conversation inside an otherwise good export: skipped and reported."""

    conversation: str | None
    reason: str


Record = Conversation | Feedback | Pair | Skipped


class CorruptConversation(Exception):
    """Raised by an importer for one bad conversation; the file goes on."""


# -- text and time -----------------------------------------------------------------------------

_SURROGATES = re.compile("[\ud800-\udfff]")


def clean(s: str) -> str:
    """Lone surrogates -> U+FFFD, NUL removed (SQLite's length() and FTS stop at NUL)."""
    if "\x00" in s:
        s = s.replace("\x00", "")
    if not s.isascii() and _has_surrogate(s):
        s = _SURROGATES.sub("\ufffd", s)
    return s


def _has_surrogate(s: str) -> bool:
    """_SURROGATES.search(s), five times faster: strict UTF-8 refuses exactly the surrogates."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def content_hash(*parts: Any, n: int = 16) -> str:
    h = hashlib.sha1()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, ensure_ascii=True, default=str).encode())
        h.update(b"\x1f")
    return h.hexdigest()[:n]


def to_utc(value: Any) -> str | None:
    """A timestamp in any export's notation -> ISO 8601 UTC with microseconds
    ("2024-05-01T17:37:11.148505Z"), or None when it cannot be read."""
    if type(value) is float and 0.0 <= value <= 1e11:  # seconds: ChatGPT's every message
        return _iso(datetime.fromtimestamp(value, UTC))
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            v = float(value)
            if v > 1e14:  # microseconds
                v /= 1e6
            elif v > 1e11:  # milliseconds
                v /= 1e3
            return _iso(datetime.fromtimestamp(v, UTC))
        if isinstance(value, dict) and "$date" in value:  # MongoDB extended JSON
            d = value["$date"]
            return to_utc(int(d["$numberLong"]) if isinstance(d, dict) else d)
        if isinstance(value, str):
            s = value.strip()
            if re.fullmatch(r"\d+(\.\d+)?", s):
                return to_utc(float(s))
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)  # naive: kept as written (raw value is stored too)
            return _iso(dt.astimezone(UTC))
    except (ValueError, OverflowError, OSError, TypeError, KeyError):
        return None
    return None


_ISO = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def _iso(dt: datetime) -> str:
    """A UTC datetime as dt.isoformat(timespec="microseconds") writes it, "Z" for "+00:00": one
    fixed width (always microseconds), so stored times sort correctly as text. Formatted by hand:
    isoformat() of an aware datetime costs twice as much (its offset is formatted, then cut)."""
    return _ISO % (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond)


def raw_time(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)


# -- streaming JSON ----------------------------------------------------------------------------

_WS = " \t\r\n"


class JsonReader:
    """Reads JSON values one at a time from a binary stream, in bounded memory.

    raw_decode runs over a buffer refilled in chunks; when a value does not fit, the next read
    is as large as the buffer (geometric growth), so the total work stays linear and memory is
    bounded by the largest single value (one conversation), not by the file.
    Also: BOM accepted, non-UTF-8 rejected with the file named, sha256 of all bytes read.
    """

    def __init__(
        self,
        raw: BinaryIO,
        name: str,
        *,
        limits: Limits | None = None,
        progress: Callable[[int], None] | None = None,
    ):
        self.raw = raw
        self.name = name
        self.limits = limits or LIMITS
        self.progress = progress
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0
        self.buf = ""
        self.pos = 0
        self.offset = 0  # characters dropped before buf
        self.eof = False
        self._dec = codecs.getincrementaldecoder("utf-8")("strict")
        self._json = json.JSONDecoder(strict=False)
        self._started = False

    # buffer management
    def _fill(self) -> bool:
        """Read more input (at least as much as is buffered). False at end of input."""
        if self.eof:
            return False
        pending = len(self.buf) - self.pos
        if pending > self.limits.max_element_chars:
            raise TooLargeError(
                f"{self.name}: one conversation is larger than "
                f"{self.limits.max_element_chars // 1024**2} MB. "
                "Split the export or raise the limit."
            )
        data = self.raw.read(max(READ_CHUNK, pending))
        if data:
            self.bytes_read += len(data)
            if self.bytes_read > self.limits.max_file_bytes:
                raise TooLargeError(
                    f"{self.name}: larger than the "
                    f"{self.limits.max_file_bytes // 1024**2} MB limit. "
                    "Split the export into smaller files."
                )
            self.sha256.update(data)
            if self.progress:
                self.progress(self.bytes_read)
        else:
            self.eof = True
        try:
            text = self._dec.decode(data, final=not data)
        except UnicodeDecodeError as e:
            at = self.bytes_read - len(data) + e.start
            raise FormatError(
                f"{self.name}: not UTF-8 text (invalid byte at offset {at}). "
                "Give the original export, or convert the file to UTF-8."
            ) from None
        if not self._started and text:
            if text.startswith("\ufeff"):
                text = text[1:]
            self._started = True
        if not text:
            return bool(data)  # nothing new (end of input, or a partial UTF-8 sequence)
        self.offset += self.pos
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-whitespace character ('' at end of input), without consuming it."""
        while True:
            buf, pos, n = self.buf, self.pos, len(self.buf)
            while pos < n and buf[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < n:
                return buf[pos]
            if not self._fill():
                return ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            self._fail(f"expected '{ch}'")
        self.pos += 1

    def value(self) -> Any:
        """Decode the next JSON value."""
        self.peek()
        while True:
            try:
                obj, end = self._json.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                # an error near the end of the buffer may only mean the value continues
                near_end = e.pos >= len(self.buf) - 32 or e.msg.startswith("Unterminated string")
                if near_end and not self.eof and self._fill():
                    continue
                cut = e.msg.startswith("Unterminated string") or not self.buf[e.pos :].strip()
                self._fail(e.msg, e.pos, truncated=self.eof and cut)
            except RecursionError:
                raise TooLargeError(
                    f"{self.name}: JSON too deeply nested (more than about 1,000 levels). "
                    "This is not a chat export; check the file."
                ) from None
            if end >= len(self.buf) and not isinstance(obj, (dict, list, str)) and self._fill():
                continue  # a number cut at the buffer's end
            self.pos = end
            return obj

    def iter_array(self) -> Iterator[Any]:
        """Yield the elements of the array starting at the current position."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            ch = self.peek()
            self.pos += 1
            if ch == "]":
                return
            if ch != ",":
                self.pos -= 1
                self._fail("expected ',' or ']'")

    def iter_values(self) -> Iterator[Any]:
        """Yield successive top-level values (one JSON document, or JSON Lines)."""
        while self.peek():
            yield self.value()

    def at_end(self) -> bool:
        return self.peek() == ""

    def finish(self) -> None:
        """Require nothing but whitespace to follow; read the rest so sha256 covers the file."""
        if self.peek():
            self._fail("unexpected data after the end of the JSON document")
        while self._fill():
            pass

    def _fail(self, what: str, pos: int | None = None, *, truncated: bool | None = None):
        at = self.offset + (self.pos if pos is None else pos)
        if truncated is None:
            truncated = self.eof and not self.buf[self.pos :].strip()
        if truncated:
            raise FormatError(
                f"{self.name}: invalid JSON, unexpected end of file at character {at} "
                f"({what}). The file looks truncated; download the export again."
            )
        raise FormatError(
            f"{self.name}: invalid JSON at character {at} ({what}). "
            "Check that this is the export file as downloaded."
        )


# -- trees -------------------------------------------------------------------------------------

ASSISTANT_SIDE = ("assistant", "tool")


def link_tree(
    messages: list[Message], leaf: str | None, *, limits: Limits | None = None
) -> str | None:
    """Validate a message tree, set seq (depth) and on_active_path; return the leaf used.

    Raises CorruptConversation for cycles and oversize trees. A dangling parent makes its node
    a root; a dangling or missing leaf falls back to the newest leaf.
    """
    limits = limits or LIMITS
    if len(messages) > limits.max_nodes:
        raise CorruptConversation(
            f"{len(messages)} messages, more than the limit of {limits.max_nodes}"
        )
    by_id: dict[str, Message] = {}
    for m in messages:
        if m.id in by_id:
            raise CorruptConversation(f"message id {m.id!r} appears twice")
        by_id[m.id] = m
    children: dict[str, list[Message]] = {}
    roots: list[Message] = []
    for m in messages:
        if m.parent is None or m.parent not in by_id:
            roots.append(m)
        else:
            children.setdefault(m.parent, []).append(m)
    seen = 0
    stack = [(m, 0) for m in roots]
    while stack:
        m, depth = stack.pop()
        m.seq = depth
        seen += 1
        for c in children.get(m.id, ()):
            stack.append((c, depth + 1))
    if seen != len(messages):
        raise CorruptConversation("the message tree has a cycle (a message is its own ancestor)")
    if leaf not in by_id:
        leaves = [m for m in messages if m.id not in children]
        leaf = max(leaves, key=lambda m: (m.created_at or "", m.seq)).id if leaves else None
    for m in messages:
        m.on_active_path = False
    node = by_id.get(leaf) if leaf else None
    while node is not None:
        node.on_active_path = True
        node = by_id.get(node.parent) if node.parent else None
    return leaf


def tree_conversation(
    cid: str,
    messages: list[Message],
    *,
    title: str | None,
    created: Any,
    updated: Any = None,
    leaf: str | None = None,
    meta: dict | None = None,
) -> Conversation:
    """A conversation whose messages form a tree: checked and linked (link_tree, ``leaf``: the
    export's current message, kept when the tree has it), its times as written and in UTC, its
    regeneration pairs."""
    used = link_tree(messages, leaf)
    return Conversation(
        id=cid,
        messages=messages,
        title=title,
        created_raw=raw_time(created),
        created_at=to_utc(created),
        updated_at=to_utc(updated),
        current_leaf=used if used == leaf else None,
        meta=meta,
        pairs=branch_pairs(messages),
    )


def is_user_turn(m: Message) -> bool:
    return m.role == "user" and m.author_name != "custom_instructions"


def branch_pairs(messages: list[Message]) -> list[Pair]:
    """Preference pairs from regenerations (chat-formats.md section 1.11).

    Where a user message has two or more assistant-side children, follow each child's chain to
    the next user turn and take its last visible assistant text. The chain on the kept path is
    chosen; each other one is rejected unless empty or identical to the chosen text.
    Interrupted replies are kept, flagged. Call after link_tree().
    """
    children: dict[str, list[Message]] = {}
    for m in messages:
        if m.parent is not None:
            children.setdefault(m.parent, []).append(m)
    pairs = []
    for m in messages:
        if not is_user_turn(m):
            continue
        replies = [c for c in children.get(m.id, ()) if c.role in ASSISTANT_SIDE]
        if len(replies) < 2:
            continue
        chosen = [c for c in replies if c.on_active_path]
        if len(chosen) != 1:
            continue  # a branch point off the kept path: no choice is known
        finals = {c.id: _final_reply(c, children) for c in replies}
        best = finals[chosen[0].id]
        if best is None or not best.text.strip():
            continue
        for c in replies:
            if c is chosen[0]:
                continue
            other = finals[c.id]
            if other is None or not other.text.strip() or other.text.strip() == best.text.strip():
                continue
            pairs.append(
                Pair(
                    chosen=best.id,
                    rejected=other.id,
                    prompt=m.id,
                    interrupted=other.status in ("interrupted", "in_progress"),
                    created_at=other.created_at,
                )
            )
    return pairs


def _final_reply(start: Message, children: dict[str, list[Message]]) -> Message | None:
    """The last visible assistant text in the chain from start down to the next user turn."""
    final = None
    node: Message | None = start
    guard = 0
    while node is not None and guard < 100_000:
        guard += 1
        if node.role == "assistant" and not node.hidden and node.text.strip():
            final = node
        nxt = [c for c in children.get(node.id, ()) if c.role in ASSISTANT_SIDE]
        if not nxt:
            break
        active = [c for c in nxt if c.on_active_path]
        node = active[0] if active else max(nxt, key=lambda c: c.created_at or "")
    return final
