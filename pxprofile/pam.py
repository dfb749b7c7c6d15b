"""Portable AI Memory (PAM) v1.0: read a memory store into Memory records, write one from lines.

PAM (portable-ai-memory/portable-ai-memory, spec v1.0) is an interchange format for what AI tools
remember about a user: ``{"schema": "portable-ai-memory", "schema_version": "1.0", "owner",
"memories": [{id, type, content, content_hash, status, temporal, provenance, ...}],
"integrity": {checksum, total_memories}}``.

Reading: active memories within their validity (``temporal.valid_from``/``valid_until``) become
user lines (pxprofile.imported) with their provenance kept; the others are left out and counted.
Those no longer true (superseded, retracted, archived, past ``valid_until``) are Withdrawn
records: the line an earlier import made of one is removed unless the user changed it.
Deprecated ("still valid", spec section 7) and not yet valid ones are only left out. A file
whose integrity block does not match its memories is refused (spec section 15.4).
Writing: ``document(lines)`` is pure (the ``pam`` target of pxprofile.export): one memory per
profile line, typed by its section, with pxprofile's own provenance, or the provenance a line
was imported with. The section rides along in ``metadata.pxprofile_section``, so a round trip
between two pxprofile homes restores each line to its section.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import unicodedata
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .errors import FormatError
from .importers.memories import ABOUT, STYLE, LeftOut, Memory, Withdrawn

if TYPE_CHECKING:
    from .profile import Line

SCHEMA = "pam"
TYPES = (
    "fact",
    "preference",
    "skill",
    "context",
    "relationship",
    "goal",
    "instruction",
    "identity",
    "environment",
    "project",
    "custom",
)
_TYPE_SECTION = {
    "preference": STYLE,
    "instruction": STYLE,
    "skill": "Expertise",
}
_SECTION_TYPE = {
    "communication style": "preference",
    "expertise": "skill",
    "interests": "preference",
    "values and constraints": "preference",
    "avoid": "instruction",
    "about me": "fact",
}
# no longer true (spec section 7): left out, and the line an earlier import made of it goes.
# "deprecated" is "still valid but no longer prioritized": left out of a new import only.
WITHDRAWN = ("superseded", "retracted", "archived")
_PLATFORM = re.compile(r"^[a-z0-9_-]{2,32}$")


def matches(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("schema") == "portable-ai-memory"


# -- hashing (spec sections 6 and 15) --------------------------------------------------------


def content_hash(text: str) -> str:
    """sha256 of the content trimmed, lower-cased, NFC-normalized, spaces collapsed."""
    norm = re.sub(r" {2,}", " ", unicodedata.normalize("NFC", text.strip().lower()))
    return "sha256:" + hashlib.sha256(norm.encode("utf-8")).hexdigest()


def canonical(value: Any) -> str:
    """RFC 8785 (JCS) serialization of JSON data: sorted keys (UTF-16 order), no whitespace,
    ECMAScript number formatting, JSON.stringify string escaping."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(f"{_str(k)}:{canonical(value[k])}" for k in keys) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, str):
        return _str(value)
    if value is True or value is False or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    raise TypeError(f"not JSON data: {type(value).__name__}")


def _str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _number(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError("JSON has no NaN or Infinity")
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    if 1e-6 <= abs(x) < 1e21:
        return format(Decimal(repr(x)), "f")
    mantissa, exp = repr(x).split("e")
    return f"{mantissa}e{'+' if int(exp) > 0 else '-'}{abs(int(exp))}"


def checksum(memories: list[dict]) -> str:
    ordered = sorted(memories, key=lambda m: str(m.get("id", "")).encode("utf-16-be"))
    return "sha256:" + hashlib.sha256(canonical(ordered).encode("utf-8")).hexdigest()


# -- reading ---------------------------------------------------------------------------------


def records(obj: Any, name: str) -> list[Memory | LeftOut]:
    """The memories of a PAM document. Raises FormatError when it is not valid PAM v1."""
    if not matches(obj):
        raise FormatError(f"{name}: not a Portable AI Memory file (no schema field).")
    version = obj.get("schema_version")
    if not isinstance(version, str) or not version.startswith("1."):
        raise FormatError(
            f"{name}: PAM schema_version {version!r} is not supported (pxprofile reads 1.x)."
        )
    mems = obj.get("memories")
    if not isinstance(mems, list):
        raise FormatError(f"{name}: a PAM file without a memories list. Export it again.")
    _check_integrity(obj, mems, name)
    exporter = obj.get("exported_by") if isinstance(obj.get("exported_by"), str) else None
    out: list[Memory | LeftOut] = []
    for i, m in enumerate(mems):
        out.append(_memory(m, i, name, exporter))
    return out


def _check_integrity(obj: dict, mems: list, name: str) -> None:
    block = obj.get("integrity")
    if block is None:
        return
    if not isinstance(block, dict):
        raise FormatError(f"{name}: the PAM integrity block is not an object.")
    total = block.get("total_memories")
    if total is not None and total != len(mems):
        raise FormatError(
            f"{name}: the PAM integrity block counts {total} memories but the file holds "
            f"{len(mems)}. The file is damaged or was edited; export it again."
        )
    declared = block.get("checksum")
    if isinstance(declared, str) and all(isinstance(m, dict) for m in mems):
        try:
            computed = checksum(mems)
        except (TypeError, ValueError):
            computed = None
        if computed != declared:
            raise FormatError(
                f"{name}: the PAM integrity checksum does not match its memories. "
                "The file is damaged or was edited; export it again."
            )


def _memory(m: Any, i: int, name: str, exporter: str | None) -> Memory | LeftOut:
    where = f"memory #{i + 1}"
    if not isinstance(m, dict):
        raise FormatError(f"{name}: PAM {where} is not an object. Export the file again.")
    content = m.get("content")
    if not isinstance(content, str) or not content.strip():
        raise FormatError(f"{name}: PAM {where} has no content text. Export the file again.")
    status = m.get("status", "active")
    prov = m.get("provenance") if isinstance(m.get("provenance"), dict) else {}
    temporal = m.get("temporal") if isinstance(m.get("temporal"), dict) else {}
    platform = prov.get("platform") if isinstance(prov.get("platform"), str) else "unknown"
    text = " ".join(content.split())
    ref = str(m["id"]) if m.get("id") is not None else None
    if status != "active":
        reason = f"its status is {status!r}"
        if status in WITHDRAWN:
            return Withdrawn(where, reason, text, ref, platform, status)
        return LeftOut(where, reason)
    from .importers.common import to_utc

    now = to_utc(time.time()) or ""  # to_utc's notation: the times compare as text
    until, since = to_utc(temporal.get("valid_until")), to_utc(temporal.get("valid_from"))
    if until is not None and until <= now:
        reason = f"its validity ended on {until[:10]}"
        return Withdrawn(where, reason, text, ref, platform, "expired")
    if since is not None and since > now:
        return LeftOut(where, f"it is valid only from {since[:10]}")
    kind = m.get("type") if m.get("type") in TYPES else "custom"
    meta = m.get("metadata") if isinstance(m.get("metadata"), dict) else {}
    section = meta.get("pxprofile_section")
    if not _usable_section(section):
        section = _TYPE_SECTION.get(kind, ABOUT)
    origin = f"Portable AI Memory ({platform}" + (f" via {exporter})" if exporter else ")")
    return Memory(
        text=text,
        section=section.strip(),
        origin=origin,
        platform=platform,
        ref=ref,
        created_at=to_utc(temporal.get("created_at")),
        provenance={k: v for k, v in prov.items() if isinstance(v, (str, type(None)))},
        kind=kind,
    )


def _usable_section(title: Any) -> bool:
    """A section name from the file becomes a heading of the profile: a short plain title only."""
    from .guard import line_problem

    return (
        isinstance(title, str)
        and 0 < len(title.strip()) <= 60
        and re.fullmatch(r"[\w][\w ,&'()/-]*", title.strip()) is not None
        and line_problem(title.strip()) is None
    )


# -- writing ---------------------------------------------------------------------------------


def document(
    lines: list[Line],
    *,
    today: str,
    origins: dict[int, dict] | None = None,
    version: str | None = None,
) -> dict:
    """A PAM v1.0 memory store for these lines (deterministic for the same lines and day)."""
    if version is None:
        from . import __version__ as version
    tool = f"pxprofile/{version}"
    day = f"{today}T00:00:00Z"
    mems = [
        _export_memory(ln, i, day, tool, (origins or {}).get(ln.id or -1))
        for i, ln in enumerate(lines)
    ]
    digest = checksum(mems)
    return {
        "schema": "portable-ai-memory",
        "schema_version": "1.0",
        "export_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"pxprofile:{digest}")),
        "exported_by": tool,
        "export_date": day,
        "owner": {"id": "pxprofile-local-user"},
        "memories": mems,
        "integrity": {
            "canonicalization": "RFC8785",
            "checksum": digest,
            "total_memories": len(mems),
        },
        "export_type": "full",
    }


def _export_memory(ln: Line, i: int, day: str, tool: str, origin: dict | None) -> dict:
    created = _iso(ln.first_supported) or day
    if origin:
        platform = origin.get("platform") or "unknown"
        prov = dict(origin.get("provenance") or {})
        prov.setdefault("extraction_method", "api_export")
        created = origin.get("created_at") or origin.get("imported_at") or created
    else:
        platform = "pxprofile"
        prov = {
            "extraction_method": "manual" if ln.author == "user" else "llm_inference",
            "message_ref": ln.evidence[0] if ln.evidence else None,
            "extracted_at": _iso(ln.last_supported) or created,
            "extractor": tool,
        }
    prov["platform"] = platform if _PLATFORM.match(platform) else "unknown"
    if prov.get("extractor") and not re.match(r"^[a-zA-Z0-9_-]+/\d+\.\d+\.\d+$", prov["extractor"]):
        prov["extractor"] = None
    key = ln.id if ln.id is not None else content_hash(f"{ln.section}\n{ln.text}")[7:23]
    return {
        "id": f"pxprofile-line-{key}" if ln.id is not None else f"pxprofile-{key}-{i}",
        "type": _SECTION_TYPE.get(ln.section.strip().lower(), "preference"),
        "custom_type": None,
        "status": "active",
        "content": ln.text,
        "content_hash": content_hash(ln.text),
        "temporal": {"created_at": created, "updated_at": _iso(ln.last_supported)},
        "provenance": prov,
        "metadata": {
            "pxprofile_section": ln.section,
            "pxprofile_author": ln.author,
            "evidence_count": len(ln.evidence),
        },
    }


def _iso(value: str | None) -> str | None:
    """A stored time as PAM's date-time (seconds, Z)."""
    if not value or not re.match(r"\d{4}-\d{2}-\d{2}", value):
        return None
    return value[:19] + "Z" if len(value) >= 19 else value[:10] + "T00:00:00Z"


def render(lines: list[Line], *, today: str, origins: dict[int, dict] | None = None) -> str:
    return json.dumps(document(lines, today=today, origins=origins), indent=2, ensure_ascii=False)
