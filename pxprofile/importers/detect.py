"""Detect an input's format by content (never by file name) and open it as a record stream.

Order (chat-formats.md section 7): zip magic, SQLite magic, then JSON by the shape of the first
element (array), the object (one document) or the first line (JSON Lines), then text transcripts.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from pxprofile.errors import FormatError, InputError, TooLargeError

from . import chatgpt, claude, gemini, llm, more, openai, openwebui, text
from .common import LIMITS, JsonReader, Limits, Record

FORMATS = ("chatgpt", "claude", "gemini", "openai", "sharegpt", "openwebui", "llm", "text")
FORMATS += more.FORMATS  # issue 14: grok, deepseek, aistudio, sillytavern, memory files
# coding agents (issue 15): detected by content only, so not in FORMATS (--format)
AGENT_FORMATS = ("claude-code", "codex", "gemini-cli", "aider")
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_TEXT_CHARS = 256 * 1024**2


@dataclass
class Opened:
    """An input ready to read: its format and its records. sha256() is valid once records end."""

    format: str
    records: Iterator[Record]
    sha256: Callable[[], str]
    size: int | None


def check_format(fmt: str | None) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}. Use one of: {', '.join(FORMATS)}.")


def open_input(
    path: Path | None,
    stream: BinaryIO | None = None,
    *,
    name: str | None = None,
    format: str | None = None,
    progress: Callable[[int], None] | None = None,
    limits: Limits | None = None,
) -> Opened:
    """Open a file (path) or a binary stream (stdin) and detect its format."""
    check_format(format)
    limits = limits or LIMITS
    name = name or (str(path) if path else "<stdin>")
    if path is not None:
        if not path.exists():
            raise InputError(f"{name}: no such file. Check the path.")
        if path.is_dir():
            raise InputError(
                f"{name}: is a directory. Pass the export file (or the zip) inside it."
            )
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise TooLargeError(
                f"{name}: {size // 1024**2} MB is over the "
                f"{limits.max_file_bytes // 1024**2} MB limit. "
                "Split the export into smaller files."
            )
        try:
            f = open(path, "rb")
        except OSError as e:
            raise InputError(
                f"{name}: cannot read ({e.strerror}). Check the file's permissions."
            ) from None
        head = f.read(16)
        f.seek(0)
        if head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)) and format in (None, *FORMATS):
            f.close()
            return _open_zip(path, name, format, progress, limits)
        if head.startswith(SQLITE_MAGIC):
            f.close()
            if format not in (None, "llm"):
                raise FormatError(
                    f"{name}: a SQLite database, not {format}. Use --format llm or leave it out."
                )
            if not llm.matches(llm.tables(path)):
                raise FormatError(
                    f"{name}: a SQLite database, but not an llm logs.db. "
                    "Pass llm's logs.db (see `llm logs path`)."
                )
            return Opened("llm", llm.records(path, name), _file_sha(path), size)
        return _open_stream(f, name, format, progress, limits, size, close=True)
    assert stream is not None
    head = stream.read(16)
    if head.startswith((ZIP_MAGIC, SQLITE_MAGIC)):
        raise InputError(
            f"{name}: zip archives and databases cannot be read from stdin. Pass the file's path."
        )
    return _open_stream(_Prefixed(head, stream), name, format, progress, limits, None, close=False)


def _file_sha(path: Path) -> Callable[[], str]:
    def sha() -> str:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()

    return sha


class _Prefixed(io.RawIOBase):
    """A stream with its first bytes (already read for sniffing) put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.head:
            out, self.head = self.head, b""
            more = self.rest.read(n - len(out)) if n > len(out) else b""
            return out + (more or b"")
        return self.rest.read(n) or b""


def _open_stream(f, name, fmt, progress, limits, size, *, close: bool) -> Opened:
    reader = JsonReader(f, name, limits=limits, progress=progress)

    def sha() -> str:
        return reader.sha256.hexdigest()

    if fmt == "text":
        return Opened("text", _closing(_text_records(reader, name, fmt), f, close), sha, size)
    found, recs = json_records(reader, name, fmt)
    return Opened(found, _closing(recs, f, close), sha, size)


def _closing(records: Iterator[Record], f, close: bool) -> Iterator[Record]:
    try:
        yield from records
    finally:
        if close:
            f.close()


def json_records(reader: JsonReader, name: str, fmt: str | None) -> tuple[str, Iterator[Record]]:
    """Detect the JSON document's format from its first element and return its records."""
    c = reader.peek()
    if c == "":
        raise FormatError(f"{name}: the file is empty. Pass a chat export.")
    if c == "[":
        it = reader.iter_array()
        head: list[Any] = []
        for el in it:
            head.append(el)
            if el is not None:
                break
        if not head or head[-1] is None:
            reader.finish()
            raise FormatError(
                f"{name}: an empty list, with no conversations to import. Pass a non-empty export."
            )
        first = head[-1]
        fmt = fmt or _detect_element(first, name)
        return fmt, _finishing(_dispatch(fmt, first, chain(head, it), name), reader)
    if c == "{":
        first = reader.value()
        if reader.at_end():
            fmt = fmt or _detect_object(first, name)
            return fmt, _finishing(_dispatch(fmt, first, _unwrap(fmt, first), name), reader)
        # JSON Lines (or concatenated JSON values)
        fmt = fmt or _detect_element(first, name)
        return fmt, _finishing(
            _dispatch(fmt, first, chain([first], reader.iter_values()), name), reader
        )
    if fmt is None and _agent_text(reader):  # coding agents (issue 15)
        return "aider", _aider_records(reader, name)
    extra = more.text_format(reader.buf[reader.pos : reader.pos + 4096], fmt)  # issue 14
    if extra is not None:
        return extra, _text_records(reader, name, extra)
    if fmt is not None and fmt != "text":
        reader.value()  # raises the JSON error for the forced format
    return "text", _text_records(reader, name, fmt)


def _finishing(records: Iterator[Record], reader: JsonReader) -> Iterator[Record]:
    yield from records
    reader.finish()


def _text_records(reader: JsonReader, name: str, fmt: str | None) -> Iterator[Record]:
    while reader._fill():
        if len(reader.buf) > MAX_TEXT_CHARS:
            raise TooLargeError(
                f"{name}: a text transcript over {MAX_TEXT_CHARS // 1024**2} MB. Split it."
            )
    body = reader.buf[reader.pos :]
    if not body.strip():
        raise FormatError(f"{name}: the file is empty. Pass a chat export.")
    if fmt in more.FORMATS:  # issue 14: a memory list saved as text (more.py)
        return more.text_records(fmt, body)
    if fmt != "text" and not text.matches(body):
        raise FormatError(
            f"{name}: unknown format (not JSON, and no 'User:' / 'Assistant:' turns). "
            f"Pass --format (one of {', '.join(FORMATS)}) if you know what it is."
        )
    return text.records(body)


def _detect_element(first: Any, name: str) -> str:
    if (agent := _agent_element(first)) is not None:  # coding agents (issue 15)
        return agent
    found = more.detect_element(first)  # issue 14 (more.py)
    if found is not None:
        return found
    if chatgpt.matches(first) or chatgpt.is_feedback(first) or chatgpt.is_comparison(first):
        return "chatgpt"
    if claude.matches(first):
        return "claude"
    if gemini.matches(first):
        return "gemini"
    if openwebui.matches(first):
        return "openwebui"
    if openai.sharegpt_matches(first):
        return "sharegpt"
    if openai.matches(first):
        return "openai"
    raise _unknown(first, name)


def _detect_object(obj: Any, name: str) -> str:
    if (agent := _agent_element(obj)) is not None:  # coding agents (issue 15)
        return agent
    found = more.detect_object(obj)  # issue 14 (more.py): Grok before ChatGPT's "conversations"
    if found is not None:
        return found
    if chatgpt.conversations_of(obj) is not None:
        return "chatgpt"
    if claude.matches(obj):
        return "claude"
    if openwebui.matches(obj):
        return "openwebui"
    if openai.sharegpt_matches(obj):
        return "sharegpt"
    if openai.matches(obj):
        return "openai"
    convs = obj.get("conversations") if isinstance(obj, dict) else None
    if isinstance(convs, list) and convs:
        return _detect_element(next((c for c in convs if c is not None), None), name)
    raise _unknown(obj, name)


def _unwrap(fmt: str, obj: Any) -> Iterable[Any]:
    """The conversations inside a single top-level object."""
    if fmt in more.FORMATS:  # issue 14 (more.py)
        return more.unwrap(fmt, obj)
    if fmt == "chatgpt":
        return chatgpt.conversations_of(obj) or [obj]
    if fmt == "sharegpt" and openai.sharegpt_matches(obj):
        return [obj]
    if fmt == "openai":
        return [obj]
    convs = obj.get("conversations") if isinstance(obj, dict) else None
    if isinstance(convs, list) and not openai.sharegpt_matches(obj) and not claude.matches(obj):
        return convs
    return [obj]


def _dispatch(fmt: str, first: Any, items: Iterable[Any], name: str) -> Iterator[Record]:
    if fmt in more.FORMATS:  # issue 14 (more.py)
        return more.dispatch(fmt, first, items, name)
    if fmt in AGENT_FORMATS:  # coding agents (issue 15)
        return _agent_records(fmt, items, name)
    if fmt == "chatgpt":
        if chatgpt.is_feedback(first):
            return chatgpt.feedback_records(items)
        if chatgpt.is_comparison(first):
            return chatgpt.comparison_records(items)
        return chatgpt.records(items)
    if fmt == "claude":
        return claude.records(items)
    if fmt == "gemini":
        return gemini.records(items)
    if fmt == "openwebui":
        return openwebui.records(items)
    if fmt == "sharegpt":
        return openai.sharegpt_records(items)
    if fmt == "openai":
        return openai.records(items)
    if fmt == "llm":
        raise FormatError(f"{name}: --format llm needs llm's logs.db (a SQLite file), not JSON.")
    raise InputError(f"unknown format {fmt!r}. Use one of: {', '.join(FORMATS)}.")


def _unknown(obj: Any, name: str) -> FormatError:
    if isinstance(obj, dict):
        keys = ", ".join(sorted(map(str, obj))[:8])
        seen = f"objects with keys {keys}" if keys else "empty objects"
    else:
        seen = f"a JSON {type(obj).__name__}"
    return FormatError(
        f"{name}: unknown format ({seen}). Pass --format (one of {', '.join(FORMATS)}) "
        "if you know what it is, or check that this is a chat export."
    )


# -- zip ------------------------------------------------------------------------------------------


def _open_zip(path: Path, name: str, fmt, progress, limits: Limits) -> Opened:
    try:
        zf = zipfile.ZipFile(path)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise FormatError(f"{name}: a damaged zip file ({e}). Download the export again.") from None
    check_zip(infos, name, limits)
    files = {
        i.filename: i for i in infos if not i.is_dir() and not i.filename.lower().endswith(".zip")
    }
    by_base: dict[str, list[zipfile.ZipInfo]] = {}
    for i in files.values():
        by_base.setdefault(PurePosixPath(i.filename).name.lower(), []).append(i)

    def shallowest(base: str) -> zipfile.ZipInfo | None:
        found = by_base.get(base) or []
        return min(found, key=lambda i: i.filename.count("/")) if found else None

    main = shallowest("conversations.json")
    grok_main = more.zip_main(list(files))  # issue 14: Grok's export has no conversations.json
    if main is None and grok_main is not None:
        main = files[grok_main]
    gemini_member = next(
        (
            i
            for n, i in sorted(files.items())
            if n.replace("\\", "/")
            .lower()
            .endswith(("gemini apps/myactivity.json", "gemini apps/my activity.json"))
        ),
        None,
    )
    if main is None and gemini_member is None:
        jsons = [i for n, i in files.items() if n.lower().endswith((".json", ".jsonl"))]
        if len(jsons) != 1:
            zf.close()
            raise FormatError(
                f"{name}: no chat export inside the zip (no conversations.json or Gemini Apps "
                "MyActivity.json). "
                "Pass the zip you downloaded from ChatGPT, Claude or Google Takeout."
            )
        main = jsons[0]
    first_member = main or gemini_member
    total = sum(i.file_size for i in files.values()) or 1
    done = [0]

    def member_progress(base: int):
        return (
            (lambda n: progress(int((base + n) * path.stat().st_size / total)))
            if progress
            else None
        )

    member_name = f"{name}:{first_member.filename}"
    reader = JsonReader(
        _member(zf, first_member, name), member_name, limits=limits, progress=member_progress(0)
    )
    found, recs = json_records(reader, member_name, fmt)
    companions = []
    if found == "chatgpt" and main is not None:
        for base in ("message_feedback.json", "model_comparisons.json"):
            info = shallowest(base)
            if info is not None and info is not main:
                companions.append((info, "chatgpt"))
    for base, companion_format in more.zip_companions(found).items():  # issue 14: memories.json
        info = shallowest(base)
        if info is not None and info is not main:
            companions.append((info, companion_format))

    def records() -> Iterator[Record]:
        try:
            yield from recs
            done[0] += first_member.file_size
            for info, companion_format in companions:
                cname = f"{name}:{info.filename}"
                r = JsonReader(
                    _member(zf, info, name), cname, limits=limits, progress=member_progress(done[0])
                )
                if r.peek() == "":
                    continue
                _, more_records = json_records(r, cname, companion_format)
                yield from more_records
                done[0] += info.file_size
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            raise FormatError(
                f"{name}: a damaged zip file ({e}). Download the export again."
            ) from None
        finally:
            zf.close()

    return Opened(found, records(), _file_sha(path), path.stat().st_size)


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str):
    try:
        return zf.open(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as e:
        raise FormatError(
            f"{name}: cannot read {info.filename} in the zip ({e}). Download the export again."
        ) from None


def check_zip(infos: list[zipfile.ZipInfo], name: str, limits: Limits) -> None:
    """Reject zip slip, zip bombs and archives with too many members, before reading anything."""
    if len(infos) > limits.max_zip_members:
        raise TooLargeError(
            f"{name}: the zip has {len(infos)} files, "
            f"more than the limit of {limits.max_zip_members}. "
            "Pass the export zip as downloaded."
        )
    total = 0
    for i in infos:
        parts = i.filename.replace("\\", "/").split("/")
        if (
            i.filename.startswith(("/", "\\"))
            or ".." in parts
            or (len(parts[0]) == 2 and parts[0][1] == ":")
        ):
            raise FormatError(
                f"{name}: unsafe path {i.filename!r} inside the zip (zip slip). "
                "This is not a genuine export."
            )
        total += i.file_size
        if i.file_size > 1024**2 and i.file_size > limits.max_zip_ratio * max(i.compress_size, 1):
            raise TooLargeError(
                f"{name}: {i.filename} expands {i.file_size // max(i.compress_size, 1)}x "
                f"(limit {limits.max_zip_ratio}x), a likely zip bomb. This is not a genuine export."
            )
    if total > limits.max_zip_total_bytes:
        raise TooLargeError(
            f"{name}: the zip expands to {total // 1024**2} MB, over the "
            f"{limits.max_zip_total_bytes // 1024**2} MB limit. "
            "Unzip it and pass conversations.json."
        )


# -- coding agents (issue 15): Claude Code, Codex CLI, Gemini CLI, aider -------------------------
# Kept apart from the chat formats above; each hook above is one marked line.


def _agent_element(first: Any) -> str | None:
    """The agent format of a JSONL session's first line (or a Gemini CLI chat object)."""
    from . import claude_code, codex, gemini_cli

    if claude_code.matches(first):
        return "claude-code"
    if codex.matches(first):
        return "codex"
    if gemini_cli.matches(first):
        return "gemini-cli"
    return None


def _agent_records(fmt: str, items: Iterable[Any], name: str) -> Iterator[Record]:
    from . import claude_code, codex, gemini_cli

    module = {"claude-code": claude_code, "codex": codex, "gemini-cli": gemini_cli}[fmt]
    return module.records(items)


def _agent_text(reader: JsonReader) -> bool:
    from . import aider

    return aider.matches(reader.buf[reader.pos : reader.pos + 4096])


def _aider_records(reader: JsonReader, name: str) -> Iterator[Record]:
    from . import aider

    while reader._fill():
        if len(reader.buf) > MAX_TEXT_CHARS:
            raise TooLargeError(f"{name}: a chat history over {MAX_TEXT_CHARS // 1024**2} MB.")
    return aider.records(reader.buf[reader.pos :])
