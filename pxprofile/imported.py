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

A memory the file marks as no longer true (a PAM memory retracted, superseded, archived or past
its validity: importers.memories.Withdrawn) removes the line an earlier import made of it, if
that import added the line and the user left it as it was (same words, same section): it is
retired through profile.apply_changes, as a line the import releases. A line the user changed,
or had before the import, stays (their words win) and the summary says so. The record keeps
the memory's status, so reading either file again changes nothing. Every memory file read is
recorded in ``sources`` too (no chats), so `pxprofile forget --source FILE` finds it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import document, fileio
from . import profile as prof
from .errors import ConflictError, FormatError, ProfileError
from .importers.memories import FORMATS, LeftOut, Memory, Withdrawn
from .ingest import IngestSummary
from .pam import content_hash
from .text import plural, squash, truncate, utc_now


@dataclass
class MemorySummary(IngestSummary):
    """IngestSummary plus what happened to the memories the input held."""

    memories: int = 0  # statements read
    lines_added: int = 0  # new user lines in the profile
    already: int = 0  # already in the profile (or imported before)
    deleted: int = 0  # deleted by the user before: not added again
    refused: list[str] = field(default_factory=list)  # failed the line check, with why
    left_out: list[str] = field(default_factory=list)  # not adopted by design, with why
    withdrawn_before: int = 0  # no longer active in a file imported before: not added again
    removed: int = 0  # lines removed: their memory is no longer active
    kept: list[str] = field(default_factory=list)  # such lines kept: the user changed or had them

    def line(self) -> str:
        head = super().line()[:-1] + "; " if self.conversations else self._head()
        parts = [
            f"{plural(self.lines_added, 'profile line')} added as yours from "
            f"{plural(self.memories, 'memory', 'memories')}"
        ]
        if self.already:
            parts.append(f"{self.already} already in the profile")
        if self.deleted:
            parts.append(f"{self.deleted} you deleted before")
        if self.withdrawn_before:
            parts.append(f"{self.withdrawn_before} no longer active in a file imported before")
        if self.refused:
            parts.append(f"{len(self.refused)} refused ({self.refused[0]})")
        parts += [f"left out {x}" for x in self.left_out]
        if self.removed:
            parts.append(
                f"removed {plural(self.removed, 'imported line')} whose memory is no longer active"
            )
        if self.kept:
            parts.append(
                f"kept {plural(len(self.kept), 'line')} you changed or had before although its "
                f"memory is no longer active ({truncate(self.kept[0], 40)!r})"
            )
        return head + ", ".join(parts) + "."

    def _head(self) -> str:
        name = "stdin" if self.path in ("-", "<stdin>") else Path(self.path).name
        return f"Imported {name} ({self.format}): "


def ingest_opened(db, opened, stored_path: str, name: str, redact_storage: bool, write: Callable):
    if opened.format in FORMATS:
        items = list(opened.records)  # the whole file is read first: a bad one changes nothing
        summary = MemorySummary(path=name, format=opened.format)
        where = Source(stored_path, opened.sha256(), opened.format, opened.size)
        adopt(db, items, summary, source=where, name=name)
        return summary
    taken: list = []
    opened.records = _tap(opened.records, taken)
    summary = write(db, opened, stored_path, name, redact_storage)
    if not taken:
        return summary
    out = MemorySummary(**asdict(summary))
    where = Source(stored_path, opened.sha256(), opened.format, opened.size)
    adopt(db, taken, out, source=where, name=name)
    return out


def _tap(records: Iterable, taken: list) -> Iterator:
    for rec in records:
        if isinstance(rec, (Memory, LeftOut)):
            taken.append(rec)
        else:
            yield rec


# -- adopting memories as user lines ---------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """The file the memories came from, as `sources` records it."""

    path: str  # resolved, or "<stdin>"
    sha256: str
    format: str
    size: int | None = None


@dataclass
class _Plan:
    add: list[Memory] = field(default_factory=list)
    link: list[Memory] = field(default_factory=list)  # the same words are already a line


def adopt(
    db, items: list, summary: MemorySummary, *, source: Source, name: str, profile=None
) -> None:
    mems = [m for m in items if isinstance(m, Memory)]
    summary.left_out += [f"{x.what} ({x.reason})" for x in items if isinstance(x, LeftOut)]
    summary.memories = len(mems)
    if not mems and not summary.left_out:
        raise FormatError(f"{name}: no memories in it. Check that this is the memories file.")
    pname = profile or prof.DEFAULT_PROFILE
    ended = _withdraw(db, pname, profile, [x for x in items if isinstance(x, Withdrawn)], summary)
    plan = _add(db, pname, profile, mems, summary) if mems else None
    # the next read records the new bullets as the user's lines
    lines = prof.current_lines(db, profile) if plan is not None else []
    _record(db, pname, plan, lines, summary, source, ended)


def _add(db, pname: str, profile, mems: list[Memory], summary: MemorySummary) -> _Plan | None:
    """Append the memories not in the profile yet to the file (a compare-and-swap write)."""
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
    return plan


# -- memories no longer active -----------------------------------------------------------------


def _withdraw(db, pname: str, profile, gone: list[Withdrawn], summary: MemorySummary) -> dict:
    """Retire the lines earlier imports made of memories this file withdraws (see sort_out).
    Returns {imported_lines id: the memory's status} for every record these memories match,
    for _record to mark."""
    if not gone:
        return {}
    prof.sync(db, profile)  # a line the user changed since is theirs now
    rows = list(
        db.query("select * from imported_lines where profile = ? and status is null", [pname])
    )
    by_key = {r["key"]: r for r in rows}
    by_ref = {(r["platform"], r["ref"]): r for r in rows if r["ref"]}
    ended: dict[int, str] = {}
    for w in gone:
        r = by_key.get(content_hash(w.text)) or by_ref.get((w.platform, w.ref))
        if r is not None:
            ended.setdefault(r["id"], w.status)
    release, kept = sort_out(db, pname, [r for r in rows if r["id"] in ended])
    summary.kept += [ln["text"] for ln in kept]
    if release:
        ids = [ln["id"] for ln in release]
        changes = [
            prof.Change("retire", line_id=lid, reason="its memory is no longer active")
            for lid in ids
        ]
        done = prof.apply_changes(db, changes, profile=profile, release=ids)
        if done.proposed_path is not None or len(done.applied) != len(ids):
            why = "; ".join(r for _, r in done.rejected) or "the profile changed meanwhile"
            raise ProfileError(
                f"could not remove the lines whose memories are no longer active ({why}); "
                "nothing was imported. Run the ingest again."
            )
        summary.removed = len(ids)
    return ended


def sort_out(db, pname: str, rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """The profile lines of these imported_lines rows, as (release, kept): the lines the import
    added that the user left as they were (the same words in the same section), which may go
    with the import; and the lines the user changed since (followed through rewordings) or had
    before the import, which stay. Lines no longer in the profile are in neither."""
    lines = {r["id"]: r for r in db.query("select * from profile_lines where profile = ?", [pname])}
    release: list[dict] = []
    kept: list[dict] = []
    for row in rows:
        line = lines.get(row["line_id"])
        hops = 0
        while line and line["status"] == "retired" and line["superseded_by"] and hops < 100:
            line, hops = lines.get(line["superseded_by"]), hops + 1  # the user reworded it
        if line is None or line["status"] != "active":
            continue
        same = (
            line["id"] == row["line_id"]
            and squash(line["text"]) == squash(row["text"])
            and document.normalize_title(line["section"])
            == document.normalize_title(row["section"])
        )
        (release if same and row["added"] else kept).append(line)
    return release, kept


def _plan(db, pname: str, text: str, mems: list[Memory], summary: MemorySummary) -> _Plan:
    from . import guard  # here: a chat export never needs its patterns compiled

    plan = _Plan()
    known = {
        r["key"]: "withdrawn" if r["withdrawn"] else r["status"]
        for r in db.query(
            "select i.key, i.status is not null as withdrawn, l.status from imported_lines i "
            "left join profile_lines l on l.id = i.line_id where i.profile = ?",
            [pname],
        )
    }
    deleted = _Texts(
        r["text"] for r in db.query("select text from profile_deletions where profile = ?", [pname])
    )
    present = _Texts(b.text for _s, b in document.parse(text).bullets())
    for m in mems:
        key = content_hash(m.text)
        if known.get(key) == "withdrawn":
            summary.withdrawn_before += 1
            continue
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


def _record(db, pname, plan, lines, summary, source: Source, ended: dict[int, str]) -> None:
    """Record the lines added or linked, the status of withdrawn memories and the file."""
    now = utc_now()
    rows = []
    found = [] if plan is None else [(m, True) for m in plan.add] + [(m, False) for m in plan.link]
    for m, is_new in found:
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
                "source_path": source.path,
                "source_sha256": source.sha256,
                "imported_at": now,
                "created_at": m.created_at,
                "provenance": json.dumps(m.provenance) if m.provenance else None,
                "added": int(is_new),
            }
        )
    from .store import write_tx

    with write_tx(db):
        db["imported_lines"].insert_all(rows, ignore=True)
        db.conn.executemany(
            "update imported_lines set status = ? where id = ?",
            [(status, rid) for rid, status in ended.items()],
        )
        summary.source_id = _record_source(db, source, now)


def _record_source(db, source: Source, now: str) -> int:
    """The file's `sources` row: made for a memory file; an export's own (its chats were stored
    first) or one of an earlier import of the same bytes is kept."""
    db.execute(
        "insert into sources (path, sha256, format, size, first_imported_at, imported_at, "
        "conversations, messages, added, skipped, pairs, feedback, errors) "
        "values (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0) "
        "on conflict (sha256) do update set imported_at = excluded.imported_at",
        [source.path, source.sha256, source.format, source.size, now, now],
    )
    return db.execute("select id from sources where sha256 = ?", [source.sha256]).fetchone()[0]


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
