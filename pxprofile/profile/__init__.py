"""The profile the user owns: a Markdown file merged with user edits, with provenance and versions.

This package's namespace is the public API (``from pxprofile.profile import X``); its modules,
lowest first:

    lines.py       Line, Change, ApplyResult; the file (profile_file, check_text, bullets)
    records.py     the database record: versions (pending, confirmed, undone), lines, deletions
    edits.py       edit detection: the file vs the last version -> an "edit" version; reading
    quick.py       the read-only fast path of `export` (no sqlite-utils when nothing changed)
    rules.py       the rules for the model's changes (plan): ownership, deletions, duplicates
    write.py       apply_changes(): record, compare-and-swap write, review, conflict -> .proposed
    versions.py    history, version_text, compare (what `diff` shows), ensure_file, revert
    provenance.py  why, quote: the messages behind a line

How it works (design.md "The profile file"): the database keeps every version pxprofile
recorded; the latest is the *base*. Every read syncs the file first (edits.py): a file that
differs from the base is the user's edit, and the user's lines always win. The model's changes go
through rules.plan and write.apply_changes only.
"""

from pxprofile.profile.edits import (
    MAX_REWORD_PAIRS,
    REWORD_SIMILARITY,
    current_lines,
    editor_command,
    export_lines,
    lines_for_export,
    run_editor,
    sync,
)
from pxprofile.profile.lines import (
    MAX_LINES,
    MAX_SECTION_LINES,
    ApplyResult,
    Change,
    Line,
    ReviewFn,
    bullets,
    check_text,
    file_text,
    lines_from_text,
    profile_file,
    unified_diff,
)
from pxprofile.text import DEFAULT_PROFILE, SIMILARITY, TOKEN_JACCARD, normalize, similar

# The write, history and provenance halves load on first use (PEP 562): `export` reads only.
_LAZY = {
    "apply_changes": "write",
    "Comparison": "versions",
    "Snapshot": "versions",
    "compare": "versions",
    "ensure_file": "versions",
    "history": "versions",
    "latest_version": "versions",
    "no_profile_error": "versions",
    "revert": "versions",
    "snapshot": "versions",
    "version_text": "versions",
    "quote": "provenance",
    "why": "provenance",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pxprofile.profile' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"pxprofile.profile.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_PROFILE",
    "MAX_LINES",
    "MAX_REWORD_PAIRS",
    "MAX_SECTION_LINES",
    "REWORD_SIMILARITY",
    "SIMILARITY",
    "TOKEN_JACCARD",
    "ApplyResult",
    "Change",
    "Comparison",
    "Line",
    "Snapshot",
    "ReviewFn",
    "apply_changes",
    "bullets",
    "check_text",
    "compare",
    "current_lines",
    "editor_command",
    "ensure_file",
    "export_lines",
    "file_text",
    "history",
    "latest_version",
    "lines_for_export",
    "lines_from_text",
    "no_profile_error",
    "normalize",
    "profile_file",
    "quote",
    "revert",
    "run_editor",
    "similar",
    "snapshot",
    "sync",
    "unified_diff",
    "version_text",
    "why",
]
