"""The profile's versions: list them, read one, compare two, go back to one.

Every update, edit and revert is a version (profile_versions, see records.py). A revert writes an
old version's text as a new version: the lines it brings back count as chosen by the user, the
lines it removes as deleted by the user.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pxprofile import fileio
from pxprofile.errors import ProfileError
from pxprofile.text import profile_name

from . import records
from .edits import sync_state
from .lines import bullets, file_text, profile_file, unified_diff


def no_profile_error() -> ProfileError:
    return ProfileError(
        "there is no profile yet. Run `pxprofile ingest EXPORT` to build one, "
        "or `pxprofile edit` to write it yourself"
    )


def history(db, profile: str | None = None, *, details: bool = False) -> list[dict]:
    """Every recorded version of the profile, oldest first (the current file is not synced).
    ``details``: each with the lines it added and removed (removed ones with their successor
    and the evidence that retired them)."""
    out = [
        {
            "version": r["id"],
            "created_at": r["created_at"],
            "kind": r["kind"],
            "lines": len(json.loads(r["line_ids"] or "[]")),
            "note": r["note"],
            "sha256": r["sha256"],
            "update_id": r["update_id"],
        }
        for r in db.query(
            "select id, created_at, kind, note, sha256, line_ids, update_id from profile_versions "
            "where profile = ? and coalesce(pending, 0) = 0 order by id",
            [profile_name(profile)],
        )
    ]
    if details:
        for item in out:
            item.update(_version_changes(db, item["version"], item["kind"]))
    return out


def _message_ids(db, line_id: int, role: str) -> list[str]:
    return [
        r["message_id"]
        for r in db.query(
            "select message_id from profile_evidence where line_id = ? and role = ? order by rowid",
            [line_id, role],
        )
    ]


def _version_changes(db, version: int, kind: str) -> dict:
    """The lines a version added and removed; removed ones with what replaced them and why."""
    added = [
        {
            "id": r["id"],
            "section": r["section"],
            "text": r["text"],
            # who wrote it then (a revert may since have made a model line the user's)
            "author": "model" if kind == "update" else "user",
            "evidence": _message_ids(db, r["id"], "support"),
        }
        for r in db.query(
            "select * from profile_lines where created_version = ? order by id", [version]
        )
    ]
    removed = []
    for r in db.query(
        "select * from profile_lines where retired_version = ? order by id", [version]
    ):
        replaced = None
        if r["superseded_by"]:
            (s,) = db.query("select text from profile_lines where id = ?", [r["superseded_by"]])
            replaced = s["text"]
        removed.append(
            {
                "id": r["id"],
                "section": r["section"],
                "text": r["text"],
                "author": r["author"],
                "status": r["status"],
                "superseded_by": replaced,
                "evidence": _message_ids(db, r["id"], "retire"),
            }
        )
    return {"added": added, "removed": removed}


def version_text(db, version: int, profile: str | None = None) -> str:
    rows = list(
        db.query(
            "select text from profile_versions where id = ? and profile = ? and coalesce(pending, "
            "0) = 0",
            [version, profile_name(profile)],
        )
    )
    if not rows:
        raise ProfileError(
            f"there is no version {version} of this profile. See `pxprofile history` for the "
            "versions."
        )
    return rows[0]["text"]


def latest_version(db, profile: str | None = None) -> dict | None:
    return records.latest(db, profile_name(profile))


@dataclass
class Comparison:
    """Two texts of the profile to compare, with their labels, and their unified diff."""

    a_label: str
    b_label: str
    diff: str


def compare(db, a: int | None = None, b: int | None = None, profile: str | None = None):
    """What `pxprofile diff [A [B]]` compares. No A: the file now against the last version when
    they differ, else the last version against the one before. A alone: version A against the
    file now. Both: version A against version B."""
    versions = history(db, profile)
    if not versions:
        raise no_profile_error()
    now = file_text(profile)
    name = profile_file(profile).name

    def version(v: int) -> tuple[str, str]:
        return version_text(db, v, profile), f"version {v}"

    if a is None:
        last = versions[-1]["version"]
        left = version(last)
        if now is not None and now != left[0]:
            right = (now, f"{name} (now)")
        else:
            prev = versions[-2]["version"] if len(versions) > 1 else None
            left, right = (version(prev) if prev is not None else ("", "(empty)")), left
    else:
        left = version(a)
        if b is not None:
            right = version(b)
        elif now is None:
            raise ProfileError(
                f"{name} does not exist. Compare two versions: `pxprofile diff {a} N`"
            )
        else:
            right = (now, f"{name} (now)")
    return Comparison(left[1], right[1], unified_diff(left[0], right[0], left[1], right[1]))


def ensure_file(db, profile: str | None = None) -> Path:
    """Make sure the profile file exists (for `edit`): the empty template on first use, recorded as
    an "init" version, or the last version when the file was removed."""
    from pxprofile.store import write_tx

    name = profile_name(profile)
    path = fileio.target(profile_file(profile))
    if path.exists():
        return path  # not synced here: a file that cannot be parsed must still open for fixing
    with fileio.file_lock(path):
        with write_tx(db):
            state = sync_state(db, name, path)
            if state.sha is not None:
                return path
            version = None
            if state.version is None:
                version = records.insert_version(
                    db, name, "init", state.text, "new profile", pending=1
                )
        try:
            fileio.atomic_write(path, state.text.encode("utf-8"), expect_sha256=None)
        except BaseException:
            if version is not None:
                with write_tx(db):
                    records.undo_version(db, version)
            raise
        if version is not None:
            with write_tx(db):
                records.confirm(db, version)
    return path


def revert(db, version: int, profile: str | None = None) -> int | None:
    """Write version ``version``'s text as a new "revert" version. Lines it brings back count as
    chosen by the user; lines it removes count as deleted by the user. Returns the new version
    (None when the file already has that text)."""
    from pxprofile.store import write_tx

    name = profile_name(profile)
    path = fileio.target(profile_file(profile))
    with fileio.file_lock(path):
        with write_tx(db):
            state = sync_state(db, name, path)  # the file as it is now is kept as a version first
            text = version_text(db, version, profile)
            row = next(db.query("select line_ids from profile_versions where id = ?", [version]))
            target_ids = json.loads(row["line_ids"] or "[]")
        if text == state.text and state.sha is not None:
            return None
        # The file first, then the database: a crash in between leaves the reverted file, which
        # the next read records as the user's edit (the same ownership a revert gives).
        fileio.atomic_write(path, text.encode("utf-8"), expect_sha256=state.sha)
        with write_tx(db):
            new = records.insert_version(db, name, "revert", text, f"back to version {version}")
            _record_revert(db, name, new, text, set(state.ids), target_ids)
    return new


def _record_revert(db, name: str, new: int, text: str, current: set[int], target_ids) -> None:
    for (sec, t), lid in zip(bullets(text), target_ids, strict=True):
        if lid in current:
            db.execute("update profile_lines set section = ?, text = ? where id = ?", [sec, t, lid])
            continue
        # brought back: the user's now (its retirement stays in the history)
        db.execute(
            "update profile_lines set status = 'active', author = 'user', section = ?, "
            "text = ? where id = ?",
            [sec, t, lid],
        )
        db.execute("delete from profile_deletions where line_id = ?", [lid])
    for lid in current - set(target_ids):
        (r,) = db.query("select text from profile_lines where id = ?", [lid])
        db.execute(
            "update profile_lines set status = 'deleted', retired_version = ? where id = ?",
            [new, lid],
        )
        records.remember_deleted(db, name, lid, r["text"], new)
    records.set_line_ids(db, new, target_ids)


@dataclass
class Snapshot:
    """The profile as `pxprofile show` prints it: the file, or the last version when the file is
    gone (``missing``), with its lines."""

    profile: str
    path: Path
    version: int | None
    text: str
    lines: list
    missing: bool

    def to_dict(self) -> dict:
        return {
            "profile": self.profile,
            "path": str(self.path),
            "version": self.version,
            "lines": [ln.to_dict() for ln in self.lines],
        }


def snapshot(db, profile: str | None = None) -> Snapshot:
    """The profile now (after recording any edit of the file). Raises when there is none."""
    from .edits import current_lines

    lines = current_lines(db, profile)
    latest = latest_version(db, profile)
    text = file_text(profile)
    if text is None and latest is None:
        raise no_profile_error()
    return Snapshot(
        profile=profile_name(profile),
        path=profile_file(profile),
        version=latest["id"] if latest else None,
        text=latest["text"] if text is None else text,
        lines=lines,
        missing=text is None,
    )
