"""The profile the user owns: merge with user edits, provenance, versions, safe writes.

The CONTRACT that infer.py, export.py and the CLI code against (keep these names and fields):

    Line        one preference as the model and exporters see it
    Change      one proposed operation (from infer.py)
    ApplyResult what apply_changes() did

    current_lines(db, profile=None) -> list[Line]
        Syncs user edits made in the file first (a changed file becomes an "edit" version and
        its new/reworded lines become user-owned), then returns the active lines in file order.
    apply_changes(db, changes, *, profile=None, update_id=None, dry_run=False, review=None)
        -> ApplyResult
        The only write path for model changes. Rejects (with a reason) changes to lines that are
        not editable, re-adding lines the user deleted (same or nearly the same words), lines
        guard.line_problem() objects to, and section/length limits. Three-way merge against the
        file as it is now; on conflict writes <profile>.proposed and leaves the file untouched.
        review(changes, diff) -> list[bool] lets `update --review` accept or reject each change
        (a review callable with a ``lines`` attribute gets the current lines set on it first).
    export_lines(db=None, profile=None, text=None) -> list[Line]
        The active lines for export, with provenance when a database is given; with text (a
        profile read from stdin), parsed from the text alone (author "user", no evidence).

How it works (design.md "The profile file"):
    * The database keeps every version pxprofile recorded (profile_versions: full text, sha256
      and the profile_lines id of each bullet in file order). The latest one is the *base*.
    * Every read goes through _sync() under the file lock: the file is hashed (never mtime);
      if it differs from the base, the user edited it. Bullets are matched to the base by text
      (a moved bullet keeps its identity), then reworded bullets by similarity; new and
      reworded bullets become author "user", vanished ones become "deleted" and their
      normalized text is remembered so the model never re-adds them. That is an "edit" version.
    * apply_changes() plans the model's operations against the synced file (ours) from the
      base, so a user edit made while the model ran is merged; an operation on a line the user
      changed meanwhile is a conflict: the update's result goes to <file>.proposed instead.
    * A write is recorded first as a pending version, then the file is replaced atomically
      (compare-and-swap on its hash), then the version is confirmed. A crash in between is
      resolved on the next read: the pending version is kept if the file has its hash, else
      undone.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import document, fileio, guard
from .errors import ConflictError, ProfileError

DEFAULT_PROFILE = "default"
SIMILARITY = 0.85  # difflib ratio on normalized text at or above which two lines are "the same"
TOKEN_JACCARD = 0.8  # or this token overlap (word order, small insertions)
REWORD_SIMILARITY = 0.5  # a vanished and a new bullet this close count as a rewording
MAX_SECTION_LINES = 30  # the model may not grow a section past this
MAX_LINES = 120  # nor the whole profile
MAX_REWORD_PAIRS = 40_000  # above this many (new, vanished) pairs, skip rewording detection


@dataclass
class Line:
    id: int | None
    section: str
    text: str
    author: str  # "user" | "model"
    editable: bool  # the model may revise or retire it
    evidence: list[str] = field(default_factory=list)  # message ids
    first_supported: str | None = None
    last_supported: str | None = None


@dataclass(frozen=True)
class Change:
    action: str  # "add" | "revise" | "retire"
    text: str = ""
    section: str = ""
    line_id: int | None = None
    evidence: tuple[str, ...] = ()
    reason: str = ""


@dataclass
class ApplyResult:
    version: int | None
    diff: str
    applied: list[Change] = field(default_factory=list)
    rejected: list[tuple[Change, str]] = field(default_factory=list)
    proposed_path: Path | None = None
    sha256: str | None = None  # of the bytes written (None when nothing was written)
    path: Path | None = None  # the profile file


ReviewFn = Callable[[list[Change], str], list[bool]]


# -- text helpers ---------------------------------------------------------------------------------

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize(text: str) -> str:
    """Case, punctuation and whitespace folded: the key for "the same or nearly the same words"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def similar(a: str, b: str) -> bool:
    """True when two lines say the same thing in the same or nearly the same words."""
    na, nb = normalize(a), normalize(b)
    if na == nb:
        return True
    if not na or not nb:
        return False
    ta, tb = set(na.split()), set(nb.split())
    if len(ta) >= 3 and len(tb) >= 3 and len(ta & tb) / len(ta | tb) >= TOKEN_JACCARD:
        return True
    m = difflib.SequenceMatcher(None, na, nb, autojunk=False)
    # the cheap upper bounds first: most pairs are far apart
    return (
        m.real_quick_ratio() >= SIMILARITY
        and m.quick_ratio() >= SIMILARITY
        and m.ratio() >= SIMILARITY
    )


def _squash(text: str) -> str:
    return " ".join(text.split())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _name(profile: str | None) -> str:
    return profile or DEFAULT_PROFILE


_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def profile_file(profile: str | None = None) -> Path:
    """The file of a profile: profile.md, or profile-NAME.md."""
    from .errors import InputError
    from .paths import profile_path

    if profile is not None and not _PROFILE_NAME.match(profile):
        raise InputError(
            f"{profile!r} is not a usable profile name. Use letters, digits, '-', '_' or '.', "
            "e.g. --profile work"
        )
    return profile_path(None if _name(profile) == DEFAULT_PROFILE else profile)


def unified_diff(a: str, b: str, a_label: str = "before", b_label: str = "after") -> str:
    return "".join(
        difflib.unified_diff(
            a.splitlines(keepends=True),
            b.splitlines(keepends=True),
            fromfile=a_label,
            tofile=b_label,
        )
    )


# -- the synced state -----------------------------------------------------------------------------


@dataclass
class _State:
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


class _Rollback(Exception):
    def __init__(self, result):
        self.result = result


def _latest(db, profile: str) -> dict | None:
    rows = list(
        db.query(
            "select * from profile_versions where profile = ? and coalesce(pending, 0) = 0 "
            "order by id desc limit 1",
            [profile],
        )
    )
    return rows[0] if rows else None


def _read_file(path: Path) -> tuple[str | None, str | None]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as e:
        raise ProfileError(
            f"cannot read {path}: {e.strerror}. Check the file's permissions."
        ) from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProfileError(
            f"{path} is not UTF-8 text (byte {e.start}). Save it as UTF-8 (`pxprofile edit`); "
            "nothing was changed."
        ) from e
    return text, fileio.sha256(data)


def check_text(text: str, path: Path | str = "the profile") -> None:
    """Raise ProfileError when the text cannot be read safely (see document.problems)."""
    problems = document.problems(text)
    if problems:
        raise ProfileError(
            f"{path} cannot be read safely: {'; '.join(problems)}. "
            "Fix it with `pxprofile edit`; nothing was changed."
        )


def _bullets(text: str) -> list[tuple[str, str]]:
    return [(s.title, b.text) for s, b in document.parse(text).bullets()]


def _insert_line(db, profile: str, section: str, text: str, author: str, version: int) -> int:
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


def _insert_version(
    db, profile: str, kind: str, text: str, note: str, *, pending=0, update_id=None
) -> int:
    return (
        db["profile_versions"]
        .insert(
            {
                "profile": profile,
                "created_at": _now(),
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


def _remember_deleted(db, profile: str, line_id: int, text: str, version: int) -> None:
    db["profile_deletions"].insert(
        {
            "profile": profile,
            "text": text,
            "norm": normalize(text),
            "line_id": line_id,
            "version_id": version,
        }
    )


def _match(base: list[tuple[str, str, int]], new: list[tuple[str, str]]):
    """Match the bullets of the file now to the base's. Returns (ids, reworded, deleted):
    ids[i] is the line id of new bullet i (None: new), reworded maps new index -> old id."""
    ids: list[int | None] = [None] * len(new)
    used: set[int] = set()

    def take(pred) -> None:
        for i, (sec, text) in enumerate(new):
            if ids[i] is not None:
                continue
            for j, (bsec, btext, bid) in enumerate(base):
                if j in used:
                    continue
                if pred(sec, text, bsec, btext):
                    ids[i] = bid
                    used.add(j)
                    break

    same_sec = document.normalize_title
    take(lambda s, t, bs, bt: t == bt and same_sec(s) == same_sec(bs))
    take(lambda s, t, bs, bt: _squash(t) == _squash(bt))  # moved, or whitespace only
    reworded: dict[int, int] = {}
    new_left = [i for i in range(len(new)) if ids[i] is None]
    base_left = [j for j in range(len(base)) if j not in used]
    if len(new_left) * len(base_left) > MAX_REWORD_PAIRS:
        new_left = []  # a pasted-in file: count the changes as deletions and additions
    norm_base = {j: normalize(base[j][1]) for j in base_left}
    for i in new_left:
        sec, text = new[i]
        nt = normalize(text)
        best, best_j = REWORD_SIMILARITY, None
        for j in base_left:
            if j in used:
                continue
            bonus = 0.05 if same_sec(sec) == same_sec(base[j][0]) else 0.0
            m = difflib.SequenceMatcher(None, nt, norm_base[j], autojunk=False)
            if m.real_quick_ratio() + bonus < best or m.quick_ratio() + bonus < best:
                continue
            r = m.ratio() + bonus
            if r >= best:
                best, best_j = r, j
        if best_j is not None:
            used.add(best_j)
            reworded[i] = base[best_j][2]
    deleted = [base[j][2] for j in range(len(base)) if j not in used]
    return ids, reworded, deleted


def _resolve_pending(db, profile: str, file_sha: str | None) -> None:
    for row in db.query(
        "select id, sha256 from profile_versions where profile = ? and pending = 1 order by id",
        [profile],
    ):
        if file_sha is not None and row["sha256"] == file_sha:
            db.execute("update profile_versions set pending = 0 where id = ?", [row["id"]])
        else:
            _undo_version(db, row["id"])


def _undo_version(db, version: int) -> None:
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
    _recompute_support(db, touched)


def _recompute_support(db, line_ids: Iterable[int]) -> None:
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


def _sync(db, profile: str, path: Path) -> _State:
    """Bring the database up to date with the file. Call inside write_tx, holding the file lock."""
    text, sha = _read_file(path)
    if text is not None:
        check_text(text, path)
    _resolve_pending(db, profile, sha)
    latest = _latest(db, profile)
    if latest is None:
        if text is None:
            blank = document.render(document.new_document())
            return _State(profile, path, blank, None, [], None)
        # a file the user wrote before pxprofile ever did: every line is theirs
        version = _insert_version(db, profile, "init", text, "existing file adopted")
        ids = [_insert_line(db, profile, sec, t, "user", version) for sec, t in _bullets(text)]
        db.execute(
            "update profile_versions set line_ids = ? where id = ?", [json.dumps(ids), version]
        )
        return _State(profile, path, text, sha, ids, version)
    base_ids = json.loads(latest["line_ids"] or "[]")
    if text is None:  # the file is gone: nothing to learn from; the next write restores it
        return _State(profile, path, latest["text"], None, base_ids, latest["id"])
    if sha == latest["sha256"]:
        return _State(profile, path, text, sha, base_ids, latest["id"])

    # the user edited the file
    base = [(s, t, i) for (s, t), i in zip(_bullets(latest["text"]), base_ids, strict=True)]
    new = _bullets(text)
    matched, reworded, deleted = _match(base, new)
    version = _insert_version(db, profile, "edit", text, "")
    rows = {
        r["id"]: r for r in db.query("select * from profile_lines where profile = ?", [profile])
    }
    ids: list[int] = []
    added = 0
    for i, (sec, t) in enumerate(new):
        lid = matched[i]
        if lid is not None:
            row = rows[lid]
            if row["section"] != sec or row["text"] != t:
                db.execute(
                    "update profile_lines set section = ?, text = ? where id = ?", [sec, t, lid]
                )
            ids.append(lid)
            continue
        nid = _insert_line(db, profile, sec, t, "user", version)
        ids.append(nid)
        if i in reworded:
            old = reworded[i]
            db.execute(
                "update profile_lines set status = 'retired', retired_version = ?, superseded_by "
                "= ? where id = ?",
                [version, nid, old],
            )
            _remember_deleted(db, profile, old, rows[old]["text"], version)
        else:
            added += 1
    for lid in deleted:
        db.execute(
            "update profile_lines set status = 'deleted', retired_version = ? where id = ?",
            [version, lid],
        )
        _remember_deleted(db, profile, lid, rows[lid]["text"], version)
    parts = [
        f"{n} {what}"
        for n, what in ((added, "added"), (len(reworded), "reworded"), (len(deleted), "deleted"))
        if n
    ]
    note = ", ".join(parts) or "formatting only"
    db.execute(
        "update profile_versions set line_ids = ?, note = ? where id = ?",
        [json.dumps(ids), note, version],
    )
    return _State(
        profile,
        path,
        text,
        sha,
        ids,
        version,
        touched=set(reworded.values()) | set(deleted),
        prior_text=latest["text"],
        prior_ids=base_ids,
        edit_version=version,
    )


def _locked_sync(db, profile: str | None) -> _State:
    from .store import write_tx

    name = _name(profile)
    path = fileio.target(profile_file(profile))
    with fileio.file_lock(path), write_tx(db):
        return _sync(db, name, path)


# -- reading --------------------------------------------------------------------------------------


def _lines_for(db, ids: list[int]) -> list[Line]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = {r["id"]: r for r in db.query(f"select * from profile_lines where id in ({marks})", ids)}
    evidence: dict[int, list[str]] = {}
    for r in db.query(
        "select line_id, message_id from profile_evidence where role = 'support' and line_id in "
        f"({marks}) "
        "order by rowid",
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


def current_lines(db, profile: str | None = None) -> list[Line]:
    """The active lines in file order, after recording any edit the user made to the file."""
    state = _locked_sync(db, profile)
    return _lines_for(db, state.ids)


def export_lines(db=None, profile: str | None = None, text: str | None = None) -> list[Line]:
    """Active lines for export: with provenance from ``db``, else parsed from text or the file."""
    if text is None and db is None:
        text, _ = _read_file(profile_file(profile))
        if text is None:
            return []
    if text is not None:
        check_text(text, "the profile text")
        return [Line(None, sec, t, "user", False) for sec, t in _bullets(text)]
    return current_lines(db, profile)


def sync(db, profile: str | None = None) -> int | None:
    """Record a user edit of the file, if any. Returns the latest version id (None: no profile)."""
    return _locked_sync(db, profile).version


# -- planning the model's changes -----------------------------------------------------------------


@dataclass
class _Plan:
    text: str  # the rendering to write
    ids_of: dict[int, int]  # id(bullet) -> existing line id
    ops: list[tuple[str, Change, object]] = field(default_factory=list)  # (kind, change, payload)
    applied: list[Change] = field(default_factory=list)
    rejected: list[tuple[Change, str]] = field(default_factory=list)
    conflicts: list[Change] = field(default_factory=list)
    doc: document.Document | None = None


def _plan(
    db,
    profile: str,
    text: str,
    ids: list[int],
    changes: list[Change],
    touched: set[int],
    *,
    as_of: int | None = None,
) -> _Plan:
    """Apply ``changes`` to a copy of the document. ``as_of``: plan as if the edit recorded as that
    version had not happened (to show, on conflict, what the update would have written)."""
    doc = document.parse(text)
    if not doc.sections and not text.strip():
        doc = document.new_document()
    pairs = doc.bullets()
    by_id = {lid: b for (_s, b), lid in zip(pairs, ids, strict=True)}
    plan = _Plan(text=text, ids_of={id(b): lid for lid, b in by_id.items()}, doc=doc)
    rows = {
        r["id"]: r for r in db.query("select * from profile_lines where profile = ?", [profile])
    }
    deleted_texts = [
        r["text"]
        for r in db.query(
            "select text, version_id from profile_deletions where profile = ?", [profile]
        )
        if as_of is None or r["version_id"] != as_of
    ]
    done: set[int] = set()
    new_bullets: list[tuple[document.Bullet, list[str]]] = []  # added in this plan, with evidence

    def reject(change: Change, why: str) -> None:
        plan.rejected.append((change, why))

    def active_texts() -> list[tuple[document.Bullet, str]]:
        return [(b, b.text) for _s, b in doc.bullets()]

    def target_problem(change: Change) -> str | None:
        lid = change.line_id
        if lid is None:
            return "names no line"
        if lid in touched:
            plan.conflicts.append(change)
            return "you changed this line while the update ran"
        if lid in done:
            return "the line was already changed by this update"
        row = rows.get(lid)
        if row is None:
            return f"there is no line {lid} in this profile"
        if as_of is not None and row["retired_version"] == as_of and lid in by_id:
            return (
                None
                if row["author"] == "model"
                else "you wrote this line; pxprofile never changes your lines"
            )
        if row["status"] == "deleted":
            return "you deleted this line"
        if row["status"] == "retired" or lid not in by_id:
            return "the line is no longer in the profile"
        if row["author"] != "model":
            return "you wrote this line; pxprofile never changes your lines"
        return None

    def text_problem(change: Change) -> str | None:
        t = _squash(change.text)
        why = guard.line_problem(t)
        if why:
            return why
        if any(similar(t, d) for d in deleted_texts):
            return "you deleted this line (or one nearly the same) before"
        return None

    for change in changes:
        action = change.action
        if action == "add":
            t = _squash(change.text)
            why = text_problem(change)
            if why:
                reject(change, why)
                continue
            dup = next((b for b, bt in active_texts() if similar(t, bt)), None)
            if dup is not None:
                if change.evidence and (
                    id(dup) in plan.ids_of or any(nb is dup for nb, _ in new_bullets)
                ):
                    plan.ops.append(("support", change, dup))
                    plan.applied.append(change)
                else:
                    reject(change, "already in the profile")
                continue
            title = change.section.strip()
            section = doc.section(title) if title else None
            if (
                section is None
                and title
                and document.normalize_title(title)
                not in {document.normalize_title(s) for s in document.DEFAULT_SECTIONS}
            ):
                reject(change, f"unknown section {title!r}")
                continue
            if not title:
                reject(change, "names no section")
                continue
            if section is not None and len(section.bullets) >= MAX_SECTION_LINES:
                reject(change, f"the section already has {MAX_SECTION_LINES} lines")
                continue
            if len(doc.bullets()) >= MAX_LINES:
                reject(change, f"the profile already has {MAX_LINES} lines")
                continue
            name = (
                section.title
                if section is not None
                else next(
                    s
                    for s in document.DEFAULT_SECTIONS
                    if document.normalize_title(s) == document.normalize_title(title)
                )
            )
            bullet = doc.add(name, t)
            new_bullets.append((bullet, list(change.evidence)))
            plan.ops.append(("add", change, bullet))
            plan.applied.append(change)
        elif action == "revise":
            why = target_problem(change)
            if why:
                reject(change, why)
                continue
            t = _squash(change.text)
            bullet = by_id[change.line_id]
            if t == bullet.text:
                reject(change, "the text is unchanged")
                continue
            why = text_problem(change)
            if why:
                reject(change, why)
                continue
            if any(similar(t, bt) for b, bt in active_texts() if b is not bullet):
                reject(change, "already in the profile")
                continue
            done.add(change.line_id)
            bullet.text = t
            plan.ops.append(("revise", change, bullet))
            plan.applied.append(change)
        elif action == "retire":
            why = target_problem(change)
            if why:
                reject(change, why)
                continue
            done.add(change.line_id)
            doc.remove(by_id[change.line_id])
            plan.ops.append(("retire", change, None))
            plan.applied.append(change)
        else:
            reject(change, f"unknown action {action!r}")
    plan.text = document.render(doc) if any(k != "support" for k, _c, _p in plan.ops) else text
    return plan


def _commit(db, state: _State, plan: _Plan, update_id) -> tuple[int | None, list[int]]:
    """Record the plan in the database (pending when the file must change). Inside write_tx."""
    changes_file = plan.text != state.text or state.sha is None
    counts = {"add": 0, "revise": 0, "retire": 0}
    for kind, _c, _p in plan.ops:
        if kind in counts:
            counts[kind] += 1
    note = ", ".join(
        f"{n} {w}"
        for w, n in (
            ("added", counts["add"]),
            ("revised", counts["revise"]),
            ("retired", counts["retire"]),
        )
        if n
    )
    version = (
        _insert_version(
            db,
            state.profile,
            "update",
            plan.text,
            note or "restored",
            pending=1,
            update_id=update_id,
        )
        if changes_file
        else None
    )
    evidence_version = version or state.version
    new_ids: dict[int, int] = {}  # id(bullet) -> new line id
    supported: list[int] = []

    def add_evidence(lid: int, ids: Iterable[str], role: str = "support") -> None:
        for mid in dict.fromkeys(ids):
            db.execute(
                "insert or ignore into profile_evidence (line_id, message_id, role, version_id) "
                "values (?, ?, ?, ?)",
                [lid, str(mid), role, evidence_version],
            )
        if role == "support":
            supported.append(lid)

    section_of = {id(b): s.title for s, b in plan.doc.bullets()}
    for kind, change, payload in plan.ops:
        if kind == "add":
            lid = _insert_line(
                db, state.profile, section_of[id(payload)], payload.text, "model", version
            )
            new_ids[id(payload)] = lid
            add_evidence(lid, change.evidence)
        elif kind == "revise":
            lid = _insert_line(
                db, state.profile, section_of[id(payload)], payload.text, "model", version
            )
            new_ids[id(payload)] = lid
            db.execute(
                "update profile_lines set status = 'retired', retired_version = ?, superseded_by "
                "= ? where id = ?",
                [version, lid, change.line_id],
            )
            add_evidence(lid, change.evidence)
        elif kind == "retire":
            db.execute(
                "update profile_lines set status = 'retired', retired_version = ? where id = ?",
                [version, change.line_id],
            )
            add_evidence(change.line_id, change.evidence, role="retire")
        elif kind == "support":
            lid = new_ids.get(id(payload)) or plan.ids_of.get(id(payload))
            if lid is not None:
                add_evidence(lid, change.evidence)
    ids = []
    for _s, b in plan.doc.bullets():
        lid = new_ids.get(id(b)) or plan.ids_of.get(id(b))
        if lid is None:
            raise ProfileError(
                "internal error: a profile line lost its identity; nothing was written."
            )
        ids.append(lid)
    if version is not None:
        if len(ids) != len(_bullets(plan.text)):
            raise ProfileError(
                "internal error: the new profile does not parse back; nothing was written."
            )
        db.execute(
            "update profile_versions set line_ids = ? where id = ?", [json.dumps(ids), version]
        )
    _recompute_support(db, supported)
    return version, ids


def _check_user_lines_kept(db, profile: str, text: str) -> None:
    """Checked before every write: every active user line is still there, verbatim."""
    present = {_squash(t) for _s, t in _bullets(text)}
    for r in db.query(
        "select text from profile_lines where profile = ? and status = 'active' and author = "
        "'user'",
        [profile],
    ):
        if _squash(r["text"]) not in present:
            raise ProfileError(
                f"internal error: the update would drop your line {r['text']!r}; nothing was "
                "written."
            )


def _write_proposed(state: _State, text: str) -> Path:
    proposed = state.path.with_name(state.path.name + ".proposed")
    fileio.atomic_write(proposed, text.encode("utf-8"))
    return proposed


def apply_changes(
    db,
    changes: list[Change],
    *,
    profile: str | None = None,
    update_id: int | None = None,
    dry_run: bool = False,
    review: ReviewFn | None = None,
) -> ApplyResult:
    """Merge the model's proposed changes into the profile (see the module docstring)."""
    if dry_run or db.conn.in_transaction:  # the pragma cannot change inside a transaction
        return _apply(db, changes, profile, update_id, dry_run, review)
    # the version row is the only record of who wrote the new lines: make its commit durable
    # across power loss too (WAL with synchronous=NORMAL may roll back the last commits)
    previous = db.execute("PRAGMA synchronous").fetchone()[0]
    db.execute("PRAGMA synchronous = FULL")
    try:
        return _apply(db, changes, profile, update_id, dry_run, review)
    finally:
        db.execute(f"PRAGMA synchronous = {int(previous)}")


def _apply(db, changes, profile, update_id, dry_run, review) -> ApplyResult:
    from .store import write_tx

    name = _name(profile)
    path = fileio.target(profile_file(profile))
    changes = list(changes)
    label = path.name

    if dry_run:
        try:
            with fileio.file_lock(path), write_tx(db):
                state = _sync(db, name, path)
                plan = _plan(db, name, state.text, state.ids, changes, state.touched)
                raise _Rollback(
                    ApplyResult(
                        None,
                        unified_diff(state.text if state.sha else "", plan.text, label, label),
                        plan.applied,
                        plan.rejected,
                        path=path,
                    )
                )
        except _Rollback as r:
            return r.result

    extra_rejected: list[tuple[Change, str]] = []
    approved_text: str | None = None
    approved_sha: str | None = None
    if review is not None:
        with fileio.file_lock(path), write_tx(db):
            state = _sync(db, name, path)
            plan = _plan(db, name, state.text, state.ids, changes, state.touched)
        if plan.conflicts:
            return _conflict(db, state, plan, changes, name, label)
        candidates = list(plan.applied)
        if not candidates:
            return ApplyResult(None, "", [], plan.rejected, path=path)
        if hasattr(review, "lines"):  # a reviewer that shows the text a change replaces
            review.lines = _lines_for(db, state.ids)
        decisions = list(
            review(
                candidates, unified_diff(state.text if state.sha else "", plan.text, label, label)
            )
        )
        if len(decisions) != len(candidates):
            raise ProfileError(
                "the review returned the wrong number of answers; nothing was written."
            )
        accepted = [c for c, ok in zip(candidates, decisions, strict=True) if ok]
        extra_rejected = [
            (c, "rejected in review") for c, ok in zip(candidates, decisions, strict=True) if not ok
        ]
        changes = accepted
        approved_sha = state.sha
        with write_tx(db):  # plan again, read-only, to know exactly what was approved
            approved_text = _plan(db, name, state.text, state.ids, accepted, state.touched).text
        if not accepted:
            return ApplyResult(None, "", [], plan.rejected + extra_rejected, path=path)

    last_plan = None
    for _attempt in range(3):
        with fileio.file_lock(path):
            with write_tx(db):
                state = _sync(db, name, path)
                if approved_text is not None and state.sha != approved_sha:
                    # the user edited the file during the review: what was approved is stale
                    plan = _plan(db, name, state.text, state.ids, changes, state.touched)
                    proposed = _write_proposed(state, approved_text)
                    return ApplyResult(
                        None,
                        unified_diff(state.text, approved_text, label, proposed.name),
                        [],
                        [(c, "you edited the profile during the review") for c in changes]
                        + extra_rejected,
                        proposed_path=proposed,
                        path=path,
                    )
                plan = _plan(db, name, state.text, state.ids, changes, state.touched)
                if plan.conflicts:
                    break
                last_plan = plan
                if approved_text is not None and plan.text != approved_text:
                    raise ProfileError(
                        "internal error: the result differs from what was approved; nothing was "
                        "written."
                    )
                before = state.text if state.sha else ""
                diff = unified_diff(before, plan.text, label, label)
                if plan.text == state.text and state.sha is not None:
                    _commit(db, state, plan, update_id)  # evidence for lines already there
                    return ApplyResult(
                        None, "", plan.applied, plan.rejected + extra_rejected, path=path
                    )
                _check_user_lines_kept(db, name, plan.text)
                version, _ids = _commit(db, state, plan, update_id)
            data = plan.text.encode("utf-8")
            try:
                written = fileio.atomic_write(path, data, expect_sha256=state.sha)
            except ConflictError:
                with write_tx(db):
                    _undo_version(db, version)
                continue
            except BaseException:
                with write_tx(db):
                    _undo_version(db, version)
                raise
            with write_tx(db):
                db.execute("update profile_versions set pending = 0 where id = ?", [version])
            return ApplyResult(
                version,
                diff,
                plan.applied,
                plan.rejected + extra_rejected,
                path=path,
                sha256=written,
            )
    if plan.conflicts or last_plan is None:
        return _conflict(db, state, plan, changes, name, label)
    # the file kept changing under us: leave it alone, offer the result next to it
    proposed = _write_proposed(state, last_plan.text)
    return ApplyResult(
        None,
        unified_diff(state.text, last_plan.text, label, proposed.name),
        [],
        [(c, "the profile kept changing while pxprofile was writing it") for c in changes]
        + extra_rejected,
        proposed_path=proposed,
        path=path,
    )


def _conflict(
    db, state: _State, plan: _Plan, changes: list[Change], name: str, label: str
) -> ApplyResult:
    """The user changed lines the update also changes: write the update's result as .proposed."""
    from .store import write_tx

    text, ids = state.prior_text or state.text, state.prior_ids or state.ids
    with write_tx(db):  # planned against the file as it was when the update started
        theirs = _plan(db, name, text, ids, changes, set(), as_of=state.edit_version)
    proposed = _write_proposed(state, theirs.text)
    reason = "conflicts with your edit to the same line; see " + proposed.name
    rejected = (
        [(c, reason) for c in plan.conflicts]
        + [(c, why) for c, why in plan.rejected if c not in plan.conflicts]
        + [(c, "not applied: the update conflicts with your edit") for c in plan.applied]
    )
    return ApplyResult(
        None,
        unified_diff(state.text, theirs.text, label, proposed.name),
        [],
        rejected,
        proposed_path=proposed,
        path=state.path,
    )


# -- versions, revert, provenance (used by the CLI) -----------------------------------------------


def history(db, profile: str | None = None, *, details: bool = False) -> list[dict]:
    """Every recorded version of the profile, oldest first (the current file is not synced).
    ``details``: each with the lines it added and removed (removed ones with their successor
    and the evidence that retired them)."""
    out = []
    for r in db.query(
        "select id, created_at, kind, note, sha256, line_ids, update_id from profile_versions "
        "where profile = ? and coalesce(pending, 0) = 0 order by id",
        [_name(profile)],
    ):
        out.append(
            {
                "version": r["id"],
                "created_at": r["created_at"],
                "kind": r["kind"],
                "lines": len(json.loads(r["line_ids"] or "[]")),
                "note": r["note"],
                "sha256": r["sha256"],
                "update_id": r["update_id"],
            }
        )
    if details:
        for item in out:
            item.update(_version_changes(db, item["version"], item["kind"]))
    return out


def _version_changes(db, version: int, kind: str) -> dict:
    """The lines a version added and removed; removed ones with what replaced them and why."""

    def evidence(line_id: int, role: str) -> list[str]:
        return [
            r["message_id"]
            for r in db.query(
                "select message_id from profile_evidence where line_id = ? and role = ? "
                "order by rowid",
                [line_id, role],
            )
        ]

    added = [
        {
            "id": r["id"],
            "section": r["section"],
            "text": r["text"],
            # who wrote it then (a revert may since have made a model line the user's)
            "author": "model" if kind == "update" else "user",
            "evidence": evidence(r["id"], "support"),
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
                "evidence": evidence(r["id"], "retire"),
            }
        )
    return {"added": added, "removed": removed}


def version_text(db, version: int, profile: str | None = None) -> str:
    rows = list(
        db.query(
            "select text from profile_versions where id = ? and profile = ? and coalesce(pending, "
            "0) = 0",
            [version, _name(profile)],
        )
    )
    if not rows:
        raise ProfileError(
            f"there is no version {version} of this profile. See `pxprofile history` for the "
            "versions."
        )
    return rows[0]["text"]


def latest_version(db, profile: str | None = None) -> dict | None:
    return _latest(db, _name(profile))


def file_text(profile: str | None = None) -> str | None:
    """The profile file as it is now (None when it does not exist); not synced."""
    return _read_file(fileio.target(profile_file(profile)))[0]


def ensure_file(db, profile: str | None = None) -> Path:
    """Make sure the profile file exists (for `edit`): the empty template on first use, recorded as
    an "init" version, or the last version when the file was removed."""
    from .store import write_tx

    name = _name(profile)
    path = fileio.target(profile_file(profile))
    if path.exists():
        return path  # not synced here: a file that cannot be parsed must still open for fixing
    with fileio.file_lock(path):
        with write_tx(db):
            state = _sync(db, name, path)
            if state.sha is not None:
                return path
            if state.version is None:
                version = _insert_version(db, name, "init", state.text, "new profile", pending=1)
            else:
                version = None
        try:
            fileio.atomic_write(path, state.text.encode("utf-8"), expect_sha256=None)
        except BaseException:
            if version is not None:
                with write_tx(db):
                    _undo_version(db, version)
            raise
        if version is not None:
            with write_tx(db):
                db.execute("update profile_versions set pending = 0 where id = ?", [version])
    return path


def revert(db, version: int, profile: str | None = None) -> int | None:
    """Write version ``version``'s text as a new "revert" version. Lines it brings back count as
    chosen by the user; lines it removes count as deleted by the user. Returns the new version
    (None when the file already has that text)."""
    from .store import write_tx

    name = _name(profile)
    path = fileio.target(profile_file(profile))
    with fileio.file_lock(path):
        with write_tx(db):
            state = _sync(db, name, path)  # the file as it is now is kept as a version first
            text = version_text(db, version, profile)
            row = next(db.query("select line_ids from profile_versions where id = ?", [version]))
            target_ids = json.loads(row["line_ids"] or "[]")
        if text == state.text and state.sha is not None:
            return None
        # The file first, then the database: a crash in between leaves the reverted file, which
        # the next read records as the user's edit (the same ownership a revert gives).
        fileio.atomic_write(path, text.encode("utf-8"), expect_sha256=state.sha)
        with write_tx(db):
            new = _insert_version(db, name, "revert", text, f"back to version {version}")
            current = set(state.ids)
            for (sec, t), lid in zip(_bullets(text), target_ids, strict=True):
                if lid in current:
                    db.execute(
                        "update profile_lines set section = ?, text = ? where id = ?", [sec, t, lid]
                    )
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
                _remember_deleted(db, name, lid, r["text"], new)
            db.execute(
                "update profile_versions set line_ids = ? where id = ?",
                [json.dumps(target_ids), new],
            )
    return new


def quote(message: str, line: str, width: int = 160) -> str:
    """The message's words around the part most related to ``line``, trimmed with ellipses."""
    msg = " ".join(message.split())
    if len(msg) <= width:
        return msg
    keys = {w[:5] for w in normalize(line).split() if len(w) > 3}
    probe = max(40, width // 3)
    best, best_start = 0, 0
    for m in re.finditer(r"(?:^|\s)(\S)", msg):
        s = m.start(1)
        words = normalize(msg[s : s + probe]).split()
        score = sum(1 for k in keys if any(w.startswith(k) for w in words))
        if score > best:
            best, best_start = score, s
    start = max(0, best_start - width // 4)
    if start:
        start = msg.rfind(" ", 0, start) + 1
    end = min(len(msg), start + width)
    if end < len(msg):
        cut = msg.rfind(" ", start, end)
        end = cut if cut > start else end
    return ("…" if start else "") + msg[start:end].strip() + ("…" if end < len(msg) else "")


def _evidence(db, line_id: int, line_text: str, role: str = "support") -> list[dict]:
    out = []
    for r in db.query(
        "select e.message_id, m.id as found, coalesce(m.redacted, m.text) as text, m.role, "
        "m.created_at, c.title, c.id as conversation_id from profile_evidence e "
        "left join messages m on m.id = e.message_id "
        "left join conversations c on c.id = m.conversation_id "
        "where e.line_id = ? and e.role = ? order by m.created_at, e.rowid",
        [line_id, role],
    ):
        out.append(
            {
                "message_id": r["message_id"],
                "found": r["found"] is not None,
                "conversation_id": r["conversation_id"],
                "conversation_title": r["title"],
                "created_at": r["created_at"],
                "role": r["role"],
                "quote": quote(r["text"] or "", line_text) if r["found"] else None,
            }
        )
    return out


def why(db, text: str, profile: str | None = None, limit: int = 5) -> list[dict]:
    """Lines containing ``text`` (case-insensitive), active ones first, each with its evidence,
    the earlier wordings it replaced, and (for retired lines) what superseded it."""
    name = _name(profile)
    _locked_sync(db, profile)
    needle = text.casefold().strip()
    rows = [
        dict(r)
        for r in db.query(
            "select l.*, v.created_at as created_at, rv.created_at as retired_at, rv.kind as "
            "retired_kind "
            "from profile_lines l left join profile_versions v on v.id = l.created_version "
            "left join profile_versions rv on rv.id = l.retired_version where l.profile = ? "
            "order by l.status = 'active' desc, l.id desc",
            [name],
        )
        if needle in r["text"].casefold() or needle in _squash(r["text"]).casefold()
    ][:limit]

    def describe(r: dict, depth: int = 0) -> dict:
        item = {
            "id": r["id"],
            "section": r["section"],
            "text": r["text"],
            "author": r["author"],
            "status": r["status"],
            "created_at": r.get("created_at"),
            "retired_at": r.get("retired_at"),
            "first_supported": r["first_supported"],
            "last_supported": r["last_supported"],
            "evidence": _evidence(db, r["id"], r["text"]),
            "retired_by_evidence": _evidence(db, r["id"], r["text"], role="retire"),
            "superseded_by": None,
            "earlier": [],
        }
        if r["superseded_by"]:
            (s,) = db.query(
                "select text, author from profile_lines where id = ?", [r["superseded_by"]]
            )
            item["superseded_by"] = {
                "id": r["superseded_by"],
                "text": s["text"],
                "author": s["author"],
            }
        if depth < 5:
            for prev in db.query(
                "select l.*, v.created_at as created_at, rv.created_at as retired_at from "
                "profile_lines l "
                "left join profile_versions v on v.id = l.created_version "
                "left join profile_versions rv on rv.id = l.retired_version where l.superseded_by "
                "= ?",
                [r["id"]],
            ):
                item["earlier"].append(describe(dict(prev), depth + 1))
        return item

    return [describe(r) for r in rows]
