"""The profile's record in the database: versions, lines, deletions and evidence rows.

profile_versions keeps every version pxprofile recorded (full text, sha256 and the
profile_lines id of each bullet in file order); the latest confirmed one is the *base*. A
write is recorded first as a *pending* version and confirmed once the file has its bytes;
``undo_version`` takes back a version whose file write never happened. Call these inside
``store.write_tx``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from pxprofile import fileio
from pxprofile.text import normalize, utc_now

from .lines import Line


def latest(db, profile: str) -> dict | None:
    """The latest confirmed version row of ``profile`` (None: pxprofile never wrote it)."""
    rows = list(
        db.query(
            "select * from profile_versions where profile = ? and coalesce(pending, 0) = 0 "
            "order by id desc limit 1",
            [profile],
        )
    )
    return rows[0] if rows else None


def insert_line(db, profile: str, section: str, text: str, author: str, version: int) -> int:
    return (
        db["profile_lines"]
        .insert(
            {
                "profile": profile,
                "section": section,
                "text": text,
                "author": author,
                "status": "active",
                "created_version": version,
            }
        )
        .last_pk
    )


def insert_version(
    db, profile: str, kind: str, text: str, note: str, *, pending=0, update_id=None
) -> int:
    return (
        db["profile_versions"]
        .insert(
            {
                "profile": profile,
                "created_at": utc_now(),
                "kind": kind,
                "text": text,
                "sha256": fileio.sha256(text.encode("utf-8")),
                "line_ids": "[]",
                "note": note,
                "update_id": update_id,
                "pending": pending,
            }
        )
        .last_pk
    )


def set_line_ids(db, version: int, ids: list[int], note: str | None = None) -> None:
    if note is None:
        db.execute(
            "update profile_versions set line_ids = ? where id = ?", [json.dumps(ids), version]
        )
    else:
        db.execute(
            "update profile_versions set line_ids = ?, note = ? where id = ?",
            [json.dumps(ids), note, version],
        )


def confirm(db, version: int) -> None:
    """The file now has this version's bytes."""
    db.execute("update profile_versions set pending = 0 where id = ?", [version])


def remember_deleted(db, profile: str, line_id: int, text: str, version: int) -> None:
    """The user removed this line: the model must never add it (or nearly it) again."""
    db["profile_deletions"].insert(
        {
            "profile": profile,
            "text": text,
            "norm": normalize(text),
            "line_id": line_id,
            "version_id": version,
        }
    )


def resolve_pending(db, profile: str, file_sha: str | None) -> None:
    """After a crash: keep a pending version when the file has its hash, else undo it."""
    for row in db.query(
        "select id, sha256 from profile_versions where profile = ? and pending = 1 order by id",
        [profile],
    ):
        if file_sha is not None and row["sha256"] == file_sha:
            confirm(db, row["id"])
        else:
            undo_version(db, row["id"])


def undo_version(db, version: int) -> None:
    """Undo the database side of a version whose file write never happened."""
    touched = [
        r[0]
        for r in db.execute(
            "select distinct line_id from profile_evidence where version_id = ?", [version]
        )
    ]
    db.execute(
        "delete from profile_evidence where line_id in (select id from profile_lines where "
        "created_version = ?)",
        [version],
    )
    db.execute("delete from profile_evidence where version_id = ?", [version])
    db.execute("delete from profile_lines where created_version = ?", [version])
    db.execute(
        "update profile_lines set status = 'active', retired_version = null, superseded_by = null "
        "where retired_version = ?",
        [version],
    )
    db.execute("delete from profile_deletions where version_id = ?", [version])
    db.execute("delete from profile_versions where id = ?", [version])
    recompute_support(db, touched)


def recompute_support(db, line_ids: Iterable[int]) -> None:
    """first_supported / last_supported of each line from the dates of its evidence."""
    for lid in set(line_ids):
        row = db.execute(
            "select min(m.created_at), max(m.created_at) from profile_evidence e "
            "join messages m on m.id = e.message_id where e.line_id = ? and e.role = 'support'",
            [lid],
        ).fetchone()
        db.execute(
            "update profile_lines set first_supported = ?, last_supported = ? where id = ?",
            [row[0], row[1], lid],
        )


def lines_for(db, ids: list[int]) -> list[Line]:
    """The lines with these ids, in this order, with their supporting message ids."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = {r["id"]: r for r in db.query(f"select * from profile_lines where id in ({marks})", ids)}
    evidence: dict[int, list[str]] = {}
    for r in db.query(
        "select line_id, message_id from profile_evidence where role = 'support' and line_id in "
        f"({marks}) order by rowid",
        ids,
    ):
        evidence.setdefault(r["line_id"], []).append(r["message_id"])
    out = []
    for lid in ids:
        r = rows[lid]
        out.append(
            Line(
                id=lid,
                section=r["section"],
                text=r["text"],
                author=r["author"],
                editable=r["author"] == "model" and r["status"] == "active",
                evidence=evidence.get(lid, []),
                first_supported=r["first_supported"],
                last_supported=r["last_supported"],
            )
        )
    return out
