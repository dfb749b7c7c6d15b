"""Coding-agent sessions in, the profile out: `pxprofile ingest --from AGENT` and `pxprofile sync`.

ingest_agent(db, agent, paths=None, *, changed_only=False) -> AgentIngest
    Ingest the agent's session files (agentfiles.session_files). Each file is its own
    transaction (ingest.ingest_path): a bad one is listed in ``failures`` and changes nothing;
    a session with no messages yet is counted in ``empty``, not an error. With
    ``changed_only``, a file already ingested at its current size and not modified since is
    not read again (a session that keeps growing is re-read: only its new lines are added).
sync(db, *, model=None, update=True) -> SyncResult
    For every agent whose session folder exists (aider: the history files ingested before),
    ingest what changed; when something new came in, update the profile (the one call to
    the update core is ``_update_profile``); then rewrite the managed blocks that already
    exist in the agents' instruction files. ``SyncResult.lines()`` is empty when nothing
    changed, so a timer or hook stays quiet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import agentfiles
from .errors import FormatError, InputError, PxprofileError
from .text import utc_time

EMPTY = "an empty session"  # what the importers report for a session with no messages yet


@dataclass
class AgentIngest:
    agent: str
    files: int = 0  # session files found
    summaries: list = field(default_factory=list)  # ingest.IngestSummary, one per file read
    failures: list[str] = field(default_factory=list)  # "file: problem", nothing stored
    empty: int = 0  # sessions with no messages yet
    unchanged: int = 0  # not read again (changed_only)

    @property
    def added(self) -> int:
        return sum(s.added + s.feedback for s in self.summaries)

    def done_line(self) -> str:
        """What `ingest --from` says at the end: ``codex: 3 session file(s).``"""
        empty = f", {self.empty} without messages yet" if self.empty else ""
        return f"{self.agent}: {self.files} session file(s){empty}."

    def to_dict(self) -> dict:
        return {
            "agent": self.agent,
            "files": self.files,
            "read": len(self.summaries),
            "added": sum(s.added for s in self.summaries),
            "feedback": sum(s.feedback for s in self.summaries),
            "empty": self.empty,
            "unchanged": self.unchanged,
            "failures": self.failures,
            "summaries": [s.to_dict() for s in self.summaries],
        }


def _unchanged(db, path: Path) -> bool:
    """Ingested before at this size, and not modified since (by the file's mtime)."""
    try:
        st = path.stat()
    except OSError:
        return False
    row = db.execute(
        "SELECT size, imported_at FROM sources WHERE path = ? ORDER BY imported_at DESC LIMIT 1",
        [str(path.resolve())],
    ).fetchone()
    if row is None or row[0] != st.st_size or not row[1]:
        return False
    return utc_time(st.st_mtime) < row[1]


def ingest_agent(
    db,
    agent: str,
    paths: list[str | Path] | None = None,
    *,
    changed_only: bool = False,
    redact_storage: bool = False,
    require_files: bool = False,
) -> AgentIngest:
    from .ingest import ingest_path

    files = agentfiles.session_files(agent, paths)
    if require_files and not files:
        where = ", ".join(str(p) for p in (paths or agentfiles.session_roots(agent)))
        raise InputError(
            f"no {agent} session files under {where}. Pass the folder where they are, "
            f"e.g. `pxprofile ingest --from {agent} PATH`."
        )
    out = AgentIngest(agent, files=len(files))
    for path in files:
        if changed_only and _unchanged(db, path):
            out.unchanged += 1
            continue
        try:
            out.summaries.append(ingest_path(db, path, redact_storage=redact_storage))
        except FormatError as e:
            if EMPTY in str(e):
                out.empty += 1
            else:
                out.failures.append(" ".join(str(e).split()))
        except PxprofileError as e:
            out.failures.append(" ".join(str(e).split()))
    return out


@dataclass
class SyncResult:
    ingested: list[AgentIngest] = field(default_factory=list)
    update: str | None = None  # the update's summary line, when one ran
    written: list = field(default_factory=list)  # agentfiles.BlockWrite that changed a file
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.warnings or any(a.failures for a in self.ingested))

    def lines(self) -> list[str]:
        """What to tell the user (stderr); empty when nothing changed."""
        out = []
        for a in self.ingested:
            if a.summaries and a.added:
                new = sum(s.added for s in a.summaries)
                out.append(
                    f"{a.agent}: {len(a.summaries)} session file(s) read, {new} new message(s)."
                )
            out += [f"Error: {f}" for f in a.failures]
        if self.update:
            out.append(self.update)
        out += [f"Updated {w.path}." for w in self.written]
        return out + [f"Warning: {w}" for w in self.warnings]


def _aider_files(db) -> list[Path]:
    rows = db.execute("SELECT DISTINCT path FROM sources WHERE format = 'aider'").fetchall()
    return [Path(r[0]) for r in rows if r[0] and Path(r[0]).is_file()]


def sync(db, *, model: str | None = None, update: bool = True) -> SyncResult:
    result = SyncResult()
    for agent in agentfiles.AGENTS:
        if agent == "aider":
            paths: list | None = _aider_files(db)
            if not paths:
                continue
        else:
            if not any(r.is_dir() for r in agentfiles.session_roots(agent)):
                continue
            paths = None
        result.ingested.append(ingest_agent(db, agent, paths, changed_only=True))
    if update and any(a.added for a in result.ingested):
        try:
            result.update = _update_profile(db, model)
        except PxprofileError as e:
            result.warnings.append(f"the profile was not updated: {' '.join(str(e).split())}")
    _rewrite_blocks(db, result)
    return result


def _rewrite_blocks(db, result: SyncResult) -> None:
    targets = [a for a in agentfiles.WRITABLE if agentfiles.has_block(a)]
    if not targets:
        return
    from .profile import export_lines

    lines = export_lines(db=db)
    for agent in targets:
        try:
            done = agentfiles.export_to_agent(lines, agent, only_existing=True)
        except PxprofileError as e:
            result.warnings.append(" ".join(str(e).split()))
            continue
        if done.changed:
            result.written.append(done)


def _update_profile(db, model: str | None) -> str | None:
    """The one call to the profile update (infer.update), with a model already on this machine:
    a timer must never start a multi-gigabyte download. Returns its summary line."""
    from . import infer
    from .models import chosen_model, on_this_machine

    name = chosen_model(model)
    if not name or not on_this_machine(name):
        return (
            "New sessions were recorded, but no local model is set up: run "
            "`pxprofile model use NAME`, then `pxprofile update`."
        )
    done = infer.update(db, model=name)
    return done.summary() if done.status != "nothing-new" else None
