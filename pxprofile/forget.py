"""Forget chats: delete a conversation, a source, or messages matching a search, everywhere.

    plan_forget(db, *, conversation=None, source=None, search=None, profile=None) -> ForgetPlan
        What would go: conversations, messages, pairs, feedback, and the model-written profile
        lines whose only evidence is among the deleted messages (with the profile diff).
    forget(db, plan, *, profile=None) -> ForgetResult
        Retires those lines through profile.apply_changes (a new version; the user's own lines
        are never touched), then deletes the rows from messages, pairs, feedback, digested and
        profile_evidence, purges the full-text index (FTS5 'optimize' merges away the deleted
        entries), and checkpoints the WAL with secure_delete on, so the text is gone from the
        database file too. The forget is recorded in forget_log with counts only: never the
        search query or any text.

Selection. ``conversation``: an id, native id or unique part of one (as `chats show`).
``source``: a sources row id, or the path of an ingested file (as given, or resolved; every
import from that path); everything imported from it goes. ``search``: every message whose text
matches the words (full-text) or contains the query as a substring (case-insensitive), plus
pairs and feedback whose copied texts contain it. Retired lines stay in the profile's history
(`pxprofile history`), as every retired line does.

A source may have brought memories (a memory file, or memories.json in a Claude export): the
profile lines it added that the user left as they were are retired too (user-owned lines that
the import releases, see imported.sort_out); the lines the user changed, or had before the
import, stay and are counted; the records of where the lines came from (imported_lines) go.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, ProfileError, UsageError
from .text import plural, utc_now


@dataclass
class ForgetPlan:
    kind: str  # conversation | source | search
    conversations: list[str] = field(default_factory=list)  # deleted whole
    messages: list[str] = field(default_factory=list)  # every message id deleted
    pairs: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    lines: list = field(default_factory=list)  # profile.Line to retire (model lines, then imported)
    diff: str = ""
    titles: list[str] = field(default_factory=list)  # for the preview
    imported: list[int] = field(default_factory=list)  # imported_lines records deleted
    released: list[int] = field(default_factory=list)  # imported user lines among ``lines``
    kept: list[str] = field(default_factory=list)  # imported lines the user changed or had

    @property
    def empty(self) -> bool:
        return not (
            self.messages
            or self.conversations
            or self.pairs
            or self.feedback
            or self.sources
            or self.imported
        )

    def summary(self) -> str:
        n = plural
        parts = [n(len(self.messages), "message")]
        if self.conversations:
            parts.insert(0, n(len(self.conversations), "conversation"))
        if self.pairs:
            parts.append(n(len(self.pairs), "preference pair"))
        if self.feedback:
            parts.append(n(len(self.feedback), "feedback rating"))
        text = "Will delete " + ", ".join(parts)
        if self.sources:
            text += f" and the record of {n(len(self.sources), 'imported file')}"
        text += "."
        orphans = len(self.lines) - len(self.released)
        if orphans:
            verb = "rests" if orphans == 1 else "rest"
            text += f" {n(orphans, 'profile line')} {verb} only on them and will be retired."
        if self.released:
            text += f" {n(len(self.released), 'profile line')} imported from it will be retired."
        if self.kept:
            text += (
                f" {n(len(self.kept), 'line')} imported from it that you changed or had before "
                f"will stay."
            )
        return text

    def to_dict(self) -> dict:
        """Counts of what would go, and the profile lines that would be retired."""
        return {
            "conversations": len(self.conversations),
            "messages": len(self.messages),
            "pairs": len(self.pairs),
            "feedback": len(self.feedback),
            "sources": len(self.sources),
            "lines_retired": len(self.lines),
            "lines": [ln.text for ln in self.lines],
            "kept": list(self.kept),
        }


@dataclass
class ForgetResult:
    conversations: int = 0
    messages: int = 0
    pairs: int = 0
    feedback: int = 0
    sources: int = 0
    lines_retired: int = 0
    kept: int = 0  # imported lines kept: the user changed them or had them before
    version: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        text = (
            f"Deleted {plural(self.messages, 'message')} "
            f"({plural(self.conversations, 'conversation')}, {plural(self.pairs, 'pair')}, "
            f"{self.feedback} feedback)"
        )
        if self.sources:
            text += f" and the record of {plural(self.sources, 'imported file')}"
        text += f"; retired {plural(self.lines_retired, 'profile line')}."
        if self.kept:
            text += f" Kept {plural(self.kept, 'imported line')} you changed or had before."
        return text


def _ids(rows) -> list:
    return [r[0] for r in rows]


def _in(ids) -> tuple[str, list]:
    ids = list(ids)
    return ",".join("?" * len(ids)), ids


def plan_forget(
    db,
    *,
    conversation: str | None = None,
    source: str | None = None,
    search: str | None = None,
    profile: str | None = None,
) -> ForgetPlan:
    """What forget() would delete and retire (nothing is changed)."""
    chosen = [x for x in (conversation, source, search) if x is not None]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --conversation, --source or --search.")
    if conversation is not None:
        plan = _plan_conversations(db, [_conversation(db, conversation)], "conversation")
    elif source is not None:
        sids = _sources(db, source)
        q, args = _in(sids)
        convs = _ids(db.execute(f"select id from conversations where source_id in ({q})", args))
        plan = _plan_conversations(db, convs, "source")
        extra = _ids(db.execute(f"select id from messages where source_id in ({q})", args))
        plan.messages = sorted(set(plan.messages) | set(extra))
        plan.pairs = sorted(
            set(plan.pairs)
            | set(_ids(db.execute(f"select id from pairs where source_id in ({q})", args)))
        )
        plan.feedback = sorted(
            set(plan.feedback)
            | set(_ids(db.execute(f"select id from feedback where source_id in ({q})", args)))
        )
        plan.sources = sids
        plan.imported = _ids(
            db.execute(
                "select id from imported_lines where source_sha256 in "
                f"(select sha256 from sources where id in ({q}))",
                args,
            )
        )
    else:
        plan = _plan_search(db, search or "")
    _add_message_signals(db, plan)
    _plan_lines(db, plan, profile)
    return plan


def _conversation(db, ref: str) -> str:
    from .chats import resolve_conversation

    return resolve_conversation(db, ref)["id"]


def _sources(db, ref: str) -> list[int]:
    """The sources row with this id, or every import of the file at this path (a file ingested
    again after it changed has a row for each version)."""
    rows = []
    if ref.isdigit():
        rows = _ids(db.execute("select id from sources where id = ?", [int(ref)]))
    if not rows:
        candidates = {ref, str(Path(ref).expanduser().resolve())}
        rows = _ids(
            db.execute(
                f"select id from sources where path in ({','.join('?' * len(candidates))}) "
                "order by id",
                list(candidates),
            )
        )
    if not rows:
        raise InputError(f"no imported file {ref!r}. Give the path you ingested, or its source id.")
    return rows


def _plan_conversations(db, convs: list[str], kind: str) -> ForgetPlan:
    plan = ForgetPlan(kind=kind, conversations=sorted(set(convs)))
    if convs:
        q, args = _in(plan.conversations)
        plan.messages = _ids(
            db.execute(f"select id from messages where conversation_id in ({q})", args)
        )
        plan.pairs = _ids(db.execute(f"select id from pairs where conversation_id in ({q})", args))
        plan.feedback = _ids(
            db.execute(f"select id from feedback where conversation_id in ({q})", args)
        )
        plan.titles = [
            r[0] or "(untitled)"
            for r in db.execute(f"select title from conversations where id in ({q})", args)
        ]
    return plan


def _plan_search(db, query: str) -> ForgetPlan:
    import sqlite3

    if not query.strip():
        raise InputError("the search query is empty. Give the words or text to forget.")
    ids: set[str] = set()
    try:
        ids |= set(
            _ids(
                db.execute(
                    "select m.id from messages_fts join messages m on m.rowid = messages_fts.rowid "
                    "where messages_fts match ?",
                    [db.quote_fts(query)],
                )
            )
        )
    except sqlite3.OperationalError:
        pass  # a query FTS cannot parse still matches as a substring below
    low = query.lower()
    ids |= set(
        _ids(
            db.execute(
                "select id from messages where instr(lower(text), ?) > 0 or "
                "instr(lower(redacted), ?) > 0",
                [low, low],
            )
        )
    )
    plan = ForgetPlan(kind="search", messages=sorted(ids))
    plan.pairs = _ids(
        db.execute(
            "select id from pairs where instr(lower(coalesce(prompt_text, '') || ' ' || "
            "coalesce(chosen_text, '') || ' ' || coalesce(rejected_text, '')), ?) > 0",
            [low],
        )
    )
    plan.feedback = _ids(
        db.execute("select id from feedback where instr(lower(text), ?) > 0", [low])
    )
    return plan


def _add_message_signals(db, plan: ForgetPlan) -> None:
    """Pairs and feedback that point at a deleted message go too."""
    if not plan.messages:
        return
    q, args = _in(plan.messages)
    pairs = _ids(
        db.execute(
            f"select id from pairs where prompt_id in ({q}) or chosen_id in ({q}) or rejected_id "
            f"in ({q})",
            args * 3,
        )
    )
    feedback = _ids(db.execute(f"select id from feedback where message_id in ({q})", args))
    plan.pairs = sorted(set(plan.pairs) | set(pairs))
    plan.feedback = sorted(set(plan.feedback) | set(feedback))


def _plan_lines(db, plan: ForgetPlan, profile: str | None) -> None:
    """Model lines whose every piece of supporting evidence is among the deleted messages, and
    the lines the deleted imports added that the user left as they were."""
    from . import profile as profile_mod

    if not (plan.messages or plan.imported) or not profile_mod.profile_file(profile).exists():
        return
    gone = set(plan.messages)
    lines = profile_mod.current_lines(db, profile)
    orphans = [
        ln for ln in lines if ln.author == "model" and ln.evidence and set(ln.evidence) <= gone
    ]
    released = _plan_imported(db, plan, profile)
    plan.lines = orphans + [ln for ln in lines if ln.id in released]
    plan.released = [ln.id for ln in plan.lines if ln.id in released]
    if plan.lines:
        result = profile_mod.apply_changes(
            db, _retirements(plan.lines), profile=profile, dry_run=True, release=plan.released
        )
        plan.diff = result.diff


def _plan_imported(db, plan: ForgetPlan, profile: str | None) -> set[int]:
    """The ids of the imported lines to retire; the texts of those that stay go to plan.kept."""
    from .imported import sort_out
    from .text import profile_name

    if not plan.imported:
        return set()
    pname = profile_name(profile)
    q, args = _in(plan.imported)
    rows = list(
        db.query(f"select * from imported_lines where id in ({q}) and profile = ?", [*args, pname])
    )
    release, kept = sort_out(db, pname, rows)
    plan.kept = [ln["text"] for ln in kept]
    return {ln["id"] for ln in release}


def _retirements(lines) -> list:
    from .profile import Change

    return [
        Change("retire", line_id=ln.id, reason="forgotten: its evidence or import was deleted")
        for ln in lines
    ]


def forget(db, plan: ForgetPlan, *, profile: str | None = None) -> ForgetResult:
    """Carry out a plan from plan_forget(): retire orphaned lines, delete, purge, record."""
    from . import profile as profile_mod
    from . import reading
    from .store import write_tx

    result = ForgetResult()
    if plan.lines:
        applied = profile_mod.apply_changes(
            db, _retirements(plan.lines), profile=profile, release=plan.released
        )
        if applied.proposed_path is not None or len(applied.applied) != len(plan.lines):
            why = "; ".join(r for _, r in applied.rejected) or "the profile changed meanwhile"
            raise ProfileError(
                f"could not retire the profile lines that rest on these chats ({why}); nothing "
                "was deleted. Run the command again."
            )
        result.lines_retired = len(applied.applied)
        result.version = applied.version
    db.execute("PRAGMA secure_delete = ON")
    with write_tx(db):
        if plan.messages:
            q, args = _in(plan.messages)
            db.execute(f"delete from digested where message_id in ({q})", args)
            db.execute(f"delete from profile_evidence where message_id in ({q})", args)
            reading.forget(db, list(plan.messages))  # observations derived from them
            result.messages = db.execute(f"delete from messages where id in ({q})", args).rowcount
        if plan.pairs:
            q, args = _in(plan.pairs)
            db.execute(
                f"delete from digested_signals where signal_id in ({q})",
                [f"pair:{i}" for i in args],
            )
            result.pairs = db.execute(f"delete from pairs where id in ({q})", args).rowcount
        if plan.feedback:
            q, args = _in(plan.feedback)
            db.execute(
                f"delete from digested_signals where signal_id in ({q})",
                [f"feedback:{i}" for i in args],
            )
            result.feedback = db.execute(f"delete from feedback where id in ({q})", args).rowcount
        if plan.conversations:
            q, args = _in(plan.conversations)
            result.conversations = db.execute(
                f"delete from conversations where id in ({q})", args
            ).rowcount
        if plan.imported:
            q, args = _in(plan.imported)
            db.execute(f"delete from imported_lines where id in ({q})", args)
            result.kept = len(plan.kept)
        if plan.sources:
            q, args = _in(plan.sources)
            result.sources = db.execute(f"delete from sources where id in ({q})", args).rowcount
        db.execute("insert into messages_fts(messages_fts) values('optimize')")
        db["forget_log"].insert(
            {
                "at": utc_now(),
                "kind": plan.kind,
                "target": ",".join(plan.conversations)
                if plan.kind == "conversation"
                else (",".join(map(str, plan.sources)) if plan.kind == "source" else None),
                "counts": json.dumps(result.to_dict()),
            }
        )
    _purge(db)
    return result


def _purge(db) -> None:
    """Move the WAL into the main file and empty it: old page images hold the deleted text."""
    import sqlite3

    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.OperationalError:
        pass  # another reader holds a snapshot; the next checkpoint will do it
