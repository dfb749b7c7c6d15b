"""`pxprofile export`: the profile as text for another LLM, on stdout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import DbOption, JsonOption, app

TARGET_HELP = (
    "claude, chatgpt, gemini, openai, ollama, llm, markdown, json or pam; "
    "claude-code, codex or gemini-cli (an agent's instruction file, with --write)."
)


@app.command()
def export(
    source: Annotated[
        str | None,
        typer.Argument(help="A profile file to export instead of your profile; - reads stdin."),
    ] = None,
    target: Annotated[str, typer.Option("--for", "-f", help=f"Target: {TARGET_HELP}")] = "claude",
    style: Annotated[
        str | None,
        typer.Option(
            "--style",
            help="claude only: 'memory' for the dated lines Claude's memory import reads.",
        ),
    ] = None,
    field: Annotated[
        str | None,
        typer.Option(
            "--field", help="chatgpt only: print one field, unlabelled: about or respond."
        ),
    ] = None,
    max_chars: Annotated[
        int | None,
        typer.Option(
            "--max-chars",
            min=1,
            help="Fit the output (each field for chatgpt; default 1500) in N characters.",
        ),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-tokens",
            min=1,
            help="Fit the output in N tokens (the model's tokenizer, else chars/4).",
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task", help='Keep only what is relevant to a task, e.g. "write a cover letter".'
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="Local model: ranks lines for --task and counts --max-tokens."
        ),
    ] = None,
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="ollama only: the model for the FROM line.")
    ] = None,
    from_file: Annotated[
        Path | None, typer.Option("--from", help="Read the profile from this file (- for stdin).")
    ] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Profile name.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Export even lines the egress check refuses.")
    ] = False,
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="claude-code, codex, gemini-cli: update the managed block in the agent's "
            "user-level file (~/.claude/CLAUDE.md, $CODEX_HOME/AGENTS.md, ~/.gemini/GEMINI.md).",
        ),
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the profile as a prompt for another LLM (only the text goes to stdout).

    pxprofile export --for claude | pbcopy
    """
    from pxprofile import export as ex

    if target not in ex.TARGETS:
        raise typer.BadParameter(f"choose one of: {TARGET_HELP}", param_hint="--for")
    if style is not None and (target != "claude" or style not in ex.CLAUDE_STYLES):
        raise typer.BadParameter(
            "use --style memory (or block) with --for claude", param_hint="--style"
        )
    if field is not None and (target != "chatgpt" or field not in ex.CHATGPT_FIELDS):
        raise typer.BadParameter(
            "use --field about or respond with --for chatgpt", param_hint="--field"
        )
    if as_json and target not in ("openai", "chatgpt", "json"):
        raise typer.BadParameter(
            "--json goes with --for openai or chatgpt (or use --for json)", param_hint="--json"
        )
    if source is not None and from_file is not None:
        raise typer.BadParameter("give a SOURCE file or --from, not both", param_hint="--from")

    if write and target not in ex.AGENT_TARGETS:
        raise typer.BadParameter("use --write with --for claude-code, codex or gemini-cli")
    lines = _lines(source if source is not None else from_file, db, profile, target)
    notes: list[str] = []
    count_tokens = _token_counter(model, notes) if max_tokens is not None and lines else None
    if write:
        return _write_agent_file(lines, target, max_chars, max_tokens, count_tokens, force, notes)
    engine = _engine(model) if task and model and lines else None
    result = ex.export_prompt(
        lines,
        target,
        style=style,
        field=field,
        max_chars=max_chars,
        max_tokens=max_tokens,
        count_tokens=count_tokens,
        task=task,
        engine=engine,
        base_model=base_model,
        as_json=as_json,
        force=force,
    )
    _write(result.text)
    for note in notes + result.notes:
        typer.echo(note, err=True)


def _write_agent_file(lines, agent, max_chars, max_tokens, count_tokens, force, notes) -> None:
    from pxprofile.agentfiles import export_to_agent

    done = export_to_agent(
        lines,
        agent,
        max_chars=max_chars,
        max_tokens=max_tokens,
        count_tokens=count_tokens,
        force=force,
    )
    for note in notes + done.notes:
        typer.echo(note, err=True)
    if not done.changed:
        typer.echo(f"{done.path} is up to date.", err=True)
        return
    kept = f" (previous version kept in {done.backup})" if done.backup else ""
    typer.echo(f"{'Created' if done.created else 'Updated'} {done.path}{kept}.", err=True)


def _lines(source, db, profile, target=None):
    """The lines to export: a file or stdin when given, else the profile (with provenance)."""
    from pxprofile.errors import InputError
    from pxprofile.profile import export_lines, lines_for_export

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
    from pxprofile.imported import origins
    from pxprofile.profile import export_lines
    from pxprofile.store import open_db

    database = open_db(db)
    lines = export_lines(db=database, profile=profile)
    found = origins(database, [ln.id for ln in lines])
    for ln in lines:
        ln.imported = found.get(ln.id)
    return lines


def _token_counter(model, notes):
    """The active model's token counter (vocab-only load), else None for the estimate.

    An explicit --model that cannot be loaded is an error; a default one falls back to the
    estimate with a note.
    """
    from pxprofile import engine
    from pxprofile.errors import PxprofileError

    name = engine.resolve_model_name(model)
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


def _engine(model):
    from pxprofile import engine

    return engine.load_engine(engine.resolve_model_name(model))


def _write(text: str) -> None:
    """Write the export to stdout: a closed pipe or a full disk is a clean error (exit 1)."""
    from pxprofile.errors import ExportError

    from . import _silence_stdout

    if not text:
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError as e:
        _silence_stdout()
        raise ExportError(
            "stdout was closed before the export was written. Nothing was lost; run it again."
        ) from e
    except OSError as e:
        _silence_stdout()
        raise ExportError(
            f"cannot write the export to stdout: {e.strerror or e}. Redirect it elsewhere."
        ) from e
