"""apply_changes(): the only write path for the model's changes.

The model's operations are planned (rules.plan) against the synced file ("ours") from the base,
so a user edit made while the model ran is merged; an operation on a line the user changed
meanwhile is a conflict, and the update's result goes to <file>.proposed instead. A write is
recorded first as a pending version, then the file is replaced atomically (compare-and-swap on
its hash: a file saved at the last moment makes pxprofile plan again), then the version is
confirmed. A crash in between is resolved on the next read (records.resolve_pending).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pxprofile import fileio
from pxprofile.errors import ConflictError, ProfileError
from pxprofile.text import profile_name, squash

from . import records
from .edits import State, sync_state
from .lines import ApplyResult, Change, ReviewFn, bullets, profile_file, unified_diff
from .rules import Plan, plan

WRITE_ATTEMPTS = 3  # compare-and-swap tries before the result goes to .proposed


def apply_changes(
    db,
    changes: list[Change],
    *,
    profile: str | None = None,
    update_id: int | None = None,
    dry_run: bool = False,
    review: ReviewFn | None = None,
    release: Iterable[int] = (),
) -> ApplyResult:
    """Merge the model's proposed changes into the profile; returns what was applied, what was
    rejected and why, and the diff. ``dry_run``: change nothing. ``review(changes, diff)`` ->
    list[bool] lets `update --review` accept or reject each change (a review callable with a
    ``lines`` attribute gets the current lines set on it first). ``release``: lines of the user's
    that may be retired (rules.py: imported lines the user left alone, when their import goes)."""
    run = _Run(db, list(changes), profile, update_id, release)
    if dry_run:
        return run.dry_run()
    if db.conn.in_transaction:  # the pragma cannot change inside a transaction
        return run.apply(review)
    # the version row is the only record of who wrote the new lines: make its commit durable
    # across power loss too (WAL with synchronous=NORMAL may roll back the last commits)
    previous = db.execute("PRAGMA synchronous").fetchone()[0]
    db.execute("PRAGMA synchronous = FULL")
    try:
        return run.apply(review)
    finally:
        db.execute(f"PRAGMA synchronous = {int(previous)}")


class _Rollback(Exception):
    def __init__(self, result):
        self.result = result


@dataclass
class _Conflict:
    state: State
    plan: Plan


class _Run:
    """One apply_changes() call: the profile, the changes still wanted, what review decided."""

    def __init__(self, db, changes: list[Change], profile: str | None, update_id, release=()):
        self.db = db
        self.release = frozenset(release)
        self.changes = changes
        self.name = profile_name(profile)
        self.path = fileio.target(profile_file(profile))
        self.label = self.path.name
        self.update_id = update_id
        self.extra_rejected: list[tuple[Change, str]] = []  # rejected in review
        self.approved_text: str | None = None
        self.approved_sha: str | None = None

    def _plan(self, state: State, changes: list[Change] | None = None) -> Plan:
        changes = self.changes if changes is None else changes
        return plan(
            self.db, self.name, state.text, state.ids, changes, state.touched, release=self.release
        )

    def _diff(self, state: State, text: str) -> str:
        return unified_diff(state.text if state.sha else "", text, self.label, self.label)

    def _result(self, version=None, diff="", applied=(), rejected=(), **kw) -> ApplyResult:
        rejected = list(rejected) + self.extra_rejected
        return ApplyResult(version, diff, list(applied), rejected, path=self.path, **kw)

    def dry_run(self) -> ApplyResult:
        from pxprofile.store import write_tx

        try:
            with fileio.file_lock(self.path), write_tx(self.db):
                state = sync_state(self.db, self.name, self.path)
                p = self._plan(state)
                diff = self._diff(state, p.text)
                raise _Rollback(self._result(None, diff, p.applied, p.rejected))
        except _Rollback as r:  # nothing recorded: a sync of a user edit waits for a real read
            return r.result

    def apply(self, review: ReviewFn | None) -> ApplyResult:
        if review is not None:
            done = self._review(review)
            if done is not None:
                return done
        state = p = last = None
        for _attempt in range(WRITE_ATTEMPTS):
            outcome = self._write_once()
            if isinstance(outcome, ApplyResult):
                return outcome
            if isinstance(outcome, _Conflict):
                state, p = outcome.state, outcome.plan
                break
            state, last = outcome  # the file changed under us: plan again
        if last is None or p is not None:
            return self._conflict(state, p)
        # the file kept changing under us: leave it alone, offer the result next to it
        proposed = _write_proposed(state, last.text)
        why = "the profile kept changing while pxprofile was writing it"
        return self._result(
            None,
            unified_diff(state.text, last.text, self.label, proposed.name),
            [],
            [(c, why) for c in self.changes],
            proposed_path=proposed,
        )

    def _review(self, review: ReviewFn) -> ApplyResult | None:
        """Ask about each change; None when some were accepted (self.changes are those)."""
        from pxprofile.store import write_tx

        with fileio.file_lock(self.path), write_tx(self.db):
            state = sync_state(self.db, self.name, self.path)
            p = self._plan(state)
        if p.conflicts:
            return self._conflict(state, p)
        candidates = list(p.applied)
        if not candidates:
            return self._result(None, "", [], p.rejected)
        if hasattr(review, "lines"):  # a reviewer that shows the text a change replaces
            review.lines = records.lines_for(self.db, state.ids)
        decisions = list(review(candidates, self._diff(state, p.text)))
        if len(decisions) != len(candidates):
            raise ProfileError(
                "the review returned the wrong number of answers; nothing was written."
            )
        pairs = list(zip(candidates, decisions, strict=True))
        self.changes = [c for c, ok in pairs if ok]
        self.extra_rejected = [(c, "rejected in review") for c, ok in pairs if not ok]
        self.approved_sha = state.sha
        with write_tx(self.db):  # plan again, read-only, to know exactly what was approved
            self.approved_text = self._plan(state).text
        if not self.changes:
            return self._result(None, "", [], p.rejected)
        return None

    def _write_once(self) -> ApplyResult | _Conflict | tuple[State, Plan]:
        """Plan, record and write once. A (state, plan) pair: the file changed meanwhile."""
        from pxprofile.store import write_tx

        db = self.db
        with fileio.file_lock(self.path):
            with write_tx(db):
                state = sync_state(db, self.name, self.path)
                if self.approved_text is not None and state.sha != self.approved_sha:
                    return self._stale_review(state)
                p = self._plan(state)
                if p.conflicts:
                    return _Conflict(state, p)
                if self.approved_text is not None and p.text != self.approved_text:
                    raise ProfileError(
                        "internal error: the result differs from what was approved; nothing was "
                        "written."
                    )
                diff = self._diff(state, p.text)
                if p.text == state.text and state.sha is not None:
                    commit(db, state, p, self.update_id)  # evidence for lines already there
                    return self._result(None, "", p.applied, p.rejected)
                _check_user_lines_kept(db, self.name, p.text, self._retiring(p))
                version, _ids = commit(db, state, p, self.update_id)
            try:
                written = fileio.atomic_write(
                    self.path, p.text.encode("utf-8"), expect_sha256=state.sha
                )
            except ConflictError:
                with write_tx(db):
                    records.undo_version(db, version)
                return state, p
            except BaseException:
                with write_tx(db):
                    records.undo_version(db, version)
                raise
            with write_tx(db):
                records.confirm(db, version)
            return self._result(version, diff, p.applied, p.rejected, sha256=written)

    def _retiring(self, p: Plan) -> set[int]:
        """The released user lines this plan retires (they may leave the file)."""
        return {c.line_id for kind, c, _ in p.ops if kind == "retire" and c.line_id in self.release}

    def _stale_review(self, state: State) -> ApplyResult:
        """The user edited the file during the review: what was approved goes to .proposed."""
        proposed = _write_proposed(state, self.approved_text)
        return self._result(
            None,
            unified_diff(state.text, self.approved_text, self.label, proposed.name),
            [],
            [(c, "you edited the profile during the review") for c in self.changes],
            proposed_path=proposed,
        )

    def _conflict(self, state: State, p: Plan) -> ApplyResult:
        """The user changed lines the update also changes: write the update's result as
        .proposed, planned against the file as it was when the update started."""
        from pxprofile.store import write_tx

        text, ids = state.prior_text or state.text, state.prior_ids or state.ids
        with write_tx(self.db):
            theirs = plan(
                self.db,
                self.name,
                text,
                ids,
                self.changes,
                set(),
                as_of=state.edit_version,
                release=self.release,
            )
        proposed = _write_proposed(state, theirs.text)
        reason = "conflicts with your edit to the same line; see " + proposed.name
        rejected = (
            [(c, reason) for c in p.conflicts]
            + [(c, why) for c, why in p.rejected if c not in p.conflicts]
            + [(c, "not applied: the update conflicts with your edit") for c in p.applied]
        )
        return self._result(
            None,
            unified_diff(state.text, theirs.text, self.label, proposed.name),
            [],
            rejected,
            proposed_path=proposed,
        )


def _write_proposed(state: State, text: str) -> Path:
    proposed = state.path.with_name(state.path.name + ".proposed")
    fileio.atomic_write(proposed, text.encode("utf-8"))
    return proposed


def _check_user_lines_kept(db, profile: str, text: str, retiring: set[int]) -> None:
    """Checked before every write: every active user line is still there, verbatim (but those
    released to this write for retirement)."""
    present = {squash(t) for _s, t in bullets(text)}
    for r in db.query(
        "select id, text from profile_lines where profile = ? and status = 'active' and author = "
        "'user'",
        [profile],
    ):
        if r["id"] not in retiring and squash(r["text"]) not in present:
            raise ProfileError(
                f"internal error: the update would drop your line {r['text']!r}; nothing was "
                "written."
            )


def _note(p: Plan) -> str:
    counts = {"add": 0, "revise": 0, "retire": 0}
    for kind, _c, _p in p.ops:
        if kind in counts:
            counts[kind] += 1
    words = (("added", "add"), ("revised", "revise"), ("retired", "retire"))
    return ", ".join(f"{counts[k]} {w}" for w, k in words if counts[k]) or "restored"


def commit(db, state: State, p: Plan, update_id) -> tuple[int | None, list[int]]:
    """Record the plan in the database (pending when the file must change). Inside write_tx."""
    changes_file = p.text != state.text or state.sha is None
    version = None
    if changes_file:
        version = records.insert_version(
            db, state.profile, "update", p.text, _note(p), pending=1, update_id=update_id
        )
    new_ids, supported = _record_ops(db, state, p, version, version or state.version)
    ids = []
    for _s, b in p.doc.bullets():
        lid = new_ids.get(id(b)) or p.ids_of.get(id(b))
        if lid is None:
            raise ProfileError(
                "internal error: a profile line lost its identity; nothing was written."
            )
        ids.append(lid)
    if version is not None:
        if len(ids) != len(bullets(p.text)):
            raise ProfileError(
                "internal error: the new profile does not parse back; nothing was written."
            )
        records.set_line_ids(db, version, ids)
    records.recompute_support(db, supported)
    return version, ids


def _record_ops(db, state: State, p: Plan, version, evidence_version):
    """Insert and retire lines and record evidence for each planned operation. Returns
    ({id(bullet): new line id}, [ids of lines with new supporting evidence])."""
    new_ids: dict[int, int] = {}
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

    section_of = {id(b): s.title for s, b in p.doc.bullets()}
    for kind, change, payload in p.ops:
        if kind in ("add", "revise"):
            lid = records.insert_line(
                db, state.profile, section_of[id(payload)], payload.text, "model", version
            )
            new_ids[id(payload)] = lid
            if kind == "revise":
                db.execute(
                    "update profile_lines set status = 'retired', retired_version = ?, "
                    "superseded_by = ? where id = ?",
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
            lid = new_ids.get(id(payload)) or p.ids_of.get(id(payload))
            if lid is not None:
                add_evidence(lid, change.evidence)
    return new_ids, supported
