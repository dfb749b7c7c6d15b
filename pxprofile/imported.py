"""Memories from other tools become the user's own profile lines, with where they came from.

    ingest_opened(db, opened, stored_path, name, redact_storage, write) -> IngestSummary
        What ingest calls for every input: a memory file (Claude memories.json, ChatGPT memories
        or custom instructions, a Portable AI Memory file) is read whole, then adopted; any other
        input goes to ``write`` (the chat writer) with the memories it carries (memories.json in
        the Claude export zip) taken aside and adopted once the chats are stored.
    origins(db, line_ids) -> {line_id: origin}      for `why` and the PAM export

How a memory becomes the user's: it is appended to the profile file as a bullet (atomic write,
compare-and-swap on the file's hash, under the profile's lock), and the next read records the
file change as the user's edit, so the line is user-owned by the profile's own rule (pxprofile
never changes or retires it). The table imported_lines (migration m050) remembers, per line, the
origin, file, date, native id and PAM provenance. A memory is not added when it is already in the
profile (same or nearly the same words), was imported before, or was deleted by the user (the
profile's deletion rule), nor when it fails the profile's line check (pxprofile.guard).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import document, fileio, guard
from . import profile as prof
from .errors import ConflictError, FormatError, ProfileError
from .importers.memories import FORMATS, LeftOut, Memory
from .ingest import IngestSummary
from .pam import content_hash


@dataclass
class MemorySummary(IngestSummary):
    """IngestSummary plus what happened to the memories the input held."""

    memories: int = 0  # statements read
    lines_added: int = 0  # new user lines in the profile
    already: int = 0  # already in the profile (or imported before)
    deleted: int = 0  # deleted by the user before: not added again
    refused: list[str] = field(default_factory=list)  # failed the line check, with why
    left_out: list[str] = field(default_factory=list)  # not adopted by design, with why

    def line(self) -> str:
        head = super().line()[:-1] + "; " if self.conversations else self._head()
        parts = [
            f"{self.lines_added} profile line{'s' if self.lines_added != 1 else ''} added "
            f"as yours from {self.memories} memor{'y' if self.memories == 1 else 'ies'}"
        ]
        if self.already:
            parts.append(f"{self.already} already in the profile")
        if self.deleted:
            parts.append(f"{self.deleted} you deleted before")
        if self.refused:
            parts.append(f"{len(self.refused)} refused ({self.refused[0]})")
        parts += [f"left out {x}" for x in self.left_out]
        return head + ", ".join(parts) + "."

    def _head(self) -> str:
        name = "stdin" if self.path in ("-", "<stdin>") else Path(self.path).name
        return f"Imported {name} ({self.format}): "


def ingest_opened(db, opened, stored_path: str, name: str, redact_storage: bool, write: Callable):
    if opened.format in FORMATS:
        items = list(opened.records)  # the whole file is read first: a bad one changes nothing
        summary = MemorySummary(path=name, format=opened.format)
        adopt(db, items, summary, source=stored_path, sha=opened.sha256(), name=name)
        return summary
    taken: list = []
    opened.records = _tap(opened.records, taken)
    summary = write(db, opened, stored_path, name, redact_storage)
    if not taken:
        return summary
    out = MemorySummary(**asdict(summary))
    adopt(db, taken, out, source=stored_path, sha=opened.sha256(), name=name)
    return out


def _tap(records: Iterable, taken: list) -> Iterator:
    for rec in records:
        if isinstance(rec, (Memory, LeftOut)):
            taken.append(rec)
        else:
            yield rec


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- adopting memories as user lines ---------------------------------------------------------


@dataclass
class _Plan:
    add: list[Memory] = field(default_factory=list)
    link: list[Memory] = field(default_factory=list)  # the same words are already a line


def adopt(
    db, items: list, summary: MemorySummary, *, source: str, sha: str, name: str, profile=None
) -> None:
    mems = [m for m in items if isinstance(m, Memory)]
    summary.left_out += [f"{x.what} ({x.reason})" for x in items if isinstance(x, LeftOut)]
    summary.memories = len(mems)
    if not mems and not summary.left_out:
        raise FormatError(f"{name}: no memories in it. Check that this is the memories file.")
    if not mems:
        return
    pname = profile or prof.DEFAULT_PROFILE
    prof.ensure_file(db, profile)
    path = fileio.target(prof.profile_file(profile))
    plan = None
    for _attempt in range(3):
        prof.sync(db, profile)  # the user's own edits are recorded first
        with fileio.file_lock(path):
            text = prof.file_text(profile) or ""
            file_sha = fileio.file_sha256(path)
            latest = prof.latest_version(db, profile)
            if latest is None or latest["sha256"] != file_sha:
                continue  # edited since the sync: record that edit first
            plan = _plan(db, pname, text, mems, summary)
            if not plan.add:
                break
            doc = document.parse(text)
            for m in plan.add:
                doc.add(m.section, m.text)
            data = document.render(doc).encode("utf-8")
            try:
                fileio.atomic_write(path, data, expect_sha256=file_sha)
            except ConflictError:
                continue
            break
    else:
        raise ProfileError(
            "the profile kept changing while pxprofile was adding the memories; nothing was "
            "added. Run the ingest again."
        )
    lines = prof.current_lines(db, profile)  # records the new bullets as the user's lines
    _record(db, pname, plan, lines, summary, source, sha)


def _plan(db, pname: str, text: str, mems: list[Memory], summary: MemorySummary) -> _Plan:
    plan = _Plan()
    known = {
        r["key"]: r["status"]
        for r in db.query(
            "select i.key, l.status from imported_lines i left join profile_lines l "
            "on l.id = i.line_id where i.profile = ?",
            [pname],
        )
    }
    deleted = _Texts(
        r["text"] for r in db.query("select text from profile_deletions where profile = ?", [pname])
    )
    present = _Texts(b.text for _s, b in document.parse(text).bullets())
    for m in mems:
        key = content_hash(m.text)
        gone = known.get(key) in ("deleted", "retired")
        if gone or deleted.has_similar(m.text):
            summary.deleted += 1
            continue
        if key in known or present.has_similar(m.text):
            summary.already += 1
            if key not in known and not any(x.text == m.text for x in plan.link):
                plan.link.append(m)
            continue
        why = guard.line_problem(m.text) or (
            "not a section name" if not m.section or "\n" in m.section else None
        )
        if why:
            summary.refused.append(f"{m.text[:40]!r}: {why}")
            continue
        plan.add.append(m)
        present.add(m.text)
        known[key] = "planned"
    return plan


class _Texts:
    """Texts to compare a memory with by the profile's rule (profile.similar), with each text's
    normalized form, words and letters kept, so that the pairs that cannot be similar (neither
    enough words in common nor enough letters: difflib's quick_ratio bound) are skipped
    without running difflib. A 500-memory file went from 125,000 difflib runs to a few."""

    def __init__(self, texts: Iterable[str] = ()):
        self.items: list[tuple[str, str, frozenset, dict]] = []
        for t in texts:
            self.add(t)

    @staticmethod
    def _key(text: str) -> tuple[str, frozenset, dict]:
        norm = prof.normalize(text)
        return norm, frozenset(norm.split()), dict(Counter(norm))

    def add(self, text: str) -> None:
        self.items.append((text, *self._key(text)))

    def has_similar(self, text: str) -> bool:
        norm, words, letters = self._key(text)
        size = len(norm)
        for other, onorm, owords, oletters in self.items:
            if onorm == norm:
                return True
            shared = len(words) >= 3 and len(owords) >= 3
            if shared and len(words & owords) / len(words | owords) >= prof.TOKEN_JACCARD:
                return True
            total = size + len(onorm)
            common = sum(min(n, oletters.get(c, 0)) for c, n in letters.items())
            if total and 2 * common / total < prof.SIMILARITY:
                continue  # difflib's quick_ratio is below the threshold: never similar
            if prof.similar(text, other):
                return True
        return False


def _record(db, pname, plan, lines, summary, source: str, sha: str) -> None:
    if plan is None:
        return
    now = _now()
    rows = []
    for m, is_new in [(m, True) for m in plan.add] + [(m, False) for m in plan.link]:
        same = (lambda t, m=m: t == m.text) if is_new else (lambda t, m=m: prof.similar(t, m.text))
        match = next((ln for ln in lines if same(ln.text)), None)
        if match is None or match.id is None:
            continue
        summary.lines_added += is_new
        rows.append(
            {
                "profile": pname,
                "line_id": match.id,
                "key": content_hash(m.text),
                "text": m.text,
                "section": m.section,
                "origin": m.origin,
                "platform": m.platform,
                "ref": m.ref,
                "source_path": source,
                "source_sha256": sha,
                "imported_at": now,
                "created_at": m.created_at,
                "provenance": json.dumps(m.provenance) if m.provenance else None,
            }
        )
    from .store import write_tx

    with write_tx(db):
        db["imported_lines"].insert_all(rows, ignore=True)


def origins(db, line_ids: Iterable[int | None]) -> dict[int, dict]:
    """Where each imported line came from (lines not imported are absent)."""
    ids = [i for i in line_ids if i is not None]
    if not ids or "imported_lines" not in db.table_names():
        return {}
    marks = ",".join("?" * len(ids))
    out: dict[int, dict] = {}
    for r in db.query(f"select * from imported_lines where line_id in ({marks}) order by id", ids):
        if r["line_id"] in out:
            continue
        out[r["line_id"]] = {
            "origin": r["origin"],
            "platform": r["platform"],
            "file": Path(r["source_path"]).name if r["source_path"] else None,
            "path": r["source_path"],
            "imported_at": r["imported_at"],
            "created_at": r["created_at"],
            "ref": r["ref"],
            "provenance": json.loads(r["provenance"]) if r["provenance"] else None,
        }
    return out


def annotate(db, items: list[dict]) -> list[dict]:
    """`why` items with ``imported`` set to where the line came from (None: not imported)."""
    found = origins(db, [item.get("id") for item in items])
    for item in items:
        item["imported"] = found.get(item.get("id"))
    return items
