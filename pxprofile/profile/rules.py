"""The rules for the model's proposed changes: the one place that decides what may change.

``plan()`` applies changes to a copy of the document and says, for each, why it was rejected:
the model never changes a line the user wrote, a line the user deleted (or one nearly the same)
never comes back, an added line must pass ``guard.line_problem``, names a known section and
stays within the section and profile limits; an add that restates a line already there
(``text.similar``) with new evidence refreshes that line's support instead. The one exception
to the first rule is ``release``: lines the caller may retire although the user owns them (an
imported line the user left as it was, when its import is forgotten or its memory withdrawn).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pxprofile import document
from pxprofile.text import similar, squash

from .lines import MAX_LINES, MAX_SECTION_LINES, Change

_NOT_YOURS = "you wrote this line; pxprofile never changes your lines"


@dataclass
class Plan:
    text: str  # the rendering to write
    ids_of: dict[int, int]  # id(bullet) -> existing line id
    ops: list[tuple[str, Change, object]] = field(default_factory=list)  # (kind, change, payload)
    applied: list[Change] = field(default_factory=list)
    rejected: list[tuple[Change, str]] = field(default_factory=list)
    conflicts: list[Change] = field(default_factory=list)
    doc: document.Document | None = None

    def take(self, kind: str, change: Change, payload: object) -> None:
        self.ops.append((kind, change, payload))
        self.applied.append(change)


class _Planner:
    def __init__(self, db, profile, text, ids, touched, as_of, release=frozenset()):
        doc = document.parse(text)
        if not doc.sections and not text.strip():
            doc = document.new_document()
        self.doc = doc
        self.by_id = {lid: b for (_s, b), lid in zip(doc.bullets(), ids, strict=True)}
        self.plan = Plan(text=text, ids_of={id(b): lid for lid, b in self.by_id.items()}, doc=doc)
        self.rows = {
            r["id"]: r for r in db.query("select * from profile_lines where profile = ?", [profile])
        }
        self.deleted_texts = [
            r["text"]
            for r in db.query(
                "select text, version_id from profile_deletions where profile = ?", [profile]
            )
            if as_of is None or r["version_id"] != as_of
        ]
        self.touched = touched
        self.as_of = as_of
        self.release = frozenset(release)
        self.done: set[int] = set()  # lines this plan already changed
        self.new_bullets: list[document.Bullet] = []  # added in this plan

    def reject(self, change: Change, why: str) -> None:
        self.plan.rejected.append((change, why))

    def target_problem(self, change: Change) -> str | None:
        """Why a revise or retire may not touch the line it names (None: it may)."""
        lid = change.line_id
        if lid is None:
            return "names no line"
        if lid in self.touched:
            self.plan.conflicts.append(change)
            return "you changed this line while the update ran"
        if lid in self.done:
            return "the line was already changed by this update"
        row = self.rows.get(lid)
        if row is None:
            return f"there is no line {lid} in this profile"
        mine = row["author"] == "model" or (change.action == "retire" and lid in self.release)
        if self.as_of is not None and row["retired_version"] == self.as_of and lid in self.by_id:
            return None if mine else _NOT_YOURS
        if row["status"] == "deleted":
            return "you deleted this line"
        if row["status"] == "retired" or lid not in self.by_id:
            return "the line is no longer in the profile"
        if not mine:
            return _NOT_YOURS
        return None

    def text_problem(self, change: Change) -> str | None:
        """Why the words of an add or revise may not go into the profile (None: they may)."""
        from pxprofile import guard  # its patterns are compiled on first use, not on `export`

        t = squash(change.text)
        why = guard.line_problem(t)
        if why:
            return why
        if any(similar(t, d) for d in self.deleted_texts):
            return "you deleted this line (or one nearly the same) before"
        return None

    def section_for(self, title: str) -> tuple[str | None, str | None]:
        """(the section title to add under, None) or (None, why not)."""
        section = self.doc.section(title) if title else None
        known = {document.normalize_title(s): s for s in document.DEFAULT_SECTIONS}
        if section is None and title and document.normalize_title(title) not in known:
            return None, f"unknown section {title!r}"
        if not title:
            return None, "names no section"
        if section is not None and len(section.bullets) >= MAX_SECTION_LINES:
            return None, f"the section already has {MAX_SECTION_LINES} lines"
        if len(self.doc.bullets()) >= MAX_LINES:
            return None, f"the profile already has {MAX_LINES} lines"
        return (section.title if section else known[document.normalize_title(title)]), None

    def add(self, change: Change) -> None:
        t = squash(change.text)
        why = self.text_problem(change)
        if why:
            return self.reject(change, why)
        dup = next((b for _s, b in self.doc.bullets() if similar(t, b.text)), None)
        if dup is not None:
            known = id(dup) in self.plan.ids_of or any(nb is dup for nb in self.new_bullets)
            if change.evidence and known:  # the same line with new evidence: refresh its support
                return self.plan.take("support", change, dup)
            return self.reject(change, "already in the profile")
        title, why = self.section_for(change.section.strip())
        if why:
            return self.reject(change, why)
        bullet = self.doc.add(title, t)
        self.new_bullets.append(bullet)
        self.plan.take("add", change, bullet)

    def revise(self, change: Change) -> None:
        why = self.target_problem(change)
        if why:
            return self.reject(change, why)
        t = squash(change.text)
        bullet = self.by_id[change.line_id]
        if t == bullet.text:
            return self.reject(change, "the text is unchanged")
        why = self.text_problem(change)
        if why:
            return self.reject(change, why)
        if any(similar(t, b.text) for _s, b in self.doc.bullets() if b is not bullet):
            return self.reject(change, "already in the profile")
        self.done.add(change.line_id)
        bullet.text = t
        self.plan.take("revise", change, bullet)

    def retire(self, change: Change) -> None:
        why = self.target_problem(change)
        if why:
            return self.reject(change, why)
        self.done.add(change.line_id)
        self.doc.remove(self.by_id[change.line_id])
        self.plan.take("retire", change, None)


def plan(
    db,
    profile: str,
    text: str,
    ids: list[int],
    changes: list[Change],
    touched: set[int],
    *,
    as_of: int | None = None,
    release: Iterable[int] = (),
) -> Plan:
    """Apply ``changes`` to a copy of the document ``text`` (whose bullets have line ids ``ids``).
    ``touched``: lines the user changed meanwhile (a change to one is a conflict). ``as_of``: plan
    as if the edit recorded as that version had not happened (to show, on conflict, what the
    update would have written). ``release``: user lines that may be retired (see above)."""
    p = _Planner(db, profile, text, ids, touched, as_of, release)
    actions = {"add": p.add, "revise": p.revise, "retire": p.retire}
    for change in changes:
        action = actions.get(change.action)
        if action is None:
            p.reject(change, f"unknown action {change.action!r}")
        else:
            action(change)
    result = p.plan
    if any(kind != "support" for kind, _c, _p in result.ops):
        result.text = document.render(p.doc)
    return result
