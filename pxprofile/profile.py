"""The profile the user owns: merge with user edits, provenance, versions, safe writes.

STUB with the CONTRACT that infer.py, export.py and the CLI code against (the profile issue
implements it; keep these names and fields):

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
        review(changes, diff) -> list[bool] lets `update --review` accept or reject each change.
    export_lines(db=None, profile=None, text=None) -> list[Line]
        The active lines for export, with provenance when a database is given; with text (a
        profile read from stdin), parsed from the text alone (author "user", no evidence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


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


ReviewFn = Callable[[list[Change], str], list[bool]]
