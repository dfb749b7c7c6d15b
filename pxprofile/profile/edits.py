"""Edit detection: bring the database up to date with the file the user may have edited.

Every read goes through ``sync_state`` under the file lock: the file is hashed (never mtime); if
it differs from the base (the latest recorded version), the user edited it. Bullets are matched
to the base by text (a moved bullet keeps its identity), then reworded bullets by similarity;
new and reworded bullets become author "user", vanished ones become "deleted" and their
normalized text is remembered so the model never re-adds them. That is an "edit" version.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from pxprofile import document, fileio
from pxprofile.text import normalize, profile_name, squash

from . import records
from .lines import Line, bullets, check_text, lines_from_text, profile_file, read_file

REWORD_SIMILARITY = 0.5  # a vanished and a new bullet this close count as a rewording
REWORD_SECTION_BONUS = 0.05  # a rewording usually stays in its section
MAX_REWORD_PAIRS = 40_000  # above this many (new, vanished) pairs, skip rewording detection


@dataclass
class State:
    """The profile after a sync: the file (or the base text when the file is missing) and ids."""

    profile: str
    path: Path
    text: str  # the file now (or the base text when the file is missing)
    sha: str | None  # the file's hash now; None when it does not exist
    ids: list[int]  # line id of each bullet of parse(text), in order
    version: int | None  # the latest committed version (after this sync)
    touched: set[int] = field(default_factory=set)  # lines the user changed in this sync's edit
    prior_text: str | None = None  # the base before this sync's edit
    prior_ids: list[int] = field(default_factory=list)
    edit_version: int | None = None


@dataclass
class Match:
    """How the bullets of the file now relate to the base's."""

    ids: list[int | None]  # the line id of each new bullet (None: new or reworded)
    reworded: dict[int, int]  # new bullet index -> the id of the line it rewords
    deleted: list[int]  # ids of base lines that are gone


def match(base: list[tuple[str, str, int]], new: list[tuple[str, str]]) -> Match:
    """Match the bullets of the file now ((section, text)) to the base's ((section, text, id))."""
    ids: list[int | None] = [None] * len(new)
    used: set[int] = set()

    def take(pred) -> None:
        for i, (sec, text) in enumerate(new):
            if ids[i] is not None:
                continue
            for j, (bsec, btext, bid) in enumerate(base):
                if j not in used and pred(sec, text, bsec, btext):
                    ids[i] = bid
                    used.add(j)
                    break

    same = document.normalize_title
    take(lambda s, t, bs, bt: t == bt and same(s) == same(bs))
    take(lambda s, t, bs, bt: squash(t) == squash(bt))  # moved, or whitespace only
    reworded = _rewordings(base, new, ids, used)
    deleted = [base[j][2] for j in range(len(base)) if j not in used]
    return Match(ids, reworded, deleted)


def _rewordings(base, new, ids: list[int | None], used: set[int]) -> dict[int, int]:
    """Pair each unmatched new bullet with the closest vanished one, if close enough."""
    same = document.normalize_title
    reworded: dict[int, int] = {}
    new_left = [i for i in range(len(new)) if ids[i] is None]
    base_left = [j for j in range(len(base)) if j not in used]
    if len(new_left) * len(base_left) > MAX_REWORD_PAIRS:
        return reworded  # a pasted-in file: count the changes as deletions and additions
    norm_base = {j: normalize(base[j][1]) for j in base_left}
    for i in new_left:
        sec, text = new[i]
        nt = normalize(text)
        best, best_j = REWORD_SIMILARITY, None
        for j in base_left:
            if j in used:
                continue
            bonus = REWORD_SECTION_BONUS if same(sec) == same(base[j][0]) else 0.0
            m = difflib.SequenceMatcher(None, nt, norm_base[j], autojunk=False)
            if m.real_quick_ratio() + bonus < best or m.quick_ratio() + bonus < best:
                continue
            r = m.ratio() + bonus
            if r >= best:
                best, best_j = r, j
        if best_j is not None:
            used.add(best_j)
            reworded[i] = base[best_j][2]
    return reworded


def sync_state(db, profile: str, path: Path) -> State:
    """Bring the database up to date with the file. Call inside write_tx, holding the file lock."""
    text, sha = read_file(path)
    if text is not None:
        check_text(text, path)
    records.resolve_pending(db, profile, sha)
    latest = records.latest(db, profile)
    if latest is None:
        if text is None:
            blank = document.render(document.new_document())
            return State(profile, path, blank, None, [], None)
        return _adopt(db, profile, path, text, sha)
    base_ids = json.loads(latest["line_ids"] or "[]")
    if text is None:  # the file is gone: nothing to learn from; the next write restores it
        return State(profile, path, latest["text"], None, base_ids, latest["id"])
    if sha == latest["sha256"]:
        return State(profile, path, text, sha, base_ids, latest["id"])
    return _record_edit(db, profile, path, text, sha, latest, base_ids)


def _adopt(db, profile: str, path: Path, text: str, sha: str) -> State:
    """A file the user wrote before pxprofile ever did: every line is theirs."""
    version = records.insert_version(db, profile, "init", text, "existing file adopted")
    ids = [records.insert_line(db, profile, s, t, "user", version) for s, t in bullets(text)]
    records.set_line_ids(db, version, ids)
    return State(profile, path, text, sha, ids, version)


def _record_edit(db, profile, path, text, sha, latest: dict, base_ids: list[int]) -> State:
    """The user edited the file: record it as an "edit" version; their lines become theirs."""
    base = [(s, t, i) for (s, t), i in zip(bullets(latest["text"]), base_ids, strict=True)]
    new = bullets(text)
    found = match(base, new)
    version = records.insert_version(db, profile, "edit", text, "")
    rows = {
        r["id"]: r for r in db.query("select * from profile_lines where profile = ?", [profile])
    }
    ids: list[int] = []
    added = 0
    for i, (sec, t) in enumerate(new):
        lid = found.ids[i]
        if lid is not None:
            if rows[lid]["section"] != sec or rows[lid]["text"] != t:
                db.execute(
                    "update profile_lines set section = ?, text = ? where id = ?", [sec, t, lid]
                )
            ids.append(lid)
            continue
        ids.append(records.insert_line(db, profile, sec, t, "user", version))
        old = found.reworded.get(i)
        if old is None:
            added += 1
            continue
        db.execute(
            "update profile_lines set status = 'retired', retired_version = ?, superseded_by "
            "= ? where id = ?",
            [version, ids[-1], old],
        )
        records.remember_deleted(db, profile, old, rows[old]["text"], version)
    for lid in found.deleted:
        db.execute(
            "update profile_lines set status = 'deleted', retired_version = ? where id = ?",
            [version, lid],
        )
        records.remember_deleted(db, profile, lid, rows[lid]["text"], version)
    counts = ((added, "added"), (len(found.reworded), "reworded"), (len(found.deleted), "deleted"))
    note = ", ".join(f"{n} {what}" for n, what in counts if n) or "formatting only"
    records.set_line_ids(db, version, ids, note)
    return State(
        profile,
        path,
        text,
        sha,
        ids,
        version,
        touched=set(found.reworded.values()) | set(found.deleted),
        prior_text=latest["text"],
        prior_ids=base_ids,
        edit_version=version,
    )


def locked_sync(db, profile: str | None) -> State:
    """sync_state under the file lock, in its own transaction."""
    from pxprofile.store import write_tx

    path = fileio.target(profile_file(profile))
    with fileio.file_lock(path), write_tx(db):
        return sync_state(db, profile_name(profile), path)


def current_lines(db, profile: str | None = None) -> list[Line]:
    """The active lines in file order, after recording any edit the user made to the file."""
    state = locked_sync(db, profile)
    return records.lines_for(db, state.ids)


def export_lines(db=None, profile: str | None = None, text: str | None = None) -> list[Line]:
    """Active lines for export: with provenance from ``db``, else parsed from text or the file."""
    if text is None and db is None:
        text, _ = read_file(profile_file(profile))
        if text is None:
            return []
    if text is not None:
        return lines_from_text(text)
    return current_lines(db, profile)


def sync(db, profile: str | None = None) -> int | None:
    """Record a user edit of the file, if any. Returns the latest version id (None: no profile)."""
    return locked_sync(db, profile).version


# -- the user's editor ----------------------------------------------------------------------------


def editor_command() -> list[str]:
    """The user's editor: $VISUAL, else $EDITOR, else vi or nano on the PATH."""
    import os
    import shlex
    import shutil

    from pxprofile.errors import InputError

    for var in ("VISUAL", "EDITOR"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                cmd = shlex.split(value)
            except ValueError as e:
                raise InputError(
                    f"${var} cannot be parsed ({e}). Fix it, e.g. `export {var}=nano`"
                ) from None
            if cmd:
                return cmd
    for name in ("vi", "nano"):
        found = shutil.which(name)
        if found:
            return [found]
    raise InputError(
        "no editor found. Set $EDITOR (for example `export EDITOR=nano`) and run `pxprofile edit` "
        "again"
    )


def run_editor(cmd: list[str], path: Path) -> str | None:
    """Open ``path`` in the editor and wait. Returns why the saved file cannot be read safely
    (None: it can)."""
    import subprocess

    from pxprofile.errors import InputError, ProfileError

    try:
        status = subprocess.run([*cmd, str(path)]).returncode
    except FileNotFoundError:
        raise InputError(
            f"the editor {cmd[0]!r} was not found. Set $EDITOR to an editor on your PATH"
        ) from None
    except PermissionError:
        raise InputError(
            f"the editor {cmd[0]!r} cannot be run. Set $EDITOR to an editor on your PATH"
        ) from None
    if status != 0:
        raise ProfileError(
            f"the editor exited with status {status}; nothing was recorded. "
            "Your file is kept as it is; run `pxprofile edit` again"
        )
    try:
        problems = document.problems(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        problems = ["it is not UTF-8 text"]
    return "; ".join(problems) or None


def lines_for_export(db_path=None, profile: str | None = None) -> list[Line]:
    """export_lines(open_db(db_path), profile), without opening the database for writing (nor
    importing sqlite-utils) when there is nothing to record: see quick.py."""
    from pxprofile.profile.quick import read_lines

    lines = read_lines(db_path, profile)
    if lines is not None:
        return lines
    from pxprofile.store import open_db

    return current_lines(open_db(db_path), profile)
