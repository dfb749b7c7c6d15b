"""What `pxprofile export` does, end to end: read the lines, count tokens, export or write a file.

    run_export(source, target, ...) -> ExportRun
        Checks the options (export.check_options), reads the lines (the profile with its
        provenance, a file or stdin), loads the model's tokenizer for ``max_tokens`` and the
        model for ``task`` when asked, then either renders them (export.export_prompt) or writes
        a coding agent's instruction file (agentfiles.export_to_agent, ``write``).

export.py renders and never reads a file; this module is the I/O around it. No terminal output:
``ExportRun.text`` is what goes to stdout, ``ExportRun.notes`` what goes to stderr.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, UsageError
from .export import check_options


@dataclass
class ExportRun:
    text: str = ""  # for stdout ("" when nothing is exported, or with write)
    notes: list[str] = field(default_factory=list)  # for stderr, in order


def run_export(
    source: str | Path | None = None,
    target: str = "claude",
    *,
    from_file: str | Path | None = None,
    db: str | Path | None = None,
    profile: str | None = None,
    style: str | None = None,
    field: str | None = None,
    max_chars: int | None = None,
    max_tokens: int | None = None,
    task: str | None = None,
    model: str | None = None,
    base_model: str | None = None,
    as_json: bool = False,
    force: bool = False,
    write: bool = False,
) -> ExportRun:
    """The profile (or ``source``/``from_file``: a profile file, "-" for stdin) exported for
    ``target``; with ``write``, written into the agent's instruction file instead. Raises
    UsageError for options that do not go together, InputError for an unreadable source,
    ExportError/ModelError as export_prompt and the model loaders do."""
    from . import export as ex

    check_options(target, style=style, field=field, as_json=as_json, write=write)
    if source is not None and from_file is not None:
        raise UsageError("give a SOURCE file or --from, not both.")
    lines = read_lines(source if source is not None else from_file, db, profile, target)
    run = ExportRun()
    count_tokens = None
    if max_tokens is not None and lines:
        count_tokens = token_counter(model, run.notes)
    budget = {"max_chars": max_chars, "max_tokens": max_tokens, "count_tokens": count_tokens}
    if write:
        run.notes += _write_agent_file(lines, target, force=force, **budget)
        return run
    result = ex.export_prompt(
        lines,
        target,
        style=style,
        field=field,
        task=task,
        engine=_engine(model) if task and model and lines else None,
        base_model=base_model,
        as_json=as_json,
        force=force,
        **budget,
    )
    run.text = result.text
    run.notes += result.notes
    return run


def _write_agent_file(lines, agent: str, **options) -> list[str]:
    """export_to_agent, and what it did as notes: the last says which file changed."""
    from .agentfiles import export_to_agent

    done = export_to_agent(lines, agent, **options)
    if not done.changed:
        return [*done.notes, f"{done.path} is up to date."]
    kept = f" (previous version kept in {done.backup})" if done.backup else ""
    return [*done.notes, f"{'Created' if done.created else 'Updated'} {done.path}{kept}."]


def read_lines(source, db, profile, target=None):
    """The lines to export: a file or stdin when given, else the profile (with provenance)."""
    from .profile import export_lines, lines_for_export

    if source is None:
        if target == "pam":  # issue 14: imported lines keep the provenance they came with
            return _lines_with_origins(db, profile)
        return lines_for_export(db, profile)
    where = "stdin" if str(source) == "-" else str(source)
    try:
        text = sys.stdin.read() if where == "stdin" else Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{where} is not UTF-8 text (byte {e.start}). Save it as UTF-8.") from e
    except OSError as e:
        raise InputError(f"cannot read {where}: {e.strerror or e}. Check the path.") from e
    return export_lines(text=text)


def _lines_with_origins(db, profile):
    from .imported import origins
    from .profile import export_lines
    from .store import open_db

    database = open_db(db)
    lines = export_lines(db=database, profile=profile)
    found = origins(database, [ln.id for ln in lines])
    for ln in lines:
        ln.imported = found.get(ln.id)
    return lines


def token_counter(model: str | None, notes: list[str]):
    """The active model's token counter (vocab-only load), else None for the estimate.

    An explicit ``model`` that cannot be loaded is an error; a default one falls back to the
    estimate with a note.
    """
    from . import engine
    from .errors import PxprofileError
    from .models import chosen_model

    name = chosen_model(model)
    if name is None:
        notes.append(
            "Counting tokens as characters / 4 (no model set; pass --model for exact counts)."
        )
        return None
    try:
        return engine.load_tokenizer(name).count_tokens
    except PxprofileError as e:
        if model:
            raise
        notes.append(f"Counting tokens as characters / 4: {e}")
        return None


def _engine(model: str | None):
    from . import engine

    return engine.load_engine(model)
